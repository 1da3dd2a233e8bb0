"""Pruning by age: what goes, what stays, the dry run, the audit record and the CLI."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from mediaguard.commands.service import main
from mediaguard.service.retention import prune, run_schedule
from mediaguard.service.spool import Spool
from mediaguard.store import Store
from mediaguard.store.base import utcnow
from mediaguard.store.limits import Rate
from mediaguard.store.models import ScannedItem
from mediaguard.store.review_models import AuditRecord, Decision
from mediaguard.store.review_types import NewReviewItem
from mediaguard.store.service_models import ApiKey, Job, RateBucket, WebhookDelivery, WebhookEvent

from ._support import make_settings, wait_for

OLD = timedelta(days=400)


def _seed(store: Store, spool: Spool) -> dict[str, Any]:
    """Rows of every prunable kind, each once old and once recent, plus what must stay."""
    now = utcnow()
    ids: dict[str, Any] = {}
    with store.db.begin() as conn:
        key = conn.execute(
            insert(ApiKey)
            .values(key_id="k1", secret_sha256="0" * 64, scopes="scan")
            .returning(ApiKey.id)
        ).scalar_one()
        for name, state, finished in [
            ("old_done", "done", now - OLD),
            ("new_done", "done", now),
            ("old_queued", "queued", None),
        ]:
            job_id = uuid.uuid4().hex
            ids[name] = job_id
            conn.execute(
                insert(Job).values(
                    id=job_id, api_key_id=key, request_sha256="0" * 64, kind="single",
                    state=state, max_attempts=3, available_at=now - OLD,
                    created_at=now - OLD, finished_at=finished,
                )
            )  # fmt: skip
            spool.job_dir(job_id).mkdir(parents=True)
            (spool.job_dir(job_id) / "media").write_bytes(b"kept media")
        for name, created, delivery in [
            ("old_delivered", now - OLD, "delivered"),
            ("old_pending", now - OLD, "pending"),
            ("new_delivered", now, "delivered"),
        ]:
            event_id = f"evt_{uuid.uuid4().hex}"
            ids[name] = event_id
            conn.execute(
                insert(WebhookEvent).values(
                    id=event_id, type="job.completed", payload="{}", created_at=created
                )
            )
            conn.execute(
                insert(WebhookDelivery).values(
                    event_id=event_id, url="https://example.org/hook", state=delivery,
                    next_attempt_at=created,
                )
            )  # fmt: skip
        for name, scanned in [("old_item", now - OLD), ("new_item", now)]:
            conn.execute(insert(ScannedItem).values(item_key=name, scanned_at=scanned))
    ids["review_item"] = _enqueue(store, "upload.jpg").id
    # A decision taken long ago, and appealed: both must outlive every prune.
    decided = _enqueue(store, "old.jpg")
    alice = store.reviewers.create_reviewer("alice", "a long enough password")
    decision = store.review.decide(decided.id, alice, action="remove", reason_code="sexual_content")
    with store.db.begin() as conn:
        conn.execute(
            update(Decision).where(Decision.id == decision.id).values(created_at=now - OLD)
        )
    ids["decided_item"], ids["decision"] = decided.id, decision.id
    ids["appeal"] = store.review.appeal(decision.id, "the uploader says it is a medical photo").id
    return ids


def _enqueue(store: Store, source: str) -> Any:
    """A waiting review item of ``source``, as the intake queues one."""
    item = NewReviewItem(
        source=source, sha256=hashlib.sha256(source.encode()).hexdigest(), media_kind="image",
        machine_decision="review", categories=("sexual",), lists=(), priority=1,
        verdict_json="{}",
    )  # fmt: skip
    return store.review.enqueue(item)


def _count(store: Store, table: Any) -> int:
    with store.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_prune_removes_only_what_is_old_and_done(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data")
    spool = Spool(settings.resolved_data_dir() / "spool")
    with Store.open(database_url) as store:
        store.upgrade()
        ids = _seed(store, spool)
        # A rate-limit bucket spent an hour ago goes; one charged now stays.
        store.limits.take("api-key:spent", Rate.per(1, 60.0), time.time() - 3600)
        store.limits.take("api-key:live", Rate.per(1, 60.0), time.time())
        audit_before = _count(store, AuditRecord)

        dry = prune(store, settings, dry_run=True)

        assert (dry.jobs, dry.events, dry.items, dry.spooled, dry.buckets) == (1, 1, 1, 1, 1)
        assert _count(store, RateBucket) == 2
        assert _count(store, Job) == 3
        assert _count(store, WebhookEvent) == 3
        assert _count(store, ScannedItem) == 2
        assert spool.job_dir(ids["old_done"]).is_dir()

        done = prune(store, settings, dry_run=False)

        assert (done.jobs, done.events, done.items, done.spooled, done.buckets) == (1, 1, 1, 1, 1)
        assert not store.limits.take("api-key:live", Rate.per(1, 60.0), time.time())
        with store.db.connect() as conn:
            jobs = set(conn.execute(select(Job.id)).scalars())
            events = set(conn.execute(select(WebhookEvent.id)).scalars())
            items = set(conn.execute(select(ScannedItem.item_key)).scalars())
        assert jobs == {ids["new_done"], ids["old_queued"]}  # a queued job is never pruned
        assert events == {ids["old_pending"], ids["new_delivered"]}  # nor a pending event
        assert items == {"new_item"}
        assert not spool.job_dir(ids["old_done"]).exists()
        assert spool.job_dir(ids["new_done"]).is_dir()
        assert store.review.get_item(ids["review_item"]).id == ids["review_item"]
        # Two runs, two audit records, none removed; decisions untouched.
        assert _count(store, AuditRecord) == audit_before + 2
        records = [r for r in store.audit.audit_entries() if r.action == "retention.prune"]
        assert [r.data["dry_run"] for r in records] == [True, False]
        assert records[-1].data["jobs"] == 1
        assert records[-1].data["spooled"] == 1
        assert records[-1].data["buckets"] == 1
        assert [d.id for d in store.review.decisions_for(ids["decided_item"])] == [ids["decision"]]
        assert _count(store, Decision) == 1
        assert store.review.get_appeal(ids["appeal"]).decision_id == ids["decision"]
        assert store.audit.verify_audit().first_bad_seq is None


def test_an_age_of_zero_keeps_that_kind_for_ever(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url, tmp_path / "data", retention={"jobs_days": 0, "items_days": 0}
    )
    with Store.open(database_url) as store:
        store.upgrade()
        _seed(store, Spool(settings.resolved_data_dir() / "spool"))

        report = prune(store, settings, dry_run=False)

        assert (report.jobs, report.events, report.items) == (0, 1, 0)


def test_db_prune_dry_run_from_the_cli(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(
        f'database_url = "{database_url}"\ndata_dir = "{tmp_path / "data"}"\n'
        'webhook_signing_secret = "0123456789abcdef0123"\n\n[retention]\nitems_days = 30\n'
    )
    with Store.open(database_url) as store:
        store.upgrade()
        _seed(store, Spool(tmp_path / "data" / "spool"))
    capsys.readouterr()

    assert main(["db", "prune", "--dry-run", "--settings", str(settings_file)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "would be pruned (dry run)" in out
    assert "items │ 1" in out
    assert main(["db", "prune", "--settings", str(settings_file)]) == 0
    assert "pruned" in capsys.readouterr().out
    with Store.open(database_url) as store:
        assert _count(store, ScannedItem) == 1


def test_the_worker_schedule_prunes_each_period_until_stopped(
    database_url: str, tmp_path: Path
) -> None:
    period_s = 0.3
    settings = make_settings(
        database_url, tmp_path / "data", retention={"prune_every_hours": period_s / 3600}
    )
    with Store.open(database_url) as store:
        store.upgrade()
        ids = _seed(store, Spool(settings.resolved_data_dir() / "spool"))
        stop = threading.Event()
        worker = threading.Thread(target=run_schedule, args=(store, settings, stop))
        worker.start()
        try:
            wait_for(lambda: len(_prune_records(store)) >= 2)  # it runs again each period
        finally:
            stop.set()
            worker.join(10)
        assert not worker.is_alive()  # the stop is honoured
        runs = _prune_records(store)
        assert not any(r.data["dry_run"] for r in runs)
        assert runs[0].data["jobs"] == 1
        assert runs[1].data["jobs"] == 0  # nothing old was left for the second run
        with store.db.connect() as conn:
            assert ids["old_done"] not in set(conn.execute(select(Job.id)).scalars())


def _prune_records(store: Store) -> list[Any]:
    return [r for r in store.audit.audit_entries() if r.action == "retention.prune"]
