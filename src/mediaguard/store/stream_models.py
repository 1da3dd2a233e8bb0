"""Tables of watched live streams: the stream with its lease, and the events it raised.

Design note: a stream is leased like a job (``lease_owner``, ``lease_expires_at``): a
worker watches it only while its lease is current and renews it while it watches, so a
killed worker's stream is claimed by another one once the lease expires, and watching
resumes from the live edge. ``stop_requested`` is how ``DELETE /v1/streams/{id}`` reaches
the worker that holds it: the worker reads it with every renewal. Events are rows, not
a JSON list on the stream, so a stream that runs for days appends without rewriting.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mediaguard.store.base import ID, NOW, Base, UTCDateTime
from mediaguard.store.base import in_check as _in

#: queued -> running -> ended | failed | stopped (running -> queued never: a stream whose
#: worker died stays running until another worker's claim takes the expired lease).
STREAM_STATES: tuple[str, ...] = ("queued", "running", "ended", "failed", "stopped")
#: Kinds of stored stream events (those of :class:`mediaguard.live.EventKind` but sample).
STREAM_EVENT_KINDS: tuple[str, ...] = ("started", "alert", "cleared", "gap", "ended", "failed")


class Stream(Base):
    """A live stream submitted for watching, with its lease and its latest state."""

    __tablename__ = "streams"
    __table_args__ = (
        Index(None, "state", "lease_expires_at"),
        CheckConstraint(_in("state", STREAM_STATES), name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("samples >= 0", name="samples"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    callback_url: Mapped[str | None] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    decision: Mapped[str] = mapped_column(String(16), default="allow")
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class StreamEventRow(Base):
    """One event of a stream, as the JSON of :class:`mediaguard.live.StreamEvent`."""

    __tablename__ = "stream_events"
    __table_args__ = (CheckConstraint(_in("kind", STREAM_EVENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class StreamReviewItem(Base):
    """A review item raised by a stream's alert, and whether its removal was announced.

    A link table rather than a column on the review items: review knows items, not where
    they came from; the stream worker polls these links for a reviewer's ``remove`` and
    sends ``stream.action`` once.
    """

    __tablename__ = "stream_review_items"

    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), index=True)
    time_s: Mapped[float] = mapped_column(Float)
    action_sent: Mapped[bool] = mapped_column(Boolean, default=False)
