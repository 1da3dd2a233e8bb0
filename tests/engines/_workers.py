"""Helpers of the Ray worker suites: a deployment's database side, photo batches, pools.

Shared by the single-node and multi-node suites, which differ only in the cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from mediaguard.config import ScanConfig
from mediaguard.engines.ray_workers import RayJobWorkers
from mediaguard.media.sniff import SNIFF_BYTES
from mediaguard.scanner import Scanner
from mediaguard.service.auth import create_key
from mediaguard.service.jobs import submit
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.service.uploads import ReceivedFile
from mediaguard.store import Store, resolve_url
from mediaguard.store.service_models import WebhookEvent
from mediaguard.store.service_types import JobInfo

PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "grace_hopper")
_OWNER_PID = re.compile(r":(\d+):[0-9a-f]+$")


def owner_pid(owner: str | None) -> int:
    """The process id inside a job worker's lease-owner name (``host:pid:suffix``)."""
    found = _OWNER_PID.search(owner or "")
    assert found is not None, owner
    return int(found.group(1))


class Service:
    """The database side of a deployment: submits jobs and reads what workers wrote.

    It opens a :class:`ServiceRuntime` of its own, as ``mediaguard serve`` would, with a
    detector-free scanner because it never scans: the actors do.
    """

    def __init__(self, url: str, data_dir: Path, **overrides: Any) -> None:
        with Store.open(url) as store:
            store.upgrade()
        values: dict[str, Any] = {
            "environment": "production",
            "database_url": url,
            "data_dir": data_dir,
            "webhook_signing_secret": secrets.token_urlsafe(32),
            "webhook_allow_private": True,  # the receiver is on 127.0.0.1
            "worker_poll_interval": 0.05,
            "webhook_backoff_base_seconds": 0.1,
            "webhook_backoff_max_seconds": 0.3,
            "webhook_timeout_seconds": 5.0,
            "job_lease_seconds": 10.0,
            "rate_limit_per_minute": 0,
            "log_level": "warning",
        }
        values.update(overrides)
        self.settings = ServiceSettings.load(None, **values)
        self.runtime = ServiceRuntime.open(self.settings, scanner=Scanner(ScanConfig(detectors=())))
        self.key_id = create_key(self.runtime.store.keys, ["scan"], name="test")[0].id
        self._events = create_engine(resolve_url(url))

    def close(self) -> None:
        self._events.dispose()
        self.runtime.close()

    def submit(self, files: list[tuple[str, bytes]], callback_url: str | None = None) -> str:
        """Queue a job of ``files`` (name, bytes) the way ``POST /v1/jobs`` does."""
        received = []
        for name, data in files:
            path = self.runtime.spool.new_incoming()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            received.append(
                ReceivedFile(
                    name=name, size=len(data), sha256=digest, head=data[:SNIFF_BYTES], path=path
                )
            )
        job, created = submit(
            self.runtime,
            api_key_id=self.key_id,
            files=received,
            callback_url=callback_url,
            idempotency_key=None,
        )
        assert created
        return job.id

    def job(self, job_id: str) -> JobInfo:
        return self.runtime.store.jobs.get_job(job_id)

    def completions(self) -> Counter[str]:
        """How many ``job.completed`` events were stored for each job id."""
        stmt = select(WebhookEvent.payload).where(WebhookEvent.type == "job.completed")
        with self._events.connect() as conn:
            payloads = conn.execute(stmt).scalars().all()
        return Counter(json.loads(p)["data"]["job"]["id"] for p in payloads)


def photo_batch(photos: Any, n: int, prefix: str = "") -> list[tuple[str, bytes]]:
    return [(f"{prefix}{i:02d}-{PHOTOS[i % 6]}", photos.file(PHOTOS[i % 6])) for i in range(n)]


def start_pool(
    pools: list[RayJobWorkers], service: Service, workers: int, *, supervise: bool = False
) -> RayJobWorkers:
    """Start ``workers`` actors on the module's cluster, supervised in a thread if asked."""
    pool = RayJobWorkers(service.settings, address=None, workers=workers)
    pools.append(pool)
    pool.start()
    assert len(set(pool.pids)) == len(pool.pids) == workers
    assert os.getpid() not in pool.pids  # actors are processes of their own
    if supervise:
        threading.Thread(target=pool.wait, name="ray-supervisor", daemon=True).start()
    return pool
