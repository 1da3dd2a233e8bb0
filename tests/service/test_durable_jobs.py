"""Durable jobs: a worker process killed with SIGKILL mid-job loses nothing.

A real ``mediaguard worker`` subprocess claims a batch job; the test freezes it
(SIGSTOP) while the job is still running, so it provably holds the lease and has not
finished, then kills it with SIGKILL. A second worker process takes the job over once
the lease expires (``job_lease_seconds``, a real setting, is short here) and completes
it exactly once: one result per input, ``attempts == 2``, and one completion event.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaguard.service.runtime import ServiceRuntime

from ._support import Keys, Receiver, event_of, wait_for, wait_gone

pytestmark = pytest.mark.slow

BATCH = 64


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The server only accepts jobs: no in-process worker may take the job first.
    return {"workers": 0, "webhook_dispatchers": 0, "job_lease_seconds": 2.0}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _settings_file(runtime: ServiceRuntime, path: Path) -> Path:
    settings = runtime.settings
    values = {
        "environment": settings.environment,
        "database_url": runtime.settings.resolved_database_url(),
        "data_dir": str(settings.resolved_data_dir()),
        "webhook_signing_secret": settings.webhook_signing_secret.get_secret_value(),
        "webhook_allow_private": True,
        "worker_poll_interval": 0.1,
        "job_lease_seconds": 2.0,
        "webhook_backoff_base_seconds": 0.1,
        "webhook_backoff_max_seconds": 0.3,
        "log_level": "info",
    }
    path.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()))
    return path


class Worker:
    """A ``mediaguard worker`` process."""

    def __init__(self, settings: Path, log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mediaguard.commands.service",
                "worker",
                "--settings",
                str(settings),
            ],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            # Only the settings file configures the worker (the environment would win).
            env={k: v for k, v in os.environ.items() if not k.startswith("MEDIAGUARD_")},
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def test_worker_killed_mid_job_is_retried_and_completes_once(
    client: httpx.Client,
    keys: Keys,
    photos,
    runtime: ServiceRuntime,
    receiver: Receiver,
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    names = ["grace_hopper", "astronaut", "coffee", "rocket", "chelsea", "camera"]
    files = [
        ("files", (f"{i:02d}-{names[i % 6]}", photos.file(names[i % 6]))) for i in range(BATCH)
    ]
    response = client.post(
        "/v1/jobs",
        params={"callback_url": receiver.url + "/done"},
        files=files,
        headers=Keys.auth(keys.scan),
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    settings = _settings_file(runtime, tmp_path / "worker.toml")

    first = Worker(settings, tmp_path / "worker-1.log")
    workers.append(first)

    def running() -> Any:
        job = runtime.store.jobs.get_job(job_id)
        assert job.state in ("queued", "running"), f"{job.state}: {first.output()}"
        return job if job.state == "running" else None

    claimed = wait_for(running, timeout=60, interval=0.01)
    assert claimed.attempts == 1
    time.sleep(0.3)
    os.kill(first.process.pid, signal.SIGSTOP)
    frozen = runtime.store.jobs.get_job(job_id)
    assert frozen.state == "running", first.output()  # frozen before it could finish
    assert frozen.lease_owner == claimed.lease_owner
    os.kill(first.process.pid, signal.SIGKILL)
    assert first.process.wait(10) == -signal.SIGKILL

    second = Worker(settings, tmp_path / "worker-2.log")
    workers.append(second)

    def finished() -> Any:
        job = client.get(f"/v1/jobs/{job_id}", headers=Keys.auth(keys.scan)).json()
        return job if job["state"] in ("done", "failed") else None

    job = wait_for(finished, timeout=120)
    assert job["state"] == "done", second.output()
    assert job["attempts"] == 2
    assert len(job["results"]) == BATCH
    assert [r["source"] for r in job["results"]] == [f[1][0] for f in files]
    assert all(r.get("decision") for r in job["results"])

    event = event_of(receiver.get(timeout=60))
    assert event["type"] == "job.completed"
    assert event["data"]["job"]["attempts"] == 2
    assert len(event["data"]["job"]["results"]) == BATCH
    time.sleep(1.0)
    assert receiver.requests.empty()  # completed once, announced once
    deliveries = runtime.store.webhooks.deliveries(None)
    assert [(d.event_id, d.state) for d in deliveries] == [(event["id"], "delivered")]
    assert wait_gone(runtime.spool.job_dir(job_id))
