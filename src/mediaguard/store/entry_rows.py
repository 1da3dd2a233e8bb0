"""Hash-list entries as rows: the batch insert that skips duplicates, and frames read back.

Kept apart from :mod:`mediaguard.store.lists` because this is the row boundary, where
the shape of the tables meets the values: the insert that sends as few bound parameters
as it can and learns from ``RETURNING`` which entries were new, the columns an
:class:`~mediaguard.store.list_types.EntryInfo` is read from, and a vPDQ frame's exact
time turned into the whole milliseconds of its column and back. The repository above
decides what to validate, what to audit and when to commit.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, insert, literal_column, select

from mediaguard.match.video import FrameHash
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database
from mediaguard.store.errors import InvalidInputError
from mediaguard.store.list_types import NewEntry
from mediaguard.store.models import SIGNAL_TYPES, HashEntry, HashList, VpdqFrame


def entry_select() -> Select[int, int, str, str, str, str | None, str | None, datetime]:
    """The columns of an :class:`~mediaguard.store.list_types.EntryInfo` less its frames."""
    return select(
        HashEntry.id,
        HashEntry.list_id,
        HashList.name,
        HashEntry.signal_type,
        HashEntry.value,
        HashEntry.external_id,
        HashEntry.note,
        HashEntry.added_at,
    ).join(HashList, HashList.id == HashEntry.list_id)


def insert_batch(db: Database, conn: Connection, list_id: int, batch: list[NewEntry]) -> list[int]:
    """Insert one batch, skipping entries the list already holds; return new ids."""
    groups: dict[str, dict[str, NewEntry]] = {}
    for entry in batch:
        groups.setdefault(entry.signal_type, {}).setdefault(entry.value, entry)
    ids: list[int] = []
    for signal_type, by_value in groups.items():
        ids.extend(_insert_group(db, conn, list_id, signal_type, by_value))
    return ids


def _insert_group(
    db: Database, conn: Connection, list_id: int, signal_type: str, by_value: dict[str, NewEntry]
) -> list[int]:
    """Insert the batch's entries of one signal type; return the ids of the new ones.

    ``RETURNING`` tells exactly which rows were new (``rowcount`` after an
    ``executemany`` is unreliable across drivers) and gives vPDQ frames their entry
    ids. Every bound parameter costs the driver time, so what is the same for the
    whole group (list id, signal type) is inlined, and an optional column is sent only
    when an entry in the group sets it; an entry without ``added_at`` gets the
    database's ``CURRENT_TIMESTAMP``.
    """
    # Both inlined values come from a closed set (a database id, a validated type).
    if signal_type not in SIGNAL_TYPES:  # pragma: no cover - NewEntry validated it
        raise InvalidInputError(f"signal_type: {signal_type!r} is not a signal type")
    entries = by_value.values()
    with_external_id = any(e.external_id is not None for e in entries)
    with_note = any(e.note is not None for e in entries)
    with_added_at = any(e.added_at is not None for e in entries)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for e in entries:
        row: dict[str, Any] = {"value": e.value}
        if with_external_id:
            row["external_id"] = e.external_id
        if with_note:
            row["note"] = e.note
        if with_added_at:
            row["added_at"] = e.added_at or now
        rows.append(row)
    stmt = (
        db.insert(HashEntry)
        .values(
            list_id=literal_column(str(int(list_id))),
            signal_type=literal_column(f"'{signal_type}'"),
        )
        .on_conflict_do_nothing(index_elements=["list_id", "signal_type", "value"])
        .returning(HashEntry.id, HashEntry.value)
    )
    inserted = conn.execute(stmt, rows).all()
    if signal_type == "vpdq" and inserted:
        frames = [
            {
                "entry_id": entry_id,
                "frame_index": f.index,
                # The column holds whole milliseconds, the precision of a vPDQ line.
                "time_ms": round(f.time * 1000),
                "pdq": f.pdq,
                "quality": f.quality,
            }
            for entry_id, value in inserted
            for f in by_value[value].frames
        ]
        conn.execute(insert(VpdqFrame), frames)
    return [entry_id for entry_id, _ in inserted]


def page_frames(
    conn: Connection, page_filters: list[ColumnElement[bool]], last_id: int
) -> dict[int, tuple[FrameHash, ...]]:
    """The frames of the vPDQ entries on one page, by a range query (no huge IN list)."""
    stmt = (
        select(
            VpdqFrame.entry_id,
            VpdqFrame.frame_index,
            VpdqFrame.time_ms,
            VpdqFrame.pdq,
            VpdqFrame.quality,
        )
        .join(HashEntry, HashEntry.id == VpdqFrame.entry_id)
        .where(*page_filters, HashEntry.id <= last_id, HashEntry.signal_type == "vpdq")
        .order_by(VpdqFrame.entry_id, VpdqFrame.frame_index)
    )
    grouped: dict[int, list[FrameHash]] = {}
    for entry_id, index, time_ms, pdq, quality in conn.execute(stmt):
        frame = FrameHash(index, Fraction(time_ms, 1000), pdq, quality)
        grouped.setdefault(entry_id, []).append(frame)
    return {entry_id: tuple(frames) for entry_id, frames in grouped.items()}
