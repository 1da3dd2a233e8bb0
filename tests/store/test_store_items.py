"""Scanned items, match hits and timestamps, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, text

from mediaguard.store import InvalidInputError, ItemInfo, NewEntry, NotFoundError, Store

MD5 = "0123456789abcdef" * 2
SHA = "fedcba9876543210" * 4
PDQ = "f0" * 32


def test_record_item_round_trip(store: Store) -> None:
    when = datetime(2024, 2, 29, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    item_id = store.items.record_item(
        "upload:42",
        source="api",
        md5=MD5.upper(),
        sha256=SHA,
        pdq=PDQ,
        pdq_quality=87,
        decision="review",
        policy_version="2024.1",
        scanned_at=when,
    )
    (item,) = store.items.find_items_by_digest(md5=MD5)
    assert item == ItemInfo(
        id=item_id,
        item_key="upload:42",
        source="api",
        md5=MD5,
        sha256=SHA,
        pdq=PDQ,
        pdq_quality=87,
        decision="review",
        policy_version="2024.1",
        scanned_at=when,
    )
    assert item.scanned_at.tzinfo == UTC


def test_record_item_upserts_by_key(store: Store) -> None:
    first = store.items.record_item("k", md5=MD5, pdq=PDQ, pdq_quality=90, decision="allow")
    again = store.items.record_item("k", sha256=SHA, decision="block", policy_version="v2")
    assert again == first
    (item,) = store.items.iter_items()
    # A rescan replaces the row, so it never mixes two scans.
    assert (item.md5, item.sha256, item.pdq, item.pdq_quality) == (None, SHA, None, None)
    assert (item.decision, item.policy_version) == ("block", "v2")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"item_key": ""}, "item_key", id="key-empty"),
        pytest.param({"item_key": "k" * 513}, "item_key", id="key-long"),
        pytest.param({"item_key": 5}, "item_key", id="key-int"),
        pytest.param({"md5": SHA}, "md5", id="md5-length"),
        pytest.param({"sha256": "xy" * 32}, "sha256", id="sha-not-hex"),
        pytest.param({"pdq": MD5}, "pdq", id="pdq-length"),
        pytest.param({"pdq_quality": 101}, "pdq_quality", id="quality-high"),
        pytest.param({"decision": "quarantine"}, "decision", id="decision-unknown"),
        pytest.param({"scanned_at": datetime(2024, 1, 1)}, "scanned_at", id="naive-time"),
        pytest.param({"policy_version": 2}, "policy_version", id="version-int"),
    ],
)
def test_record_item_validation_names_the_field(
    store: Store, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{field}: "):
        store.items.record_item(**{"item_key": "k", **kwargs})
    assert list(store.items.iter_items()) == []


def test_find_items_by_digest(store: Store) -> None:
    a = store.items.record_item("a", md5=MD5)
    b = store.items.record_item("b", sha256=SHA)
    c = store.items.record_item("c", md5=MD5, sha256=SHA)
    store.items.record_item("d", md5="1" * 32)
    assert [i.id for i in store.items.find_items_by_digest(md5=MD5)] == [a, c]
    assert [i.id for i in store.items.find_items_by_digest(sha256=SHA.upper())] == [b, c]
    assert [i.id for i in store.items.find_items_by_digest(md5=MD5, sha256=SHA)] == [a, b, c]
    assert store.items.find_items_by_digest(md5="2" * 32) == []
    with pytest.raises(InvalidInputError, match="give at least one digest"):
        store.items.find_items_by_digest()


def test_iter_items_filters_and_pages(store: Store) -> None:
    ids = [store.items.record_item(f"item-{i}", pdq=PDQ if i % 2 else None) for i in range(9)]
    assert [i.id for i in store.items.iter_items(batch_size=2)] == ids
    assert [i.id for i in store.items.iter_items(signal_type="pdq", batch_size=2)] == ids[1::2]
    assert [i.id for i in store.items.iter_items(after_id=ids[6])] == ids[7:]
    assert list(store.items.iter_items(signal_type="md5")) == []
    with pytest.raises(InvalidInputError, match=r"^signal_type: "):
        store.items.iter_items(signal_type="vpdq")


# -------------------------------------------------------------------------- hits


@pytest.fixture
def entry_id(store: Store) -> int:
    store.lists.create_list("known", "weapon", "block")
    result = store.lists.add_entries("known", [NewEntry("pdq", PDQ)], return_ids=True)
    assert result.added_ids is not None
    return result.added_ids[0]


def test_hits_are_counted_per_item_within_the_window(store: Store, entry_id: int) -> None:
    now = datetime.now(UTC)
    items = [store.items.record_item(f"i{i}", pdq=PDQ) for i in range(4)]
    store.items.record_hit(entry_id, items[0], 3, matched_at=now - timedelta(days=2))
    store.items.record_hit(entry_id, items[1], 0, matched_at=now - timedelta(minutes=30))
    store.items.record_hit(entry_id, items[2], 10)
    # The same item matching twice counts once.
    store.items.record_hit(entry_id, items[2], 10)
    store.items.record_hit(entry_id, items[3], 5, matched_at=now - timedelta(hours=1, seconds=1))
    assert store.items.count_hits(entry_id, now - timedelta(hours=1)) == 2
    assert store.items.count_hits(entry_id, now - timedelta(days=3)) == 4
    # An aware "since" in another zone is the same instant.
    tokyo = (now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=9)))
    assert store.items.count_hits(entry_id, tokyo) == 2
    assert store.items.count_hits(entry_id, now + timedelta(seconds=5)) == 0


def test_hit_needs_existing_entry_and_item(store: Store, entry_id: int) -> None:
    item = store.items.record_item("x")
    with pytest.raises(NotFoundError, match=r"^entry_id: 999999"):
        store.items.record_hit(999_999, item, 0)
    with pytest.raises(NotFoundError, match=r"^item_id: 999999"):
        store.items.record_hit(entry_id, 999_999, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"distance": -1}, "distance", id="distance-negative"),
        pytest.param({"entry_id": 0}, "entry_id", id="entry-zero"),
        pytest.param({"matched_at": datetime(2024, 1, 1)}, "matched_at", id="naive"),
    ],
)
def test_hit_validation_names_the_field(
    store: Store, entry_id: int, kwargs: dict[str, Any], field: str
) -> None:
    item = store.items.record_item("x")
    args = {"entry_id": entry_id, "item_id": item, "distance": 0, **kwargs}
    with pytest.raises(InvalidInputError, match=rf"^{field}: "):
        store.items.record_hit(**args)


def test_count_hits_refuses_naive_since(store: Store, entry_id: int) -> None:
    with pytest.raises(InvalidInputError, match=r"^since: .* naive"):
        store.items.count_hits(entry_id, datetime(2024, 1, 1))


# -------------------------------------------------------------------- timestamps


def test_every_timestamp_is_aware_utc(store: Store, entry_id: int) -> None:
    offset = timezone(timedelta(hours=5, minutes=30))
    added = datetime(2022, 6, 1, 8, 0, 0, 123456, tzinfo=offset)
    store.lists.add_entries(
        "known", [NewEntry("md5", MD5, added_at=added), NewEntry("md5", "a" * 32)]
    )
    stamps = [store.lists.get_list("known").created_at, store.lists.get_list("known").updated_at]
    entries = list(store.lists.iter_entries("known"))
    stamps += [e.added_at for e in entries]
    item = store.items.record_item("t", scanned_at=added)
    stamps += [i.scanned_at for i in store.items.iter_items()]
    store.items.record_hit(entry_id, item, 0)
    for stamp in stamps:
        assert stamp.tzinfo == UTC, stamp
    by_value = {e.value: e.added_at for e in entries}
    # An explicit time survives exactly; a defaulted one is the database's clock, now.
    assert by_value[MD5] == added
    assert abs(by_value["a" * 32] - datetime.now(UTC)) < timedelta(minutes=5)


def test_session_time_zone_does_not_leak(store: Store, raw: Engine) -> None:
    if store.dialect != "postgresql":
        pytest.skip("only PostgreSQL has a session time zone")
    with raw.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar_one() == "Pacific/Chatham"
    store.items.record_item("z", scanned_at=datetime(2024, 1, 1, 12, tzinfo=UTC))
    (item,) = store.items.iter_items()
    assert item.scanned_at == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert item.scanned_at.tzinfo == UTC
