"""HMA bank settings and exchange fetch state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Design note: frozen history, like the earlier revisions; nothing is imported from the
application.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    """64-bit ids, except on SQLite where only INTEGER aliases the auto-increment rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    """A timezone-aware timestamp column type (``timestamptz`` on PostgreSQL)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``hma_banks`` and ``exchange_state``."""
    op.create_table(
        "hma_banks",
        sa.Column("list_id", _id(), nullable=False),
        sa.Column("enabled_ratio", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "enabled_ratio >= 0 AND enabled_ratio <= 1",
            name=op.f("ck_hma_banks_enabled_ratio"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_hma_banks_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", name=op.f("pk_hma_banks")),
    )
    op.create_table(
        "exchange_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.Column("last_fetch_at", _ts(), nullable=True),
        sa.Column("last_success_at", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", _ts(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.CheckConstraint("fetches >= 0", name=op.f("ck_exchange_state_fetches")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_exchange_state")),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("exchange_state")
    op.drop_table("hma_banks")
