"""``/v1/streams``: live streams watched by the workers, their state and their events.

Design note: submission only checks the URLs (the stream's host and the callback's pass
the webhook address guard) and queues the stream; a stream worker watches it. Reading a
stream shows its latest state (decision, samples, attempts); its events are pages of
the stored ``StreamEvent`` objects after a given event id, so a client can follow a
stream by polling with the last id it saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from mediaguard.service import streams
from mediaguard.service.deps import RuntimeDep, ScanKey
from mediaguard.service.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from mediaguard.store.streams import StreamInfo

router = APIRouter(tags=["streams"])

StreamId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The stream's id.")]


class StreamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="http(s) HLS or progressive, rtmp(s), rtsp.")
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Also POST stream.alert, stream.ended and stream.failed here, signed "
        "with the server's webhook secret.",
    )
    rate: str = Field(
        default="1", max_length=16, description="Samples per second, e.g. 1, 2 or 1/2."
    )


class StreamPublic(BaseModel):
    """A stream's state."""

    id: str
    url: str
    state: str = Field(description="queued, running, ended, failed or stopped.")
    decision: str = Field(description="The decision in force at the last lease renewal.")
    samples: int
    attempts: int = Field(description="Claims by a worker; above 1 after a takeover.")
    stop_requested: bool
    callback_url: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None

    @classmethod
    def from_info(cls, info: StreamInfo) -> StreamPublic:
        return cls(
            id=info.id,
            url=info.url,
            state=info.state,
            decision=info.decision,
            samples=info.samples,
            attempts=info.attempts,
            stop_requested=info.stop_requested,
            callback_url=info.callback_url,
            created_at=info.created_at,
            updated_at=info.updated_at,
            finished_at=info.finished_at,
            error=info.error,
        )


class StreamEventPublic(BaseModel):
    id: int = Field(description="Pass as `after` to read the events that follow.")
    kind: str
    event: dict[str, Any]


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such stream"}
}


def _visible(runtime: RuntimeDep, principal: ScanKey, stream_id: str) -> StreamInfo:
    info = runtime.store.streams.get_stream(stream_id)
    if not principal.is_admin and info.api_key_id != principal.key.id:
        raise ApiError(404, "not_found", f"stream {stream_id!r} does not exist")
    return info


@router.post(
    "/v1/streams",
    response_model=StreamPublic,
    status_code=201,
    summary="Watch a live stream",
    responses=ERROR_RESPONSES,
)
async def create_stream(
    body: StreamCreate, response: Response, runtime: RuntimeDep, principal: ScanKey
) -> StreamPublic:
    """Queue a stream for the stream workers; follow it with its events or webhooks."""
    info = await run_in_threadpool(
        lambda: streams.submit_stream(
            runtime,
            api_key_id=principal.key.id,
            url=body.url,
            callback_url=body.callback_url,
            rate=body.rate,
        )
    )
    response.headers["Location"] = f"/v1/streams/{info.id}"
    return StreamPublic.from_info(info)


@router.get(
    "/v1/streams",
    response_model=list[StreamPublic],
    summary="List recent streams",
    responses=ERROR_RESPONSES,
)
async def list_streams(
    runtime: RuntimeDep, principal: ScanKey, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[StreamPublic]:
    """The calling key's newest streams (an admin key sees every key's)."""
    found = await run_in_threadpool(
        runtime.store.streams.list_streams, principal.owner_filter, limit=limit
    )
    return [StreamPublic.from_info(info) for info in found]


@router.get(
    "/v1/streams/{stream_id}",
    response_model=StreamPublic,
    summary="Get a stream's state",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def get_stream(stream_id: StreamId, runtime: RuntimeDep, principal: ScanKey) -> StreamPublic:
    info = await run_in_threadpool(_visible, runtime, principal, stream_id)
    return StreamPublic.from_info(info)


@router.delete(
    "/v1/streams/{stream_id}",
    response_model=StreamPublic,
    summary="Stop watching a stream",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def stop_stream(stream_id: StreamId, runtime: RuntimeDep, principal: ScanKey) -> StreamPublic:
    """A queued stream stops at once; a running one at its worker's next lease renewal."""
    await run_in_threadpool(_visible, runtime, principal, stream_id)
    info = await run_in_threadpool(runtime.store.streams.request_stop, stream_id)
    return StreamPublic.from_info(info)


@router.get(
    "/v1/streams/{stream_id}/events",
    response_model=list[StreamEventPublic],
    summary="Read a stream's events",
    responses={**ERROR_RESPONSES, **_NOT_FOUND},
)
async def stream_events(
    stream_id: StreamId,
    runtime: RuntimeDep,
    principal: ScanKey,
    after: Annotated[int, Query(ge=0, description="Only events after this event id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[StreamEventPublic]:
    await run_in_threadpool(_visible, runtime, principal, stream_id)
    found = await run_in_threadpool(
        lambda: runtime.store.streams.events(stream_id, after=after, limit=limit)
    )
    return [StreamEventPublic(id=e.id, kind=e.kind, event=e.body) for e in found]
