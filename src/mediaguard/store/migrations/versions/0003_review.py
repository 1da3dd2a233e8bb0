"""Review tables: reviewers, sessions, review items, decisions, appeals and the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Design note: frozen history, like the earlier revisions; nothing is imported from the
application. The audit log's head row starts at sequence 0 with the all-zero hash that
the first record chains onto.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("CURRENT_TIMESTAMP")
_GENESIS = "0" * 64


def _id() -> sa.types.TypeEngine[int]:
    """64-bit ids, except on SQLite where only INTEGER aliases the auto-increment rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    """A timezone-aware timestamp column type (``timestamptz`` on PostgreSQL)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the seven review tables, their indexes, and the audit log's head row."""
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", _id(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", _id(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action_subject"), "audit_log", ["action", "subject"])
    op.create_table(
        "reviewers",
        sa.Column("id", _id(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("disabled_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewers")),
        sa.UniqueConstraint("username", name=op.f("uq_reviewers_username")),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_kind", sa.String(length=16), nullable=False),
        sa.Column("machine_decision", sa.String(length=16), nullable=False),
        sa.Column("categories", sa.String(length=512), nullable=False),
        sa.Column("lists", sa.String(length=1024), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("has_preview", sa.Boolean(), nullable=False),
        sa.Column("excluded_reviewer_id", _id(), nullable=True),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("updated_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "media_kind IN ('image', 'video')", name=op.f("ck_review_items_media_kind")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'escalated', 'appealed', 'closed')",
            name=op.f("ck_review_items_state"),
        ),
        sa.ForeignKeyConstraint(
            ["excluded_reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_review_items_excluded_reviewer_id_reviewers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
    )
    op.create_index(op.f("ix_review_items_job_id"), "review_items", ["job_id"])
    op.create_index(op.f("ix_review_items_sha256"), "review_items", ["sha256"])
    op.create_index(
        op.f("ix_review_items_state_priority_created_at"),
        "review_items",
        ["state", "priority", "created_at"],
    )
    op.create_table(
        "review_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", _id(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_review_sessions_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_review_sessions")),
    )
    op.create_index(op.f("ix_review_sessions_reviewer_id"), "review_sessions", ["reviewer_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("reviewer_id", _id(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("automated_detection", sa.Boolean(), nullable=False),
        sa.Column("automated_decision", sa.String(length=16), nullable=False),
        sa.Column("appeal_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "action IN ('approve', 'remove', 'restrict', 'escalate')",
            name=op.f("ck_decisions_action"),
        ),
        sa.CheckConstraint(
            "automated_decision IN ('fully', 'partially', 'not')",
            name=op.f("ck_decisions_automated_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_items.id"],
            name=op.f("fk_decisions_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewers.id"], name=op.f("fk_decisions_reviewer_id_reviewers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_created_at"), "decisions", ["created_at"])
    op.create_index(op.f("ix_decisions_item_id"), "decisions", ["item_id"])
    op.create_table(
        "appeals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("decision_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("resolution_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("resolved_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('upheld', 'reversed')", name=op.f("ck_appeals_outcome")
        ),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_appeals_state")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_appeals_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    op.create_index(op.f("ix_appeals_decision_id"), "appeals", ["decision_id"])
    head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq"), sa.column("hash"))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": _GENESIS}])


def downgrade() -> None:
    """Drop the review tables (their data is lost)."""
    for table in (
        "appeals",
        "decisions",
        "review_sessions",
        "review_items",
        "reviewers",
        "audit_log",
        "audit_head",
    ):
        op.drop_table(table)
