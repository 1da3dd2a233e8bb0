"""HMA bank settings and exchange fetch state: the ``store.exchanges`` repository.

Design note: the hash-sharing features' own aggregate, apart from the list repository
whose tables they only refer to (a bank ratio row goes with its list). An exchange's cursor
moves only by :meth:`ExchangeRepo.record_success`, a compare-and-set on the cursor the
fetch started from: two fetchers racing on one exchange cannot both advance it, and a
cursor is never moved by a fetch whose entries did not commit. Each fetch, successful
or not, is one audit record in the same transaction as its state change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mediaguard.store import audit
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import InvalidInputError, NotFoundError, StoreError
from mediaguard.store.exchange_models import ExchangeState, HmaBank
from mediaguard.store.models import HashList

#: The default ratio of a bank that has no row: matching fully on, as HMA creates banks.
DEFAULT_RATIO = 1.0


class CursorConflict(StoreError):
    """An exchange's cursor changed under a fetch (another fetcher advanced it)."""


@dataclass(frozen=True, slots=True)
class ExchangeStatus:
    """Where one exchange stands."""

    name: str
    cursor: str | None
    fetches: int
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None


class ExchangeRepository:
    """HMA bank ratios and exchange cursors in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    # -- HMA banks --------------------------------------------------------------------

    def bank_ratios(self, list_ids: Iterable[int]) -> dict[int, float]:
        """``matching_enabled_ratio`` of each list id (1.0 where none was set).

        Raises:
            StoreError: when the database fails.
        """
        ids = list(list_ids)
        ratios = dict.fromkeys(ids, DEFAULT_RATIO)
        if not ids:
            return ratios
        stmt = select(HmaBank.list_id, HmaBank.enabled_ratio).where(HmaBank.list_id.in_(ids))
        with translated("read bank ratios"), self._db.connect() as conn:
            ratios.update({int(row[0]): float(row[1]) for row in conn.execute(stmt)})
        return ratios

    def set_bank_ratio(self, list_name: str, ratio: float) -> None:
        """Set a list's ``matching_enabled_ratio`` (0..1), audited.

        Raises:
            InvalidInputError: when ``ratio`` is outside 0..1.
            NotFoundError: when the list does not exist.
            StoreError: when the database fails.
        """
        if not 0.0 <= ratio <= 1.0:
            raise InvalidInputError("enabled_ratio: must be between 0 and 1")
        with translated(f"set the ratio of {list_name!r}"), self._db.begin() as conn:
            list_id = conn.execute(select(HashList.id).where(HashList.name == list_name)).scalar()
            if list_id is None:
                raise NotFoundError(f"hash list {list_name!r} does not exist")
            changed = conn.execute(
                update(HmaBank).where(HmaBank.list_id == list_id).values(enabled_ratio=ratio)
            ).rowcount
            if not changed:
                conn.execute(insert(HmaBank).values(list_id=list_id, enabled_ratio=ratio))
            audit.append(conn, "hashlist.hma_ratio", list_name, {"enabled_ratio": ratio})

    # -- exchange state ---------------------------------------------------------------

    def status(self, name: str) -> ExchangeStatus | None:
        """The state of exchange ``name``, or None before its first fetch.

        Raises:
            StoreError: when the database fails.
        """
        stmt = select(
            ExchangeState.name,
            ExchangeState.cursor,
            ExchangeState.fetches,
            ExchangeState.last_fetch_at,
            ExchangeState.last_success_at,
            ExchangeState.last_error,
        ).where(ExchangeState.name == name)
        with translated(f"read exchange {name!r}"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return ExchangeStatus(*row) if row is not None else None

    def record_success(
        self, name: str, *, previous: str | None, cursor: str | None, data: dict[str, Any]
    ) -> None:
        """Advance ``name``'s cursor from ``previous`` to ``cursor`` and audit the fetch.

        Call it only after the fetched entries committed.

        Raises:
            CursorConflict: when the stored cursor is no longer ``previous``.
            StoreError: when the database fails.
        """
        now = utcnow()
        values = {
            "cursor": cursor,
            "last_fetch_at": now,
            "last_success_at": now,
            "last_error": None,
            "updated_at": now,
        }
        with translated(f"record a fetch of {name!r}"), self._db.begin() as conn:
            self._ensure(conn, name)
            changed = conn.execute(
                update(ExchangeState)
                .where(ExchangeState.name == name, _cursor_is(previous))
                .values(**values, fetches=ExchangeState.fetches + 1)
            ).rowcount
            if not changed:
                raise CursorConflict(f"exchange {name!r}: its cursor moved during the fetch")
            audit.append(conn, "exchange.fetch", name, {**data, "outcome": "ok"})

    def record_failure(self, name: str, error: str, data: dict[str, Any]) -> None:
        """Note a failed fetch (the cursor stays) and audit it.

        Raises:
            StoreError: when the database fails.
        """
        now = utcnow()
        with translated(f"record a failed fetch of {name!r}"), self._db.begin() as conn:
            self._ensure(conn, name)
            conn.execute(
                update(ExchangeState)
                .where(ExchangeState.name == name)
                .values(
                    last_fetch_at=now,
                    last_error=error[:2000],
                    updated_at=now,
                    fetches=ExchangeState.fetches + 1,
                )
            )
            audit.append(
                conn, "exchange.fetch", name, {**data, "outcome": "failed", "error": error[:500]}
            )

    @staticmethod
    def _ensure(conn: Any, name: str) -> None:
        exists = conn.execute(select(ExchangeState.name).where(ExchangeState.name == name)).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(ExchangeState).values(name=name, fetches=0))
            except IntegrityError:
                pass  # created by a concurrent fetcher of the same exchange


def _cursor_is(previous: str | None) -> Any:
    if previous is None:
        return ExchangeState.cursor.is_(None)
    return ExchangeState.cursor == previous
