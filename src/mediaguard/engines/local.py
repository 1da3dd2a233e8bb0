"""The embedded engine: scan many files with a local process pool.

Design note: decoding and inference are CPU-bound and hold the GIL in places, so the
embedded engine uses processes, one :class:`Scanner` (one set of ONNX sessions) per
process, each session limited to its share of the cores. Results stream back in input
order through ``imap`` so a folder of 100k files never holds all verdicts in memory; a
file that fails becomes a :class:`ScanFailure` and the other files are still scanned.

Workers are forked where the platform forks safely (Linux), so they inherit the
parent's imported modules instead of importing them again (about 0.8 CPU-s each), and,
when the caller's scanner was loaded with one worker's share of threads, its loaded
models too: the pool then starts in milliseconds rather than in about a second of model
loading, which the CLI's timed run used to include. Only the hash-list matcher is opened
again in each worker, because a database connection must not cross a fork. An
onnxruntime session whose intra-op pool has threads is never used across a fork (those
threads do not exist in the child and a run would wait for them forever), so such a
scanner is not inherited and each worker loads its own.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from multiprocessing.pool import Pool
from multiprocessing.queues import Queue
from pathlib import Path

from mediaguard.config import ScanConfig
from mediaguard.errors import MediaError
from mediaguard.policy.model import Policy
from mediaguard.scanner import Scanner, open_list_matcher
from mediaguard.signals import runtime
from mediaguard.verdict import ScanFailure, ScanResult

_worker_scanner: Scanner | None = None
_worker_error: str | None = None
_worker_progress: Queue[tuple[str, float]] | None = None
_DONE = ("", -1.0)


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Every regular file under ``paths``, recursively, in a stable sorted order.

    Files are not filtered by name: the format is recognised from the bytes, so a
    ``.txt`` that is really a JPEG is still scanned. Paths that do not exist are yielded
    as they are, so the scan reports them instead of silently skipping them.
    """
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            yield path
            continue
        for root, dirs, files in os.walk(path, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                yield Path(root, name)


ProgressCallback = Callable[[str, float], None]


def failure(source: str, err: MediaError) -> ScanFailure:
    """The recorded failure of an input that mediaguard refused."""
    return ScanFailure(source=source, error=type(err).__name__, message=str(err))


def scan_one(
    scanner: Scanner,
    source: Path | bytes,
    *,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScanResult:
    """Scan one file (a path, or bytes already read), turning a refusal into a failure.

    Args:
        scanner: the loaded scanner.
        source: the file's path, or its bytes.
        name: the result's ``source``; the path when None.
        on_progress: called with the name and the fraction of a video scanned so far.
    """
    label = name if name is not None else str(source)
    report = None if on_progress is None else partial(on_progress, label)
    try:
        return scanner.scan(source, name=label, progress=report)
    except MediaError as err:
        return failure(label, err)


def scan_guarded(
    scanner: Scanner,
    source: Path | bytes,
    *,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScanResult:
    """:func:`scan_one` at the top of a worker: an unexpected error is recorded for this
    input instead of killing the worker, so the other inputs are still scanned."""
    label = name if name is not None else str(source)
    try:
        return scan_one(scanner, source, name=label, on_progress=on_progress)
    except Exception as err:  # top of a worker: record the failure, keep the worker alive
        return ScanFailure(
            source=label, error="InternalError", message=f"{type(err).__name__}: {err}"
        )


def _init_worker(
    config: ScanConfig,
    policy: Policy,
    threads: int,
    progress: Queue[tuple[str, float]] | None,
    inherited: Scanner | None,
) -> None:
    global _worker_scanner, _worker_error, _worker_progress
    runtime.configure(threads=threads)
    _worker_progress = progress
    try:
        if inherited is None:
            _worker_scanner = Scanner(config, policy)
        else:
            # The parent's models, already loaded; a connection of its own to the lists.
            matcher = None if inherited.matcher is None else open_list_matcher(config, policy)
            _worker_scanner = inherited.with_policy(policy, matcher=matcher)
    except Exception as err:  # a failing initializer would make the pool respawn forever
        _worker_error = f"worker could not start: {type(err).__name__}: {err}"


def _put_progress(path: str, fraction: float) -> None:
    if _worker_progress is not None:
        _worker_progress.put((path, fraction))


def _scan_in_worker(path: Path) -> ScanResult:
    if _worker_scanner is None:
        message = _worker_error or "worker initializer did not run"
        return ScanFailure(source=str(path), error="InternalError", message=message)
    return scan_guarded(_worker_scanner, path, on_progress=_put_progress)


def default_workers() -> int:
    """One worker per core available to this process."""
    return max(1, len(os.sched_getaffinity(0)))


def worker_threads(workers: int) -> int:
    """Intra-op threads per onnxruntime session when ``workers`` processes share the cores."""
    return max(1, default_workers() // workers)


def forks() -> bool:
    """Whether worker processes are forked from this one (Linux) rather than spawned."""
    return sys.platform == "linux" and "fork" in mp.get_all_start_methods()


def scan_paths(
    files: Iterable[Path],
    *,
    config: ScanConfig,
    policy: Policy,
    workers: int,
    scanner: Scanner | None = None,
    on_progress: ProgressCallback | None = None,
) -> Iterator[ScanResult]:
    """Scan ``files`` and return an iterator of one result per file, in input order.

    The worker processes start when this is called, not when the iteration begins, so a
    caller can start them before it starts threads of its own (a progress bar's): a
    fork copies only the calling thread, and a lock another thread held at that moment
    would stay held in the worker.

    Args:
        files: the files to scan.
        config: scan configuration, used to build one scanner per worker.
        policy: the policy each worker applies.
        workers: number of processes; 1 scans in this process.
        scanner: an already loaded scanner: used in this process when ``workers`` is 1;
            inherited by forked workers when its sessions were loaded with
            :func:`worker_threads` threads (``runtime.configure``), else ignored there.
        on_progress: called (in this process) with a video's path and the fraction of it
            scanned so far, so a caller can show one progress bar per video.
    """
    if workers <= 1:
        return _scan_here(files, scanner or Scanner(config, policy), on_progress)
    if config.hashlists and scanner is None:
        # Migrate and index once here, not in every worker at the same time.
        open_list_matcher(config, policy)
    threads = worker_threads(workers)
    ctx = mp.get_context("fork" if forks() else "spawn")
    inherited = scanner if forks() and scanner is not None and scanner.threads == threads else None
    progress: Queue[tuple[str, float]] | None = None if on_progress is None else ctx.Queue()
    pool = ctx.Pool(
        workers, initializer=_init_worker, initargs=(config, policy, threads, progress, inherited)
    )
    relay = None
    if progress is not None and on_progress is not None:
        relay = threading.Thread(target=_relay, args=(progress, on_progress), daemon=True)
        relay.start()
    return _pooled(pool, files, progress, relay)


def _scan_here(
    files: Iterable[Path], scanner: Scanner, on_progress: ProgressCallback | None
) -> Iterator[ScanResult]:
    for path in files:
        yield scan_one(scanner, path, on_progress=on_progress)


def _pooled(
    pool: Pool,
    files: Iterable[Path],
    progress: Queue[tuple[str, float]] | None,
    relay: threading.Thread | None,
) -> Iterator[ScanResult]:
    try:
        with pool:
            yield from pool.imap(_scan_in_worker, files, chunksize=1)
    finally:
        if progress is not None and relay is not None:
            progress.put(_DONE)
            relay.join(timeout=5)


def _relay(progress: Queue[tuple[str, float]], on_progress: ProgressCallback) -> None:
    """Pass workers' video progress to the caller's callback, in this process."""
    while (event := progress.get()) != _DONE:
        on_progress(*event)
