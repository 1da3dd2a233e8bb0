"""Fixtures of the live-stream suite: servers on 127.0.0.1 and real-time broadcasters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .servers import Broadcaster, FolderServer

StartBroadcast = Callable[..., Broadcaster]


@pytest.fixture
def folder_server(tmp_path: Path) -> Iterator[FolderServer]:
    server = FolderServer(tmp_path)
    yield server
    server.close()


@pytest.fixture
def broadcast(tmp_path: Path) -> Iterator[StartBroadcast]:
    """Start broadcasters writing into the test's folder; all are killed at the end."""
    started: list[Broadcaster] = []

    def start(fmt: str, schedule: str, **kw: str) -> Broadcaster:
        caster = Broadcaster(fmt, schedule, out=tmp_path if fmt != "rtmp" else None, **kw)
        started.append(caster)
        return caster

    yield start
    for caster in started:
        caster.close()
