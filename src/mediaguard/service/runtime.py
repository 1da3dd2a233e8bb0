"""What one service process holds: the store, the loaded scanner, the spool and metrics.

Design note: everything expensive or stateful is built once, at start-up, by
:meth:`ServiceRuntime.open`, and handed to requests and workers; nothing is built at
import. The scanner's models load once and are shared by the request threads and the
in-process job workers (an ONNX session is safe to run from several threads); a
semaphore bounds how many scans run at once so a burst of requests queues instead of
oversubscribing the cores.

The hash-list indexes are read by every scan and rebuilt when lists change, so the
matcher is wrapped in :class:`SharedMatcher`, which serialises index access with a lock
and re-reads the store when this process changed a list, or every
``hashlist_refresh_seconds`` to pick up changes made by other processes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

from mediaguard.config import ScanConfig
from mediaguard.dsa import ReasonCodes, load_reasons
from mediaguard.errors import ConfigError
from mediaguard.lists.hashlists import ListMatcher
from mediaguard.lists.query import MatchOutcome, MatchQuery
from mediaguard.match.types import Match, SignalType
from mediaguard.policy.model import Policy
from mediaguard.review.intake import ReviewIntake
from mediaguard.scanner import Scanner
from mediaguard.service.auth import LoginThrottle, RateLimiter
from mediaguard.service.metrics import Metrics
from mediaguard.service.settings import ServiceSettings, cpu_count
from mediaguard.service.spool import KeepSetting, MediaRetention, Spool
from mediaguard.signals import runtime as onnx_runtime
from mediaguard.store import Store, audit
from mediaguard.store.audit import AuditLog
from mediaguard.store.errors import StoreError
from mediaguard.verdict import Verdict

log = logging.getLogger("mediaguard.service")


class SharedMatcher:
    """A :class:`ListMatcher` safe to share between threads, refreshed when lists change.

    Args:
        inner: the list matcher.
        refresh_seconds: how stale the indexes may get with respect to changes made by
            other processes.
    """

    def __init__(self, inner: ListMatcher, refresh_seconds: float) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._stale = False
        self._refreshed = time.monotonic()

    def mark_stale(self) -> None:
        """Re-read the lists before the next match (this process changed one)."""
        self._stale = True

    def _fresh(self) -> None:
        # Called with the lock held.
        now = time.monotonic()
        if self._stale or now - self._refreshed >= self.refresh_seconds:
            self._stale = False
            self._refreshed = now
            self.inner.refresh()

    def refresh(self) -> None:
        """Re-read the lists now."""
        with self._lock:
            self._stale = True
            self._fresh()

    def match(self, query: MatchQuery) -> MatchOutcome:
        """Match under the lock, with indexes no staler than the refresh interval."""
        with self._lock:
            self._fresh()
            return self.inner.match(query)

    def record(self, verdict: Verdict) -> None:
        """Record a scanned item (touches only the database, so no lock)."""
        self.inner.record(verdict)

    def lookup(self, signal: SignalType, value: str) -> list[Match]:
        """Entries matching one hash."""
        with self._lock:
            self._fresh()
            return self.inner.lookup(signal, value)


def run_until_stopped(
    name: str,
    run_once: Callable[[threading.Event], bool],
    idle: Callable[[], object],
    stop: threading.Event,
    logger: logging.Logger,
) -> None:
    """Call ``run_once`` until ``stop`` is set, calling ``idle`` when it found no work.

    This is the top of a worker thread (jobs, streams): a database hiccup is logged as a
    warning and anything else with its traceback, and the loop goes on, because one bad
    item must not end a worker that the process will not restart.
    """
    while not stop.is_set():
        try:
            busy = run_once(stop)
        except StoreError as err:
            logger.warning("%s: %s", name, err)
            busy = False
        except Exception:  # top of a worker thread: log, keep the thread alive
            logger.exception("%s failed; continuing", name)
            busy = False
        if not busy and not stop.is_set():
            idle()


def _automated(reasons: ReasonCodes) -> dict[str, str]:
    """The reason codes of automated blocks by category, with a fallback for any other.

    Raises:
        ConfigError: when the reason codes file maps no ``"*"`` fallback.
    """
    mapping = reasons.automated
    if "*" not in mapping:
        raise ConfigError(
            'reason codes: [automated] needs a "*" entry, the reason code of an automated '
            "block in a category that has none of its own"
        )
    return mapping


def _audit_policy(log: AuditLog, policy: Policy) -> None:
    """Audit a change of policy: a start with a policy other than the last one recorded."""
    ref = {"name": policy.name, "version": policy.version, "sha256": policy.sha256}
    last = log.last_audit("policy.change")
    if last is None or last.data != ref:
        with audit.acting_as("service"):
            log.audit_event("policy.change", policy.name, ref)


@dataclass
class ServiceRuntime:
    """The long-lived state of one service or worker process.

    Build it with :meth:`open` and :meth:`close` it at shutdown.
    """

    settings: ServiceSettings
    store: Store
    scanner: Scanner
    matcher: SharedMatcher | None
    spool: Spool
    metrics: Metrics
    limiter: RateLimiter
    login_throttle: LoginThrottle
    retention: MediaRetention
    reasons: ReasonCodes
    intake: ReviewIntake | None
    scan_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(cpu_count())
    )
    jobs_waiting: threading.Event = field(default_factory=threading.Event)
    events_waiting: threading.Event = field(default_factory=threading.Event)
    owns_store: bool = True

    @classmethod
    def open(
        cls,
        settings: ServiceSettings,
        *,
        scanner: Scanner | None = None,
        retention: MediaRetention | None = None,
    ) -> Self:
        """Connect, check the schema, load the models and open the spool.

        Args:
            settings: the service settings.
            scanner: an already loaded scanner whose models (not policy or matcher) to
                reuse, for embedding the service in a process that has one.
            retention: decides which finished jobs keep their media; by default the
                ``keep_media`` setting.

        Raises:
            SchemaError: when the database schema is not current (run
                ``mediaguard db upgrade``).
            StoreError: when the database cannot be reached.
            ConfigError: when the scan configuration or policy is invalid.
        """
        store = Store.open(settings.resolved_database_url())
        try:
            store.check_current()
            store.reviewers.prepare_log_ins()
            data = settings.resolved_data_dir()
            config = ScanConfig.load(settings.scan_config) if settings.scan_config else ScanConfig()
            # The service passes its own matcher; the scanner must not open another store.
            config = replace(config, hashlists=False)
            policy = Policy.load(settings.policy) if settings.policy else Policy.default_policy()
            matcher: SharedMatcher | None = None
            if settings.hashlists:
                key = hashlib.sha256(store.url.encode()).hexdigest()[:16]
                inner = ListMatcher(
                    store,
                    quarantine=policy.quarantine,
                    record=settings.record_items,
                    index_dir=data / "index" / key,
                )
                matcher = SharedMatcher(inner, settings.hashlist_refresh_seconds)
            if scanner is None:
                # Concurrency comes from scanning several items at once (one per scan
                # slot), so each model run gets its share of the cores rather than all
                # of them; the CLI engine does the same per worker process.
                onnx_runtime.configure(threads=max(1, cpu_count() // settings.scan_concurrency()))
                loaded = Scanner(config, policy, matcher=matcher)
            else:
                loaded = scanner.with_policy(policy, matcher=matcher)
            reasons = load_reasons(settings.review_reasons)
            _audit_policy(store.audit, policy)
            intake = None
            if settings.review_queue:
                intake = ReviewIntake(
                    store.review,
                    data,
                    previews=settings.review_previews,
                    automated_reason=_automated(reasons),
                    preview_days=settings.review_preview_days,
                    shield_only=frozenset(settings.review_shield_only),
                )
            spool = Spool(data / "spool")
            spool.sweep_incoming()
        except BaseException:
            store.close()
            raise
        return cls(
            scan_slots=threading.BoundedSemaphore(settings.scan_concurrency()),
            settings=settings,
            store=store,
            scanner=loaded,
            matcher=matcher,
            spool=spool,
            metrics=Metrics(store),
            limiter=RateLimiter(store.limits, settings.rate_limit_per_minute),
            login_throttle=LoginThrottle(store.limits),
            retention=retention or KeepSetting(settings.keep_media),
            reasons=reasons,
            intake=intake,
        )

    @property
    def data_dir(self) -> Path:
        """The data directory."""
        return self.settings.resolved_data_dir()

    def scan(self, source: bytes | Path, *, name: str) -> Verdict:
        """Scan with the shared scanner, waiting for a free scan slot.

        Raises:
            MediaError: the typed errors of :meth:`Scanner.scan`.
        """
        with self.scan_slots:
            return self.scanner.scan(source, name=name)

    def send_to_review(
        self, verdict: Verdict, source: Path | bytes, *, job_id: str | None = None
    ) -> None:
        """Queue a verdict that needs a person; a failure is logged, never raised.

        The caller already has its verdict; losing the queue entry to a database hiccup
        is logged loudly rather than turned into a failed scan.
        """
        if self.intake is None:
            return
        try:
            self.intake.take(verdict, source, job_id=job_id)
        except StoreError as err:
            log.error("could not queue %s for review: %s", verdict.source, err)

    def close(self) -> None:
        """Release the database connections (when this runtime opened them)."""
        if self.owns_store:
            self.store.close()
