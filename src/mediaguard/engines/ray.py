"""The Ray engine: the local engine's pipeline, scheduled on a Ray cluster.

Design note: only the executor differs from :mod:`mediaguard.engines.local`. Each Ray
actor is one worker process holding one :class:`Scanner` (one set of ONNX sessions,
with its thread count set by :func:`runtime.configure` before the models load), and
scans a file with the same :func:`~mediaguard.engines.local.scan_guarded`, so a refused
file becomes the same :class:`ScanFailure` on either engine.

The driver does its own dispatch instead of Ray's ``ActorPool`` or automatic retries,
because three guarantees have to hold on a 100k-file folder and under faults:

* **Bounded memory.** At most ``max_in_flight`` files are submitted and not yet handed
  to the caller; the input iterable is pulled only as results leave, and in ordered
  mode the reorder buffer counts against the same bound. A slow consumer therefore
  stops submission instead of piling results up in the object store.
* **Exactly one result per input.** When a worker dies (killed, OOM, node lost), the
  driver replaces it with a fresh actor and resubmits that worker's in-flight files
  itself, so it knows which inputs are still owed. A file is tried at most
  ``max_attempts`` times; a file that keeps killing its worker (a decoder crash, say)
  ends as a ``WorkerCrashed`` failure rather than taking the pool down with it.
  Execution is at least once, delivery exactly once: a worker killed after recording
  a file's hashes in the store but before replying scans it again on resubmission.
* **Same results.** Workers receive paths (the cluster must share the filesystem, as a
  local cluster does) or, with ``send_bytes``, the file's bytes read and limit-checked
  by the driver, for clusters without shared storage.

Ray is an optional extra imported only when this engine runs, so the core imports
without it. A local cluster is started offline: no dashboard, usage statistics off
(Ray's own default for ``ray.init``), worker output kept out of the driver's console.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from mediaguard.config import ScanConfig
from mediaguard.engines.local import default_workers, failure, scan_guarded
from mediaguard.errors import ConfigError, MediaError
from mediaguard.media.limits import Limits
from mediaguard.media.source import read_source
from mediaguard.policy.model import Policy
from mediaguard.scanner import Scanner
from mediaguard.signals import runtime
from mediaguard.verdict import ScanFailure, ScanResult

__all__ = ["RayScanStats", "connect", "import_ray", "scan_paths_ray"]

#: The error recorded for a file whose worker died ``max_attempts`` times scanning it.
WORKER_CRASHED = "WorkerCrashed"

_INSTALL_HINT = "pip install 'mediaguard[ray]'"
_HOST_PORT = re.compile(r"^(?P<host>[^:/]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


@dataclass(slots=True)
class RayScanStats:
    """What a Ray scan did; pass one in to watch it, e.g. from a progress bar or a test.

    The engine updates it as it goes, so it is meaningful during the scan as well as
    after it.

    Attributes:
        submitted: scan tasks submitted, resubmissions included.
        resubmitted: tasks submitted again because their worker died.
        replaced_workers: workers replaced by a fresh actor after they died.
        peak_in_flight: most files submitted and not yet handed to the caller, reorder
            buffer included; never above ``max_in_flight``.
        worker_pids: process id of each worker slot's current actor, on its node.
    """

    submitted: int = 0
    resubmitted: int = 0
    replaced_workers: int = 0
    peak_in_flight: int = 0
    worker_pids: dict[int, int] = field(default_factory=dict)


class _ScanWorker:
    """One Ray actor: one scanner, its models loaded once, scanning one file at a time.

    It is a plain class, made remote by the driver, so this module imports without Ray.
    """

    def __init__(self, config: ScanConfig, policy: Policy, threads: int) -> None:
        runtime.configure(threads=threads)
        self._scanner = Scanner(config, policy)
        self._pid = os.getpid()

    def ready(self) -> int:
        """The worker's process id, once its models are loaded."""
        return self._pid

    def scan(self, source: Path | bytes, name: str) -> tuple[int, ScanResult]:
        """Scan a file given as a path on a shared filesystem, or as its bytes.

        Returns the worker's pid with the result, so the driver knows which process
        currently serves each slot.
        """
        return self._pid, scan_guarded(self._scanner, source, name=name)


def import_ray(purpose: str = "scanning") -> ModuleType:
    """Ray, imported on first use because it is an optional extra.

    Args:
        purpose: what needs Ray, for the message (``"scanning"``, ``"running job
            workers"``).

    Raises:
        ConfigError: when Ray is not installed, saying how to install it.
    """
    try:
        import ray
    except ImportError as err:
        raise ConfigError(
            f"{purpose} on Ray needs the ray extra, which is not installed: {_INSTALL_HINT}"
        ) from err
    return ray


def _probe(address: str) -> None:
    """Fail fast on an unreachable ``host:port``; Ray itself retries for minutes."""
    found = _HOST_PORT.match(address)
    if found is None:  # "auto", "ray://...", "local": Ray resolves and reports these
        return
    host, port = found["host"].strip("[]"), int(found["port"])
    try:
        with socket.create_connection((host, port), timeout=5.0):
            pass
    except OSError as err:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address}: {err.strerror or err}; "
            "is `ray start --head` running there?"
        ) from err


@contextmanager
def _sigterm_handler_kept() -> Iterator[None]:
    """Keep this process's SIGTERM handler while Ray starts or joins a cluster.

    ``ray.init`` installs a handler that raises ``SystemExit`` at once. A SIGTERM that
    lands while it is starting the cluster's processes then unwinds ``ray.init``
    half-way and leaves Ray's agents running with no parent. Ray installs it through
    ``signal.signal``, so that one call is declined for the length of ``ray.init``: the
    caller's handler (``mediaguard worker``'s "stop gracefully") sees the signal, the
    start completes, and the caller stops the cluster it now owns. Only the main thread
    can set handlers, so elsewhere there is nothing to keep.

    Ray's core worker also puts a C-level failure handler in front of SIGTERM, below
    Python's. It passes the signal on, but first arms an alarm that aborts the process
    three seconds later, so a graceful stop that takes longer ended in SIGABRT. The
    kept handler is therefore installed again afterwards, which takes that one out of
    the chain.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    install = signal.signal
    kept = signal.getsignal(signal.SIGTERM)

    def declined(signum: int, handler: Any) -> Any:
        if signum == signal.SIGTERM:
            return signal.getsignal(signum)
        return install(signum, handler)

    signal.signal = declined  # type: ignore[assignment]
    try:
        yield
    finally:
        signal.signal = install
        if kept is not None:  # None: set outside Python, which cannot restore it
            install(signal.SIGTERM, kept)


def connect(
    ray: ModuleType, address: str | None, cpus: int, *, log_to_driver: bool = False
) -> bool:
    """Join or start a cluster; True when this call started it (and must stop it).

    A process already connected to Ray (a notebook, a test fixture) keeps its
    connection: Ray allows one per process.

    Args:
        ray: the imported Ray module.
        address: the cluster to join, or None to start a local one.
        cpus: CPUs of a local cluster: as many as the workers reserve, so exactly that
            many fit and no more.
        log_to_driver: relay the workers' output to this process's console (a
            long-running service wants its workers' logs; a scan's progress bar does
            not).

    Raises:
        ConfigError: when the cluster cannot be reached.
    """
    if ray.is_initialized():
        return False
    if address is None:
        # Errors only: Ray's start-up notices (token auth on, cluster started) are noise
        # in a CLI run.
        with _sigterm_handler_kept():
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=log_to_driver,
                logging_level=logging.ERROR,
            )
        return True
    _probe(address)
    try:
        with _sigterm_handler_kept():
            ray.init(address=address, log_to_driver=log_to_driver, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(f"cannot connect to the Ray cluster at {address}: {err}") from err
    return True


@dataclass(slots=True)
class _Job:
    index: int
    name: str
    payload: Path | bytes
    attempts: int = 0
    slot: int = -1
    actor: Any = None  # the actor it was sent to, which may since have been replaced


@dataclass(slots=True)
class _Slot:
    actor: Any
    outstanding: int = 0


class _Pool:
    """``workers`` actor slots; a dead actor is replaced in its slot."""

    def __init__(
        self,
        ray: ModuleType,
        config: ScanConfig,
        policy: Policy,
        workers: int,
        threads: int,
        stats: RayScanStats,
    ) -> None:
        self._ray = ray
        self._args = (config, policy, threads)
        self._stats = stats
        # No Ray-level restarts or retries: the driver resubmits, so it can count.
        self._remote = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_ScanWorker)
        self.slots = [_Slot(self._spawn()) for _ in range(workers)]

    def _spawn(self) -> Any:
        return self._remote.remote(*self._args)

    def wait_ready(self, timeout_s: float) -> None:
        """Block until every worker has loaded its models.

        Raises:
            ConfigError: when a worker cannot build its scanner, or the cluster cannot
                place every worker within ``timeout_s``.
        """
        exc = self._ray.exceptions
        refs = [slot.actor.ready.remote() for slot in self.slots]
        try:
            pids = self._ray.get(refs, timeout=timeout_s)
        except exc.GetTimeoutError as err:
            raise ConfigError(
                f"{len(self.slots)} Ray scan worker(s) did not start within {timeout_s:g} s; "
                "each needs one free CPU on the cluster"
            ) from err
        except exc.RayActorError as err:
            raise ConfigError(f"a Ray scan worker could not start: {err}") from err
        self._stats.worker_pids.update(enumerate(pids))

    def least_loaded(self) -> int:
        return min(range(len(self.slots)), key=lambda i: self.slots[i].outstanding)

    def replace(self, slot: int, actor: Any) -> None:
        """Put a fresh actor in ``slot`` unless ``actor`` was already replaced there."""
        current = self.slots[slot]
        if current.actor is not actor:
            return
        self._ray.kill(actor, no_restart=True)  # it may be alive but unreachable
        current.actor = self._spawn()
        self._stats.replaced_workers += 1
        self._stats.worker_pids.pop(slot, None)

    def close(self) -> None:
        for slot in self.slots:
            self._ray.kill(slot.actor, no_restart=True)


def scan_paths_ray(
    files: Iterable[Path],
    *,
    config: ScanConfig,
    policy: Policy,
    address: str | None,
    workers: int | None,
    ordered: bool = True,
    max_in_flight: int | None = None,
    send_bytes: bool = False,
    max_attempts: int = 3,
    start_timeout_s: float = 300.0,
    stats: RayScanStats | None = None,
) -> Iterator[ScanResult]:
    """Scan ``files`` on a Ray cluster and yield exactly one result per file.

    Args:
        files: the files to scan; iterated lazily, so a generator over a huge folder is
            never materialised.
        config: scan configuration; each worker builds its own scanner from it.
        policy: the policy each worker applies.
        address: the cluster to join (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``,
            the last needing Ray Client), or None to start a local cluster of
            ``workers`` CPUs for this scan and stop it afterwards. A process already
            connected to Ray uses that connection.
        workers: number of worker actors, each reserving one CPU; None for one per
            core of this machine (local cluster) or per CPU of the joined cluster.
        ordered: yield in input order (through a reorder buffer) rather than as files
            finish; unordered keeps every worker busy behind one slow file.
        max_in_flight: most files submitted and not yet yielded, reorder buffer
            included; defaults to twice ``workers`` so each worker has one file queued
            behind the one it scans.
        send_bytes: read each file here and send its bytes, for clusters whose nodes do
            not share this filesystem. Files over ``limits.max_bytes`` or unreadable
            are refused here without being sent.
        max_attempts: times a file is tried when its worker dies while scanning it;
            after that it is recorded as a ``WorkerCrashed`` failure.
        start_timeout_s: how long to wait for the workers to load their models.
        stats: updated as the scan runs (see :class:`RayScanStats`).

    Returns:
        An iterator of verdicts and failures. Nothing runs until it is first advanced;
        closing it early stops the workers (and a cluster it started).

    Raises:
        ConfigError: when Ray is not installed, an argument is out of range, the
            cluster cannot be reached, or a worker cannot build its scanner (the last
            two when the iterator is first advanced).
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: expected a positive integer, got {workers}")
    if max_in_flight is not None and max_in_flight < 1:
        raise ConfigError(f"max_in_flight: expected a positive integer, got {max_in_flight}")
    if max_attempts < 1:
        raise ConfigError(f"max_attempts: expected a positive integer, got {max_attempts}")
    ray = import_ray()
    return _scan(
        ray,
        files,
        config=config,
        policy=policy,
        address=address,
        workers=workers,
        ordered=ordered,
        max_in_flight=max_in_flight,
        send_bytes=send_bytes,
        max_attempts=max_attempts,
        start_timeout_s=start_timeout_s,
        stats=stats if stats is not None else RayScanStats(),
    )


def _scan(
    ray: ModuleType,
    files: Iterable[Path],
    *,
    config: ScanConfig,
    policy: Policy,
    address: str | None,
    workers: int | None,
    ordered: bool,
    max_in_flight: int | None,
    send_bytes: bool,
    max_attempts: int,
    start_timeout_s: float,
    stats: RayScanStats,
) -> Iterator[ScanResult]:
    own_local = address is None and not ray.is_initialized()
    started = connect(ray, address, workers or default_workers())
    if workers is None:
        workers = (
            default_workers() if own_local else max(1, int(ray.cluster_resources().get("CPU", 1)))
        )
    limit = 2 * workers if max_in_flight is None else max_in_flight
    # A local cluster shares this machine's cores the way the local engine does; on a
    # shared cluster each worker reserved one CPU and uses one thread.
    threads = max(1, default_workers() // workers) if own_local else 1
    pool: _Pool | None = None
    try:
        pool = _Pool(ray, config, policy, workers, threads, stats)
        pool.wait_ready(start_timeout_s)
        yield from _dispatch(
            ray,
            pool,
            iter(files),
            limits=config.limits,
            ordered=ordered,
            limit=limit,
            send_bytes=send_bytes,
            max_attempts=max_attempts,
            stats=stats,
        )
    finally:
        if pool is not None:
            pool.close()
        if started:
            ray.shutdown()


def _dispatch(
    ray: ModuleType,
    pool: _Pool,
    files: Iterator[Path],
    *,
    limits: Limits,
    ordered: bool,
    limit: int,
    send_bytes: bool,
    max_attempts: int,
    stats: RayScanStats,
) -> Iterator[ScanResult]:
    """Keep up to ``limit`` files in flight and hand results on as they are owed."""
    pending: dict[Any, _Job] = {}
    reorder: dict[int, ScanResult] = {}  # ordered: finished, waiting for earlier files
    outbox: deque[ScanResult] = deque()  # unordered: finished, not yet yielded
    next_out = 0
    index = 0
    exhausted = False

    def finish(job: _Job, result: ScanResult) -> None:
        if ordered:
            reorder[job.index] = result
        else:
            outbox.append(result)

    def submit(job: _Job) -> None:
        job.slot = pool.least_loaded()
        slot = pool.slots[job.slot]
        job.actor = slot.actor
        ref = slot.actor.scan.remote(job.payload, job.name)
        pending[ref] = job
        slot.outstanding += 1
        stats.submitted += 1

    while True:
        while not exhausted and len(pending) + len(reorder) + len(outbox) < limit:
            path = next(files, None)
            if path is None:
                exhausted = True
                break
            job = _Job(index=index, name=str(path), payload=Path(path))
            index += 1
            if send_bytes:
                try:
                    job.payload = read_source(path, limits)
                except MediaError as err:
                    finish(job, failure(job.name, err))
                    continue
            submit(job)
        stats.peak_in_flight = max(stats.peak_in_flight, len(pending) + len(reorder) + len(outbox))

        if pending:
            refs = list(pending)
            ready, rest = ray.wait(refs, num_returns=1)
            if rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                job = pending.pop(ref)
                pool.slots[job.slot].outstanding -= 1
                try:
                    pid, result = ray.get(ref)
                except ray.exceptions.RayError as err:
                    # The executor's top level: a lost worker or task is recorded and
                    # retried here, never raised into the caller's loop.
                    if isinstance(err, ray.exceptions.RayActorError):
                        if err.actor_init_failed:
                            raise ConfigError(
                                f"a Ray scan worker could not restart: {err}"
                            ) from err
                        pool.replace(job.slot, job.actor)
                    job.attempts += 1
                    if job.attempts >= max_attempts:
                        finish(job, _crashed(job, err))
                    else:
                        stats.resubmitted += 1
                        submit(job)
                    continue
                stats.worker_pids[job.slot] = pid
                finish(job, result)

        if ordered:
            while next_out in reorder:
                yield reorder.pop(next_out)
                next_out += 1
        else:
            while outbox:
                yield outbox.popleft()
        if exhausted and not pending and not reorder and not outbox:
            return


def _crashed(job: _Job, err: Exception) -> ScanFailure:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ScanFailure(
        source=job.name,
        error=WORKER_CRASHED,
        message=(
            f"the scan worker was lost {job.attempts} time(s) while scanning this file "
            f"({type(err).__name__}: {first_line})"
        ),
    )
