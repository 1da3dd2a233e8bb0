"""Fixtures of the service suite: a real server on loopback, keys, a webhook receiver.

Every test that takes ``live``/``client``/``runtime`` runs on SQLite and on PostgreSQL
(through the ``database_url`` fixture of ``tests/conftest.py``, which skips PostgreSQL
locally without ``$MEDIAGUARD_TEST_POSTGRES_URL`` and fails in CI). The server is real
uvicorn on a loopback socket in a thread, serving an app built with the production
code path; only the detector models are loaded once per session and shared
(:meth:`ServiceRuntime.open` accepts a loaded scanner for that, as an embedding
application would). Settings are production settings with a real random secret;
``webhook_allow_private = true`` is set explicitly because the receivers run on
127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaguard.scanner import Scanner
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.store import Store

from ._support import Keys, LiveServer, Receiver, make_keys, make_settings


@pytest.fixture(scope="session")
def base_scanner() -> Scanner:
    """The default detectors, loaded once for the whole suite."""
    return Scanner()


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """A database (SQLite file or PostgreSQL schema) migrated to the current schema."""
    with Store.open(database_url) as store:
        store.upgrade()
    return database_url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Per-test changes to :func:`make_settings` (override the fixture to change them)."""
    return {}


@pytest.fixture
def settings(
    migrated_url: str, tmp_path: Path, settings_overrides: dict[str, Any]
) -> ServiceSettings:
    """Settings of the service under test."""
    return make_settings(migrated_url, tmp_path / "service-data", **settings_overrides)


@pytest.fixture
def runtime(settings: ServiceSettings, base_scanner: Scanner) -> Iterator[ServiceRuntime]:
    """An opened runtime (database, spool, scanner sharing the session's models)."""
    opened = ServiceRuntime.open(settings, scanner=base_scanner)
    yield opened
    opened.close()


@pytest.fixture
def keys(runtime: ServiceRuntime) -> Keys:
    """Fresh keys for the test's database."""
    return make_keys(runtime.store.keys)


@pytest.fixture
def live(runtime: ServiceRuntime) -> Iterator[LiveServer]:
    """The service running on loopback, with its in-process workers and dispatcher."""
    server = LiveServer(runtime)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the live server."""
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        yield http


# ------------------------------------------------------------------------ receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver thread on loopback."""
    server = Receiver()
    yield server
    server.close()


# --------------------------------------------------------------------------- media
