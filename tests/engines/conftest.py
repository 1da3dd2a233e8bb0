"""Fixtures of the Ray suites: one real local Ray cluster per test module.

Starting a cluster costs seconds on two cores, so each module gets one and shares it
between its tests; each test starts its own actors on it and stops them after, so tests
stay independent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaguard.engines.ray_workers import RayJobWorkers
from service._support import Receiver

from ._workers import Service

#: CPUs of the test cluster: the CI machine's cores.
CLUSTER_CPUS = 2


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local two-CPU Ray cluster for this module, shut down after it."""
    try:
        import ray
    except ImportError:
        message = "ray is not installed: pip install 'mediaguard[ray]'"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message} (CI is set, so the Ray tests may not be skipped)")
        pytest.skip(message)
    # The workers inherit the cluster's environment, not each test's: give them a data
    # directory of their own so nothing reaches the user's.
    data = tmp_path_factory.mktemp("ray-data")
    ray.init(
        num_cpus=CLUSTER_CPUS,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"MEDIAGUARD_DATA_DIR": str(data)}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def make_service(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Open a :class:`Service` on the test's database with settings overridden."""
    opened: list[Service] = []

    def make(**overrides: Any) -> Service:
        service = Service(database_url, tmp_path / "service-data", **overrides)
        opened.append(service)
        return service

    yield make
    for service in opened:
        service.close()


@pytest.fixture
def pools() -> Iterator[list[RayJobWorkers]]:
    """Worker pools a test started; stopped after it, even when it fails."""
    started: list[RayJobWorkers] = []
    yield started
    for pool in started:
        pool.stop(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A scripted webhook receiver on loopback."""
    server = Receiver()
    yield server
    server.close()
