"""Scanned items and their match hits, recorded for retroactive matching and quarantine.

Design note: :class:`ItemRepository` (``store.items``) records what every scan saw (its
digests and decision) so that a list imported later can be matched against the past,
and which entries matched which items, so that a hash that suddenly matches many items
can be quarantined. It is apart from the hash lists because items grow with every scan
and are read by digest or in id order, never by list; a hit is the one row that joins
an item to an entry, and it is recorded here, beside the item it is about.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, func, insert, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from mediaguard.store import validation as check
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, guarded_iter, translated
from mediaguard.store.errors import InvalidInputError, NotFoundError
from mediaguard.store.models import DECISIONS, HashEntry, MatchHit, ScannedItem

_ITEM_SIGNALS: Final = ("pdq", "md5", "sha256")
_MAX_ITEM_KEY: Final = 512

# Every scanned-item column, in ItemInfo's field order.
_ITEM_COLUMNS: Final[tuple[InstrumentedAttribute[Any], ...]] = (
    ScannedItem.id,
    ScannedItem.item_key,
    ScannedItem.source,
    ScannedItem.md5,
    ScannedItem.sha256,
    ScannedItem.pdq,
    ScannedItem.pdq_quality,
    ScannedItem.decision,
    ScannedItem.policy_version,
    ScannedItem.scanned_at,
)


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """A scanned item's digests and decision, as recorded for retroactive matching."""

    id: int
    item_key: str
    source: str
    md5: str | None
    sha256: str | None
    pdq: str | None
    pdq_quality: int | None
    decision: str | None
    policy_version: str | None
    scanned_at: datetime


class ItemRepository:
    """Scanned items and match hits in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def record_item(
        self,
        item_key: str,
        *,
        source: str = "",
        md5: str | None = None,
        sha256: str | None = None,
        pdq: str | None = None,
        pdq_quality: int | None = None,
        decision: str | None = None,
        policy_version: str | None = None,
        scanned_at: datetime | None = None,
    ) -> int:
        """Record a scanned item's digests and decision; a known ``item_key`` is replaced.

        A rescan replaces every field, so the row always describes one scan (under one
        policy version) rather than a mixture.

        Args:
            item_key: the caller's unique key, such as the SHA-256 or a platform's
                content id (1-512 characters).
            source: where the item came from (path, upload, platform).
            md5: MD5 of the bytes, 32 hex digits.
            sha256: SHA-256 of the bytes, 64 hex digits.
            pdq: PDQ hash of the image, 64 hex digits.
            pdq_quality: PDQ quality, 0..100.
            decision: ``allow``, ``review`` or ``block``.
            policy_version: version of the policy that decided.
            scanned_at: when it was scanned (aware); defaults to now.

        Returns:
            The item's id (the same id on a rescan).

        Raises:
            InvalidInputError: when a field is invalid; the message names it.
            StoreError: when the database fails.
        """
        key = check.text("item_key", item_key)
        if not 1 <= len(key) <= _MAX_ITEM_KEY:
            raise InvalidInputError(f"item_key: must be 1 to {_MAX_ITEM_KEY} characters")
        check.optional_str("policy_version", policy_version)
        values: dict[str, Any] = {
            "item_key": key,
            "source": check.text("source", source),
            "md5": check.optional_hex("md5", md5, 32),
            "sha256": check.optional_hex("sha256", sha256, 64),
            "pdq": check.optional_hex("pdq", pdq, 64),
            "pdq_quality": (
                None
                if pdq_quality is None
                else check.require_int("pdq_quality", pdq_quality, 0, 100)
            ),
            "decision": None if decision is None else check.choice("decision", decision, DECISIONS),
            "policy_version": policy_version,
            "scanned_at": utcnow()
            if scanned_at is None
            else check.as_aware("scanned_at", scanned_at),
        }
        with translated(f"record item {key!r}"):
            return self._record_item(values)

    def _record_item(self, values: dict[str, Any]) -> int:
        stmt = self._db.insert(ScannedItem).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["item_key"],
            set_={name: stmt.excluded[name] for name in values if name != "item_key"},
        )
        with self._db.begin() as conn:
            item_id: int = conn.execute(stmt.returning(ScannedItem.id)).scalar_one()
        return item_id

    def iter_items(
        self,
        *,
        signal_type: str | None = None,
        after_id: int = 0,
        batch_size: int = 5000,
    ) -> Iterator[ItemInfo]:
        """Stream recorded items in id order, e.g. to match a new list retroactively.

        Args:
            signal_type: only items carrying this digest (``pdq``, ``md5`` or
                ``sha256``); items record no vPDQ.
            after_id: only items with a larger id, to resume.
            batch_size: rows per page.

        Raises:
            InvalidInputError: when a filter or ``batch_size`` is invalid.
            StoreError: when the database fails.
        """
        if signal_type is not None:
            check.choice("signal_type", signal_type, _ITEM_SIGNALS)
        check.require_int("after_id", after_id, 0, None)
        check.batch_size(batch_size)
        return guarded_iter(
            "read scanned items", lambda: self._iter_items(signal_type, after_id, batch_size)
        )

    def _iter_items(
        self, signal_type: str | None, after_id: int, batch_size: int
    ) -> Iterator[ItemInfo]:
        last = after_id
        while True:
            stmt = select(*_ITEM_COLUMNS).where(ScannedItem.id > last)
            if signal_type is not None:
                stmt = stmt.where(getattr(ScannedItem, signal_type).is_not(None))
            stmt = stmt.order_by(ScannedItem.id).limit(batch_size)
            with self._db.connect() as conn:
                items = [ItemInfo(*row) for row in conn.execute(stmt)]
            yield from items
            if len(items) < batch_size:
                return
            last = items[-1].id

    def find_items_by_digest(
        self, md5: str | None = None, sha256: str | None = None
    ) -> list[ItemInfo]:
        """Items whose MD5 or SHA-256 equals a given one, ordered by id.

        When both are given, an item matching either is returned.

        Raises:
            InvalidInputError: when neither digest is given or one is not hex.
            StoreError: when the database fails.
        """
        md5 = check.optional_hex("md5", md5, 32)
        sha256 = check.optional_hex("sha256", sha256, 64)
        conditions: list[ColumnElement[bool]] = []
        if md5 is not None:
            conditions.append(ScannedItem.md5 == md5)
        if sha256 is not None:
            conditions.append(ScannedItem.sha256 == sha256)
        if not conditions:
            raise InvalidInputError("md5, sha256: give at least one digest")
        stmt = select(*_ITEM_COLUMNS).where(or_(*conditions)).order_by(ScannedItem.id)
        with translated("find items by digest"), self._db.connect() as conn:
            return [ItemInfo(*row) for row in conn.execute(stmt)]

    # -- hits -----------------------------------------------------------------------

    def record_hit(
        self,
        entry_id: int,
        item_id: int,
        distance: int,
        *,
        matched_at: datetime | None = None,
    ) -> int:
        """Record that an entry matched an item at ``distance``.

        Args:
            entry_id: the matching hash-list entry.
            item_id: the item, as returned by :meth:`record_item`.
            distance: Hamming distance for PDQ, 0 for exact matches.
            matched_at: when (aware); defaults to now.

        Returns:
            The hit's id.

        Raises:
            InvalidInputError: when a field is invalid.
            NotFoundError: when the entry or the item does not exist.
            StoreError: when the database fails.
        """
        values = {
            "entry_id": check.require_int("entry_id", entry_id, 1, None),
            "item_id": check.require_int("item_id", item_id, 1, None),
            "distance": check.require_int("distance", distance, 0, None),
            "matched_at": utcnow()
            if matched_at is None
            else check.as_aware("matched_at", matched_at),
        }
        with translated("record a match hit"):
            return self._record_hit(values)

    def _record_hit(self, values: dict[str, Any]) -> int:
        with self._db.begin() as conn:
            # Checked first so the error names what is missing; the foreign keys still
            # guard against a concurrent delete.
            for model, field in ((HashEntry, "entry_id"), (ScannedItem, "item_id")):
                if conn.execute(select(model.id).where(model.id == values[field])).first() is None:
                    raise NotFoundError(f"{field}: {values[field]} does not exist")
            hit_id: int = conn.execute(
                insert(MatchHit).values(**values).returning(MatchHit.id)
            ).scalar_one()
        return hit_id

    def count_hits(self, entry_id: int, since: datetime) -> int:
        """Count the distinct items an entry matched at or after ``since``.

        Distinct items, not hits, so a rescan of the same item does not push a hash
        towards quarantine.

        Raises:
            InvalidInputError: when ``entry_id`` is invalid or ``since`` is naive.
            StoreError: when the database fails.
        """
        check.require_int("entry_id", entry_id, 1, None)
        check.as_aware("since", since)
        stmt = select(func.count(func.distinct(MatchHit.item_id))).where(
            MatchHit.entry_id == entry_id, MatchHit.matched_at >= since
        )
        with translated("count match hits"), self._db.connect() as conn:
            return conn.execute(stmt).scalar_one()
