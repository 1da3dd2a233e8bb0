"""Service tables: API keys, durable jobs and their inputs, webhook endpoints and deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Design note: like 0001 this revision is frozen history and imports nothing from the
application; types, allowed values and constraint names are written out as
:mod:`mediaguard.store.service_models` produces them at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
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
    """Create the seven service tables and their indexes."""
    op.create_table(
        "api_keys",
        sa.Column("id", _id(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=256), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "rate_limit_per_minute IS NULL OR rate_limit_per_minute >= 0",
            name=op.f("ck_api_keys_rate_limit_per_minute"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", _id(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _ts(), nullable=True),
        sa.Column("available_at", _ts(), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("updated_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts")),
        sa.CheckConstraint("kind IN ('single', 'batch')", name=op.f("ck_jobs_kind")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_jobs_max_attempts")),
        sa.CheckConstraint("progress >= 0", name=op.f("ck_jobs_progress")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_jobs_state")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_jobs_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint(
            "api_key_id", "idempotency_key", name=op.f("uq_jobs_api_key_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_jobs_api_key_id"), "jobs", ["api_key_id"])
    op.create_index(op.f("ix_jobs_state_available_at"), "jobs", ["state", "available_at"])

    op.create_table(
        "job_inputs",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_job_inputs_size_bytes")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_inputs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_job_inputs")),
    )

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", _id(), nullable=False),
        sa.Column("api_key_id", _id(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", sa.String(length=256), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("disabled_at", _ts(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_webhook_endpoints_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(op.f("ix_webhook_endpoints_api_key_id"), "webhook_endpoints", ["api_key_id"])

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", _id(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "type IN ('job.completed', 'job.failed', 'hashlist.retro_match')",
            name=op.f("ck_webhook_events_type"),
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_webhook_events_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_index(op.f("ix_webhook_events_api_key_id"), "webhook_events", ["api_key_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _id(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", _id(), nullable=True),
        sa.Column("api_key_id", _id(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _ts(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("updated_at", _ts(), server_default=_NOW, nullable=False),
        sa.Column("delivered_at", _ts(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_webhook_deliveries_attempts")),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')", name=op.f("ck_webhook_deliveries_state")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_webhook_deliveries_api_key_id_api_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_webhook_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("event_id", "url", name=op.f("uq_webhook_deliveries_event_id_url")),
    )
    op.create_index(op.f("ix_webhook_deliveries_api_key_id"), "webhook_deliveries", ["api_key_id"])
    op.create_index(
        op.f("ix_webhook_deliveries_endpoint_id"), "webhook_deliveries", ["endpoint_id"]
    )
    op.create_index(
        op.f("ix_webhook_deliveries_state_next_attempt_at"),
        "webhook_deliveries",
        ["state", "next_attempt_at"],
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("id", _id(), nullable=False),
        sa.Column("delivery_id", _id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    """Drop everything :func:`upgrade` created, children first."""
    op.drop_index(op.f("ix_webhook_attempts_delivery_id"), table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    for name in ("state_next_attempt_at", "endpoint_id", "api_key_id"):
        op.drop_index(op.f(f"ix_webhook_deliveries_{name}"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhook_events_api_key_id"), table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index(op.f("ix_webhook_endpoints_api_key_id"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_table("job_inputs")
    op.drop_index(op.f("ix_jobs_state_available_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_api_key_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("api_keys")
