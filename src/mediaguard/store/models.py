"""SQLAlchemy 2 tables for hash lists, scanned items and match hits.

Design note: the schema is the contract between mediaguard and an operator's database,
so it is written to be portable and boring. Only generic SQLAlchemy types are used (the
one variant, ``BigInteger`` as ``INTEGER`` on SQLite, exists because only an ``INTEGER
PRIMARY KEY`` is SQLite's auto-incrementing rowid). Every timestamp goes through
:class:`UTCDateTime`, which refuses naive datetimes on the way in and returns aware UTC
datetimes on the way out, because SQLite stores no zone at all and PostgreSQL answers
in the session's zone. Allowed values (actions, signal types, decisions, distances) are
CHECK constraints as well as Python validation in the repositories, so a
row written by another tool cannot break the readers. Constraint names follow one
naming convention so that Alembic migrations can address them on both backends.

These ORM classes never leave the store: the repositories hand out frozen
dataclasses, so no caller holds a session-bound object.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

# The exchange, review, service and text-list tables are imported so that Base.metadata,
# which migrations and schema checks read, holds every table whichever module a caller
# imported first.
from mediaguard.store import exchange_models as exchange_models
from mediaguard.store import review_models as review_models
from mediaguard.store import service_models as service_models
from mediaguard.store import stream_models as stream_models
from mediaguard.store import termlist_models as termlist_models

# Base is re-exported: importing it from here is what guarantees a complete metadata.
from mediaguard.store.base import ID, NOW, UTCDateTime, in_check
from mediaguard.store.base import Base as Base

#: Signal types a hash-list entry may carry.
SIGNAL_TYPES: tuple[str, ...] = ("pdq", "md5", "sha256", "vpdq")
#: Action hints a hash list may carry; the policy has the last word.
ACTIONS: tuple[str, ...] = ("block", "review", "allow")
#: Decisions a scanned item may record.
DECISIONS: tuple[str, ...] = ("allow", "review", "block")
#: Largest PDQ match threshold a list may set. Unrelated 256-bit hashes differ in about
#: 128 bits, so a threshold far beyond 64 would match arbitrary images.
MAX_PDQ_DISTANCE = 64
#: Default PDQ match threshold, as in Meta's HMA.
DEFAULT_PDQ_DISTANCE = 31


class HashList(Base):
    """A named list of known hashes with a category, a source and an action hint."""

    __tablename__ = "hash_lists"
    __table_args__ = (
        CheckConstraint(in_check("action", ACTIONS), name="action"),
        CheckConstraint(
            f"pdq_distance >= 0 AND pdq_distance <= {MAX_PDQ_DISTANCE}", name="pdq_distance"
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(String(16))
    pdq_distance: Mapped[int] = mapped_column(Integer, default=DEFAULT_PDQ_DISTANCE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class HashEntry(Base):
    """One hash in one list; for vPDQ the value identifies the video and frames follow."""

    __tablename__ = "hash_entries"
    __table_args__ = (
        UniqueConstraint("list_id", "signal_type", "value"),
        Index(None, "signal_type", "value"),
        CheckConstraint(in_check("signal_type", SIGNAL_TYPES), name="signal_type"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class DerivedEntry(Base):
    """Marks a hash entry as a standard crop of a listed picture (its parent entry).

    A match on it is reported as a match on the parent, and it goes when the parent goes.
    """

    __tablename__ = "derived_entries"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE"), index=True
    )
    variant: Mapped[str] = mapped_column(String(64))


class EntryPicture(Base):
    """A reduced copy (JPEG) of a listed picture, to verify near-threshold copies of it."""

    __tablename__ = "entry_pictures"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE"), primary_key=True
    )
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class VpdqFrame(Base):
    """One sampled frame's PDQ hash of a vPDQ entry."""

    __tablename__ = "vpdq_frames"
    __table_args__ = (
        CheckConstraint("frame_index >= 0", name="frame_index"),
        CheckConstraint("time_ms >= 0", name="time_ms"),
        CheckConstraint("quality >= 0 AND quality <= 100", name="quality"),
    )

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE"), primary_key=True
    )
    frame_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    pdq: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)


class ScannedItem(Base):
    """The digests and decision of one scanned item, kept for retroactive matching."""

    __tablename__ = "scanned_items"
    __table_args__ = (
        CheckConstraint(f"decision IS NULL OR {in_check('decision', DECISIONS)}", name="decision"),
        CheckConstraint(
            "pdq_quality IS NULL OR (pdq_quality >= 0 AND pdq_quality <= 100)",
            name="pdq_quality",
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    item_key: Mapped[str] = mapped_column(String(512), unique=True)
    source: Mapped[str] = mapped_column(Text, default="")
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(16))
    policy_version: Mapped[str | None] = mapped_column(Text)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class MatchHit(Base):
    """One match of an entry against an item, counted for hit-rate quarantine."""

    __tablename__ = "match_hits"
    __table_args__ = (
        Index(None, "entry_id", "matched_at"),
        CheckConstraint("distance >= 0", name="distance"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("hash_entries.id", ondelete="CASCADE"))
    # Indexed so deleting an item does not scan every hit on PostgreSQL.
    item_id: Mapped[int] = mapped_column(
        ForeignKey("scanned_items.id", ondelete="CASCADE"), index=True
    )
    distance: Mapped[int] = mapped_column(Integer)
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
