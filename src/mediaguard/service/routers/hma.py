"""HMA's API under HMA's paths: ``/h/hash``, ``/m/...`` and ``/c/bank...``.

Design note: an integration written against Hasher-Matcher-Actioner can be pointed at
mediaguard unchanged, apart from sending an API key: the routes take HMA's parameters
and answer HMA's shapes and status codes (:mod:`mediaguard.service.hma` holds the
mapping onto hash lists). Hashing needs the ``scan`` scope; matching and banks the
``lists`` scope, like ``/v1/lookup`` and ``/v1/hashlists``. Errors keep mediaguard's one
envelope. The routes are installed only when ``hma_api`` is on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from mediaguard.service import hma
from mediaguard.service.deps import ListsKey, RuntimeDep, ScanKey
from mediaguard.service.errors import ERROR_RESPONSES, ApiError
from mediaguard.service.uploads import receive

router = APIRouter(tags=["HMA compatibility"])


def json_object(description: str) -> dict[str, Any]:
    """The ``requestBody`` of a route that reads a JSON object itself."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


Bank = Annotated[str, Path(max_length=64, description="The bank: a list's name in capitals.")]
ContentId = Annotated[int, Path(ge=0, description="The content: a list entry's id.")]


class BankCreate(BaseModel):
    """HMA's ``BankCreateRequest``."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(max_length=64)
    enabled_ratio: float | None = None
    enabled: bool | None = None


class BankUpdate(BaseModel):
    """HMA's ``BankUpdateRequest``."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=64)
    enabled_ratio: float | None = None
    enabled: bool | None = None


def _banks(raw: str | None) -> set[str] | None:
    return set(raw.split(",")) if raw else None


async def _upload(request: Request, runtime: RuntimeDep) -> hma.Media:
    """The one file of an HMA multipart upload, its field naming the content type."""
    files = await receive(
        request,
        limit=runtime.settings.max_scan_bytes,
        fields=frozenset(hma.CONTENT_TYPES),
    )
    received = files[0]
    return hma.Media(received.data or b"", received.field or "photo")


async def _hash(runtime: RuntimeDep, media: hma.Media, types: str | None) -> dict[str, str]:
    return await run_in_threadpool(hma.hash_media, runtime, media, types)


# ----------------------------------------------------------------------- hashing


@router.get("/h/hash", summary="Hash media at a URL (HMA)", responses=ERROR_RESPONSES)
async def hash_url(
    runtime: RuntimeDep,
    principal: ScanKey,
    url: Annotated[str, Query(max_length=2048)],
    content_type: str | None = None,
    types: str | None = None,
) -> dict[str, str]:
    """Fetch ``url`` (public addresses only, as webhooks) and return its hashes by type."""
    media = await run_in_threadpool(hma.fetch_media, runtime, url, content_type)
    return await _hash(runtime, media, types)


@router.post("/h/hash", summary="Hash an uploaded file (HMA)", responses=ERROR_RESPONSES)
async def hash_upload(request: Request, runtime: RuntimeDep, principal: ScanKey) -> dict[str, str]:
    """Hash one file sent as multipart field ``photo`` or ``video``."""
    return await _hash(runtime, await _upload(request, runtime), None)


# ---------------------------------------------------------------------- matching


@router.get("/m/raw_lookup", summary="Raw hash lookup (HMA)", responses=ERROR_RESPONSES)
async def raw_lookup(
    runtime: RuntimeDep,
    principal: ListsKey,
    signal: Annotated[str, Query(max_length=100_000)],
    signal_type: str,
    banks: str | None = None,
    include_distance: bool = False,
) -> dict[str, Any]:
    """Matching content ids, with distances when asked; bank ratios are not applied."""
    return await run_in_threadpool(
        lambda: hma.raw_lookup(
            runtime,
            signal_type,
            signal,
            banks=_banks(banks),
            include_distance=include_distance,
        )
    )


@router.get("/m/lookup", summary="Look up a hash or a URL (HMA)", responses=ERROR_RESPONSES)
async def lookup(
    runtime: RuntimeDep,
    principal: ListsKey,
    url: Annotated[str | None, Query(max_length=2048)] = None,
    content_type: str | None = None,
    types: str | None = None,
    signal: Annotated[str | None, Query(max_length=100_000)] = None,
    signal_type: str | None = None,
    banks: str | None = None,
    seed: str | None = None,
    bypass_coinflip: bool = False,
) -> dict[str, Any]:
    """``{bank: [{bank_content_id, distance}]}``; keyed by signal type first for a URL."""
    wanted = _banks(banks)

    def one(kind: str, value: str) -> dict[str, Any]:
        return hma.lookup(
            runtime, kind, value, banks=wanted, seed=seed, bypass_coinflip=bypass_coinflip
        )

    if url:
        media = await run_in_threadpool(hma.fetch_media, runtime, url, content_type)
        hashes = await _hash(runtime, media, types)
        by_type = {kind: await run_in_threadpool(one, kind, v) for kind, v in hashes.items()}
        if signal_type is not None:
            return by_type.get(signal_type, {})
        return by_type
    if not signal or not signal_type:
        raise ApiError(400, "bad_request", "Either url or both signal and signal_type are required")
    return await run_in_threadpool(one, signal_type, signal)


@router.post("/m/lookup", summary="Look up an uploaded file (HMA)", responses=ERROR_RESPONSES)
async def lookup_upload(
    request: Request,
    runtime: RuntimeDep,
    principal: ListsKey,
    banks: str | None = None,
    seed: str | None = None,
    bypass_coinflip: bool = False,
) -> dict[str, Any]:
    """Hash one multipart ``photo`` or ``video`` and look each hash up."""
    hashes = await _hash(runtime, await _upload(request, runtime), None)
    wanted = _banks(banks)

    def one(kind: str, value: str) -> dict[str, Any]:
        return hma.lookup(
            runtime, kind, value, banks=wanted, seed=seed, bypass_coinflip=bypass_coinflip
        )

    return {kind: await run_in_threadpool(one, kind, value) for kind, value in hashes.items()}


@router.post(
    "/m/compare",
    summary="Compare pairs of hashes (HMA)",
    responses=ERROR_RESPONSES,
    openapi_extra=json_object("`{signal_type: [hash, hash]}`"),
)
async def compare(request: Request, principal: ListsKey) -> dict[str, Any]:
    """``{signal_type: [matches, {"distance": d}]}`` per pair (PDQ threshold 31, as HMA)."""
    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from err
    return hma.compare(body)


@router.get("/m/index/status", summary="Index status (HMA)", responses=ERROR_RESPONSES)
async def index_status(
    runtime: RuntimeDep, principal: ListsKey, signal_type: str | None = None
) -> dict[str, Any]:
    """Per signal type: whether its index has entries and how many."""
    return await run_in_threadpool(hma.index_status, runtime, signal_type)


# ------------------------------------------------------------------------- banks


@router.get("/c/banks", summary="List banks (HMA)", responses=ERROR_RESPONSES)
async def list_banks(runtime: RuntimeDep, principal: ListsKey) -> list[dict[str, Any]]:
    """Every hash list whose name has a bank spelling."""
    return await run_in_threadpool(hma.banks, runtime)


@router.post("/c/banks", summary="Create a bank (HMA)", status_code=201, responses=ERROR_RESPONSES)
async def create_bank(body: BankCreate, runtime: RuntimeDep, principal: ListsKey) -> Any:
    """A new hash list; 403 when it exists, as HMA answers."""
    if body.enabled_ratio is not None:
        ratio = body.enabled_ratio
    elif body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    else:
        ratio = 1.0
    created = await run_in_threadpool(hma.create_bank, runtime, body.name, ratio)
    return JSONResponse(created, status_code=201)


@router.get("/c/bank/{bank_name}", summary="Get a bank (HMA)", responses=ERROR_RESPONSES)
async def get_bank(bank_name: Bank, runtime: RuntimeDep, principal: ListsKey) -> dict[str, Any]:
    """One bank."""
    return await run_in_threadpool(hma.get_bank, runtime, bank_name)


@router.put("/c/bank/{bank_name}", summary="Update a bank (HMA)", responses=ERROR_RESPONSES)
async def update_bank(
    bank_name: Bank, body: BankUpdate, runtime: RuntimeDep, principal: ListsKey
) -> dict[str, Any]:
    """Change ``matching_enabled_ratio`` (or ``enabled``); renaming is refused."""
    ratio = body.enabled_ratio
    if ratio is None and body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    return await run_in_threadpool(
        lambda: hma.update_bank(runtime, bank_name, new_name=body.name, ratio=ratio)
    )


@router.delete("/c/bank/{bank_name}", summary="Delete a bank (HMA)", responses=ERROR_RESPONSES)
async def delete_bank(bank_name: Bank, runtime: RuntimeDep, principal: ListsKey) -> dict[str, str]:
    """Delete the list and its entries; a missing bank is not an error, as in HMA."""
    await run_in_threadpool(hma.delete_bank, runtime, bank_name)
    return {"message": "Done"}


@router.get(
    "/c/bank/{bank_name}/content/{content_id}",
    summary="Get bank content (HMA)",
    responses=ERROR_RESPONSES,
)
async def get_content(
    bank_name: Bank,
    content_id: ContentId,
    runtime: RuntimeDep,
    principal: ListsKey,
    include_signals: bool = False,
    include_metadata: bool = True,
) -> dict[str, Any]:
    """One entry in HMA's ``BankContentResponse`` shape."""
    return await run_in_threadpool(
        lambda: hma.get_content(
            runtime, bank_name, content_id, signals=include_signals, metadata=include_metadata
        )
    )


@router.post(
    "/c/bank/{bank_name}/content",
    summary="Add content to a bank by URL or upload (HMA)",
    responses=ERROR_RESPONSES,
)
async def add_content(
    bank_name: Bank,
    request: Request,
    runtime: RuntimeDep,
    principal: ListsKey,
    url: Annotated[str | None, Query(max_length=2048)] = None,
    content_type: str | None = None,
    types: str | None = None,
) -> dict[str, Any]:
    """Hash the media at ``url`` or the uploaded ``photo``/``video`` and bank its hashes."""
    await run_in_threadpool(hma.get_bank, runtime, bank_name)
    if url:
        media = await run_in_threadpool(hma.fetch_media, runtime, url, content_type)
    elif request.headers.get("content-type", "").startswith("multipart/form-data"):
        media = await _upload(request, runtime)
    else:
        raise ApiError(400, "bad_request", "Neither `url` nor multipart file upload was received")
    hashes = await _hash(runtime, media, types)
    return await run_in_threadpool(hma.add_signals, runtime, bank_name, hashes, None)


@router.post(
    "/c/bank/{bank_name}/signal",
    summary="Add hashes to a bank (HMA)",
    responses=ERROR_RESPONSES,
    openapi_extra=json_object('`{"pdq": "<hash>", "note": "..."}`'),
)
async def add_signal(
    bank_name: Bank, request: Request, runtime: RuntimeDep, principal: ListsKey
) -> dict[str, Any]:
    """Bank signals given directly, ``{signal_type: hash}`` with an optional ``note``."""
    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from err
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "expected a JSON object of signal type to hash")
    note = body.pop("note", None)
    return await run_in_threadpool(hma.add_signals, runtime, bank_name, body, note)


@router.delete(
    "/c/bank/{bank_name}/content/{content_id}",
    summary="Remove content from a bank (HMA)",
    responses=ERROR_RESPONSES,
)
async def remove_content(
    bank_name: Bank, content_id: ContentId, runtime: RuntimeDep, principal: ListsKey
) -> dict[str, int]:
    """``{"deleted": n}``."""
    return {"deleted": await run_in_threadpool(hma.remove_content, runtime, bank_name, content_id)}


# --------------------------------------------------------------------- exchanges


@router.get("/c/exchanges", summary="List exchanges (HMA)", responses=ERROR_RESPONSES)
async def list_exchanges(runtime: RuntimeDep, principal: ListsKey) -> list[str]:
    """The exchanges in the settings (they are configured there, not through the API)."""
    return hma.exchanges(runtime)


@router.get(
    "/c/exchange/{exchange_name}", summary="Get an exchange (HMA)", responses=ERROR_RESPONSES
)
async def get_exchange(
    exchange_name: Annotated[str, Path(max_length=64)], runtime: RuntimeDep, principal: ListsKey
) -> dict[str, Any]:
    """An exchange's kind, list and schedule; credentials are never shown."""
    return hma.exchange(runtime, exchange_name)


@router.get(
    "/c/exchange/{exchange_name}/status",
    summary="An exchange's last fetch (HMA)",
    responses=ERROR_RESPONSES,
)
async def exchange_status(
    exchange_name: Annotated[str, Path(max_length=64)], runtime: RuntimeDep, principal: ListsKey
) -> dict[str, Any]:
    """``{"last_fetch_time", "checkpoint_time", "success"}``."""
    return await run_in_threadpool(hma.exchange_status, runtime, exchange_name)
