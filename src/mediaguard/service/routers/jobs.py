"""``/v1/jobs``: asynchronous scans of video and batches.

Design note: submission only streams the files into the spool, checks each one's
format from its first bytes and queues the job; the scan happens in a worker. A client
that retries a submission with the same ``Idempotency-Key`` gets the job it already
created (200 instead of 201); the same key with a different request is a 409. Keys are
scoped to the API key that sent them, so two clients cannot collide.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from mediaguard.service import jobs
from mediaguard.service.deps import RuntimeDep, ScanKey
from mediaguard.service.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from mediaguard.service.routers._bodies import upload_body
from mediaguard.service.schemas import JobPublic, JobState
from mediaguard.service.uploads import receive
from mediaguard.store.service_types import JobInfo

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The job's id.")]


def _visible(job: JobInfo, principal_key: int, is_admin: bool) -> bool:
    return is_admin or job.api_key_id == principal_key


@router.post(
    "/v1/jobs",
    response_model=JobPublic,
    status_code=201,
    summary="Submit a video or a batch of files for asynchronous scanning",
    responses={
        **ERROR_RESPONSES,
        200: {"model": JobPublic, "description": "idempotent replay: the existing job"},
        409: {"model": ErrorResponse, "description": "Idempotency-Key reused differently"},
        413: {"model": ErrorResponse, "description": "upload over the limit"},
        415: {"model": ErrorResponse, "description": "a file is not a supported format"},
    },
    openapi_extra=upload_body(
        multiple=True,
        description="One or more files as multipart `files` (or `file`), or one file "
        "as the raw body.",
    ),
)
async def create_job(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    principal: ScanKey,
    callback_url: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="POST the job.completed/job.failed event here, signed with the "
            "server's webhook secret. Private addresses are refused unless allowed.",
        ),
    ] = None,
    name: Annotated[
        str | None, Query(max_length=255, description="Name of a raw-body upload.")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=r"^[\x21-\x7e]{1,255}$",
            description="Retries with the same key return the same job (1-255 visible "
            "ASCII characters, e.g. a UUID).",
        ),
    ] = None,
) -> JobPublic:
    """Queue a job; poll `GET /v1/jobs/{id}` or wait for its webhook."""
    settings = runtime.settings
    await run_in_threadpool(jobs.check_callback, runtime, callback_url)
    files = await receive(
        request,
        limit=settings.max_job_bytes,
        max_files=settings.max_job_files,
        spool=runtime.spool.new_incoming,
        default_name=name or "upload",
    )
    job, created = await run_in_threadpool(
        lambda: jobs.submit(
            runtime,
            api_key_id=principal.key.id,
            files=files,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
        )
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobPublic.from_info(job)


@router.get(
    "/v1/jobs",
    response_model=list[JobPublic],
    summary="List recent jobs",
    responses=ERROR_RESPONSES,
)
async def list_jobs(
    runtime: RuntimeDep,
    principal: ScanKey,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[JobPublic]:
    """The calling key's newest jobs (an admin key sees every key's)."""
    found = await run_in_threadpool(
        runtime.store.jobs.list_jobs, principal.owner_filter, state=state, limit=limit
    )
    return [JobPublic.from_info(job) for job in found]


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobPublic,
    summary="Get a job's state and, when finished, its results",
    responses={**ERROR_RESPONSES, 404: {"model": ErrorResponse, "description": "no such job"}},
)
async def get_job(job_id: JobId, runtime: RuntimeDep, principal: ScanKey) -> JobPublic:
    """A job of the calling key (another key's job is reported as not found)."""
    job = await run_in_threadpool(runtime.store.jobs.get_job, job_id)
    if not _visible(job, principal.key.id, principal.is_admin):
        raise ApiError(404, "not_found", f"job {job_id!r} does not exist")
    return JobPublic.from_info(job)
