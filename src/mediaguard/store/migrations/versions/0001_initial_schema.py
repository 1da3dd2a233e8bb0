"""Initial schema: hash lists, entries, vPDQ frames, scanned items and match hits.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Design note: a revision is frozen history, so it imports nothing from the application.
Types, allowed values and constraint names are written out here as they were at this
revision, in the names that :mod:`mediaguard.store.models`' naming convention produces,
so a later change to the models never rewrites what an existing database went through.
``UTCDateTime`` in the models is a Python-side wrapper over ``DateTime(timezone=True)``,
which is what the database sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# CURRENT_TIMESTAMP is UTC on SQLite and a timestamptz on PostgreSQL.
_NOW = sa.text("CURRENT_TIMESTAMP")


def _id() -> sa.types.TypeEngine[int]:
    """64-bit ids, except on SQLite where only INTEGER aliases the auto-increment rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    """A timezone-aware timestamp column type (``timestamptz`` on PostgreSQL)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the five tables and their indexes."""
    op.create_table(
        "hash_lists",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("pdq_distance", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("updated_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "action IN ('block', 'review', 'allow')", name=op.f("ck_hash_lists_action")
        ),
        sa.CheckConstraint(
            "pdq_distance >= 0 AND pdq_distance <= 64", name=op.f("ck_hash_lists_pdq_distance")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_hash_lists_name")),
    )
    op.create_table(
        "scanned_items",
        sa.Column("id", _id(), nullable=False),
        sa.Column("item_key", sa.String(length=512), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("policy_version", sa.Text(), nullable=True),
        sa.Column("scanned_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('allow', 'review', 'block')",
            name=op.f("ck_scanned_items_decision"),
        ),
        sa.CheckConstraint(
            "pdq_quality IS NULL OR (pdq_quality >= 0 AND pdq_quality <= 100)",
            name=op.f("ck_scanned_items_pdq_quality"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scanned_items")),
        sa.UniqueConstraint("item_key", name=op.f("uq_scanned_items_item_key")),
    )
    op.create_index(op.f("ix_scanned_items_md5"), "scanned_items", ["md5"])
    op.create_index(op.f("ix_scanned_items_sha256"), "scanned_items", ["sha256"])

    op.create_table(
        "hash_entries",
        sa.Column("id", _id(), nullable=False),
        sa.Column("list_id", _id(), nullable=False),
        sa.Column("signal_type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "signal_type IN ('pdq', 'md5', 'sha256', 'vpdq')",
            name=op.f("ck_hash_entries_signal_type"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_hash_entries_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_entries")),
        sa.UniqueConstraint(
            "list_id",
            "signal_type",
            "value",
            name=op.f("uq_hash_entries_list_id_signal_type_value"),
        ),
    )
    op.create_index(
        op.f("ix_hash_entries_signal_type_value"), "hash_entries", ["signal_type", "value"]
    )

    op.create_table(
        "match_hits",
        sa.Column("id", _id(), nullable=False),
        sa.Column("entry_id", _id(), nullable=False),
        sa.Column("item_id", _id(), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("matched_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint("distance >= 0", name=op.f("ck_match_hits_distance")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_match_hits_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["scanned_items.id"],
            name=op.f("fk_match_hits_item_id_scanned_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_hits")),
    )
    op.create_index(
        op.f("ix_match_hits_entry_id_matched_at"), "match_hits", ["entry_id", "matched_at"]
    )
    op.create_index(op.f("ix_match_hits_item_id"), "match_hits", ["item_id"])

    op.create_table(
        "vpdq_frames",
        sa.Column("entry_id", _id(), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.CheckConstraint("frame_index >= 0", name=op.f("ck_vpdq_frames_frame_index")),
        sa.CheckConstraint("quality >= 0 AND quality <= 100", name=op.f("ck_vpdq_frames_quality")),
        sa.CheckConstraint("time_ms >= 0", name=op.f("ck_vpdq_frames_time_ms")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_vpdq_frames_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "frame_index", name=op.f("pk_vpdq_frames")),
    )


def downgrade() -> None:
    """Drop everything :func:`upgrade` created, children first."""
    op.drop_table("vpdq_frames")
    op.drop_index(op.f("ix_match_hits_item_id"), table_name="match_hits")
    op.drop_index(op.f("ix_match_hits_entry_id_matched_at"), table_name="match_hits")
    op.drop_table("match_hits")
    op.drop_index(op.f("ix_hash_entries_signal_type_value"), table_name="hash_entries")
    op.drop_table("hash_entries")
    op.drop_index(op.f("ix_scanned_items_sha256"), table_name="scanned_items")
    op.drop_index(op.f("ix_scanned_items_md5"), table_name="scanned_items")
    op.drop_table("scanned_items")
    op.drop_table("hash_lists")
