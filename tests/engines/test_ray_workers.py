"""Service job workers as Ray actors, under faults, on a real local Ray cluster.

The job table is a real database (SQLite, and PostgreSQL through the ``database_url``
fixture), jobs are submitted with the service's own :func:`submit` (the code behind
``POST /v1/jobs``), webhooks go to a real HTTP receiver on 127.0.0.1, and faults are
real: an actor's process is frozen with SIGSTOP while it holds a lease, to prove it
holds it, and then killed with SIGKILL. Nothing is mocked.

The module shares one two-CPU cluster (``ray_cluster``): two actors of one CPU each
fill it. ``mediaguard worker --ray local`` is run as a subprocess that starts a
cluster of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from live.listing import list_broadcast_photo
from live.servers import hls_broadcast
from mediaguard.engines.ray_workers import RayJobWorkers
from mediaguard.service.streams import submit_stream
from mediaguard.store.service_types import JobInfo
from service._support import Received, Receiver, wait_for

from ._workers import Service, owner_pid, photo_batch, start_pool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

WORKER_COMMAND = (sys.executable, "-m", "mediaguard.commands.service", "worker")


# --------------------------------------------------------------------------- tests


def test_actors_share_one_job_table_without_duplicates(
    ray_cluster: Any,
    make_service: Callable[..., Service],
    pools: list[RayJobWorkers],
    receiver: Receiver,
    photos: Any,
) -> None:
    service = make_service()
    pool = start_pool(pools, service, workers=2)
    jobs = [
        service.submit(photo_batch(photos, 3, prefix=f"j{n}-"), callback_url=receiver.url + "/done")
        for n in range(12)
    ]

    owners: set[str] = set()

    def all_finished() -> bool:
        states = [service.job(job_id) for job_id in jobs]
        owners.update(job.lease_owner for job in states if job.lease_owner)
        return all(job.state in ("done", "failed") for job in states)

    wait_for(all_finished, timeout=120, interval=0.02)

    assert {owner_pid(owner) for owner in owners} == set(pool.pids)  # both actors worked
    for job_id in jobs:
        job = service.job(job_id)
        assert job.state == "done"
        assert job.attempts == 1  # claimed once: never by two workers
        assert job.result is not None
        results = json.loads(job.result)
        assert [r["source"] for r in results] == [i.name for i in job.inputs]
        assert all(r.get("decision") for r in results)
    assert service.completions() == Counter(dict.fromkeys(jobs, 1))

    # Every completion is announced, once each, by the actors' dispatchers.
    requests = [receiver.get() for _ in jobs]
    announced = Counter(json.loads(r.body)["data"]["job"]["id"] for r in requests)
    assert announced == Counter(dict.fromkeys(jobs, 1))
    assert len({r.event_id for r in requests}) == len(jobs)
    time.sleep(0.5)
    assert receiver.requests.empty()


def test_an_actor_killed_mid_job_is_replaced_and_the_job_completes_once(
    ray_cluster: Any,
    make_service: Callable[..., Service],
    pools: list[RayJobWorkers],
    photos: Any,
) -> None:
    service = make_service(job_lease_seconds=2.0)
    pool = start_pool(pools, service, workers=2, supervise=True)
    files = photo_batch(photos, 24)
    job_id = service.submit(files)

    def running() -> JobInfo | None:
        job = service.job(job_id)
        assert job.state in ("queued", "running"), job
        return job if job.state == "running" else None

    claimed = wait_for(running, timeout=60, interval=0.01)
    victim = owner_pid(claimed.lease_owner)
    assert victim in pool.pids
    time.sleep(0.3)
    os.kill(victim, signal.SIGSTOP)
    frozen = service.job(job_id)
    assert frozen.state == "running"  # frozen before it could finish
    assert frozen.lease_owner == claimed.lease_owner
    os.kill(victim, signal.SIGKILL)

    def taken_over() -> JobInfo | None:
        job = service.job(job_id)
        return job if job.state != "running" or job.lease_owner != claimed.lease_owner else None

    # 24 photos take seconds to scan, so the new owner is seen while it runs the job.
    takeover = wait_for(taken_over, timeout=60, interval=0.01)
    assert takeover.state == "running", takeover
    assert owner_pid(takeover.lease_owner) != victim
    done = wait_for(lambda: (j := service.job(job_id)).state != "running" and j, timeout=120)

    assert done.state == "done"
    assert done.attempts == 2  # the killed attempt, then the one that finished
    assert done.result is not None
    assert [r["source"] for r in json.loads(done.result)] == [name for name, _ in files]
    assert service.completions() == Counter({job_id: 1})

    # The supervisor put a fresh actor in the dead one's slot.
    wait_for(lambda: pool.replaced_workers == 1, timeout=60)
    assert victim not in pool.pids
    assert all(psutil.pid_exists(pid) for pid in pool.pids)
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"


def test_a_restart_mid_webhook_loses_no_event_and_delivers_each_once(
    ray_cluster: Any,
    make_service: Callable[..., Service],
    pools: list[RayJobWorkers],
    receiver: Receiver,
    photos: Any,
) -> None:
    """Kill the only worker while one delivery waits to be retried and another is in
    flight, then start a new one: both events arrive, with their ids unchanged.

    A retry waits 5-10 s (``webhook_backoff_base_seconds = 10``), so the first delivery
    is still pending when the worker dies. The in-flight one is leased for
    ``3 x webhook_timeout_seconds + 30`` s, 33 s here, which the test waits out.
    """
    service = make_service(
        webhook_timeout_seconds=1.0,
        webhook_backoff_base_seconds=10.0,
        webhook_backoff_max_seconds=10.0,
    )
    receiver.scripts = {"/flaky": [500], "/slow": ["hold"]}
    first = start_pool(pools, service, workers=1)

    flaky_job = service.submit(photo_batch(photos, 1), callback_url=receiver.url + "/flaky")
    failed = receiver.get()
    assert (failed.path, failed.attempt) == ("/flaky", "1")
    # Wait until the dispatcher has logged the failure and scheduled the retry.
    wait_for(lambda: service.runtime.store.webhooks.deliveries(None)[0].log, timeout=30)

    slow_job = service.submit(photo_batch(photos, 1), callback_url=receiver.url + "/slow")
    held = receiver.get()
    assert (held.path, held.attempt) == ("/slow", "1")
    pending = {d.event_id: d for d in service.runtime.store.webhooks.deliveries(None)}
    assert pending[failed.event_id].state == "pending"  # its retry is not due yet
    assert [a.status_code for a in pending[failed.event_id].log] == [500]
    assert pending[held.event_id].state == "pending"
    assert pending[held.event_id].log == ()  # in flight: not logged yet

    os.kill(first.pids[0], signal.SIGKILL)  # the whole worker side dies
    first.stop(timeout=5)
    receiver.release.set()  # the held request may now answer its dead sender
    start_pool(pools, service, workers=1)

    def delivered() -> dict[str, Any] | None:
        found = {d.event_id: d for d in service.runtime.store.webhooks.deliveries(None)}
        return found if all(d.state == "delivered" for d in found.values()) else None

    deliveries = wait_for(delivered, timeout=90, interval=0.2)
    time.sleep(1.0)
    assert receiver.requests.qsize() == 2  # the retry of each, after the restart

    assert set(deliveries) == {failed.event_id, held.event_id}
    by_event: dict[str, list[Received]] = {}
    for request in receiver.seen:
        by_event.setdefault(request.event_id, []).append(request)
    for event_id, path in ((failed.event_id, "/flaky"), (held.event_id, "/slow")):
        attempts = by_event[event_id]
        # At least once, and recognisably the same event each time: same id, same body.
        assert [(r.path, r.attempt) for r in attempts] == [(path, "1"), (path, "2")]
        assert attempts[0].body == attempts[1].body
        log = deliveries[event_id].log
        assert [a.status_code for a in log if a.status_code == 200] == [200]  # once
        assert deliveries[event_id].attempts == 2
    assert [a.status_code for a in deliveries[failed.event_id].log] == [500, 200]
    assert [a.status_code for a in deliveries[held.event_id].log] == [200]

    assert service.completions() == Counter({flaky_job: 1, slow_job: 1})
    assert service.job(flaky_job).state == service.job(slow_job).state == "done"


def test_cli_worker_on_ray_runs_jobs_in_actors_and_stops_gracefully(
    ray_cluster: Any,
    make_service: Callable[..., Service],
    photos: Any,
    tmp_path: Path,
) -> None:
    """``mediaguard worker --ray local`` starts its own cluster, runs jobs in actor
    processes, and on SIGTERM puts the job in progress back without counting it."""
    service = make_service()
    settings = tmp_path / "worker.toml"
    values = {
        "environment": "production",
        "database_url": service.settings.resolved_database_url(),
        "data_dir": str(service.settings.resolved_data_dir()),
        "webhook_signing_secret": service.settings.webhook_signing_secret.get_secret_value(),
        "worker_poll_interval": 0.05,
        "log_level": "info",
    }
    settings.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    small = service.submit(photo_batch(photos, 2))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [*WORKER_COMMAND, "--ray", "local", "--workers", "2", "--settings", str(settings)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("MEDIAGUARD_")},
        )
        try:
            done = wait_for(
                lambda: (j := service.job(small)).state == "done" and j, timeout=120, interval=0.1
            )
            big = service.submit(photo_batch(photos, 64))
            running = wait_for(
                lambda: (j := service.job(big)).state == "running" and j, timeout=60, interval=0.01
            )
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    output = log.read_text(errors="replace")

    assert code == 0, output[-3000:]
    assert "2 Ray actor(s) x 1 thread(s)" in output
    assert done.attempts == 1
    assert owner_pid(running.lease_owner) != worker.pid  # an actor ran it, not the driver
    back = service.job(big)
    assert back.state == "queued", output[-3000:]  # finished its input, gave the job back
    assert back.attempts == 0  # a graceful stop is not counted against the job
    assert back.lease_owner is None
    assert service.completions() == Counter({small: 1})


_STREAM_OWNER = re.compile(r":(\d+):stream-[0-9a-f]+$")


def test_a_stream_is_watched_by_an_actor_which_sends_the_alert(
    ray_cluster: Any,
    make_service: Callable[..., Service],
    pools: list[RayJobWorkers],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """Streams run on ``worker --ray`` as on in-process workers: an actor's stream
    worker claims the stream, and its dispatcher sends the signed alert."""
    service = make_service(stream_allow_private=True, stream_workers=1)
    list_broadcast_photo(service.runtime.store, "astronaut")
    with hls_broadcast(tmp_path / "hls", "chelsea:3,astronaut:2,coffee:2") as (server, caster):
        pool = start_pool(pools, service, workers=1)
        info = submit_stream(
            service.runtime,
            api_key_id=service.key_id,
            url=server.url("index.m3u8"),
            callback_url=receiver.url + "/cb",
            rate="1",
        )
        streams = service.runtime.store.streams
        claimed = wait_for(lambda: streams.get_stream(info.id).lease_owner, timeout=60)
        alert = json.loads(receiver.get(timeout=60).body)
        assert alert["type"] == "stream.alert"
        assert alert["data"]["stream_id"] == info.id
        assert alert["data"]["event"]["decision"] == "block"
        ended = json.loads(receiver.get(timeout=60).body)
        assert ended["type"] == "stream.ended"
        assert caster.wait() == 0
    found = _STREAM_OWNER.search(claimed)
    assert found is not None, claimed
    assert int(found.group(1)) in pool.pids  # an actor watched it, not this process
    assert streams.get_stream(info.id).state == "ended"
