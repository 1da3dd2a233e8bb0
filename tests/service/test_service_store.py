"""The lease protocol of the job and webhook repositories, on SQLite and PostgreSQL.

These run the store directly, without HTTP, to pin down what the workers rely on: a job
is claimed by one worker at a time, a lease can only be renewed and a job only finished
by its holder, an expired lease lets another worker take over, and a job's events are
written with its completion, once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from mediaguard.service.auth import create_key
from mediaguard.store import InvalidInputError, NotFoundError, Store
from mediaguard.store.errors import IdempotencyConflict
from mediaguard.store.service_types import NewEvent, NewJobInput

SHA = "ab" * 32


@pytest.fixture
def db(migrated_url: str) -> Iterator[Store]:
    with Store.open(migrated_url) as store:
        yield store


def _job(db: Store, key_id: int, **kwargs: object) -> str:
    job_id = uuid.uuid4().hex
    db.jobs.create_job(
        job_id=job_id,
        api_key_id=key_id,
        inputs=[NewJobInput("a.jpg", SHA, 10, "image/jpeg")],
        request_sha256=SHA,
        max_attempts=3,
        **kwargs,  # type: ignore[arg-type]
    )
    return job_id


@pytest.fixture
def key_id(db: Store) -> int:
    return create_key(db.keys, ["scan"])[0].id


def test_claims_are_exclusive_under_concurrency(db: Store, key_id: int) -> None:
    jobs = {_job(db, key_id) for _ in range(12)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := db.jobs.claim_job(name, 30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(jobs)


def test_expired_lease_is_taken_over_and_only_the_holder_finishes(db: Store, key_id: int) -> None:
    job_id = _job(db, key_id, callback_url="https://example.com/hook")
    first = db.jobs.claim_job("dead-worker", 0.2)
    assert first is not None
    assert first.attempts == 1
    assert db.jobs.claim_job("other", 30) is None  # still leased
    time.sleep(0.3)
    second = db.jobs.claim_job("other", 30)
    assert second is not None
    assert (second.id, second.attempts, second.lease_owner) == (job_id, 2, "other")
    assert not db.jobs.heartbeat_job(job_id, "dead-worker", 30)
    event = NewEvent(
        "job.completed", {"job": job_id}, api_key_id=key_id, urls=("https://example.com/hook",)
    )
    assert not db.jobs.finish_job(job_id, "dead-worker", state="done", result="[]", events=[event])
    assert db.jobs.heartbeat_job(job_id, "other", 30, progress=1)
    assert db.jobs.finish_job(job_id, "other", state="done", result="[]", events=[event])
    assert not db.jobs.finish_job(job_id, "other", state="done", result="[]", events=[event])
    done = db.jobs.get_job(job_id)
    assert (done.state, done.attempts, done.lease_owner) == ("done", 2, None)
    deliveries = db.webhooks.deliveries(None)
    assert [d.event_id for d in deliveries] == [event.id]


def test_retry_refund_and_delay(db: Store, key_id: int) -> None:
    job_id = _job(db, key_id)
    job = db.jobs.claim_job("w", 30)
    assert job is not None
    assert db.jobs.retry_job(job_id, "w", refund_attempt=True)
    again = db.jobs.claim_job("w", 30)
    assert again is not None
    assert again.attempts == 1
    assert db.jobs.retry_job(job_id, "w", delay_seconds=60)
    assert db.jobs.claim_job("w", 30) is None  # not due yet
    assert db.jobs.job_counts() == {"queued": 1, "running": 0, "done": 0, "failed": 0}


def test_idempotency(db: Store, key_id: int) -> None:
    args = {
        "api_key_id": key_id,
        "inputs": [NewJobInput("a.jpg", SHA, 10, "image/jpeg")],
        "max_attempts": 3,
        "idempotency_key": "k",
    }
    first, created = db.jobs.create_job(job_id=uuid.uuid4().hex, request_sha256=SHA, **args)  # type: ignore[arg-type]
    again, created_again = db.jobs.create_job(job_id=uuid.uuid4().hex, request_sha256=SHA, **args)  # type: ignore[arg-type]
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        db.jobs.create_job(job_id=uuid.uuid4().hex, request_sha256="cd" * 32, **args)  # type: ignore[arg-type]


def test_validation(db: Store, key_id: int) -> None:
    with pytest.raises(InvalidInputError):
        NewJobInput("", SHA, 1, "image/jpeg")
    with pytest.raises(InvalidInputError):
        NewEvent("job.exploded", {})
    with pytest.raises(InvalidInputError):
        NewEvent("job.completed", {"x": object()})
    with pytest.raises(NotFoundError):
        db.jobs.get_job("../../etc/passwd")
    with pytest.raises(InvalidInputError):
        db.webhooks.create_endpoint(key_id, "gopher://x", "s" * 20, ["job.completed"])


def test_keyless_events_reach_every_subscriber(db: Store, key_id: int) -> None:
    other = create_key(db.keys, ["lists"])[0].id
    db.webhooks.create_endpoint(key_id, "https://a.example/h", "s" * 20, ["job.completed"])
    db.webhooks.create_endpoint(other, "https://b.example/h", "s" * 20, ["hashlist.retro_match"])
    db.webhooks.create_endpoint(other, "https://b.example/h", "t" * 20, ["hashlist.retro_match"])
    event = db.webhooks.enqueue_event(NewEvent("hashlist.retro_match", {"list": "x"}))
    assert event.deliveries == 1  # the same URL twice is delivered to once
    owned = db.webhooks.enqueue_event(NewEvent("job.completed", {}, api_key_id=other))
    assert owned.deliveries == 0  # another key's endpoint does not get this key's jobs
    task = db.webhooks.claim_delivery("d", 30)
    assert task is not None
    assert task.url == "https://b.example/h"
    assert task.secret == "s" * 20
    assert db.webhooks.claim_delivery("d2", 30) is None
