"""Pruning by age: finished jobs, spent webhook events and old recorded items.

It is apart from the repositories it prunes because one prune run crosses them all and
is audited as one record with its counts. What it never touches is as important as what
it does: the audit log, decisions and appeals (an appeal needs its decision; the DSA
needs its statement), hash lists, and anything still in flight (a queued or running
job, an event with a delivery still pending).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select

from mediaguard.store import audit
from mediaguard.store import validation as check
from mediaguard.store.database import Database, translated
from mediaguard.store.models import ScannedItem
from mediaguard.store.service_models import Job, WebhookDelivery, WebhookEvent

#: Job states a prune may remove; queued and running jobs are never pruned.
FINISHED = ("done", "failed")


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Rows older than these instants go (None: that kind is kept for ever)."""

    jobs: datetime | None
    events: datetime | None
    items: datetime | None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune run removed (or, dry, would remove), and the jobs whose media goes."""

    jobs: int
    events: int
    items: int
    job_ids: tuple[str, ...]


class RetentionRepository:
    """Age-based pruning across the service's tables.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def finished_jobs(self, before: datetime) -> list[str]:
        """Ids of the finished jobs a prune at ``before`` would remove (to count their media).

        Raises:
            StoreError: when the database fails.
        """
        check.as_aware("before", before)
        with translated("find finished jobs"), self._db.connect() as conn:
            return _finished(conn, before)

    def prune(self, cutoffs: Cutoffs, *, dry_run: bool, extra: dict[str, Any]) -> Pruned:
        """Remove what is older than the cutoffs, in one transaction, audited with its counts.

        Args:
            cutoffs: per kind, the instant before which rows go.
            dry_run: count only; the audit record says it was a dry run.
            extra: counts of what the caller pruned outside the database (previews,
                spooled media), recorded in the same audit record.

        Raises:
            StoreError: when the database fails (nothing is removed then).
        """
        for name in ("jobs", "events", "items"):
            when = getattr(cutoffs, name)
            if when is not None:
                check.as_aware(f"cutoffs.{name}", when)
        with translated("prune old records"), self._db.begin() as conn:
            job_ids = [] if cutoffs.jobs is None else _finished(conn, cutoffs.jobs)
            events = None
            if cutoffs.events is not None:
                pending = select(WebhookDelivery.event_id).where(WebhookDelivery.state == "pending")
                events = select(WebhookEvent.id).where(
                    WebhookEvent.created_at < cutoffs.events, WebhookEvent.id.not_in(pending)
                )
            items = None
            if cutoffs.items is not None:
                items = select(ScannedItem.id).where(ScannedItem.scanned_at < cutoffs.items)
            pruned = Pruned(
                jobs=len(job_ids),
                events=_count(conn, events),
                items=_count(conn, items),
                job_ids=tuple(job_ids),
            )
            if not dry_run:
                for chunk in (job_ids[i : i + 500] for i in range(0, len(job_ids), 500)):
                    conn.execute(delete(Job).where(Job.id.in_(chunk)))
                if events is not None:
                    conn.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(events)))
                if items is not None:
                    conn.execute(delete(ScannedItem).where(ScannedItem.id.in_(items)))
            record = {"dry_run": dry_run, "jobs": pruned.jobs, "events": pruned.events}
            audit.append(
                conn, "retention.prune", "store", {**record, "items": pruned.items, **extra}
            )
        return pruned


def _finished(conn: Connection, before: datetime) -> list[str]:
    stmt = select(Job.id).where(Job.state.in_(FINISHED), Job.finished_at < before)
    return list(conn.execute(stmt).scalars())


def _count(conn: Connection, ids: Select[Any] | None) -> int:
    if ids is None:
        return 0
    return int(conn.execute(select(func.count()).select_from(ids.subquery())).scalar_one())
