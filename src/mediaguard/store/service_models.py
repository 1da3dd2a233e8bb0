"""SQLAlchemy 2 tables of the HTTP service: API keys, durable jobs and webhook deliveries.

Design note: these tables share :class:`mediaguard.store.models.Base` (and so its
naming convention and Alembic history) but live in their own module because they
belong to the service, not to scanning: the core never reads them. Like the core
tables they use only portable types, store every timestamp as aware UTC, and repeat
allowed values as CHECK constraints.

Jobs are the queue. A job row carries its lease (``lease_owner``,
``lease_expires_at``); a worker owns a job only while its lease is current, and every
state change after the claim is a conditional ``UPDATE`` on the owner, so a worker that
was presumed dead cannot overwrite the result of the worker that took over. Webhook
deliveries are leased the same way. Results and event payloads are JSON text rather than
a JSON column type so SQLite and PostgreSQL store them identically.

API keys are stored as the SHA-256 of the token, never the token. Webhook endpoint
secrets are stored as they are because the server must compute HMACs with them; the
database is therefore as sensitive as the settings file that holds the server's own
signing secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mediaguard.store.base import ID, NOW, Base, UTCDateTime
from mediaguard.store.base import in_check as _in

#: States a job moves through: queued -> running -> done | failed (running -> queued on
#: a retry or a graceful shutdown).
JOB_STATES: tuple[str, ...] = ("queued", "running", "done", "failed")
#: A job scans one file (``single``) or several (``batch``).
JOB_KINDS: tuple[str, ...] = ("single", "batch")
#: Events a webhook can carry.
EVENT_TYPES: tuple[str, ...] = (
    "job.completed",
    "job.failed",
    "hashlist.retro_match",
    "stream.alert",
    "stream.ended",
    "stream.failed",
    "stream.action",
)
#: States of one delivery of one event to one URL.
DELIVERY_STATES: tuple[str, ...] = ("pending", "delivered", "failed")


class ApiKey(Base):
    """An API key: a public lookup id, the SHA-256 of the whole token, and its scopes."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "rate_limit_per_minute IS NULL OR rate_limit_per_minute >= 0",
            name="rate_limit_per_minute",
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(256))
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateBucket(Base):
    """One rate-limit bucket, shared by every process on the store (see ``store.limits``).

    ``tat`` is the bucket's theoretical arrival time in seconds since the epoch: the
    generic cell rate algorithm needs nothing else, so one upsert both checks and
    charges a request.
    """

    __tablename__ = "rate_buckets"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class Job(Base):
    """An asynchronous scan of one file or a batch, with its lease and its result."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index(None, "state", "available_at"),
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
        CheckConstraint("progress >= 0", name="progress"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)


class JobInput(Base):
    """One uploaded file of a job, identified by its SHA-256 in the job's spool folder."""

    __tablename__ = "job_inputs"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="size_bytes"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(64))


class WebhookEndpoint(Base):
    """A URL registered by an API key to receive events of some types."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEvent(Base):
    """One event; its id is the ``Mediaguard-Event-Id`` every delivery of it carries."""

    __tablename__ = "webhook_events"
    __table_args__ = (CheckConstraint(_in("type", EVENT_TYPES), name="type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class WebhookDelivery(Base):
    """The delivery of one event to one URL: its retry schedule, lease and outcome."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "url"),
        Index(None, "state", "next_attempt_at"),
        CheckConstraint(_in("state", DELIVERY_STATES), name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
