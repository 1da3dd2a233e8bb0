"""SIGTERM while ``mediaguard worker --ray local`` is still starting its cluster.

``ray.init`` installs a handler that exits at once; a SIGTERM that landed while it was
starting the cluster's processes unwound it half-way (exit 15) and left Ray's agents
running with no parent. The signal must instead be honoured once the cluster is up: the
worker stops it and exits 0, and nothing it started is left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MARKER = "MEDIAGUARD_SIGNAL_TEST_RUN"


def _started_by(run: str) -> list[psutil.Process]:
    """Processes that inherited this run's marker: the worker's whole Ray cluster."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == run:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _stop_with_sigterm(
    command: list[str],
    log: Path,
    *,
    ready: bytes,
    delay: float = 0.0,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``command`` until its output shows ``ready``, then ``delay`` s, then SIGTERM;
    its exit code."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while ready not in log.read_bytes() and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text(errors="replace")
                time.sleep(0.02)
            time.sleep(delay)
            process.send_signal(signal.SIGTERM)
            return process.wait(120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("delay", [0.3, 1.0])
def test_sigterm_during_ray_start_stops_the_cluster_and_exits_cleanly(
    tmp_path: Path, delay: float
) -> None:
    settings = tmp_path / "worker.toml"
    values = {
        "database_url": f"sqlite:///{tmp_path / 'jobs.db'}",
        "data_dir": str(tmp_path / "data"),
        "webhook_signing_secret": secrets.token_hex(16),
        "log_level": "info",
    }
    settings.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    run = secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGUARD_")}
    env[MARKER] = run
    service = [sys.executable, "-m", "mediaguard.commands.service"]
    subprocess.run([*service, "db", "upgrade", "--settings", str(settings)], env=env, check=True)
    command = [*service, "worker", "--ray", "local", "--workers", "1", "--settings", str(settings)]
    log = tmp_path / "worker.log"
    # The schema check logs just before the pool starts Ray, which takes seconds: a signal
    # shortly after lands in ray.init.
    code = _stop_with_sigterm(command, log, ready=b"alembic", delay=delay, env=env)
    output = log.read_text(errors="replace")
    deadline = time.monotonic() + 20
    while (left := _started_by(run)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for process in left:
        process.kill()

    assert code == 0, output[-3000:]
    assert "signal 15: stopping" in output
    assert [p.name() for p in left if p.is_running()] == [], output[-2000:]


_SLOW_STOP = """
import signal, sys, threading, time
import ray
from mediaguard.engines.ray import connect
asked = threading.Event()
signal.signal(signal.SIGTERM, lambda signum, frame: asked.set())
connect(ray, None, 1)
print("up", flush=True)
asked.wait(120)
time.sleep(4.5)  # a graceful stop longer than Ray's own three-second abort alarm
ray.shutdown()
print("stopped", flush=True)
"""


def test_a_graceful_stop_may_take_longer_than_three_seconds(tmp_path: Path) -> None:
    """Ray's core worker arms an abort alarm on SIGTERM; the kept handler must win."""
    log = tmp_path / "stop.log"
    code = _stop_with_sigterm([sys.executable, "-c", _SLOW_STOP], log, ready=b"up")
    output = log.read_text(errors="replace")

    assert code == 0, output[-2000:]
    assert output.rstrip().endswith("stopped"), output[-2000:]
