"""What every exchange implements, its typed errors, and how cursors are ordered.

Design note: an exchange is asked for *one page after a cursor* and answers the entries
of that page with the cursor after it. It never writes anything: the runner imports the
page in one transaction and only then stores the new cursor, so a fetch that fails
anywhere (network, garbage, a cursor going backwards) changes nothing, and a crash
between the two re-fetches a page whose entries are then duplicates. Cursors are text;
:func:`check_order` refuses one that is older than the one the fetch started from,
comparing them as integers or ISO-8601 times when both read as such (every exchange
implemented here uses one of those), and otherwise only refuses a cursor that did not
move while the exchange said more pages follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mediaguard.errors import MediaguardError
from mediaguard.match.formats import LineError
from mediaguard.match.types import Entry, SignalType


class ExchangeError(MediaguardError):
    """A fetch from an exchange failed; the previous list and cursor are intact."""


class FeedFormatError(ExchangeError):
    """The exchange answered something that is not the feed format it should be."""


class CursorError(ExchangeError):
    """The exchange answered a cursor older than the one asked with."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of an exchange: entries (and bad lines), the cursor after it, and more?

    ``items`` may be lazy: the runner imports them as they come, inside the page's one
    transaction, so an error raised while they are read rolls the page back.
    ``removals`` (signal type, value) are what the exchange withdrew; a lazy exchange
    fills the list while its items are read, and the runner removes them after the
    import committed (removing is idempotent, so a crash in between is repaired by the
    next fetch of the same page).
    """

    items: Iterable[Entry | LineError]
    cursor: str | None
    more: bool = False
    removals: list[tuple[SignalType, str]] = field(default_factory=list)


class Exchange(Protocol):
    """A source of hashes that can be read incrementally."""

    def fetch(self, cursor: str | None) -> Page:
        """The page after ``cursor`` (the start when None).

        Raises:
            ExchangeError: the answer is unusable.
            FetchError: the exchange cannot be reached or refused (typed by cause).
        """
        ...


def _as_number(value: str) -> int | float | None:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def check_order(previous: str | None, page: Page) -> None:
    """Refuse a page whose cursor goes back from ``previous``.

    Raises:
        CursorError: the new cursor is older (or, with more pages announced, the same).
    """
    if previous is None or page.cursor is None:
        return
    old, new = _as_number(previous), _as_number(page.cursor)
    if old is not None and new is not None and new < old:
        raise CursorError(
            f"the exchange's cursor went backwards (from {previous!r} to {page.cursor!r})"
        )
    if page.more and page.cursor == previous:
        raise CursorError(
            f"the exchange announced more pages but its cursor stayed at {previous!r}"
        )
