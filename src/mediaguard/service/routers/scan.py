"""``POST /v1/scan``: one image in, one verdict out, synchronously.

Design note: the upload is read from the stream under the size limit, kept in memory
(an image scan needs its bytes anyway, and the limit bounds them), and scanned in a
worker thread by the scanner loaded at start-up, so the event loop keeps serving while
the models run.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.concurrency import run_in_threadpool

from mediaguard.service.deps import RuntimeDep, ScanKey
from mediaguard.service.errors import ERROR_RESPONSES, ErrorResponse
from mediaguard.service.routers._bodies import upload_body
from mediaguard.service.uploads import receive_bytes
from mediaguard.verdict import Verdict

router = APIRouter(tags=["scan"])


@router.post(
    "/v1/scan",
    response_model=Verdict,
    summary="Scan one image synchronously",
    responses={
        **ERROR_RESPONSES,
        413: {"model": ErrorResponse, "description": "upload or media over a limit"},
        415: {"model": ErrorResponse, "description": "not a supported image format"},
    },
    openapi_extra=upload_body(
        multiple=False,
        description="The image, as multipart `file` or as the raw body. The format is "
        "recognised from the bytes; the file name and Content-Type are not trusted.",
    ),
)
async def scan(
    request: Request,
    background: BackgroundTasks,
    runtime: RuntimeDep,
    principal: ScanKey,
    name: Annotated[
        str | None,
        Query(max_length=255, description="Recorded as the verdict's source."),
    ] = None,
) -> Verdict:
    """Scan one image and return its verdict.

    Video and batches go to `POST /v1/jobs`. Nothing is stored but the item's hashes
    and decision (for retroactive hash-list matching), unless that is turned off.
    """
    settings = runtime.settings
    data, label = await receive_bytes(request, limit=settings.max_scan_bytes, label=name)
    verdict = await run_in_threadpool(runtime.scan, data, name=label)
    runtime.metrics.observe_result(verdict, "sync")
    # After the response is sent: the preview a review item keeps costs the caller nothing.
    background.add_task(runtime.send_to_review, verdict, data)
    return verdict
