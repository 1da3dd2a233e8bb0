"""``/v1/hashlists`` and ``/v1/lookup``: manage hash lists and query them.

Design note: every route needs the ``lists`` scope and calls
:mod:`mediaguard.service.hashlists`; imports stream the body to the spool under a size
limit before any parsing, like media uploads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import parse_options_header

from mediaguard.match.formats import ListFormat
from mediaguard.match.types import SignalType
from mediaguard.service import hashlists
from mediaguard.service.deps import ListsKey, RuntimeDep
from mediaguard.service.errors import ERROR_RESPONSES, ErrorResponse
from mediaguard.service.routers._bodies import text_or_json_body
from mediaguard.service.schemas import (
    HashListCreate,
    HashListPublic,
    HashListUpdate,
    ImportReportPublic,
    LookupRequest,
    LookupResponse,
    PictureAddedPublic,
)
from mediaguard.service.uploads import receive, receive_bytes

router = APIRouter(tags=["hash lists"])

Name = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="The list's name.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such list"}
}


@router.get(
    "/v1/hashlists",
    response_model=list[HashListPublic],
    summary="List hash lists",
    responses=ERROR_RESPONSES,
)
async def list_hashlists(runtime: RuntimeDep, principal: ListsKey) -> list[HashListPublic]:
    """Every hash list with its entry count."""
    return await run_in_threadpool(hashlists.list_all, runtime)


@router.post(
    "/v1/hashlists",
    response_model=HashListPublic,
    status_code=201,
    summary="Create a hash list",
    responses={
        **ERROR_RESPONSES,
        409: {"model": ErrorResponse, "description": "a list with that name exists"},
    },
)
async def create_hashlist(
    body: HashListCreate, runtime: RuntimeDep, principal: ListsKey
) -> HashListPublic:
    """Create an empty list; import entries with `POST /v1/hashlists/{name}/entries`."""
    return await run_in_threadpool(hashlists.create, runtime, body)


@router.get(
    "/v1/hashlists/{name}",
    response_model=HashListPublic,
    summary="Get a hash list",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def get_hashlist(name: Name, runtime: RuntimeDep, principal: ListsKey) -> HashListPublic:
    """One list's settings and entry count."""
    return await run_in_threadpool(hashlists.get, runtime, name)


@router.patch(
    "/v1/hashlists/{name}",
    response_model=HashListPublic,
    summary="Change a hash list",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def update_hashlist(
    name: Name, body: HashListUpdate, runtime: RuntimeDep, principal: ListsKey
) -> HashListPublic:
    """Change category, action, source, description or PDQ distance."""
    return await run_in_threadpool(hashlists.update, runtime, name, body)


@router.delete(
    "/v1/hashlists/{name}",
    status_code=204,
    summary="Delete a hash list and its entries",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def delete_hashlist(name: Name, runtime: RuntimeDep, principal: ListsKey) -> Response:
    """Delete the list, its entries and their match history."""
    await run_in_threadpool(hashlists.delete, runtime, name)
    return Response(status_code=204)


@router.post(
    "/v1/hashlists/{name}/entries",
    response_model=ImportReportPublic,
    summary="Bulk-import entries (HMA text, CSV, plain, or a JSON array)",
    responses={
        **ERROR_RESPONSES,
        **_NOT_FOUND,
        413: {"model": ErrorResponse, "description": "body over the import limit"},
    },
    openapi_extra=text_or_json_body(
        "A text file of `<signal_type> <hash>` lines (HMA/ThreatExchange), a CSV with a "
        "header, or one hash per line (`format=plain&signal_type=...`); or, with "
        "`Content-Type: application/json`, an array of entries."
    ),
)
async def import_entries(
    name: Name,
    request: Request,
    runtime: RuntimeDep,
    principal: ListsKey,
    fmt: Annotated[
        ListFormat | None,
        Query(alias="format", description="Text format; detected from the first line if omitted."),
    ] = None,
    signal_type: Annotated[
        SignalType | None, Query(description="Hash type of a plain file.")
    ] = None,
) -> ImportReportPublic:
    """Add entries; duplicates are skipped, bad lines reported, the rest imported.

    Past scanned items that now match are reported and announced as
    `hashlist.retro_match` webhook events.
    """
    await run_in_threadpool(runtime.store.lists.get_list, name)
    settings = runtime.settings
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    if content_type == b"application/json":
        received = await receive(request, limit=settings.max_json_import_bytes)
        data = received[0].data or b""
        return await run_in_threadpool(hashlists.import_json, runtime, name, data)
    received = await receive(
        request, limit=settings.max_import_bytes, spool=runtime.spool.new_incoming
    )
    path = received[0].path
    assert path is not None
    try:
        return await run_in_threadpool(
            lambda: hashlists.import_text(runtime, name, path, fmt=fmt, signal=signal_type)
        )
    finally:
        path.unlink(missing_ok=True)


@router.post(
    "/v1/hashlists/{name}/media",
    response_model=PictureAddedPublic,
    status_code=201,
    summary="List a picture itself, with the hashes of its standard crops",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def add_media(
    name: Name,
    request: Request,
    runtime: RuntimeDep,
    principal: ListsKey,
    label: Annotated[
        str | None,
        Query(alias="name", max_length=255, description="Kept as the entries' external id."),
    ] = None,
) -> PictureAddedPublic:
    """Add one picture (raw body or a multipart `file`): its PDQ, MD5 and SHA-256, the
    PDQ of standard crops, and a reduced copy that near-threshold matches are checked
    against, so that a cropped repost of it matches. Lists only hold hashes otherwise.
    """
    await run_in_threadpool(runtime.store.lists.get_list, name)
    data, source = await receive_bytes(request, limit=runtime.settings.max_scan_bytes, label=label)
    return await run_in_threadpool(hashlists.add_media, runtime, name, data, source)


@router.post(
    "/v1/lookup",
    response_model=LookupResponse,
    summary="Look a hash up in every list (like HMA's /m/lookup)",
    responses=ERROR_RESPONSES,
)
async def lookup(body: LookupRequest, runtime: RuntimeDep, principal: ListsKey) -> LookupResponse:
    """Exact lists for MD5/SHA-256; PDQ within each list's distance."""
    return await run_in_threadpool(hashlists.lookup, runtime, body)
