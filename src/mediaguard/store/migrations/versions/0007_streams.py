"""Live streams: streams with their lease, events, review links, and stream webhooks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Design note: frozen history; nothing is imported from the application. The webhook
event type check is widened to the three stream events through a batch operation, which
SQLite needs (it cannot alter a constraint in place) and PostgreSQL runs as plain
ALTERs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("CURRENT_TIMESTAMP")
_OLD_TYPES = "type IN ('job.completed', 'job.failed', 'hashlist.retro_match')"
_NEW_TYPES = (
    "type IN ('job.completed', 'job.failed', 'hashlist.retro_match', "
    "'stream.alert', 'stream.ended', 'stream.failed', 'stream.action')"
)


def _id() -> sa.types.TypeEngine[int]:
    """64-bit ids, except on SQLite where only INTEGER aliases the auto-increment rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _event_types(check: str) -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_constraint(op.f("ck_webhook_events_type"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_events_type"), check)


def upgrade() -> None:
    """Create the stream tables and allow the stream webhook events."""
    op.create_table(
        "streams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", _id(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("updated_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_streams_attempts")),
        sa.CheckConstraint("samples >= 0", name=op.f("ck_streams_samples")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'ended', 'failed', 'stopped')",
            name=op.f("ck_streams_state"),
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_streams_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streams")),
    )
    op.create_index(op.f("ix_streams_api_key_id"), "streams", ["api_key_id"])
    op.create_index(
        op.f("ix_streams_state_lease_expires_at"), "streams", ["state", "lease_expires_at"]
    )
    op.create_table(
        "stream_events",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "kind IN ('started', 'alert', 'cleared', 'gap', 'ended', 'failed')",
            name=op.f("ck_stream_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["stream_id"], ["streams.id"], name=op.f("fk_stream_events_stream_id_streams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_events")),
    )
    op.create_index(op.f("ix_stream_events_stream_id"), "stream_events", ["stream_id"])
    op.create_table(
        "stream_review_items",
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("stream_id", sa.String(length=32), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("action_sent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stream_id"], ["streams.id"], name=op.f("fk_stream_review_items_stream_id_streams")
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_stream_review_items")),
    )
    op.create_index(op.f("ix_stream_review_items_stream_id"), "stream_review_items", ["stream_id"])
    _event_types(_NEW_TYPES)


def downgrade() -> None:
    """Drop the stream tables and their webhook events (deliveries first)."""
    stream_events = "SELECT id FROM webhook_events WHERE type LIKE 'stream.%'"
    op.execute(f"DELETE FROM webhook_deliveries WHERE event_id IN ({stream_events})")
    op.execute("DELETE FROM webhook_events WHERE type LIKE 'stream.%'")
    _event_types(_OLD_TYPES)
    op.drop_index(op.f("ix_stream_review_items_stream_id"), table_name="stream_review_items")
    op.drop_table("stream_review_items")
    op.drop_index(op.f("ix_stream_events_stream_id"), table_name="stream_events")
    op.drop_table("stream_events")
    op.drop_index(op.f("ix_streams_state_lease_expires_at"), table_name="streams")
    op.drop_index(op.f("ix_streams_api_key_id"), table_name="streams")
    op.drop_table("streams")
