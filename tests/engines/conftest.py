"""Fixtures of the Ray suites: one real local Ray cluster per test module.

Starting a cluster costs seconds on two cores, so each module gets one and shares it
between its tests; each test starts its own actors on it and stops them after, so tests
stay independent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

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
