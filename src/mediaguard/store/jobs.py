"""Durable jobs: the queue of scans submitted over HTTP, with leases held by workers.

Design note: :class:`JobRepository` (``store.jobs``) is the only door to the job tables,
and the job table is the queue, so the interesting methods are the lease protocol:

* :meth:`JobRepository.claim_job` takes the oldest job that is ``queued`` or whose
  worker's lease has expired. On PostgreSQL the candidate is selected with ``SELECT ...
  FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each other's rows; on
  SQLite, which has one writer at a time anyway, the candidate is read and then taken
  with a guarded ``UPDATE ... WHERE id = ? AND (state = 'queued' OR lease expired)``
  whose row count says whether this worker won.
* :meth:`JobRepository.heartbeat_job` extends the lease, only while this worker owns it.
* :meth:`JobRepository.finish_job` is a conditional ``UPDATE`` on the lease owner and the
  ``running`` state, and inserts the job's webhook events in the same transaction (with
  :func:`~mediaguard.store.webhooks.insert_event`). A worker that was presumed dead and
  comes back finds its update matching no row, so a job completes exactly once and its
  events are emitted exactly once.

Timestamps come from this process's clock (UTC). Leases compare clocks of different
processes, so hosts running workers against one PostgreSQL need synchronised clocks
(NTP); a lease is tens of seconds, far above ordinary skew.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mediaguard.store import validation as check
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import IdempotencyConflict, InvalidInputError, NotFoundError
from mediaguard.store.service_models import JOB_KINDS, JOB_STATES, Job, JobInput
from mediaguard.store.service_types import JobInfo, JobInputInfo, NewEvent, NewJobInput
from mediaguard.store.webhooks import insert_event

_JOB_ID_RE: Final = re.compile(r"[0-9a-f]{32}")
_MAX_IDEMPOTENCY_KEY: Final = 255


def _job_id(value: object) -> str:
    if not isinstance(value, str) or not _JOB_ID_RE.fullmatch(value):
        raise NotFoundError(f"job {str(value)[:64]!r} does not exist")
    return value


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


class JobRepository:
    """Jobs, their inputs and their leases in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

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
        check.require_int("api_key_id", api_key_id, 1, None)
        check.require_int("max_attempts", max_attempts, 1, 100)
        if not inputs or not all(isinstance(i, NewJobInput) for i in inputs):
            raise InvalidInputError("inputs: expected one or more NewJobInput")
        if not check.is_sha256(request_sha256):
            raise InvalidInputError("request_sha256: expected 64 lowercase hex digits")
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str)
            or not 1 <= len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY
        ):
            raise InvalidInputError(
                f"idempotency key: expected 1 to {_MAX_IDEMPOTENCY_KEY} characters"
            )
        if callback_url is not None:
            check.url(callback_url)
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
                with self._db.begin() as conn:
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
        with self._db.connect() as conn:
            job_id = conn.execute(
                select(Job.id).where(Job.api_key_id == api_key_id, Job.idempotency_key == key)
            ).scalar()
            return None if job_id is None else self._read_job(conn, job_id)

    def find_job_by_idempotency_key(self, api_key_id: int, key: str) -> JobInfo | None:
        """The job this key created with this idempotency key, if any.

        Raises:
            StoreError: when the database fails.
        """
        check.require_int("api_key_id", api_key_id, 1, None)
        with translated("read a job"):
            return self._job_by_idempotency_key(api_key_id, key)

    def get_job(self, job_id: str) -> JobInfo:
        """A job with its inputs.

        Raises:
            NotFoundError: when there is no such job (including a malformed id).
            StoreError: when the database fails.
        """
        _job_id(job_id)
        with translated("read a job"), self._db.connect() as conn:
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
        stmt = select(Job.id).order_by(Job.created_at.desc(), Job.id).limit(check.list_limit(limit))
        if api_key_id is not None:
            stmt = stmt.where(Job.api_key_id == api_key_id)
        if state is not None:
            stmt = stmt.where(Job.state == state)
        with translated("list jobs"), self._db.connect() as conn:
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
        check.lease_owner(owner)
        lease = timedelta(seconds=check.positive_seconds("lease_seconds", lease_seconds))
        with translated("claim a job"):
            if self._db.dialect == "postgresql":
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
        with self._db.begin() as conn:
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
        with self._db.connect() as conn:
            candidates = conn.execute(self._candidates(now, 8)).scalars().all()
        for job_id in candidates:
            with self._db.begin() as conn:
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
        check.lease_owner(owner)
        lease = timedelta(seconds=check.positive_seconds("lease_seconds", lease_seconds))
        now = utcnow()
        values: dict[str, Any] = {"lease_expires_at": now + lease, "updated_at": now}
        if progress is not None:
            values["progress"] = check.require_int("progress", progress, 0, None)
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
            .values(**values)
        )
        with translated("extend a job lease"), self._db.begin() as conn:
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
        check.lease_owner(owner)
        if state not in ("done", "failed"):
            raise InvalidInputError(f"state: expected done or failed, got {state!r}")
        when = utcnow() if finished_at is None else check.as_aware("finished_at", finished_at)
        extra: dict[str, Any] = {}
        if progress is not None:
            extra["progress"] = check.require_int("progress", progress, 0, None)
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
        with translated("finish a job"), self._db.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                return False
            for event in events:
                insert_event(conn, event, when)
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
        check.lease_owner(owner)
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
        with translated("requeue a job"), self._db.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state is present).

        Raises:
            StoreError: when the database fails.
        """
        stmt = select(Job.state, func.count()).group_by(Job.state)
        with translated("count jobs"), self._db.connect() as conn:
            counts = {state: int(n) for state, n in conn.execute(stmt)}
        return {state: counts.get(state, 0) for state in JOB_STATES}
