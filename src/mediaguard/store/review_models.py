"""SQLAlchemy 2 tables of human review: reviewers, sessions, items, decisions, appeals, audit.

Design note: machines flag and people decide, so this is where a decision becomes a
record someone can be held to. The tables follow the rules of the other model modules
(portable types, aware UTC timestamps, allowed values repeated as CHECK constraints).

A review item stores the verdict that sent it to review, never the media: a preview, if
the service kept one, lives in the data directory and is deleted with the item's
retention. Reviewers' passwords are stored as scrypt hashes; sessions as the SHA-256 of
their cookie, so a leaked database yields no live session.

The audit log is append-only and hash-chained. Its one-row ``audit_head`` table is the
serialisation point: every append first updates that row, which takes PostgreSQL's row
lock or SQLite's write lock, so two writers can never chain onto the same predecessor.
The record's time and data are stored as the exact text that was hashed, so verifying
never depends on how a backend round-trips a timestamp or a JSON value.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mediaguard.store.base import ID, NOW, Base, UTCDateTime
from mediaguard.store.base import in_check as _in

#: Where an item stands: waiting (``open``, ``escalated``, ``appealed``) or ``closed``.
ITEM_STATES: tuple[str, ...] = ("open", "escalated", "appealed", "closed")
#: What a decision does. ``escalate`` keeps the item in the queue at a higher priority.
DECISION_ACTIONS: tuple[str, ...] = ("approve", "remove", "restrict", "escalate")
#: How much of a decision a machine took (the DSA's ``automated_decision``).
AUTOMATION: tuple[str, ...] = ("fully", "partially", "not")
#: An appeal is ``open`` until a different reviewer decides the item again.
APPEAL_STATES: tuple[str, ...] = ("open", "resolved")
APPEAL_OUTCOMES: tuple[str, ...] = ("upheld", "reversed")
MEDIA_KINDS: tuple[str, ...] = ("image", "video")


class Reviewer(Base):
    """A person who reviews items in the UI."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReviewSession(Base):
    """A logged-in browser: the SHA-256 of its cookie and its CSRF token."""

    __tablename__ = "review_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewItem(Base):
    """One scanned file that needs (or needed) a human, with the verdict that flagged it."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index(None, "state", "priority", "created_at"),
        CheckConstraint(_in("state", ITEM_STATES), name="state"),
        CheckConstraint(_in("media_kind", MEDIA_KINDS), name="media_kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_kind: Mapped[str] = mapped_column(String(16))
    machine_decision: Mapped[str] = mapped_column(String(16))
    categories: Mapped[str] = mapped_column(String(512))
    lists: Mapped[str] = mapped_column(String(1024))
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(Text)
    has_preview: Mapped[bool] = mapped_column(Boolean)
    excluded_reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class Decision(Base):
    """What was decided about an item, by whom (None: the pipeline), and why."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index(None, "created_at"),
        CheckConstraint(_in("action", DECISION_ACTIONS), name="action"),
        CheckConstraint(_in("automated_decision", AUTOMATION), name="automated_decision"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_id: Mapped[str] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id"))
    action: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    automated_detection: Mapped[bool] = mapped_column(Boolean)
    automated_decision: Mapped[str] = mapped_column(String(16))
    appeal_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class Appeal(Base):
    """A request to decide an item again, by a reviewer other than the first one."""

    __tablename__ = "appeals"
    __table_args__ = (
        CheckConstraint(_in("state", APPEAL_STATES), name="state"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', APPEAL_OUTCOMES)}", name="outcome"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    decision_id: Mapped[str] = mapped_column(
        ForeignKey("decisions.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    resolution_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRecord(Base):
    """One append-only record; ``hash`` covers ``prev_hash`` and every other field."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "action", "subject"),)

    seq: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last record's number and hash; the one row every append updates first."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(ID)
    hash: Mapped[str] = mapped_column(String(64))
