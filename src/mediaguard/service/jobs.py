"""Durable asynchronous jobs: submission, and the workers that run them.

Design note: the database is the queue (see :mod:`mediaguard.store.jobs` for
the lease protocol), so a job survives restarts and crashes, and workers can run inside
``mediaguard serve`` (threads) or as separate ``mediaguard worker`` processes on the
same database, in any number.

A worker claims a job, starts a heartbeat thread that renews the lease every third of
its length, and scans the inputs one by one. The results are written only when the job
finishes, by an update conditional on the lease, in the same transaction as the job's
webhook events; so a worker killed mid-job leaves no partial result, the job is taken
over when its lease expires (its attempt count shows it), and it completes exactly
once. A worker that finds its lease lost stops and writes nothing.

A job fails, rather than being retried, when its one input cannot be scanned (an
unsupported, corrupt or oversized file: retrying would not help) or when workers died
``job_max_attempts`` times while running it. A batch is done when every input has a
result, a verdict or a :class:`ScanFailure`. An unexpected error inside the worker (a
bug, a database outage) puts the job back in the queue after a delay, up to the same
attempt limit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from mediaguard.errors import MediaError
from mediaguard.media.sniff import sniff
from mediaguard.service.errors import ApiError
from mediaguard.service.runtime import ServiceRuntime, run_until_stopped
from mediaguard.service.schemas import JobPublic, dump, results_json
from mediaguard.service.streams import StreamWorker
from mediaguard.service.uploads import ReceivedFile
from mediaguard.service.webhooks import Dispatcher, check_target
from mediaguard.store.base import utcnow
from mediaguard.store.errors import IdempotencyConflict, StoreError
from mediaguard.store.service_types import JobInfo, NewEvent, NewJobInput
from mediaguard.verdict import ScanFailure, ScanResult, Verdict

log = logging.getLogger("mediaguard.service.jobs")


# ------------------------------------------------------------------------ submission


def request_fingerprint(files: Sequence[ReceivedFile], callback_url: str | None) -> str:
    """What makes two submissions "the same request" for ``Idempotency-Key``."""
    described = [[f.name, f.sha256, f.size] for f in files]
    text = json.dumps({"files": described, "callback_url": callback_url}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def check_callback(runtime: ServiceRuntime, callback_url: str | None) -> None:
    """Refuse a callback URL that is malformed or points at a refused address.

    Raises:
        TargetRefused: naming the problem (the API answers 400).
    """
    if callback_url is not None:
        check_target(callback_url, allow_private=runtime.settings.webhook_allow_private)


def submit(
    runtime: ServiceRuntime,
    *,
    api_key_id: int,
    files: Sequence[ReceivedFile],
    callback_url: str | None,
    idempotency_key: str | None,
) -> tuple[JobInfo, bool]:
    """Turn received files (in the spool's incoming folder) into a queued job.

    Every file must be non-empty and of a format mediaguard recognises, checked from its
    first bytes now, so a garbage upload is refused at once (415) rather than failing
    later in a worker.

    Returns:
        The job, and whether it was created (False: the same request was submitted
        before with this idempotency key; its job is returned).

    Raises:
        ApiError: 400 ``empty_upload``; 413 ``media_too_large``; 415
            ``unsupported_media``; 409 ``idempotency_conflict``.
        StoreError: when the database fails.
    """
    temporary = [f.path for f in files if f.path is not None]
    try:
        max_bytes = runtime.scanner.config.limits.max_bytes
        inputs = [_input(f, max_bytes) for f in files]
    except BaseException:
        runtime.spool.discard_files(temporary)
        raise
    job_id = uuid.uuid4().hex
    try:
        # Media first, then the row: a worker must never see a job without its media.
        runtime.spool.adopt(job_id, [(f.path, f.sha256) for f in files if f.path is not None])
        job, created = runtime.store.jobs.create_job(
            job_id=job_id,
            api_key_id=api_key_id,
            inputs=inputs,
            request_sha256=request_fingerprint(files, callback_url),
            max_attempts=runtime.settings.job_max_attempts,
            idempotency_key=idempotency_key,
            callback_url=callback_url,
        )
    except IdempotencyConflict as err:
        runtime.spool.discard(job_id)
        raise ApiError(409, "idempotency_conflict", str(err)) from err
    except BaseException:
        runtime.spool.discard(job_id)
        runtime.spool.discard_files(temporary)
        raise
    if not created:
        runtime.spool.discard(job_id)
    runtime.jobs_waiting.set()
    return job, created


def _input(received: ReceivedFile, max_bytes: int) -> NewJobInput:
    if received.size == 0:
        raise ApiError(400, "empty_upload", f"{received.name}: the file is empty")
    if received.size > max_bytes:
        # The scan would refuse it anyway; say so now rather than after queueing.
        raise ApiError(
            413,
            "media_too_large",
            f"{received.name}: {received.size} bytes is over the scan limit of {max_bytes} "
            "bytes (limits.max_bytes)",
        )
    try:
        fmt = sniff(received.head)
    except MediaError as err:
        raise ApiError(415, "unsupported_media", f"{received.name}: {err}") from err
    return NewJobInput(
        name=received.name, sha256=received.sha256, size_bytes=received.size, media_type=fmt.mime
    )


# --------------------------------------------------------------------------- workers


class _Lease:
    """Renews a job's lease in the background while the worker scans."""

    def __init__(self, runtime: ServiceRuntime, job_id: str, owner: str) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.owner = owner
        self.progress = 0
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        settings = self.runtime.settings
        while not self._done.wait(settings.heartbeat_seconds):
            try:
                held = self.runtime.store.jobs.heartbeat_job(
                    self.job_id, self.owner, settings.job_lease_seconds, self.progress
                )
            except StoreError as err:
                # Keep trying: the lease is only lost if the outage outlasts it.
                log.warning("job %s: heartbeat failed: %s", self.job_id, err)
                continue
            if not held:
                log.warning("job %s: lease lost; another worker has it", self.job_id)
                self.lost.set()
                return


class JobWorker:
    """Claims and runs jobs until stopped; one per thread or process.

    Args:
        runtime: the process's runtime (store, scanner, spool, settings).
    """

    def __init__(self, runtime: ServiceRuntime) -> None:
        """Pick a unique lease-owner name: host, process and a random suffix."""
        self.runtime = runtime
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def run(self, stop: threading.Event) -> None:
        """Run jobs until ``stop`` is set; poll when the queue is empty."""
        waiting = self.runtime.jobs_waiting
        poll = self.runtime.settings.worker_poll_interval

        def idle() -> None:
            waiting.wait(poll)
            waiting.clear()

        run_until_stopped("job worker", self.run_once, idle, stop, log)

    def run_once(self, stop: threading.Event | None = None) -> bool:
        """Claim one job and run it.

        Returns:
            Whether a job was claimed.

        Raises:
            StoreError: when the database fails.
        """
        job = self.runtime.store.jobs.claim_job(self.owner, self.runtime.settings.job_lease_seconds)
        if job is None:
            return False
        log.info("job %s: attempt %d of %d", job.id, job.attempts, job.max_attempts)
        try:
            self._run(job, stop or threading.Event())
        except StoreError:
            raise
        except Exception as err:  # a bug or an unexpected failure: retry later
            log.exception("job %s: unexpected error", job.id)
            self._give_up_or_retry(job, f"{type(err).__name__}: {err}")
        return True

    def _run(self, job: JobInfo, stop: threading.Event) -> None:
        if job.attempts > job.max_attempts:
            self._finish(
                job,
                [],
                "failed",
                "attempts_exhausted",
                f"no worker finished the job in {job.max_attempts} attempts "
                "(each stopped or crashed while running it)",
            )
            return
        results: list[ScanResult] = []
        with _Lease(self.runtime, job.id, self.owner) as lease:
            for item in job.inputs:
                if lease.lost.is_set():
                    return
                if stop.is_set():
                    # A graceful shutdown is not the job's fault: do not count it.
                    self.runtime.store.jobs.retry_job(job.id, self.owner, refund_attempt=True)
                    return
                results.append(self._scan(job, item.position))
                lease.progress = len(results)
        if lease.lost.is_set():
            return
        if job.kind == "single" and isinstance(results[0], ScanFailure):
            failure = results[0]
            self._finish(job, results, "failed", _snake(failure.error), failure.message)
        else:
            self._finish(job, results, "done", None, None)

    def _scan(self, job: JobInfo, position: int) -> ScanResult:
        item = job.inputs[position]
        path = self.runtime.spool.path(job.id, item.sha256)
        try:
            verdict = self.runtime.scan(path, name=item.name)
        except MediaError as err:
            return ScanFailure(source=item.name, error=type(err).__name__, message=str(err))
        if verdict.hashes.sha256 != item.sha256:
            return ScanFailure(
                source=item.name,
                error="CorruptMedia",
                message="the spooled file no longer matches the upload (SHA-256 differs)",
            )
        return verdict

    def _finish(
        self,
        job: JobInfo,
        results: list[ScanResult],
        state: Literal["done", "failed"],
        error_code: str | None,
        error_message: str | None,
    ) -> None:
        finished_at = utcnow()
        stored = results_json(results) if results else None
        final = replace(
            job,
            state=state,
            result=stored,
            error_code=error_code,
            error_message=error_message,
            finished_at=finished_at,
            updated_at=finished_at,
            progress=len(results),
            lease_owner=None,
            lease_expires_at=None,
        )
        event = NewEvent(
            "job.completed" if state == "done" else "job.failed",
            {"job": dump(JobPublic.from_info(final))},
            api_key_id=job.api_key_id,
            urls=(job.callback_url,) if job.callback_url else (),
        )
        if not self.runtime.store.jobs.finish_job(
            job.id,
            self.owner,
            state=state,
            result=stored,
            error_code=error_code,
            error_message=error_message,
            finished_at=finished_at,
            progress=len(results),
            events=[event],
        ):
            log.warning("job %s: finished, but the lease was lost; result discarded", job.id)
            return
        log.info("job %s: %s", job.id, state)
        self.runtime.events_waiting.set()
        for item, result in zip(job.inputs, results, strict=False):
            self.runtime.metrics.observe_result(result, "job")
            if isinstance(result, Verdict):
                # After the commit, so a job retried after a lost lease queues nothing twice.
                path = self.runtime.spool.path(job.id, item.sha256)
                self.runtime.send_to_review(result, path, job_id=job.id)
        if not self.runtime.retention.keep(final, results):
            self.runtime.spool.discard(job.id)

    def _give_up_or_retry(self, job: JobInfo, message: str) -> None:
        if job.attempts >= job.max_attempts:
            self._finish(job, [], "failed", "internal_error", message)
            return
        delay = self.runtime.settings.job_retry_delay_seconds * job.attempts
        self.runtime.store.jobs.retry_job(
            job.id, self.owner, delay_seconds=delay, error_message=message
        )


def _snake(name: str) -> str:
    out = [f"_{c.lower()}" if c.isupper() else c for c in name]
    return "".join(out).lstrip("_")


def make_dispatcher(runtime: ServiceRuntime) -> Dispatcher:
    """A webhook dispatcher configured from the runtime's settings."""
    settings = runtime.settings
    return Dispatcher(
        runtime.store.webhooks,
        signing_secret=settings.webhook_signing_secret.get_secret_value(),
        allow_private=settings.webhook_allow_private,
        max_attempts=settings.webhook_max_attempts,
        backoff_base=settings.webhook_backoff_base_seconds,
        backoff_max=settings.webhook_backoff_max_seconds,
        timeout=settings.webhook_timeout_seconds,
        poll_interval=settings.worker_poll_interval,
        on_attempt=runtime.metrics.observe_delivery,
    )


class BackgroundWorkers:
    """Job workers, webhook dispatchers and the exchange schedule on threads, together.

    Args:
        runtime: the process's runtime.
        workers: job worker threads.
        dispatchers: webhook dispatcher threads.
        exchanges: also run the exchange schedule (when exchanges are configured).
    """

    def __init__(
        self,
        runtime: ServiceRuntime,
        *,
        workers: int,
        dispatchers: int,
        exchanges: bool = True,
        streams: int | None = None,
    ) -> None:
        """Prepare the threads (nothing runs until :meth:`start`).

        ``streams`` stream workers (``stream_workers`` of the settings when None) watch
        live streams beside the job workers, on the same leases.
        """
        self.runtime = runtime
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        count = runtime.settings.stream_workers if streams is None else streams
        for i in range(count):
            watcher = StreamWorker(runtime)
            self._threads.append(
                threading.Thread(
                    target=watcher.run, args=(self.stop_event,), name=f"stream-{i}", daemon=True
                )
            )
        for i in range(workers):
            worker = JobWorker(runtime)
            self._threads.append(
                threading.Thread(
                    target=worker.run, args=(self.stop_event,), name=f"job-worker-{i}", daemon=True
                )
            )
        if exchanges and any(e.enabled for e in runtime.settings.exchanges):
            from mediaguard.service.exchanges.runner import ExchangeScheduler

            scheduler = ExchangeScheduler(runtime, runtime.settings.exchanges)
            self._threads.append(
                threading.Thread(
                    target=scheduler.run,
                    args=(self.stop_event, runtime.settings.worker_poll_interval),
                    name="exchange-scheduler",
                    daemon=True,
                )
            )
        for i in range(dispatchers):
            dispatcher = make_dispatcher(runtime)
            self._threads.append(
                threading.Thread(
                    target=dispatcher.run,
                    args=(self.stop_event, runtime.events_waiting),
                    name=f"webhook-dispatcher-{i}",
                    daemon=True,
                )
            )

    def start(self) -> None:
        """Start every thread."""
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every thread to stop and wait for them.

        A job in progress is put back in the queue at the next input boundary (without
        counting the attempt); one that does not get there within ``timeout`` is picked
        up by another worker when its lease expires.
        """
        self.stop_event.set()
        self.runtime.jobs_waiting.set()
        self.runtime.events_waiting.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def wait(self) -> None:
        """Block until :meth:`stop` is called (for ``mediaguard worker``)."""
        while not self.stop_event.wait(1.0):
            pass
