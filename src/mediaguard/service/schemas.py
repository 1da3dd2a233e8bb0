"""Request and response bodies of the HTTP API.

Design note: the API's JSON is declared here, separately from the store's dataclasses,
so the database can change without changing the contract. Input bodies are
``*Create``/``*Update`` models that refuse unknown fields (a misspelt field is an error,
not a silent default); outputs are ``*Public`` models built from the store's values by
``from_info`` class methods, and they never carry a secret, except
:class:`WebhookCreated`, which returns an endpoint's secret the one time it exists.
Scan results reuse :class:`mediaguard.verdict.Verdict` and
:class:`mediaguard.verdict.ScanFailure` as they are, so the API and the CLI emit the
same JSON Schema.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from mediaguard.match.types import Match
from mediaguard.policy.model import ListAction
from mediaguard.store.list_types import HashListInfo
from mediaguard.store.review_types import AppealInfo, DecisionInfo, ReviewItemInfo
from mediaguard.store.service_types import DeliveryInfo, EndpointInfo, JobInfo
from mediaguard.verdict import ScanFailure, Verdict

JobState = Literal["queued", "running", "done", "failed"]
EventType = Literal[
    "job.completed",
    "job.failed",
    "hashlist.retro_match",
    "stream.alert",
    "stream.ended",
    "stream.failed",
    "stream.action",
]
ListName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Category = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]

_RESULTS: TypeAdapter[list[Verdict | ScanFailure]] = TypeAdapter(list[Verdict | ScanFailure])


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no legitimate field needs it; refusing it
        # here keeps both backends answering the same 422.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True)


# ---------------------------------------------------------------------------- health


class Health(_Output):
    """The process is up."""

    status: Literal["ok"] = "ok"


class Readiness(_Output):
    """Every dependency needed to serve requests is ready."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str]


# ------------------------------------------------------------------------------ jobs


class JobInputPublic(_Output):
    """One uploaded file of a job."""

    name: str
    sha256: str
    size_bytes: int
    media_type: str = Field(description="Format recognised from the bytes at submission.")


class JobError(_Output):
    """Why a job failed."""

    code: str = Field(description="Stable code, e.g. unsupported_media, attempts_exhausted.")
    message: str


class JobPublic(_Output):
    """An asynchronous scan job and, once finished, its results."""

    id: str
    state: JobState
    kind: Literal["single", "batch"]
    attempts: int = Field(description="Times a worker has taken the job (retries included).")
    max_attempts: int
    progress: int = Field(description="Inputs scanned so far in the current attempt.")
    item_count: int
    inputs: list[JobInputPublic]
    callback_url: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    results: list[Verdict | ScanFailure] | None = Field(
        description="One result per input, in order, once the job is done or failed."
    )
    error: JobError | None

    @classmethod
    def from_info(cls, job: JobInfo) -> Self:
        """The public view of a stored job."""
        results = _RESULTS.validate_json(job.result) if job.result is not None else None
        error = (
            JobError(code=job.error_code, message=job.error_message or "")
            if job.state == "failed" and job.error_code is not None
            else None
        )
        return cls(
            id=job.id,
            state=job.state,  # type: ignore[arg-type]
            kind=job.kind,  # type: ignore[arg-type]
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            progress=job.progress,
            item_count=len(job.inputs),
            inputs=[
                JobInputPublic(
                    name=i.name, sha256=i.sha256, size_bytes=i.size_bytes, media_type=i.media_type
                )
                for i in job.inputs
            ],
            callback_url=job.callback_url,
            idempotency_key=job.idempotency_key,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            results=results,
            error=error,
        )


def results_json(results: list[Verdict | ScanFailure]) -> str:
    """Results as stored on a job (and returned by ``GET /v1/jobs/{id}``)."""
    return _RESULTS.dump_json(results).decode("utf-8")


# -------------------------------------------------------------------------- webhooks


class WebhookCreate(_Input):
    """A webhook endpoint to register for the calling key."""

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL to POST events to.")
    events: list[EventType] = Field(
        default=["job.completed", "job.failed"],
        min_length=1,
        max_length=3,
        description="Event types to receive; hashlist.retro_match needs the lists scope.",
    )


class WebhookPublic(_Output):
    """A registered webhook endpoint (its secret is never shown again)."""

    id: int
    url: str
    events: list[EventType]
    created_at: datetime

    @classmethod
    def from_info(cls, info: EndpointInfo) -> Self:
        """The public view of a stored endpoint."""
        return cls(
            id=info.id,
            url=info.url,
            events=sorted(info.events),  # type: ignore[arg-type]
            created_at=info.created_at,
        )


class WebhookCreated(WebhookPublic):
    """A new endpoint with its signing secret, shown only in this response."""

    secret: str = Field(description="HMAC-SHA256 key of Mediaguard-Signature; store it now.")


class AttemptPublic(_Output):
    """One HTTP attempt of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None


class DeliveryPublic(_Output):
    """The delivery of one event to one URL, with its attempt log."""

    id: int
    event_id: str
    event_type: EventType
    endpoint_id: int | None
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptPublic]

    @classmethod
    def from_info(cls, info: DeliveryInfo) -> Self:
        """The public view of a stored delivery."""
        return cls(
            id=info.id,
            event_id=info.event_id,
            event_type=info.event_type,  # type: ignore[arg-type]
            endpoint_id=info.endpoint_id,
            url=info.url,
            state=info.state,  # type: ignore[arg-type]
            attempts=info.attempts,
            next_attempt_at=info.next_attempt_at,
            last_status_code=info.last_status_code,
            last_error=info.last_error,
            created_at=info.created_at,
            delivered_at=info.delivered_at,
            log=[
                AttemptPublic(
                    attempt=a.attempt,
                    started_at=a.started_at,
                    duration_ms=a.duration_ms,
                    status_code=a.status_code,
                    error=a.error,
                )
                for a in info.log
            ],
        )


# ------------------------------------------------------------------------ hash lists


class HashListCreate(_Input):
    """A new, empty hash list."""

    name: ListName
    category: Category = Field(description="Content category its matches count towards.")
    action: ListAction = Field(
        default=ListAction.REVIEW, description="block, review or allow (an allow-list)."
    )
    source: str = Field(default="", max_length=2048)
    description: str = Field(default="", max_length=10_000)
    pdq_distance: int = Field(default=31, ge=0, le=64, description="PDQ match radius.")


class HashListUpdate(_Input):
    """Changes to a list; omitted fields are kept."""

    category: Category | None = None
    action: ListAction | None = None
    source: str | None = Field(default=None, max_length=2048)
    description: str | None = Field(default=None, max_length=10_000)
    pdq_distance: int | None = Field(default=None, ge=0, le=64)


class HashListPublic(_Output):
    """A hash list with its entry count."""

    name: str
    category: str
    action: ListAction
    source: str
    description: str
    pdq_distance: int
    entries: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_info(cls, info: HashListInfo, entries: int) -> Self:
        """The public view of a stored list."""
        return cls(
            name=info.name,
            category=info.category,
            action=ListAction(info.action),
            source=info.source,
            description=info.description,
            pdq_distance=info.pdq_distance,
            entries=entries,
            created_at=info.created_at,
            updated_at=info.updated_at,
        )


class EntryCreate(_Input):
    """One hash in a JSON-array import."""

    signal_type: str = Field(max_length=32, description="pdq, md5, sha256 or vpdq (or aliases).")
    value: str = Field(max_length=1_000_000, description="The hash; a vPDQ value as in HMA files.")
    external_id: str | None = Field(default=None, max_length=1024)
    note: str | None = Field(default=None, max_length=10_000)
    added_at: datetime | None = None


class LineErrorPublic(_Output):
    """A line (or array item) that was not imported."""

    line: int = Field(description="1-based line (text) or item (JSON array) number.")
    text: str
    reason: str


class ImportReportPublic(_Output):
    """What an import did."""

    added: int
    duplicates: int
    error_count: int
    errors: list[LineErrorPublic] = Field(description="The first 100 rejected lines.")
    retro_matches: int = Field(description="Past scanned items that now match the list.")
    events: list[str] = Field(description="Ids of the hashlist.retro_match events queued.")


class PictureAddedPublic(_Output):
    """What adding one picture to a list did."""

    entry_ids: list[int] = Field(
        description="The picture's own entries: its PDQ hash, MD5 and SHA-256, in that order."
    )
    crops_added: int = Field(
        description="New PDQ hashes of standard crops of it, matched as the picture itself."
    )


class LookupRequest(_Input):
    """One hash to look up in every list (like HMA's /m/lookup)."""

    signal_type: Literal["pdq", "md5", "sha256"]
    value: str = Field(min_length=32, max_length=64, pattern=r"^[0-9a-fA-F]+$")


class LookupResponse(_Output):
    """The list entries the hash matches."""

    matches: list[Match]


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as plain JSON data (datetimes as ISO strings), for event payloads."""
    data: dict[str, Any] = json.loads(model.model_dump_json())
    return data


# ---------------------------------------------------------------------------- review

ItemState = Literal["open", "escalated", "appealed", "closed"]
DecisionAction = Literal["approve", "remove", "restrict", "escalate"]


class ReviewItemPublic(_Output):
    """An item in (or through) human review, with the verdict that flagged it."""

    id: str
    state: ItemState
    priority: int = Field(description="Higher is reviewed first.")
    media_kind: Literal["image", "video"]
    machine_decision: Literal["allow", "review", "block"]
    categories: list[str]
    lists: list[str]
    job_id: str | None
    sha256: str
    created_at: datetime
    updated_at: datetime
    verdict: Verdict | None = Field(
        default=None, description="The verdict; in single-item responses only."
    )

    @classmethod
    def from_info(cls, info: ReviewItemInfo, *, with_verdict: bool = False) -> Self:
        """The public view of a stored item."""
        return cls(
            id=info.id,
            state=info.state,  # type: ignore[arg-type]  # CHECK constraint
            priority=info.priority,
            media_kind=info.media_kind,  # type: ignore[arg-type]
            machine_decision=info.machine_decision,  # type: ignore[arg-type]
            categories=list(info.categories),
            lists=list(info.lists),
            job_id=info.job_id,
            sha256=info.sha256,
            created_at=info.created_at,
            updated_at=info.updated_at,
            verdict=Verdict.model_validate_json(info.verdict_json) if with_verdict else None,
        )


class AppealPublic(_Output):
    """An appeal of a decision and, once a different reviewer decided, its outcome."""

    id: str
    decision_id: str
    state: Literal["open", "resolved"]
    outcome: Literal["upheld", "reversed"] | None
    resolution_id: str | None = Field(description="The decision that resolved the appeal.")
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def from_info(cls, info: AppealInfo) -> Self:
        """The public view of a stored appeal (the appellant's reason stays internal)."""
        return cls(
            id=info.id,
            decision_id=info.decision_id,
            state=info.state,  # type: ignore[arg-type]
            outcome=info.outcome,  # type: ignore[arg-type]
            resolution_id=info.resolution_id,
            created_at=info.created_at,
            resolved_at=info.resolved_at,
        )


class DecisionPublic(_Output):
    """A decision about an item: what, why, and whether a person or the pipeline took it."""

    id: str = Field(description="Stable id; the DSA statement's puid.")
    item_id: str
    action: DecisionAction
    reason_code: str
    automated_detection: bool
    automated_decision: Literal["fully", "partially", "not"]
    decided_by: Literal["reviewer", "pipeline"]
    appeal_id: str | None = Field(description="The appeal this decision resolved.")
    created_at: datetime
    appeals: list[AppealPublic]

    @classmethod
    def from_info(cls, info: DecisionInfo, appeals: list[AppealInfo]) -> Self:
        """The public view; the reviewer's name and note stay internal."""
        return cls(
            id=info.id,
            item_id=info.item_id,
            action=info.action,  # type: ignore[arg-type]
            reason_code=info.reason_code,
            automated_detection=info.automated_detection,
            automated_decision=info.automated_decision,  # type: ignore[arg-type]
            decided_by="pipeline" if info.reviewer is None else "reviewer",
            appeal_id=info.appeal_id,
            created_at=info.created_at,
            appeals=[AppealPublic.from_info(a) for a in appeals],
        )


class AppealCreate(_Input):
    """Ask for a decision to be taken again by a different reviewer."""

    reason: str = Field(
        default="",
        max_length=4000,
        description="What the appellant says; kept for the reviewer, never published.",
    )
