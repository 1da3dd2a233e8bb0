"""Term lists and URL lists: the tables ``text_lists`` and ``text_list_entries``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Design note: frozen history, like the earlier revisions; nothing is imported from the
application. Only creates tables, so re-pointing it after another revision changes
nothing in it but ``down_revision``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("CURRENT_TIMESTAMP")


def _id() -> sa.types.TypeEngine[int]:
    """64-bit ids, except on SQLite where only INTEGER aliases the auto-increment rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    """A timezone-aware timestamp column type (``timestamptz`` on PostgreSQL)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the list table and its entries, with their checks and unique keys."""
    op.create_table(
        "text_lists",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("updated_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint("kind IN ('term', 'url')", name=op.f("ck_text_lists_kind")),
        sa.CheckConstraint(
            "action IN ('block', 'review', 'allow')", name=op.f("ck_text_lists_action")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_text_lists_name")),
    )
    op.create_table(
        "text_list_entries",
        sa.Column("id", _id(), nullable=False),
        sa.Column("list_id", _id(), nullable=False),
        sa.Column("entry_type", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "entry_type IN ('phrase', 'regex', 'domain', 'prefix')",
            name=op.f("ck_text_list_entries_entry_type"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["text_lists.id"],
            name=op.f("fk_text_list_entries_list_id_text_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_list_entries")),
        sa.UniqueConstraint(
            "list_id",
            "entry_type",
            "value",
            name=op.f("uq_text_list_entries_list_id_entry_type_value"),
        ),
    )


def downgrade() -> None:
    """Drop the entries, then the lists."""
    op.drop_table("text_list_entries")
    op.drop_table("text_lists")
