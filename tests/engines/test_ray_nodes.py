"""Job worker actors spread over two Ray nodes, sharing one job table.

A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: two raylets
with their own object stores, joined to one head, as ``ray start --address`` on a second
host would), each node with one CPU. Two one-CPU actors therefore cannot share a node,
so a run where both take jobs is a run across nodes. What this does not test is a
network between the nodes, a data directory on a shared volume, or clock skew between
hosts; docs/deployment.md says what those need.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mediaguard.engines.ray_workers import RayJobWorkers
from service._support import wait_for

from ._workers import Service, owner_pid, photo_batch, start_pool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A head node and a second node, one CPU each, with this process connected."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    data = tmp_path_factory.mktemp("ray-data")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(
            address=cluster.address,
            log_to_driver=False,
            logging_level=logging.ERROR,
            runtime_env={"env_vars": {"MEDIAGUARD_DATA_DIR": str(data)}},
        )
        yield ray
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_actors_on_two_nodes_share_one_job_table(
    two_nodes: Any,
    make_service: Callable[..., Service],
    pools: list[RayJobWorkers],
    photos: Any,
) -> None:
    ray = two_nodes
    alive = [node for node in ray.nodes() if node["Alive"]]
    assert len(alive) == 2
    assert [node["Resources"]["CPU"] for node in alive] == [1.0, 1.0]
    service = make_service()
    pool = start_pool(pools, service, workers=2)
    # Both actors hold a CPU: one on each node, since neither node has two.
    assert ray.available_resources().get("CPU", 0.0) == 0.0
    jobs = [service.submit(photo_batch(photos, 2, prefix=f"j{n}-")) for n in range(8)]

    owners: set[str] = set()

    def all_finished() -> bool:
        states = [service.job(job_id) for job_id in jobs]
        owners.update(job.lease_owner for job in states if job.lease_owner)
        return all(job.state in ("done", "failed") for job in states)

    wait_for(all_finished, timeout=120, interval=0.02)

    assert {owner_pid(owner) for owner in owners} == set(pool.pids)  # both nodes worked
    for job_id in jobs:
        job = service.job(job_id)
        assert job.state == "done"
        assert job.attempts == 1
        assert job.result is not None
        assert [r["source"] for r in json.loads(job.result)] == [i.name for i in job.inputs]
    assert service.completions() == Counter(dict.fromkeys(jobs, 1))
