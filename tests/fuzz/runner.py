"""Scan a corpus in worker processes, each file under a deadline.

A decoder that crashes the process (a segfault in a C library) or never returns must
fail the test, not take pytest down or stall CI, so the files are scanned in spawned
worker processes, one file at a time per worker, and the parent watches the clock:
a worker that does not answer within the deadline is killed and its file recorded as a
hang; a worker that dies has its file recorded as a crash. Either way a fresh worker
takes over and the rest of the corpus is still scanned.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from mediaguard.errors import MediaError
from mediaguard.scanner import Scanner

#: Outcome of a file that decoded and got a verdict.
DECODED = "decoded"
#: Prefixes of outcomes that fail the test.
HANG = "HANG"
CRASH = "CRASH"
UNTYPED = "UNTYPED"


_scanner: Scanner | None = None


def scan_outcome(data: bytes) -> str:
    """Scan with a full default scanner (built once per process): the outcome's name."""
    global _scanner
    if _scanner is None:
        _scanner = Scanner()
    scanner = _scanner
    try:
        scanner.scan(data)
    except MediaError as err:
        return type(err).__name__
    except Exception as err:  # the finding the test exists for: record it, go on
        return f"{UNTYPED} {type(err).__name__}: {err}"
    return DECODED


Check = Callable[[bytes], str]


def _worker(conn: Connection, check: Check) -> None:
    """Answer each file the parent sends with ``check``'s outcome."""
    check(b"")  # load what the check needs before the clock starts
    conn.send(("ready", None))
    while True:
        item = conn.recv()
        if item is None:
            return
        index, data = item
        conn.send((index, check(data)))


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    index: int | None = None  # file being scanned
    since: float = 0.0


def scan_all(
    corpus: Sequence[bytes],
    *,
    processes: int,
    deadline_s: float,
    check: Check = scan_outcome,
) -> list[str]:
    """The outcome of every file: ``decoded``, a MediaError name, or a failure.

    ``check`` must be a module-level function: it is sent to spawned processes.
    """
    ctx = mp.get_context("spawn")
    outcomes: list[str | None] = [None] * len(corpus)
    todo = iter(range(len(corpus)))
    slots: list[_Slot] = []
    starting: list[_Slot] = []

    def start() -> None:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_worker, args=(child, check), daemon=True)
        process.start()
        child.close()
        starting.append(_Slot(process, parent))

    def feed(slot: _Slot) -> None:
        index = next(todo, None)
        slot.index, slot.since = index, time.monotonic()
        slot.conn.send(None if index is None else (index, corpus[index]))

    def retire(slot: _Slot, outcome: str) -> None:
        assert slot.index is not None
        outcomes[slot.index] = outcome
        slot.process.kill()
        slot.process.join()
        slot.conn.close()
        slots.remove(slot)
        start()

    for _ in range(processes):
        start()
    try:
        while any(o is None for o in outcomes) or starting:
            for slot in list(starting):
                if slot.conn.poll(120):  # model load; generous on a loaded CI machine
                    slot.conn.recv()
                    starting.remove(slot)
                    slots.append(slot)
                    feed(slot)
            busy = [s for s in slots if s.index is not None]
            if not busy:
                break
            now = time.monotonic()
            timeout = max(0.0, min(s.since for s in busy) + deadline_s - now)
            for conn in wait([s.conn for s in busy], timeout=timeout):
                slot = next(s for s in busy if s.conn is conn)
                try:
                    index, outcome = slot.conn.recv()
                except EOFError:
                    retire(slot, f"{CRASH} exit code {slot.process.exitcode}")
                    continue
                outcomes[index] = outcome
                feed(slot)
            now = time.monotonic()
            for slot in [s for s in slots if s.index is not None]:
                if now - slot.since > deadline_s:
                    retire(slot, f"{HANG} over {deadline_s:g} s")
    finally:
        for slot in slots + starting:
            slot.process.kill()
            slot.process.join()
    return [o or f"{CRASH} never scanned" for o in outcomes]
