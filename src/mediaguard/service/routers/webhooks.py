"""``/v1/webhooks``: endpoints registered per API key, and the delivery log.

Design note: an endpoint belongs to the key that registered it and receives that key's
job events; ``hashlist.retro_match`` concerns shared lists, so subscribing to it needs
the ``lists`` scope and every such subscriber receives it. The endpoint's secret is
generated here and returned once.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from mediaguard.service.auth import Principal, Scope, require
from mediaguard.service.deps import PrincipalDep, RuntimeDep
from mediaguard.service.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from mediaguard.service.schemas import (
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)
from mediaguard.service.webhooks import check_target

router = APIRouter(tags=["webhooks"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such endpoint"}
}


def _require_for_events(principal: Principal, events: list[str]) -> None:
    require(
        principal,
        Scope.SCAN if any(e.startswith(("job.", "stream.")) for e in events) else Scope.LISTS,
    )
    if "hashlist.retro_match" in events:
        require(principal, Scope.LISTS)


def _any_scope(principal: Principal) -> Principal:
    if not (principal.has(Scope.SCAN) or principal.has(Scope.LISTS)):
        raise ApiError(403, "insufficient_scope", "webhooks need the scan or lists scope")
    return principal


@router.post(
    "/v1/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    summary="Register a webhook endpoint",
    responses=ERROR_RESPONSES,
)
async def create_webhook(
    body: WebhookCreate, runtime: RuntimeDep, principal: PrincipalDep
) -> WebhookCreated:
    """Register `url` for the given events; the response carries its signing secret once."""
    _require_for_events(principal, list(body.events))
    allow = runtime.settings.webhook_allow_private
    await run_in_threadpool(check_target, body.url, allow_private=allow)
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    info = await run_in_threadpool(
        runtime.store.webhooks.create_endpoint, principal.key.id, body.url, secret, set(body.events)
    )
    return WebhookCreated(**WebhookPublic.from_info(info).model_dump(), secret=secret)


@router.get(
    "/v1/webhooks",
    response_model=list[WebhookPublic],
    summary="List webhook endpoints",
    responses=ERROR_RESPONSES,
)
async def list_webhooks(runtime: RuntimeDep, principal: PrincipalDep) -> list[WebhookPublic]:
    """The calling key's active endpoints (an admin key sees all)."""
    _any_scope(principal)
    found = await run_in_threadpool(runtime.store.webhooks.endpoints, principal.owner_filter)
    return [WebhookPublic.from_info(info) for info in found]


@router.get(
    "/v1/webhooks/deliveries",
    response_model=list[DeliveryPublic],
    summary="The delivery log: each delivery with every attempt",
    responses=ERROR_RESPONSES,
)
async def list_deliveries(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
    event_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryPublic]:
    """Newest first; the calling key's deliveries (an admin key sees all)."""
    _any_scope(principal)
    found = await run_in_threadpool(
        lambda: runtime.store.webhooks.deliveries(
            principal.owner_filter, event_id=event_id, state=state, limit=limit
        )
    )
    return [DeliveryPublic.from_info(info) for info in found]


@router.delete(
    "/v1/webhooks/{endpoint_id}",
    status_code=204,
    summary="Remove a webhook endpoint",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def delete_webhook(
    endpoint_id: Annotated[int, Path(ge=1, le=2**62)],
    runtime: RuntimeDep,
    principal: PrincipalDep,
) -> Response:
    """Stop sending to the endpoint; its pending deliveries are dropped, its log kept."""
    _any_scope(principal)
    info = await run_in_threadpool(runtime.store.webhooks.get_endpoint, endpoint_id)
    if info.disabled_at is not None or (
        not principal.is_admin and info.api_key_id != principal.key.id
    ):
        raise ApiError(404, "not_found", f"webhook endpoint {endpoint_id} does not exist")
    await run_in_threadpool(runtime.store.webhooks.disable_endpoint, endpoint_id)
    return Response(status_code=204)
