"""Tables of the hash-sharing ecosystem: HMA bank settings and exchange fetch state.

Design note: a hash list is the one place entries live; these tables add only what HMA's
API and the exchange fetchers need besides it. ``hma_banks`` holds a bank's
``matching_enabled_ratio`` (HMA's partial roll-out of a bank), keyed by the list and
deleted with it. ``exchange_state`` holds each configured exchange's cursor: the point
a fetch resumes from, written only in the transaction after the fetched entries
committed, so a crash between the two re-fetches a page whose entries are then
duplicates, never skips one. Credentials are never stored here; they stay in the
settings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mediaguard.store.base import NOW, Base, UTCDateTime


class HmaBank(Base):
    """HMA's settings of a hash list served as a bank."""

    __tablename__ = "hma_banks"
    __table_args__ = (
        CheckConstraint("enabled_ratio >= 0 AND enabled_ratio <= 1", name="enabled_ratio"),
    )

    list_id: Mapped[int] = mapped_column(
        ForeignKey("hash_lists.id", ondelete="CASCADE"), primary_key=True
    )
    enabled_ratio: Mapped[float] = mapped_column(Float)


class ExchangeState(Base):
    """Where one exchange's fetches stand: its cursor and the last outcome."""

    __tablename__ = "exchange_state"
    __table_args__ = (CheckConstraint("fetches >= 0", name="fetches"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    fetches: Mapped[int] = mapped_column(Integer)
    last_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
