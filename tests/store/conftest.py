"""Fixtures of the store tests.

The database backends (``store``, ``bare_store``, ``database_url``: SQLite and a real
PostgreSQL) are in tests/conftest.py, shared with every suite that needs a database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from mediaguard.store import Store, resolve_url


@pytest.fixture
def raw(database_url: str, store: Store) -> Iterator[Engine]:
    """A plain engine on the same database, for checking rows the store does not expose."""
    engine = create_engine(resolve_url(database_url))
    yield engine
    engine.dispose()
