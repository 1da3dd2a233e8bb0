"""``/v1/review``, ``/v1/decisions`` and ``/v1/appeals``: review for machines.

Design note: people decide in the review UI; the platform's own systems need to read
the queue, fetch a decision and its DSA statement of reasons, and file the user's
appeal. All of it needs the ``review`` scope. Responses never carry a reviewer's name or
note, nor the appellant's words: the platform may show them to the user concerned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from mediaguard.review.statements import statement_for
from mediaguard.service.deps import ReviewKey, RuntimeDep
from mediaguard.service.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from mediaguard.service.schemas import (
    AppealCreate,
    AppealPublic,
    DecisionAction,
    DecisionPublic,
    ReviewItemPublic,
)

router = APIRouter(tags=["review"])

ItemId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The item's id.")]
DecisionId = Annotated[str, Path(pattern=r"^d_[0-9a-f]{32}$", description="The decision's id.")]
AppealId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The appeal's id.")]
Filter = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such item, decision or appeal"}
}


@router.get(
    "/v1/review/items",
    response_model=list[ReviewItemPublic],
    summary="The review queue",
    responses=ERROR_RESPONSES,
)
async def queue(
    runtime: RuntimeDep,
    principal: ReviewKey,
    category: Filter = None,
    list_name: Annotated[
        str | None, Query(alias="list", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReviewItemPublic]:
    """Items waiting for a person, highest priority first, then oldest."""
    items = await run_in_threadpool(
        runtime.store.review.queue, None, category=category, list_name=list_name, limit=limit
    )
    return [ReviewItemPublic.from_info(item) for item in items]


@router.get(
    "/v1/review/items/{item_id}",
    response_model=ReviewItemPublic,
    summary="One review item with its verdict",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def item(item_id: ItemId, runtime: RuntimeDep, principal: ReviewKey) -> ReviewItemPublic:
    """The item, with the verdict that flagged it."""
    info = await run_in_threadpool(runtime.store.review.get_item, item_id)
    return ReviewItemPublic.from_info(info, with_verdict=True)


@router.get(
    "/v1/review/items/{item_id}/decisions",
    response_model=list[DecisionPublic],
    summary="The decisions about one item",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def item_decisions(
    item_id: ItemId, runtime: RuntimeDep, principal: ReviewKey
) -> list[DecisionPublic]:
    """Every decision about the item, oldest first, with their appeals."""

    def load() -> list[DecisionPublic]:
        runtime.store.review.get_item(item_id)
        return [
            DecisionPublic.from_info(d, runtime.store.review.appeals_for(d.id))
            for d in runtime.store.review.decisions_for(item_id)
        ]

    return await run_in_threadpool(load)


@router.get(
    "/v1/decisions",
    response_model=list[DecisionPublic],
    summary="Decisions taken since a time",
    responses=ERROR_RESPONSES,
)
async def decisions(
    runtime: RuntimeDep,
    principal: ReviewKey,
    since: Annotated[datetime, Query(description="ISO 8601 time, with its zone.")],
    action: Annotated[list[DecisionAction] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DecisionPublic]:
    """Decisions at or after `since`, oldest first (by default every action).

    Page by passing the last decision's `created_at` as the next `since`.
    """
    if since.tzinfo is None:
        raise ApiError(422, "invalid_since", "since: give the time zone, e.g. 2026-11-27T00:00Z")
    try:
        since = since.astimezone(UTC)
    except OverflowError as err:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ApiError(422, "invalid_since", "since: out of range once converted to UTC") from err
    wanted = tuple(action) if action else ("approve", "remove", "restrict", "escalate")

    def load() -> list[DecisionPublic]:
        found = runtime.store.review.decisions_since(since, wanted, limit=limit)
        return [
            DecisionPublic.from_info(d, runtime.store.review.appeals_for(d.id)) for d, _ in found
        ]

    return await run_in_threadpool(load)


@router.get(
    "/v1/decisions/{decision_id}",
    response_model=DecisionPublic,
    summary="One decision",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def decision(
    decision_id: DecisionId, runtime: RuntimeDep, principal: ReviewKey
) -> DecisionPublic:
    """The decision, whether a person or the pipeline took it, and its appeals."""

    def load() -> DecisionPublic:
        info = runtime.store.review.get_decision(decision_id)
        return DecisionPublic.from_info(info, runtime.store.review.appeals_for(info.id))

    return await run_in_threadpool(load)


@router.get(
    "/v1/decisions/{decision_id}/statement",
    summary="The decision's EU DSA statement of reasons",
    responses={
        **ERROR_RESPONSES,
        **_NOT_FOUND,
        409: {"model": ErrorResponse, "description": "the decision restricts nothing"},
    },
)
async def statement(
    decision_id: DecisionId, runtime: RuntimeDep, principal: ReviewKey
) -> dict[str, object]:
    """The statement in the DSA Transparency Database's fields, ready to submit.

    Only `remove` and `restrict` decisions have one (409 `not_exportable` otherwise). It
    holds no personal data: no file name, no reviewer, no note.
    """

    def build() -> dict[str, object]:
        info = runtime.store.review.get_decision(decision_id)
        return statement_for(info, runtime.store.review.get_item(info.item_id), runtime.reasons)

    return await run_in_threadpool(build)


@router.post(
    "/v1/decisions/{decision_id}/appeals",
    response_model=AppealPublic,
    status_code=201,
    summary="Appeal a decision",
    responses={
        **ERROR_RESPONSES,
        **_NOT_FOUND,
        409: {"model": ErrorResponse, "description": "not appealable now"},
    },
)
async def appeal(
    decision_id: DecisionId, body: AppealCreate, runtime: RuntimeDep, principal: ReviewKey
) -> AppealPublic:
    """Put the item back in the queue, for a reviewer other than the one who decided.

    Only the latest decision about an item can be appealed, once at a time; the outcome
    (`upheld` or `reversed`) is recorded when the item is decided again, and both steps
    are in the audit log.
    """
    info = await run_in_threadpool(runtime.store.review.appeal, decision_id, body.reason)
    return AppealPublic.from_info(info)


@router.get(
    "/v1/appeals/{appeal_id}",
    response_model=AppealPublic,
    summary="One appeal",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def get_appeal(
    appeal_id: AppealId, runtime: RuntimeDep, principal: ReviewKey
) -> AppealPublic:
    """The appeal and, once decided, its outcome."""
    info = await run_in_threadpool(runtime.store.review.get_appeal, appeal_id)
    return AppealPublic.from_info(info)
