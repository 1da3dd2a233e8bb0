"""What every storage backend promises, checked on SQLite and on PostgreSQL.

A deployment moves from the embedded SQLite store to PostgreSQL without changing a line,
so both must migrate the same way, keep time zones out of the picture, turn conflicts
and absences into the same typed errors, and leave nothing behind from a failed write.
Every test here runs once per backend (the ``database_url`` fixture).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from mediaguard.store import Store
from mediaguard.store.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    SchemaError,
)
from mediaguard.store.list_types import NewEntry


def test_migrates_from_empty_to_head_and_back(database_url: str) -> None:
    with Store.open(database_url) as store:
        assert store.current_revision() is None
        with pytest.raises(SchemaError):
            store.check_current()

        store.upgrade()
        assert store.current_revision() == store.head_revision()
        assert store.is_current()
        store.downgrade("base")
        assert store.current_revision() is None
        store.upgrade()
        assert store.is_current()


def test_timestamps_come_back_in_utc_whatever_the_session_zone(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    info = store.lists.create_list("tvec", "terrorism", "block")
    when = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    store.lists.add_entries("tvec", [NewEntry("md5", secrets.token_hex(16), added_at=when)])

    (entry,) = store.lists.iter_entries("tvec")

    assert info.created_at.tzinfo is not None
    assert info.created_at.utcoffset() == timedelta(0)
    assert before <= info.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert entry.added_at == when
    assert entry.added_at.utcoffset() == timedelta(0)


def test_conflicts_and_absences_are_the_same_typed_errors(store: Store) -> None:
    store.lists.create_list("tvec", "terrorism", "block")

    with pytest.raises(AlreadyExistsError):
        store.lists.create_list("tvec", "terrorism", "block")
    with pytest.raises(NotFoundError):
        store.lists.get_list("nope")
    with pytest.raises(NotFoundError):
        store.lists.add_entries("nope", [NewEntry("md5", secrets.token_hex(16))])
    assert [info.name for info in store.lists.lists()] == ["tvec"]


def test_text_round_trips_exactly(store: Store) -> None:
    store.lists.create_list("tvec", "terrorism", "block", description="Ünïcödé — 日本語 ✓")
    note = "line one\nline two, 'quoted' \"twice\" \\ and a NUL-free emoji 🛡"
    store.lists.add_entries("tvec", [NewEntry("md5", secrets.token_hex(16), "ext/1 ☃", note)])

    (entry,) = store.lists.iter_entries("tvec")

    assert store.lists.get_list("tvec").description == "Ünïcödé — 日本語 ✓"
    assert (entry.external_id, entry.note) == ("ext/1 ☃", note)


def test_an_atomic_write_that_fails_leaves_nothing(store: Store) -> None:
    store.lists.create_list("tvec", "terrorism", "block")
    store.lists.add_entries("tvec", [NewEntry("md5", secrets.token_hex(16))])
    # Four batches of five are written before the bad item is reached.
    batch: list[object] = [NewEntry("md5", secrets.token_hex(16)) for _ in range(20)]
    batch.append("not an entry")

    with pytest.raises(InvalidInputError, match="20"):
        store.lists.add_entries("tvec", batch, batch_size=5, atomic=True)  # type: ignore[arg-type]

    assert store.lists.count_entries("tvec") == 1
