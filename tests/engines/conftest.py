"""Fixtures of the Ray suites (the cluster itself is the root conftest's ``ray_cluster``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaguard.engines.ray_workers import RayJobWorkers
from service._support import Receiver

from ._workers import Service


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
