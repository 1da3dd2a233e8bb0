"""What the service's repositories hand out: API keys, jobs and webhooks as values.

Kept apart from the key, job and webhook repositories because the layers above read
these values without writing anything (the HTTP schemas, the routers, the spool and the
job workers), and because the repositories pass them to each other: a finished job
carries :class:`NewEvent` values into the webhook tables, in the job's transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mediaguard.store import validation as check
from mediaguard.store.errors import InvalidInputError
from mediaguard.store.service_models import EVENT_TYPES


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A stored API key; ``secret_sha256`` is the SHA-256 of the whole token."""

    id: int
    key_id: str
    name: str
    secret_sha256: str
    scopes: frozenset[str]
    rate_limit_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key is still accepted."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewJobInput:
    """An uploaded file of a new job, already written to the spool.

    Raises:
        InvalidInputError: when a field is invalid; the message names it.
    """

    name: str
    sha256: str
    size_bytes: int
    media_type: str

    def __post_init__(self) -> None:
        """Validate the fields."""
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 1024:
            raise InvalidInputError("input name: expected 1 to 1024 characters")
        if not check.is_sha256(self.sha256):
            raise InvalidInputError(f"input sha256: expected 64 hex digits, got {self.sha256!r}")
        check.require_int("input size_bytes", self.size_bytes, 0, None)
        if not isinstance(self.media_type, str) or not 1 <= len(self.media_type) <= 64:
            raise InvalidInputError("input media_type: expected 1 to 64 characters")


@dataclass(frozen=True, slots=True)
class JobInputInfo:
    """One stored input of a job, in submission order."""

    position: int
    name: str
    sha256: str
    size_bytes: int
    media_type: str


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job as stored: its state, lease, attempts and (when finished) its result JSON."""

    id: str
    api_key_id: int
    idempotency_key: str | None
    request_sha256: str
    kind: str
    state: str
    attempts: int
    max_attempts: int
    progress: int
    callback_url: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    available_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: str | None
    error_code: str | None
    error_message: str | None
    inputs: tuple[JobInputInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to deliver to every subscribed endpoint and to ``urls``.

    Attributes:
        type: one of ``job.completed``, ``job.failed``, ``hashlist.retro_match``.
        data: the event's data; it must serialise to JSON.
        api_key_id: the key that owns the event (a job's submitter), or None for an
            event about shared state (a hash list), delivered to every endpoint that
            subscribed to its type.
        urls: extra one-off targets, such as a job's ``callback_url``.
        id: the event id every delivery carries (``Mediaguard-Event-Id``).
    """

    type: str
    data: Any
    api_key_id: int | None = None
    urls: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: f"evt_{uuid.uuid4().hex}")

    def __post_init__(self) -> None:
        """Validate the type and that the data serialises."""
        if self.type not in EVENT_TYPES:
            raise InvalidInputError(
                f"event type: expected one of {', '.join(EVENT_TYPES)}, got {self.type!r}"
            )
        try:
            json.dumps(self.data)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"event data: not serialisable to JSON: {err}") from err
        for url in self.urls:
            check.url(url)


@dataclass(frozen=True, slots=True)
class EventInfo:
    """A stored event; ``body`` is the exact JSON every delivery of it sends."""

    id: str
    type: str
    api_key_id: int | None
    body: str
    created_at: datetime
    deliveries: int


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """A registered webhook endpoint, without its secret."""

    id: int
    api_key_id: int
    url: str
    events: frozenset[str]
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryTask:
    """A claimed delivery: what to send where, signed with which secret.

    ``secret`` is the endpoint's secret, or None for a one-off URL (a job's
    ``callback_url``), which is signed with the server's signing secret.
    """

    delivery_id: int
    event_id: str
    event_type: str
    body: str
    url: str
    secret: str | None
    attempt: int
    lease_owner: str


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """One logged HTTP attempt of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """A delivery with its attempt log."""

    id: int
    event_id: str
    event_type: str
    endpoint_id: int | None
    url: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: tuple[AttemptInfo, ...] = ()
