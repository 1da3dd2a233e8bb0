"""Pruning what the service wrote, by the ages in ``[retention]``: on demand and on a schedule.

Why here: one run crosses the database (jobs, webhook events, recorded items: see
:mod:`mediaguard.store.retention`) and the data directory (previews of decided review
items, media kept in the spool for pruned jobs), and all of it, spent rate-limit buckets
included, is counted in the one audit record the store writes. ``mediaguard db prune``
runs it once (``--dry-run`` counts only); ``mediaguard worker`` runs it every
``prune_every_hours``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from mediaguard.review.intake import sweep_previews
from mediaguard.service.settings import ServiceSettings
from mediaguard.service.spool import Spool
from mediaguard.store import Store
from mediaguard.store.base import utcnow
from mediaguard.store.errors import StoreError
from mediaguard.store.retention import Cutoffs

log = logging.getLogger("mediaguard.service.retention")


@dataclass(frozen=True, slots=True)
class PruneReport:
    """Counts of what a run removed (or, dry, would remove)."""

    dry_run: bool
    jobs: int
    events: int
    items: int
    previews: int
    spooled: int
    buckets: int

    def counts(self) -> dict[str, int]:
        return {
            "jobs": self.jobs,
            "events": self.events,
            "items": self.items,
            "previews": self.previews,
            "spooled media folders": self.spooled,
            "spent rate-limit buckets": self.buckets,
        }


def _before(now: datetime, days: float) -> datetime | None:
    return None if days == 0 else now - timedelta(days=days)


def prune(
    store: Store, settings: ServiceSettings, *, dry_run: bool, now: datetime | None = None
) -> PruneReport:
    """Prune once by the configured ages; the store audits the run with its counts.

    Raises:
        StoreError: when the database fails (the database half is then unchanged, but
            for spent rate-limit buckets, which count as no bucket at all).
    """
    now = now or utcnow()
    ages = settings.retention
    data = settings.resolved_data_dir()
    previews = sweep_previews(
        store.review, data, now - timedelta(days=settings.review_preview_days), dry_run=dry_run
    )
    spool = Spool(data / "spool")
    buckets = store.limits.prune_spent(now.timestamp(), dry_run=dry_run)
    cutoffs = Cutoffs(
        jobs=_before(now, ages.jobs_days),
        events=_before(now, ages.events_days),
        items=_before(now, ages.items_days),
    )
    # Folders of kept media are counted before their jobs' rows go, removed after.
    doomed = [] if cutoffs.jobs is None else store.retention.finished_jobs(cutoffs.jobs)
    spooled = sum(spool.job_dir(job_id).is_dir() for job_id in doomed)
    extra = {"previews": previews, "spooled": spooled, "buckets": buckets}
    pruned = store.retention.prune(cutoffs, dry_run=dry_run, extra=extra)
    if not dry_run:
        for job_id in pruned.job_ids:
            spool.discard(job_id)
    report = PruneReport(
        dry_run, pruned.jobs, pruned.events, pruned.items, previews, spooled, buckets
    )
    log.info("retention%s: %s", " (dry run)" if dry_run else "", report.counts())
    return report


def run_schedule(store: Store, settings: ServiceSettings, stop: threading.Event) -> None:
    """Prune every ``prune_every_hours`` until ``stop`` is set (first run after one period).

    A failed run is logged and retried at the next period: pruning is housekeeping, and
    a database hiccup must not stop the workers.
    """
    hours = settings.retention.prune_every_hours
    if hours == 0:
        return
    while not stop.wait(hours * 3600):
        try:
            prune(store, settings, dry_run=False)
        except StoreError as err:
            log.warning("retention: prune failed, retrying in %g h: %s", hours, err)
