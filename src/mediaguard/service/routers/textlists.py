"""``/v1/termlists`` and ``/v1/urllists``: manage term lists and URL lists.

Design note: one builder makes both routers, so the two kinds of list keep one contract;
it is the hash lists' (same scope, status codes, error bodies and import reports), and an
import streams the body to the spool under the same size limit before any parsing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import parse_options_header

from mediaguard.lists.termlists import TextListFormat
from mediaguard.service import textlists
from mediaguard.service.deps import ListsKey, RuntimeDep
from mediaguard.service.errors import ERROR_RESPONSES, ErrorResponse
from mediaguard.service.textlist_schemas import (
    RemovedPublic,
    TextEntriesRemove,
    TextEntryCreate,
    TextImportReportPublic,
    TextListCreate,
    TextListPublic,
    TextListUpdate,
)
from mediaguard.service.uploads import receive

Name = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="The list's name.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such list"}
}


def _import_body(kind: str) -> dict[str, Any]:
    what = "a phrase, or re:<pattern>" if kind == "term" else "a domain, or a URL prefix"
    return {
        "requestBody": {
            "required": True,
            "description": f"One entry per line ({what}), a CSV file with a header naming "
            "`value` (and optionally `type`, `note`, `external_id`), or, with "
            "`Content-Type: application/json`, an array of entries.",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "array", "items": TextEntryCreate.model_json_schema()}
                },
            },
        }
    }


def build_router(kind: str) -> APIRouter:
    """The routes of ``/v1/termlists`` (``kind="term"``) or ``/v1/urllists``."""
    base = f"/v1/{kind}lists"
    noun = f"{kind} list" if kind == "term" else "URL list"
    router = APIRouter(tags=[f"{noun}s"])

    @router.get(
        base,
        response_model=list[TextListPublic],
        summary=f"List {noun}s",
        responses=ERROR_RESPONSES,
        operation_id=f"list_{kind}lists",
    )
    async def list_all(runtime: RuntimeDep, principal: ListsKey) -> list[TextListPublic]:
        """Every list with its entry count."""
        return await run_in_threadpool(textlists.list_all, runtime, kind)

    @router.post(
        base,
        response_model=TextListPublic,
        status_code=201,
        summary=f"Create a {noun}",
        operation_id=f"create_{kind}list",
        responses={
            **ERROR_RESPONSES,
            409: {"model": ErrorResponse, "description": "the name is taken"},
        },
    )
    async def create(
        body: TextListCreate, runtime: RuntimeDep, principal: ListsKey
    ) -> TextListPublic:
        """Create an empty list; import entries with `POST .../{name}/entries`."""
        return await run_in_threadpool(textlists.create, runtime, kind, body)

    @router.get(
        f"{base}/{{name}}",
        response_model=TextListPublic,
        summary=f"Get a {noun}",
        operation_id=f"get_{kind}list",
        responses={**ERROR_RESPONSES, **_NOT_FOUND},
    )
    async def get(name: Name, runtime: RuntimeDep, principal: ListsKey) -> TextListPublic:
        """One list's settings and entry count."""
        return await run_in_threadpool(textlists.get, runtime, kind, name)

    @router.patch(
        f"{base}/{{name}}",
        response_model=TextListPublic,
        summary=f"Change a {noun}",
        operation_id=f"update_{kind}list",
        responses={**ERROR_RESPONSES, **_NOT_FOUND},
    )
    async def update(
        name: Name, body: TextListUpdate, runtime: RuntimeDep, principal: ListsKey
    ) -> TextListPublic:
        """Change category, action, source or description."""
        return await run_in_threadpool(textlists.update, runtime, kind, name, body)

    @router.delete(
        f"{base}/{{name}}",
        status_code=204,
        summary=f"Delete a {noun}",
        operation_id=f"delete_{kind}list",
        responses={**ERROR_RESPONSES, **_NOT_FOUND},
    )
    async def delete(name: Name, runtime: RuntimeDep, principal: ListsKey) -> Response:
        """Delete the list and its entries."""
        await run_in_threadpool(textlists.delete, runtime, kind, name)
        return Response(status_code=204)

    @router.post(
        f"{base}/{{name}}/entries",
        response_model=TextImportReportPublic,
        summary="Import entries (plain lines, CSV, or a JSON array)",
        operation_id=f"import_{kind}list_entries",
        responses={
            **ERROR_RESPONSES,
            **_NOT_FOUND,
            413: {"model": ErrorResponse, "description": "body over the limit"},
        },
        openapi_extra=_import_body(kind),
    )
    async def import_entries(
        name: Name,
        request: Request,
        runtime: RuntimeDep,
        principal: ListsKey,
        fmt: Annotated[
            TextListFormat | None,
            Query(alias="format", description="plain or csv; detected when omitted."),
        ] = None,
    ) -> TextImportReportPublic:
        """Add entries; duplicates are skipped, bad lines reported by number, the rest added."""
        await run_in_threadpool(textlists.get, runtime, kind, name)
        settings = runtime.settings
        content_type, _ = parse_options_header(request.headers.get("content-type"))
        if content_type == b"application/json":
            received = await receive(request, limit=settings.max_json_import_bytes)
            data = received[0].data or b""
            return await run_in_threadpool(textlists.import_json, runtime, kind, name, data)
        received = await receive(
            request, limit=settings.max_import_bytes, spool=runtime.spool.new_incoming
        )
        path = received[0].path
        assert path is not None
        try:
            return await run_in_threadpool(
                lambda: textlists.import_text(runtime, kind, name, path, fmt=fmt)
            )
        finally:
            path.unlink(missing_ok=True)

    @router.post(
        f"{base}/{{name}}/entries/remove",
        response_model=RemovedPublic,
        summary="Remove entries",
        operation_id=f"remove_{kind}list_entries",
        responses={**ERROR_RESPONSES, **_NOT_FOUND},
    )
    async def remove(
        name: Name, body: TextEntriesRemove, runtime: RuntimeDep, principal: ListsKey
    ) -> RemovedPublic:
        """Remove entries, written as for an import (any spelling of one finds it)."""
        removed = await run_in_threadpool(textlists.remove, runtime, kind, name, list(body.values))
        return RemovedPublic(removed=removed)

    @router.get(
        f"{base}/{{name}}/entries",
        summary="Export a list",
        operation_id=f"export_{kind}list",
        response_class=Response,
        responses={
            **ERROR_RESPONSES,
            **_NOT_FOUND,
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "The entries, in a format an import reads.",
            },
        },
    )
    async def export(
        name: Name,
        runtime: RuntimeDep,
        principal: ListsKey,
        fmt: Annotated[TextListFormat, Query(alias="format")] = TextListFormat.PLAIN,
    ) -> Response:
        """The list's entries as plain lines or CSV."""
        text = await run_in_threadpool(textlists.export, runtime, kind, name, fmt)
        media = "text/csv" if fmt is TextListFormat.CSV else "text/plain"
        return Response(text, media_type=f"{media}; charset=utf-8")

    return router


termlists_router = build_router("term")
urllists_router = build_router("url")
