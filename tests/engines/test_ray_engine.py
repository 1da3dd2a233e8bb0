"""The Ray engine on a real local Ray cluster: faults, backpressure, start and stop.

That it gives the local engine's results is the engine contract's
(tests/contracts/test_engines.py). One cluster of two CPUs serves the whole module (the
root conftest's ``ray_cluster``); each test's scan starts its own worker actors on it and stops them
after, so tests stay independent. The engine's own start-up and shutdown of a cluster is
tested in a subprocess, because a process can be connected to only one Ray cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

from mediaguard.config import ScanConfig
from mediaguard.engines.ray import WORKER_CRASHED, RayScanStats, scan_paths_ray
from mediaguard.policy.model import Policy
from mediaguard.verdict import ScanFailure, ScanResult, Verdict

from .corpus import write_corpus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WORKERS = 2
#: Hashes and decoding only: the tests of flow control need many fast items.
NO_DETECTORS = ScanConfig(detectors=())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, photos: Any) -> list[Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"), photos)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, photos: Any) -> list[Path]:
    """24 distinct files, each taking a worker a while (2048 px PNGs of real photos).

    Slow files keep the kill tests honest: a worker is killed while it still holds
    files, even if the test process is descheduled for a moment on a busy machine.
    """
    folder = tmp_path_factory.mktemp("batch")
    names = ("astronaut", "camera", "coffee", "chelsea", "rocket", "grace_hopper")
    encoded = {
        name: photos.encode(
            Image.fromarray(photos.pixels(name)).resize((2048, 1536)), "png", compress_level=1
        )
        for name in names
    }
    paths = []
    for i in range(24):
        path = folder / f"{i:02d}-{names[i % len(names)]}.png"
        path.write_bytes(encoded[names[i % len(names)]])
        paths.append(path)
    return paths


def _kill_worker_after_first_result(
    results: Iterator[ScanResult], stats: RayScanStats
) -> tuple[list[ScanResult], int]:
    """Take one result, SIGKILL worker 0 while it holds in-flight files, drain the rest."""
    taken = [next(results)]
    victim = stats.worker_pids[0]
    os.kill(victim, signal.SIGKILL)
    taken += list(results)
    return taken, victim


def test_a_killed_worker_loses_nothing_and_decides_nothing_twice(
    ray_cluster: Any, batch: list[Path]
) -> None:
    stats = RayScanStats()
    results = scan_paths_ray(
        batch,
        config=ScanConfig(),
        policy=Policy.default_policy(),
        address=None,
        workers=WORKERS,
        stats=stats,
    )

    taken, victim = _kill_worker_after_first_result(results, stats)

    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"
    assert [r.source for r in taken] == [str(p) for p in batch]  # one each, in order
    assert all(isinstance(r, Verdict) for r in taken)
    assert stats.replaced_workers == 1
    assert stats.resubmitted >= 1  # the kill did hit files in flight
    assert stats.submitted == len(batch) + stats.resubmitted
    assert stats.worker_pids[0] != victim  # a fresh actor scanned the rest


def test_a_file_whose_worker_keeps_dying_is_recorded_not_lost(
    ray_cluster: Any, batch: list[Path]
) -> None:
    stats = RayScanStats()
    results = scan_paths_ray(
        batch,
        config=ScanConfig(),
        policy=Policy.default_policy(),
        address=None,
        workers=WORKERS,
        ordered=False,
        max_attempts=1,
        stats=stats,
    )

    taken, _ = _kill_worker_after_first_result(results, stats)

    assert Counter(r.source for r in taken) == Counter(str(p) for p in batch)
    crashed = [r for r in taken if isinstance(r, ScanFailure)]
    assert crashed  # the files the killed worker held
    assert {r.error for r in crashed} == {WORKER_CRASHED}
    assert "lost 1 time(s)" in crashed[0].message
    assert len(crashed) + sum(isinstance(r, Verdict) for r in taken) == len(batch)
    assert stats.resubmitted == 0


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory, photos: Any) -> list[Path]:
    """Eight tiny real-photo crops: scanning them costs far less than a Ray round trip."""
    folder = tmp_path_factory.mktemp("tiny")
    paths = []
    for i, name in enumerate(("astronaut", "coffee", "chelsea", "rocket") * 2):
        crop = Image.fromarray(photos.pixels(name)[i * 8 : i * 8 + 24, i * 8 : i * 8 + 24])
        path = folder / f"{i}-{name}.png"
        path.write_bytes(photos.encode(crop, "png"))
        paths.append(path)
    return paths


class _Counting:
    """An input generator that counts how many paths the engine has pulled."""

    def __init__(self, paths: list[Path], n: int) -> None:
        self.paths, self.n, self.pulled = paths, n, 0

    def __iter__(self) -> Iterator[Path]:
        for i in range(self.n):
            self.pulled += 1
            yield self.paths[i % len(self.paths)]


@pytest.mark.parametrize(
    "ordered", [pytest.param(True, id="ordered"), pytest.param(False, id="unordered")]
)
def test_a_slow_consumer_bounds_the_files_in_flight(
    ray_cluster: Any, tiny_files: list[Path], ordered: bool
) -> None:
    source = _Counting(tiny_files, 60)
    stats = RayScanStats()
    limit = 3
    results = scan_paths_ray(
        source,
        config=NO_DETECTORS,
        policy=Policy.default_policy(),
        address=None,
        workers=WORKERS,
        ordered=ordered,
        max_in_flight=limit,
        stats=stats,
    )

    consumed = 0
    worst = 0
    for result in results:
        consumed += 1
        worst = max(worst, source.pulled - consumed)
        assert isinstance(result, Verdict)
        time.sleep(0.02)  # workers are idle while the consumer is busy

    assert consumed == 60
    assert worst <= limit - 1  # pulled, not yet handed over: at most limit, minus this one
    assert stats.peak_in_flight <= limit
    assert stats.submitted == 60


def test_many_files_stream_through_in_bounded_memory(
    ray_cluster: Any, tiny_files: list[Path]
) -> None:
    n = 4000
    source = _Counting(tiny_files, n)
    stats = RayScanStats()
    driver = psutil.Process()
    rss: list[int] = []
    results = scan_paths_ray(
        source,
        config=NO_DETECTORS,
        policy=Policy.default_policy(),
        address=None,
        workers=WORKERS,
        stats=stats,
    )

    first = next(results)
    assert source.pulled <= 2 * WORKERS  # the input is not materialised up front
    count, worst = 1, source.pulled - 1
    sources = Counter([first.source])
    for result in results:
        count += 1
        sources[result.source] += 1
        worst = max(worst, source.pulled - count)
        if count % 500 == 0:
            rss.append(driver.memory_info().rss)

    assert count == n
    assert sources == Counter({str(p): n // len(tiny_files) for p in tiny_files})
    assert worst < 2 * WORKERS
    assert stats.peak_in_flight <= 2 * WORKERS
    # Resident memory of the driver after 500 results and after 4,000: flat, not linear.
    growth_mb = (max(rss) - rss[0]) / 2**20
    assert growth_mb < 40, f"driver RSS grew {growth_mb:.0f} MB over {n} files"


_OWN_CLUSTER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import ray
    from mediaguard.config import ScanConfig
    from mediaguard.engines.ray import scan_paths_ray
    from mediaguard.policy.model import Policy

    files = [Path(p) for p in sys.argv[1:]]
    start = time.perf_counter()
    results = scan_paths_ray(
        files, config=ScanConfig(), policy=Policy.default_policy(), address=None, workers=1
    )
    first = next(results)
    first_s = time.perf_counter() - start
    rest = list(results)
    after_full = ray.is_initialized()
    early = scan_paths_ray(
        files, config=ScanConfig(), policy=Policy.default_policy(), address=None, workers=1
    )
    next(early)
    early.close()
    print(json.dumps({
        "sources": [r.source for r in [first, *rest]],
        "first_result_s": first_s,
        "connected_after_full_scan": after_full,
        "connected_after_early_close": ray.is_initialized(),
    }))
    """
)


def test_a_cluster_the_engine_starts_is_stopped_after_the_scan(
    ray_cluster: Any, corpus: list[Path], tmp_path: Path
) -> None:
    # ray_cluster only for its skip-or-fail when Ray is missing: the subprocess starts
    # a cluster of its own next to it.
    files = [str(p) for p in corpus[:3]]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-c", _OWN_CLUSTER, *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["sources"] == files
    assert report["connected_after_full_scan"] is False
    assert report["connected_after_early_close"] is False
    assert report["first_result_s"] < 60, report


def test_cli_scan_on_ray_matches_the_local_cli(
    ray_cluster: Any, corpus: list[Path], tmp_path: Path
) -> None:
    """``mediaguard scan --ray local`` writes the same records as the process pool."""
    from mediaguard.cli import EXIT_UNREADABLE, main

    on_ray, local = tmp_path / "ray.jsonl", tmp_path / "local.jsonl"
    common = ["-f", "jsonl", "--no-lists", "-w", str(WORKERS)]
    assert main(["scan", *map(str, corpus), *common, "-o", str(on_ray), "--ray", "local"]) == (
        EXIT_UNREADABLE
    )
    assert main(["scan", *map(str, corpus), *common, "-o", str(local)]) == EXIT_UNREADABLE
    ray_records = [json.loads(line) for line in on_ray.read_text().splitlines()]
    local_records = [json.loads(line) for line in local.read_text().splitlines()]
    assert [r["source"] for r in ray_records] == [r["source"] for r in local_records]
    assert [r.get("hashes") for r in ray_records] == [r.get("hashes") for r in local_records]
    assert [r.get("decision") for r in ray_records] == [r.get("decision") for r in local_records]
