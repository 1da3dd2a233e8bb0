"""Landing a fetch in its list, and the schedule the workers run exchanges on.

Design note: a fetch is pages, each imported exactly like a ``/v1`` import (the same
conversion, duplicates skipped, retroactive matching, ``hashlist.retro_match`` events,
the matcher marked stale, audited entries) but in **one transaction per page**: the
page's entries commit together or not at all, and only then is the exchange's cursor
advanced, in its own transaction with the fetch's audit record. So a fetch that fails
half way, whatever the cause, leaves the list and the cursor as they were, and a crash
between the two commits re-reads a page whose entries are then duplicates.

Bad lines are counted while the page is imported; past ``max_bad_lines`` the page fails
inside its transaction, so a feed that turns to garbage cannot half-replace a list.
Every failure is typed, logged with the exchange's name (never its credentials: URLs in
messages carry no query string) and recorded as a failed fetch in the audit log.

The schedule runs in every process that runs workers (``serve`` and ``mediaguard
worker``); each exchange is due ``every_seconds`` after its last fetch as recorded in the
database, so processes share the schedule, and two that fetch at once cannot both move
the cursor (the second finds it moved and stops; its entries were duplicates).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from mediaguard.errors import MediaguardError
from mediaguard.lists.hashlists import import_entries
from mediaguard.match.formats import LineError
from mediaguard.match.types import Entry
from mediaguard.service.exchanges.base import Exchange, FeedFormatError, Page, check_order
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.exchanges.feeds import FolderDrop, HttpFeed
from mediaguard.service.exchanges.ncmec import NcmecExchange
from mediaguard.service.exchanges.threatexchange import ThreatExchange
from mediaguard.service.hashlists import announce
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store import NotFoundError, StoreError
from mediaguard.store.base import utcnow
from mediaguard.store.exchanges import CursorConflict

log = logging.getLogger("mediaguard.service.exchanges")


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What one run of an exchange did."""

    exchange: str
    pages: int
    added: int
    duplicates: int
    bad_lines: int
    retro_matches: int
    events: tuple[str, ...]
    cursor: str | None


def open_exchange(settings: ExchangeSettings) -> Exchange:
    """The exchange client for ``settings.kind``."""
    if settings.kind == "http":
        return HttpFeed(settings)
    if settings.kind == "folder":
        return FolderDrop(settings)
    if settings.kind == "threatexchange":
        return ThreatExchange(settings)
    return NcmecExchange(settings)


def _ensure_list(runtime: ServiceRuntime, settings: ExchangeSettings) -> None:
    try:
        runtime.store.lists.get_list(settings.list)
    except NotFoundError:
        runtime.store.lists.create_list(
            settings.list,
            settings.category,
            settings.action,
            source=f"exchange:{settings.name}",
            description=f"fetched from the {settings.kind} exchange {settings.name!r}",
        )


def _remove(runtime: ServiceRuntime, list_name: str, page: Page) -> int:
    """Remove what the page withdrew, one signal type at a time (idempotent)."""
    by_type: dict[str, list[str]] = {}
    for signal, value in page.removals:
        by_type.setdefault(signal.value, []).append(value)
    return sum(
        runtime.store.lists.remove_entries(list_name, values, signal_type=signal)
        for signal, values in by_type.items()
    )


class _Counted:
    """The items of a page, failing the page once it holds too many bad lines."""

    def __init__(self, items: Iterable[Entry | LineError], limit: int) -> None:
        self.items = items
        self.limit = limit
        self.bad = 0

    def __iter__(self) -> Iterator[Entry | LineError]:
        for item in self.items:
            if isinstance(item, LineError):
                self.bad += 1
                if self.bad > self.limit:
                    raise FeedFormatError(
                        f"more than {self.limit} bad line(s) in one page (line {item.line_no}: "
                        f"{item.reason}); nothing of the page was imported"
                    )
            yield item


def fetch_once(
    runtime: ServiceRuntime, settings: ExchangeSettings, *, exchange: Exchange | None = None
) -> FetchReport:
    """Fetch ``settings``' exchange from its cursor, up to ``max_pages`` pages.

    Args:
        runtime: the process's runtime.
        settings: the exchange.
        exchange: the client to use; by default the one for ``settings.kind``.

    Raises:
        ExchangeError, FetchError: the fetch failed (logged and audited; the pages
            before the failing one stay imported, their cursor stored).
        StoreError: the database failed.
    """
    repo = runtime.store.exchanges
    source = exchange or open_exchange(settings)
    _ensure_list(runtime, settings)
    status = repo.status(settings.name)
    cursor = status.cursor if status is not None else None
    pages = added = duplicates = bad = retro = 0
    events: list[str] = []
    try:
        for _ in range(settings.max_pages):
            page = source.fetch(cursor)
            check_order(cursor, page)
            counted = _Counted(page.items, settings.max_bad_lines)
            report = import_entries(
                runtime.store, settings.list, counted, atomic=True, max_errors_kept=20
            )
            removed = _remove(runtime, settings.list, page)
            page_events = (
                announce(runtime, settings.list, report) if report.added or removed else []
            )
            data = {
                "removed": removed,
                "list": settings.list,
                "kind": settings.kind,
                "added": report.added,
                "duplicates": report.duplicates,
                "bad_lines": report.error_count,
                "retro_matches": len(report.retro_matches),
            }
            try:
                repo.record_success(settings.name, previous=cursor, cursor=page.cursor, data=data)
            except CursorConflict as err:
                log.info("exchange %s: %s; stopping this run", settings.name, err)
                break
            pages += 1
            added += report.added
            duplicates += report.duplicates
            bad += report.error_count
            retro += len(report.retro_matches)
            events.extend(page_events)
            cursor = page.cursor
            if not page.more:
                break
    except MediaguardError as err:
        if isinstance(err, StoreError):
            raise
        reason = f"{type(err).__name__}: {err}"
        log.warning("exchange %s: fetch failed: %s", settings.name, reason)
        repo.record_failure(
            settings.name, reason, {"list": settings.list, "kind": settings.kind, "pages": pages}
        )
        raise
    if pages:
        log.info(
            "exchange %s: %d page(s), %d added, %d duplicate(s), %d retro match(es)",
            settings.name,
            pages,
            added,
            duplicates,
            retro,
        )
    return FetchReport(settings.name, pages, added, duplicates, bad, retro, tuple(events), cursor)


class ExchangeScheduler:
    """Runs each enabled exchange when it is due, until stopped."""

    def __init__(self, runtime: ServiceRuntime, exchanges: Sequence[ExchangeSettings]) -> None:
        """Remember the exchanges; nothing runs until :meth:`run`."""
        self.runtime = runtime
        self.exchanges = [e for e in exchanges if e.enabled]
        self.repo = runtime.store.exchanges

    def due(self, settings: ExchangeSettings) -> bool:
        """Whether ``settings`` was last fetched at least ``every_seconds`` ago."""
        status = self.repo.status(settings.name)
        if status is None or status.last_fetch_at is None:
            return True
        return utcnow() - status.last_fetch_at >= timedelta(seconds=settings.every_seconds)

    def run_once(self) -> int:
        """Fetch every due exchange once; returns how many ran (failed ones included)."""
        ran = 0
        for settings in self.exchanges:
            try:
                if not self.due(settings):
                    continue
                ran += 1
                fetch_once(self.runtime, settings)
            except StoreError as err:
                log.warning("exchange %s: database error, retried later: %s", settings.name, err)
            except MediaguardError:
                pass  # logged and audited by fetch_once
            except Exception:  # top of a worker thread: log, keep the schedule alive
                log.exception("exchange %s: unexpected error", settings.name)
        return ran

    def run(self, stop: threading.Event, poll: float = 1.0) -> None:
        """Run due exchanges until ``stop`` is set."""
        while not stop.is_set():
            self.run_once()
            stop.wait(poll)
