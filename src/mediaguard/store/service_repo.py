"""The service's storage: API keys, durable jobs with leases, webhook events and deliveries.

Design note: :class:`ServiceStore` is to the HTTP service what :class:`Store` is to
scanning: the only door to its tables. Its public methods validate their input and
return frozen dataclasses, never ORM objects. It shares the :class:`Store`'s engine (one
connection pool per process, the same SQLite pragmas) rather than opening its own.

The job table is the queue, so the interesting methods are the lease protocol:

* :meth:`ServiceStore.claim_job` takes the oldest job that is ``queued`` or whose
  worker's lease has expired. On PostgreSQL the candidate is selected with ``SELECT ...
  FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each other's rows; on
  SQLite, which has one writer at a time anyway, the candidate is read and then taken
  with a guarded ``UPDATE ... WHERE id = ? AND (state = 'queued' OR lease expired)``
  whose row count says whether this worker won.
* :meth:`ServiceStore.heartbeat_job` extends the lease, only while this worker owns it.
* :meth:`ServiceStore.finish_job` is a conditional ``UPDATE`` on the lease owner and the
  ``running`` state, and inserts the job's webhook events in the same transaction. A
  worker that was presumed dead and comes back finds its update matching no row, so a
  job completes exactly once and its events are emitted exactly once.

Webhook deliveries are leased the same way so that several dispatchers (the serving
process and any ``mediaguard worker``) never send one attempt twice. Every attempt is
logged in ``webhook_attempts``.

Timestamps come from this process's clock (UTC). Leases compare clocks of different
processes, so hosts running workers against one PostgreSQL need synchronised clocks
(NTP); a lease is tens of seconds, far above ordinary skew.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mediaguard.store import audit
from mediaguard.store.base import utcnow
from mediaguard.store.repo import (
    InvalidInputError,
    NotFoundError,
    Store,
    StoreError,
    as_aware,
    engine_of,
    require_int,
    translated,
)
from mediaguard.store.service_models import (
    EVENT_TYPES,
    JOB_KINDS,
    JOB_STATES,
    ApiKey,
    Job,
    JobInput,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

#: Scopes an API key may carry. ``admin`` implies every other scope.
SCOPES: Final = ("scan", "lists", "review", "admin")

_KEY_ID_RE: Final = re.compile(r"[0-9a-f]{8,32}")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_JOB_ID_RE: Final = re.compile(r"[0-9a-f]{32}")
_MAX_URL: Final = 2048
_MAX_IDEMPOTENCY_KEY: Final = 255
_MAX_LIST: Final = 500


class IdempotencyConflict(StoreError):
    """The idempotency key was used before by the same API key for a different request."""


# --------------------------------------------------------------------------- values


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
        if not isinstance(self.sha256, str) or not _SHA256_RE.fullmatch(self.sha256):
            raise InvalidInputError(f"input sha256: expected 64 hex digits, got {self.sha256!r}")
        require_int("input size_bytes", self.size_bytes, 0, None)
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
            _url(url)


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


# ---------------------------------------------------------------------- validation


def _url(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_URL:
        raise InvalidInputError(f"url: expected 1 to {_MAX_URL} characters")
    if not value.startswith(("http://", "https://")):
        raise InvalidInputError(f"url: expected an http:// or https:// URL, got {value[:80]!r}")
    return value


def _key_id(value: object) -> str:
    if not isinstance(value, str) or not _KEY_ID_RE.fullmatch(value):
        raise InvalidInputError(f"key_id: expected 8 to 32 lowercase hex digits, got {value!r}")
    return value


def _job_id(value: object) -> str:
    if not isinstance(value, str) or not _JOB_ID_RE.fullmatch(value):
        raise NotFoundError(f"job {str(value)[:64]!r} does not exist")
    return value


def _scopes(values: Iterable[str]) -> frozenset[str]:
    scopes = frozenset(values)
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInputError(
            f"scopes: expected one or more of {', '.join(SCOPES)}, got {sorted(scopes)!r}"
        )
    return scopes


def _events(values: Iterable[str]) -> frozenset[str]:
    events = frozenset(values)
    unknown = sorted(events - set(EVENT_TYPES))
    if unknown or not events:
        raise InvalidInputError(
            f"events: expected one or more of {', '.join(EVENT_TYPES)}, got {sorted(events)!r}"
        )
    return events


def _owner(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise InvalidInputError("lease owner: expected 1 to 128 characters")
    return value


def _seconds(field_name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInputError(f"{field_name}: expected a positive number, got {value!r}")
    return float(value)


def _limit(value: object) -> int:
    return require_int("limit", value, 1, _MAX_LIST)


def _split(text: str) -> frozenset[str]:
    return frozenset(part for part in text.split(",") if part)


_KEY_COLUMNS: Final = (
    ApiKey.id,
    ApiKey.key_id,
    ApiKey.name,
    ApiKey.secret_sha256,
    ApiKey.scopes,
    ApiKey.rate_limit_per_minute,
    ApiKey.created_at,
    ApiKey.revoked_at,
)

_JOB_COLUMNS: Final = (
    Job.id,
    Job.api_key_id,
    Job.idempotency_key,
    Job.request_sha256,
    Job.kind,
    Job.state,
    Job.attempts,
    Job.max_attempts,
    Job.progress,
    Job.callback_url,
    Job.lease_owner,
    Job.lease_expires_at,
    Job.available_at,
    Job.created_at,
    Job.updated_at,
    Job.started_at,
    Job.finished_at,
    Job.result,
    Job.error_code,
    Job.error_message,
)


def _key_info(row: Sequence[Any]) -> ApiKeyInfo:
    values = list(row)
    values[4] = _split(values[4])
    return ApiKeyInfo(*values)


# --------------------------------------------------------------------------- store


class ServiceStore:
    """API keys, jobs and webhooks, on the engine of an open :class:`Store`.

    Args:
        store: an open store whose schema is current; this object does not close it.
    """

    def __init__(self, store: Store) -> None:
        """Share ``store``'s engine."""
        self.store = store
        self._engine = engine_of(store)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.store.dialect

    # -- API keys -------------------------------------------------------------------

    def create_key(
        self,
        key_id: str,
        secret_sha256: str,
        scopes: Iterable[str],
        *,
        name: str = "",
        rate_limit_per_minute: int | None = None,
    ) -> ApiKeyInfo:
        """Store a new API key (its hash; the token itself is never stored).

        Raises:
            InvalidInputError: when a field is invalid, or the key id is taken.
            StoreError: when the database fails.
        """
        values = {
            "key_id": _key_id(key_id),
            "secret_sha256": secret_sha256,
            "scopes": ",".join(sorted(_scopes(scopes))),
            "name": name,
            "rate_limit_per_minute": rate_limit_per_minute,
        }
        if not isinstance(secret_sha256, str) or not _SHA256_RE.fullmatch(secret_sha256):
            raise InvalidInputError("secret_sha256: expected 64 lowercase hex digits")
        if not isinstance(name, str) or len(name) > 128:
            raise InvalidInputError("name: expected at most 128 characters")
        if rate_limit_per_minute is not None:
            require_int("rate_limit_per_minute", rate_limit_per_minute, 0, 1_000_000)
        with translated("create an API key"):
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(ApiKey).values(**values, created_at=utcnow()))
                    audit.append(
                        conn,
                        "key.create",
                        str(values["key_id"]),
                        {k: v for k, v in values.items() if k != "secret_sha256"},
                    )
            except IntegrityError as err:
                raise InvalidInputError(f"key_id: {key_id!r} is already in use") from err
        return self.get_key(key_id)

    def get_key(self, key_id: str) -> ApiKeyInfo:
        """The key with this public id, revoked or not.

        Raises:
            NotFoundError: when there is none (including a malformed id).
            StoreError: when the database fails.
        """
        if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
            raise NotFoundError("no such API key")
        with translated("read an API key"), self._engine.connect() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(ApiKey.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"API key {key_id!r} does not exist")
        return _key_info(row)

    def keys(self) -> list[ApiKeyInfo]:
        """Every API key, oldest first.

        Raises:
            StoreError: when the database fails.
        """
        with translated("list API keys"), self._engine.connect() as conn:
            rows = conn.execute(select(*_KEY_COLUMNS).order_by(ApiKey.id)).all()
        return [_key_info(row) for row in rows]

    def revoke_key(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key; its jobs and deliveries are kept. Revoking twice is a no-op.

        Raises:
            NotFoundError: when there is no such key.
            StoreError: when the database fails.
        """
        _key_id(key_id)
        stmt = (
            update(ApiKey)
            .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        with translated("revoke an API key"), self._engine.begin() as conn:
            if conn.execute(stmt).rowcount:
                audit.append(conn, "key.revoke", key_id, {})
        return self.get_key(key_id)

    # -- jobs -----------------------------------------------------------------------

    def create_job(
        self,
        *,
        job_id: str,
        api_key_id: int,
        inputs: Sequence[NewJobInput],
        request_sha256: str,
        max_attempts: int,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> tuple[JobInfo, bool]:
        """Queue a job, or return the one this key already created with this idempotency key.

        Args:
            job_id: 32 hex digits chosen by the caller (its spool folder already exists).
            api_key_id: the submitting key's row id.
            inputs: the uploaded files, in order (at least one).
            request_sha256: a fingerprint of the request, to tell a retry of the same
                request from a different request reusing the idempotency key.
            max_attempts: attempts before a job whose workers keep dying is failed.
            idempotency_key: the client's ``Idempotency-Key``, if any.
            callback_url: where to POST the job's completion event.

        Returns:
            The job and whether it was created now (False: an idempotent replay).

        Raises:
            InvalidInputError: when a field is invalid.
            IdempotencyConflict: when the key was used for a different request.
            StoreError: when the database fails.
        """
        if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
            raise InvalidInputError("job_id: expected 32 lowercase hex digits")
        require_int("api_key_id", api_key_id, 1, None)
        require_int("max_attempts", max_attempts, 1, 100)
        if not inputs or not all(isinstance(i, NewJobInput) for i in inputs):
            raise InvalidInputError("inputs: expected one or more NewJobInput")
        if not isinstance(request_sha256, str) or not _SHA256_RE.fullmatch(request_sha256):
            raise InvalidInputError("request_sha256: expected 64 lowercase hex digits")
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str)
            or not 1 <= len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY
        ):
            raise InvalidInputError(
                f"idempotency key: expected 1 to {_MAX_IDEMPOTENCY_KEY} characters"
            )
        if callback_url is not None:
            _url(callback_url)
        now = utcnow()
        values = {
            "id": job_id,
            "api_key_id": api_key_id,
            "idempotency_key": idempotency_key,
            "request_sha256": request_sha256,
            "kind": JOB_KINDS[0] if len(inputs) == 1 else JOB_KINDS[1],
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "progress": 0,
            "callback_url": callback_url,
            "available_at": now,
            "created_at": now,
            "updated_at": now,
        }
        rows = [
            {
                "job_id": job_id,
                "position": i,
                "name": item.name,
                "sha256": item.sha256,
                "size_bytes": item.size_bytes,
                "media_type": item.media_type,
            }
            for i, item in enumerate(inputs)
        ]
        with translated("create a job"):
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(Job).values(**values))
                    conn.execute(insert(JobInput), rows)
            except IntegrityError as err:
                if idempotency_key is None:
                    raise
                existing = self._job_by_idempotency_key(api_key_id, idempotency_key)
                if existing is None:  # pragma: no cover - another constraint failed
                    raise
                if existing.request_sha256 != request_sha256:
                    raise IdempotencyConflict(
                        "this Idempotency-Key was already used for a different request"
                    ) from err
                return existing, False
        return self.get_job(job_id), True

    def _job_by_idempotency_key(self, api_key_id: int, key: str) -> JobInfo | None:
        with self._engine.connect() as conn:
            job_id = conn.execute(
                select(Job.id).where(Job.api_key_id == api_key_id, Job.idempotency_key == key)
            ).scalar()
            return None if job_id is None else self._read_job(conn, job_id)

    def find_job_by_idempotency_key(self, api_key_id: int, key: str) -> JobInfo | None:
        """The job this key created with this idempotency key, if any.

        Raises:
            StoreError: when the database fails.
        """
        require_int("api_key_id", api_key_id, 1, None)
        with translated("read a job"):
            return self._job_by_idempotency_key(api_key_id, key)

    def get_job(self, job_id: str) -> JobInfo:
        """A job with its inputs.

        Raises:
            NotFoundError: when there is no such job (including a malformed id).
            StoreError: when the database fails.
        """
        _job_id(job_id)
        with translated("read a job"), self._engine.connect() as conn:
            job = self._read_job(conn, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return job

    @staticmethod
    def _read_job(conn: Connection, job_id: str) -> JobInfo | None:
        row = conn.execute(select(*_JOB_COLUMNS).where(Job.id == job_id)).first()
        if row is None:
            return None
        inputs = conn.execute(
            select(
                JobInput.position,
                JobInput.name,
                JobInput.sha256,
                JobInput.size_bytes,
                JobInput.media_type,
            )
            .where(JobInput.job_id == job_id)
            .order_by(JobInput.position)
        ).all()
        return JobInfo(**row._mapping, inputs=tuple(JobInputInfo(**i._mapping) for i in inputs))

    def list_jobs(
        self, api_key_id: int | None, *, state: str | None = None, limit: int = 50
    ) -> list[JobInfo]:
        """The newest jobs of one key (or of every key when None), newest first.

        Raises:
            InvalidInputError: when a filter is invalid.
            StoreError: when the database fails.
        """
        if state is not None and state not in JOB_STATES:
            raise InvalidInputError(f"state: expected one of {', '.join(JOB_STATES)}")
        stmt = select(Job.id).order_by(Job.created_at.desc(), Job.id).limit(_limit(limit))
        if api_key_id is not None:
            stmt = stmt.where(Job.api_key_id == api_key_id)
        if state is not None:
            stmt = stmt.where(Job.state == state)
        with translated("list jobs"), self._engine.connect() as conn:
            ids = conn.execute(stmt).scalars().all()
            jobs = [self._read_job(conn, job_id) for job_id in ids]
        return [job for job in jobs if job is not None]

    def claim_job(self, owner: str, lease_seconds: float) -> JobInfo | None:
        """Lease the oldest runnable job to ``owner``, counting an attempt.

        Runnable means ``queued`` and due, or ``running`` with an expired lease (its
        worker died). The attempt count goes up on every claim, so a job whose worker
        keeps dying is visible as such; the worker decides what to do with a job past
        its ``max_attempts``.

        Returns:
            The claimed job, or None when nothing is runnable.

        Raises:
            StoreError: when the database fails.
        """
        _owner(owner)
        lease = timedelta(seconds=_seconds("lease_seconds", lease_seconds))
        with translated("claim a job"):
            if self.dialect == "postgresql":
                return self._claim_job_locking(owner, lease)
            return self._claim_job_guarded(owner, lease)

    @staticmethod
    def _runnable(now: datetime) -> Any:
        return or_(
            and_(Job.state == "queued", Job.available_at <= now),
            and_(Job.state == "running", Job.lease_expires_at < now),
        )

    def _take(
        self, conn: Connection, job_id: str, owner: str, now: datetime, lease: timedelta
    ) -> int:
        stmt = (
            update(Job)
            .where(Job.id == job_id, self._runnable(now))
            .values(
                state="running",
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=Job.attempts + 1,
                progress=0,
                started_at=func.coalesce(Job.started_at, now),
                updated_at=now,
            )
        )
        return conn.execute(stmt).rowcount

    def _candidates(self, now: datetime, limit: int) -> Any:
        return (
            select(Job.id)
            .where(self._runnable(now))
            .order_by(Job.available_at, Job.created_at, Job.id)
            .limit(limit)
        )

    def _claim_job_locking(self, owner: str, lease: timedelta) -> JobInfo | None:
        now = utcnow()
        with self._engine.begin() as conn:
            job_id = conn.execute(
                self._candidates(now, 1).with_for_update(skip_locked=True)
            ).scalar()
            if job_id is None or self._take(conn, job_id, owner, now, lease) != 1:
                return None
            return self._read_job(conn, job_id)

    def _claim_job_guarded(self, owner: str, lease: timedelta) -> JobInfo | None:
        now = utcnow()
        # The read and the write are separate statements: a deferred SQLite transaction
        # that reads first and then writes fails at once when another writer committed
        # in between, whereas a lone UPDATE waits for the lock (busy_timeout).
        with self._engine.connect() as conn:
            candidates = conn.execute(self._candidates(now, 8)).scalars().all()
        for job_id in candidates:
            with self._engine.begin() as conn:
                if self._take(conn, job_id, owner, now, lease) == 1:
                    return self._read_job(conn, job_id)
        return None

    def heartbeat_job(
        self, job_id: str, owner: str, lease_seconds: float, progress: int | None = None
    ) -> bool:
        """Extend ``owner``'s lease on a running job (and record its progress).

        Returns:
            False when ``owner`` no longer holds the job: it was taken over after the
            lease expired, or finished. The worker should stop working on it.

        Raises:
            StoreError: when the database fails.
        """
        _job_id(job_id)
        _owner(owner)
        lease = timedelta(seconds=_seconds("lease_seconds", lease_seconds))
        now = utcnow()
        values: dict[str, Any] = {"lease_expires_at": now + lease, "updated_at": now}
        if progress is not None:
            values["progress"] = require_int("progress", progress, 0, None)
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
            .values(**values)
        )
        with translated("extend a job lease"), self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def finish_job(
        self,
        job_id: str,
        owner: str,
        *,
        state: Literal["done", "failed"],
        result: str | None,
        error_code: str | None = None,
        error_message: str | None = None,
        finished_at: datetime | None = None,
        progress: int | None = None,
        events: Sequence[NewEvent] = (),
    ) -> bool:
        """Record a job's outcome, if ``owner`` still holds it, and queue its events.

        The update and the events are one transaction, so a job's completion event is
        queued exactly when, and exactly once, the job completes.

        Returns:
            False when ``owner`` no longer holds the job (nothing was written).

        Raises:
            InvalidInputError: when a field is invalid.
            StoreError: when the database fails.
        """
        _job_id(job_id)
        _owner(owner)
        if state not in ("done", "failed"):
            raise InvalidInputError(f"state: expected done or failed, got {state!r}")
        when = utcnow() if finished_at is None else as_aware("finished_at", finished_at)
        extra: dict[str, Any] = {}
        if progress is not None:
            extra["progress"] = require_int("progress", progress, 0, None)
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
            .values(
                state=state,
                result=result,
                error_code=error_code,
                error_message=error_message,
                finished_at=when,
                updated_at=when,
                lease_owner=None,
                lease_expires_at=None,
                **extra,
            )
        )
        with translated("finish a job"), self._engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                return False
            for event in events:
                self._insert_event(conn, event, when)
        return True

    def retry_job(
        self,
        job_id: str,
        owner: str,
        *,
        delay_seconds: float = 0.0,
        refund_attempt: bool = False,
        error_message: str | None = None,
    ) -> bool:
        """Put a job ``owner`` holds back in the queue, runnable after ``delay_seconds``.

        Args:
            job_id: the job.
            owner: the worker giving it back.
            delay_seconds: back-off before another worker may take it.
            refund_attempt: do not count this attempt (a graceful shutdown is no fault
                of the job's).
            error_message: why, kept on the job for operators.

        Returns:
            False when ``owner`` no longer holds the job.

        Raises:
            StoreError: when the database fails.
        """
        _job_id(job_id)
        _owner(owner)
        if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int | float):
            raise InvalidInputError("delay_seconds: expected a number")
        now = utcnow()
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
            .values(
                state="queued",
                lease_owner=None,
                lease_expires_at=None,
                progress=0,
                available_at=now + timedelta(seconds=max(0.0, float(delay_seconds))),
                updated_at=now,
                error_message=error_message,
                attempts=Job.attempts - 1 if refund_attempt else Job.attempts,
            )
        )
        with translated("requeue a job"), self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state is present).

        Raises:
            StoreError: when the database fails.
        """
        stmt = select(Job.state, func.count()).group_by(Job.state)
        with translated("count jobs"), self._engine.connect() as conn:
            counts = {state: int(n) for state, n in conn.execute(stmt)}
        return {state: counts.get(state, 0) for state in JOB_STATES}

    # -- webhook endpoints ----------------------------------------------------------

    def create_endpoint(
        self, api_key_id: int, url: str, secret: str, events: Iterable[str]
    ) -> EndpointInfo:
        """Register a webhook endpoint for a key.

        Raises:
            InvalidInputError: when a field is invalid.
            StoreError: when the database fails.
        """
        require_int("api_key_id", api_key_id, 1, None)
        values = {
            "api_key_id": api_key_id,
            "url": _url(url),
            "secret": secret,
            "events": ",".join(sorted(_events(events))),
            "created_at": utcnow(),
        }
        if not isinstance(secret, str) or not 16 <= len(secret) <= 128:
            raise InvalidInputError("secret: expected 16 to 128 characters")
        with translated("register a webhook endpoint"), self._engine.begin() as conn:
            endpoint_id = conn.execute(
                insert(WebhookEndpoint).values(**values).returning(WebhookEndpoint.id)
            ).scalar_one()
        return self.get_endpoint(endpoint_id)

    _ENDPOINT_COLUMNS: Final = (
        WebhookEndpoint.id,
        WebhookEndpoint.api_key_id,
        WebhookEndpoint.url,
        WebhookEndpoint.events,
        WebhookEndpoint.created_at,
        WebhookEndpoint.disabled_at,
    )

    @staticmethod
    def _endpoint(row: Sequence[Any]) -> EndpointInfo:
        values = list(row)
        values[3] = _split(values[3])
        return EndpointInfo(*values)

    def get_endpoint(self, endpoint_id: int) -> EndpointInfo:
        """One endpoint, active or disabled.

        Raises:
            NotFoundError: when there is none.
            StoreError: when the database fails.
        """
        require_int("endpoint_id", endpoint_id, 1, None)
        stmt = select(*self._ENDPOINT_COLUMNS).where(WebhookEndpoint.id == endpoint_id)
        with translated("read a webhook endpoint"), self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"webhook endpoint {endpoint_id} does not exist")
        return self._endpoint(row)

    def endpoints(self, api_key_id: int | None) -> list[EndpointInfo]:
        """The active endpoints of one key (or of every key when None), oldest first.

        Raises:
            StoreError: when the database fails.
        """
        stmt = (
            select(*self._ENDPOINT_COLUMNS)
            .where(WebhookEndpoint.disabled_at.is_(None))
            .order_by(WebhookEndpoint.id)
        )
        if api_key_id is not None:
            stmt = stmt.where(WebhookEndpoint.api_key_id == api_key_id)
        with translated("list webhook endpoints"), self._engine.connect() as conn:
            return [self._endpoint(row) for row in conn.execute(stmt)]

    def disable_endpoint(self, endpoint_id: int) -> None:
        """Stop sending new events to an endpoint; its delivery log is kept.

        Pending deliveries to it are marked failed, so a removed receiver is not retried.

        Raises:
            NotFoundError: when there is no such endpoint.
            StoreError: when the database fails.
        """
        require_int("endpoint_id", endpoint_id, 1, None)
        now = utcnow()
        with translated("disable a webhook endpoint"), self._engine.begin() as conn:
            done = conn.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(disabled_at=func.coalesce(WebhookEndpoint.disabled_at, now))
            ).rowcount
            if done != 1:
                raise NotFoundError(f"webhook endpoint {endpoint_id} does not exist")
            conn.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.state == "pending",
                )
                .values(state="failed", last_error="endpoint removed", updated_at=now)
            )

    # -- events and deliveries ------------------------------------------------------

    def enqueue_event(self, event: NewEvent) -> EventInfo:
        """Store an event and one pending delivery per target, in one transaction.

        Targets are the active endpoints subscribed to the event's type (those of the
        event's key, or every subscriber for a keyless event) and ``event.urls``. A URL
        is delivered to once per event even when it is listed twice.

        Raises:
            InvalidInputError: when the event is not a :class:`NewEvent`.
            StoreError: when the database fails.
        """
        if not isinstance(event, NewEvent):
            raise InvalidInputError(f"event: expected a NewEvent, got {type(event).__name__}")
        with translated(f"queue a {event.type} event"), self._engine.begin() as conn:
            return self._insert_event(conn, event, utcnow())

    def _insert_event(self, conn: Connection, event: NewEvent, now: datetime) -> EventInfo:
        body = json.dumps(
            {
                "id": event.id,
                "type": event.type,
                "created_at": now.isoformat().replace("+00:00", "Z"),
                "data": event.data,
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        conn.execute(
            insert(WebhookEvent).values(
                id=event.id,
                type=event.type,
                api_key_id=event.api_key_id,
                payload=body,
                created_at=now,
            )
        )
        # url -> (endpoint id or None, the key that may see the delivery)
        targets: dict[str, tuple[int | None, int | None]] = {}
        stmt = select(
            WebhookEndpoint.id,
            WebhookEndpoint.url,
            WebhookEndpoint.events,
            WebhookEndpoint.api_key_id,
        ).where(WebhookEndpoint.disabled_at.is_(None))
        if event.api_key_id is not None:
            stmt = stmt.where(WebhookEndpoint.api_key_id == event.api_key_id)
        for endpoint_id, url, events, owner in conn.execute(stmt.order_by(WebhookEndpoint.id)):
            if event.type in _split(events):
                targets.setdefault(url, (endpoint_id, owner))
        for url in event.urls:
            targets.setdefault(url, (None, event.api_key_id))
        if targets:
            conn.execute(
                insert(WebhookDelivery),
                [
                    {
                        "event_id": event.id,
                        "endpoint_id": endpoint_id,
                        "api_key_id": owner,
                        "url": url,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for url, (endpoint_id, owner) in targets.items()
                ],
            )
        return EventInfo(event.id, event.type, event.api_key_id, body, now, len(targets))

    def claim_delivery(self, owner: str, lease_seconds: float) -> DeliveryTask | None:
        """Lease the oldest due delivery to ``owner`` and count the attempt.

        Raises:
            StoreError: when the database fails.
        """
        _owner(owner)
        lease = timedelta(seconds=_seconds("lease_seconds", lease_seconds))
        now = utcnow()
        due = and_(
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at < now,
            ),
        )
        candidates = (
            select(WebhookDelivery.id)
            .where(due)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        )
        take = (
            update(WebhookDelivery)
            .values(
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=WebhookDelivery.attempts + 1,
                updated_at=now,
            )
            .where(due)
        )
        with translated("claim a webhook delivery"):
            if self.dialect == "postgresql":
                with self._engine.begin() as conn:
                    found = conn.execute(
                        candidates.limit(1).with_for_update(skip_locked=True)
                    ).scalar()
                    if found is None:
                        return None
                    conn.execute(take.where(WebhookDelivery.id == found))
                    return self._task(conn, found)
            with self._engine.connect() as conn:
                ids = conn.execute(candidates.limit(8)).scalars().all()
            for delivery_id in ids:
                with self._engine.begin() as conn:
                    if conn.execute(take.where(WebhookDelivery.id == delivery_id)).rowcount:
                        return self._task(conn, delivery_id)
        return None

    @staticmethod
    def _task(conn: Connection, delivery_id: int) -> DeliveryTask:
        row = conn.execute(
            select(
                WebhookDelivery.id.label("delivery_id"),
                WebhookEvent.id.label("event_id"),
                WebhookEvent.type.label("event_type"),
                WebhookEvent.payload.label("body"),
                WebhookDelivery.url,
                WebhookEndpoint.secret,
                WebhookDelivery.attempts.label("attempt"),
                WebhookDelivery.lease_owner,
            )
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
        ).one()
        return DeliveryTask(**row._mapping)

    def record_attempt(
        self,
        task: DeliveryTask,
        *,
        started_at: datetime,
        duration_ms: float,
        status_code: int | None,
        error: str | None,
        outcome: Literal["delivered", "retry", "failed"],
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Log one attempt and move the delivery on, if ``task``'s lease is still held.

        Args:
            task: the claimed delivery.
            started_at: when the request started.
            duration_ms: how long it took.
            status_code: the receiver's status, or None when no response came.
            error: what went wrong, if anything.
            outcome: ``delivered`` (2xx), ``retry`` (at ``next_attempt_at``) or
                ``failed`` (attempts exhausted, or the target is refused).
            next_attempt_at: when to retry; required with ``retry``.

        Returns:
            False when the lease was lost (another dispatcher took over); the attempt
            is logged either way, since it happened.

        Raises:
            InvalidInputError: when a field is invalid.
            StoreError: when the database fails.
        """
        if outcome not in ("delivered", "retry", "failed"):
            raise InvalidInputError(f"outcome: unexpected {outcome!r}")
        if outcome == "retry" and next_attempt_at is None:
            raise InvalidInputError("next_attempt_at: required to retry")
        as_aware("started_at", started_at)
        now = utcnow()
        values: dict[str, Any] = {
            "state": "pending" if outcome == "retry" else outcome,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_status_code": status_code,
            "last_error": error,
            "updated_at": now,
        }
        if outcome == "retry" and next_attempt_at is not None:
            values["next_attempt_at"] = as_aware("next_attempt_at", next_attempt_at)
        if outcome == "delivered":
            values["delivered_at"] = now
        with translated("log a webhook attempt"), self._engine.begin() as conn:
            conn.execute(
                insert(WebhookAttempt).values(
                    delivery_id=task.delivery_id,
                    attempt=task.attempt,
                    started_at=started_at,
                    duration_ms=float(duration_ms),
                    status_code=status_code,
                    error=error,
                )
            )
            return (
                conn.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == task.delivery_id,
                        WebhookDelivery.lease_owner == task.lease_owner,
                        WebhookDelivery.state == "pending",
                    )
                    .values(**values)
                ).rowcount
                == 1
            )

    def deliveries(
        self,
        api_key_id: int | None,
        *,
        event_id: str | None = None,
        state: str | None = None,
        limit: int = 50,
    ) -> list[DeliveryInfo]:
        """The newest deliveries of one key (or all when None) with their attempt logs.

        Raises:
            InvalidInputError: when a filter is invalid.
            StoreError: when the database fails.
        """
        stmt = (
            select(
                WebhookDelivery.id,
                WebhookDelivery.event_id,
                WebhookEvent.type.label("event_type"),
                WebhookDelivery.endpoint_id,
                WebhookDelivery.url,
                WebhookDelivery.state,
                WebhookDelivery.attempts,
                WebhookDelivery.next_attempt_at,
                WebhookDelivery.last_status_code,
                WebhookDelivery.last_error,
                WebhookDelivery.created_at,
                WebhookDelivery.delivered_at,
            )
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(_limit(limit))
        )
        if api_key_id is not None:
            stmt = stmt.where(WebhookDelivery.api_key_id == api_key_id)
        if event_id is not None:
            stmt = stmt.where(WebhookDelivery.event_id == event_id)
        if state is not None:
            stmt = stmt.where(WebhookDelivery.state == state)
        with translated("list webhook deliveries"), self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
            ids = [row[0] for row in rows]
            logs: dict[int, list[AttemptInfo]] = {}
            if ids:
                for attempt in conn.execute(
                    select(
                        WebhookAttempt.delivery_id,
                        WebhookAttempt.attempt,
                        WebhookAttempt.started_at,
                        WebhookAttempt.duration_ms,
                        WebhookAttempt.status_code,
                        WebhookAttempt.error,
                    )
                    .where(WebhookAttempt.delivery_id.in_(ids))
                    .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
                ):
                    values = dict(attempt._mapping)
                    delivery_id = values.pop("delivery_id")
                    logs.setdefault(delivery_id, []).append(AttemptInfo(**values))
        return [DeliveryInfo(**row._mapping, log=tuple(logs.get(row.id, ()))) for row in rows]

    def delivery_counts(self) -> dict[str, int]:
        """How many deliveries are in each state.

        Raises:
            StoreError: when the database fails.
        """
        stmt = select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        with translated("count webhook deliveries"), self._engine.connect() as conn:
            counts = {state: int(n) for state, n in conn.execute(stmt)}
        return {state: counts.get(state, 0) for state in ("pending", "delivered", "failed")}

    def purge_events(self, before: datetime) -> int:
        """Delete events (and their deliveries and logs) created before ``before``.

        Only events with no pending delivery are removed.

        Raises:
            StoreError: when the database fails.
        """
        as_aware("before", before)
        pending = select(WebhookDelivery.event_id).where(WebhookDelivery.state == "pending")
        stmt = delete(WebhookEvent).where(
            WebhookEvent.created_at < before, WebhookEvent.id.not_in(pending)
        )
        with translated("purge webhook events"), self._engine.begin() as conn:
            return conn.execute(stmt).rowcount


__all__ = [
    "SCOPES",
    "ApiKeyInfo",
    "AttemptInfo",
    "DeliveryInfo",
    "DeliveryTask",
    "EndpointInfo",
    "EventInfo",
    "IdempotencyConflict",
    "JobInfo",
    "JobInputInfo",
    "NewEvent",
    "NewJobInput",
    "ServiceStore",
]
