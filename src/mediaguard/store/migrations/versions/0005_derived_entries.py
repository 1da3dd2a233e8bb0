"""Derived entries (standard crops of a listed picture) and reduced copies of pictures.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Design note: two tables beside ``hash_entries`` rather than columns on it, so that the
migration only creates (no table rebuild on SQLite) and a list that holds no pictures
pays nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    """64-bit ids, except on SQLite where only INTEGER aliases the auto-increment rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "derived_entries",
        sa.Column("entry_id", _id(), nullable=False),
        sa.Column("parent_id", _id(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_derived_entries_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["hash_entries.id"],
            name=op.f("fk_derived_entries_parent_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_derived_entries")),
    )
    op.create_index(op.f("ix_derived_entries_parent_id"), "derived_entries", ["parent_id"])
    op.create_table(
        "entry_pictures",
        sa.Column("entry_id", _id(), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_entry_pictures_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_entry_pictures")),
    )


def downgrade() -> None:
    op.drop_table("entry_pictures")
    op.drop_index(op.f("ix_derived_entries_parent_id"), table_name="derived_entries")
    op.drop_table("derived_entries")
