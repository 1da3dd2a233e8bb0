"""The exchange schedule: a worker keeps a list fresh from a local drop folder."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.store import audit

from ._support import LiveServer, wait_for


def _md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def _values(runtime: ServiceRuntime) -> list[str]:
    if "local" not in {info.name for info in runtime.store.lists.lists()}:
        return []
    return sorted(e.value for e in runtime.store.lists.iter_entries("local"))


def _fetches(runtime: ServiceRuntime) -> list[audit.AuditEntry]:
    return [e for e in runtime.store.audit.audit_entries() if e.action == "exchange.fetch"]


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def settings_overrides(drop: Path) -> dict[str, Any]:
    exchange = {"name": "local", "kind": "folder", "list": "local", "path": str(drop)}
    return {"exchanges": [{**exchange, "every_seconds": 0.2}]}


def test_the_worker_refreshes_a_list_on_schedule(
    live: LiveServer, runtime: ServiceRuntime, drop: Path, settings: ServiceSettings
) -> None:
    assert settings.exchanges[0].every_seconds == 0.2
    (drop / "one.txt").write_text(f"md5 {_md5(1)}\n")
    wait_for(lambda: _values(runtime) == [_md5(1)])
    (drop / "two.txt").write_text(f"md5 {_md5(2)}\n")
    os.utime(drop / "two.txt", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    wait_for(lambda: _values(runtime) == sorted([_md5(1), _md5(2)]))
    # Each fetch is audited, the ones that found nothing new included.
    wait_for(lambda: len(_fetches(runtime)) >= 3)
    assert {a.data["outcome"] for a in _fetches(runtime)} == {"ok"}
    assert {a.subject for a in _fetches(runtime)} == {"local"}


def test_hma_exchange_status_shows_the_schedule(
    live: LiveServer, runtime: ServiceRuntime, drop: Path, client: Any, keys: Any
) -> None:
    auth = {"Authorization": f"Bearer {keys.lists}"}
    assert client.get("/c/exchanges", headers=auth).json() == ["local"]
    shown = client.get("/c/exchange/local", headers=auth).json()
    assert shown == {
        "name": "local",
        "api": "folder",
        "enabled": True,
        "bank": "LOCAL",
        "list": "local",
        "every_seconds": 0.2,
    }
    wait_for(lambda: client.get("/c/exchange/local/status", headers=auth).json()["success"])
    status = client.get("/c/exchange/local/status", headers=auth).json()
    assert set(status) == {"last_fetch_time", "checkpoint_time", "success"}
    assert status["last_fetch_time"] > 0
    assert client.get("/c/exchange/other/status", headers=auth).status_code == 404
    assert client.post("/c/exchanges", json={}, headers=auth).status_code == 405
