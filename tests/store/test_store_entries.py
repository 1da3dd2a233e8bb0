"""Hash-list entries: adding, streaming, removing, cascades; on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import itertools
import re
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from mediaguard.match.types import HashFormatError
from mediaguard.match.video import FrameHash
from mediaguard.store import (
    AddResult,
    EntryInfo,
    InvalidInputError,
    NewEntry,
    Store,
)
from mediaguard.store.models import HashEntry, MatchHit, VpdqFrame


def pdq(i: int) -> str:
    """A distinct, valid 64-hex-digit value for ``i``."""
    return f"{i:064x}"


def md5(i: int) -> str:
    """A distinct, valid 32-hex-digit value for ``i``."""
    return f"{i:032x}"


def frames(n: int, seed: int = 0) -> tuple[FrameHash, ...]:
    return tuple(FrameHash(i, Fraction(i), pdq(seed * 1000 + i), 90) for i in range(n))


@pytest.fixture
def listed(store: Store) -> Store:
    store.lists.create_list("known", "weapon", "block")
    store.lists.create_list("other", "spam", "review")
    return store


def count(raw: Engine, column: Any) -> int:
    with raw.connect() as conn:
        return int(conn.execute(select(func.count(column))).scalar_one())


# ------------------------------------------------------------------------- NewEntry


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"signal_type": "tmk", "value": pdq(1)}, "signal_type", id="signal-unknown"),
        pytest.param({"signal_type": "PDQ", "value": pdq(1)}, "signal_type", id="signal-case"),
        pytest.param({"signal_type": "pdq", "value": pdq(1)[:-1]}, "pdq value", id="pdq-short"),
        pytest.param({"signal_type": "pdq", "value": "g" * 64}, "pdq value", id="pdq-not-hex"),
        pytest.param({"signal_type": "md5", "value": pdq(1)}, "md5 value", id="md5-long"),
        pytest.param({"signal_type": "sha256", "value": md5(1)}, "sha256 value", id="sha-short"),
        pytest.param({"signal_type": "md5", "value": 5}, "md5 value", id="value-int"),
        pytest.param(
            {"signal_type": "md5", "value": md5(1), "frames": frames(1)},
            "frames",
            id="frames-on-md5",
        ),
        pytest.param({"signal_type": "vpdq", "value": md5(1)}, "frames", id="vpdq-no-frames"),
        pytest.param(
            {"signal_type": "vpdq", "value": md5(1), "frames": frames(2) + frames(1)},
            "frames",
            id="vpdq-repeated-frame",
        ),
        pytest.param(
            {"signal_type": "md5", "value": md5(1), "added_at": datetime(2024, 1, 1)},
            "added_at",
            id="naive-added-at",
        ),
        pytest.param(
            {"signal_type": "md5", "value": md5(1), "note": 3}, "note", id="note-not-text"
        ),
    ],
)
def test_new_entry_validation_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{field}: "):
        NewEntry(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message", "error"),
    [
        pytest.param({"index": -1}, "FrameHash.index", ValueError, id="index-negative"),
        pytest.param({"index": 1.0}, "FrameHash.index", ValueError, id="index-not-integer"),
        pytest.param(
            {"time": Fraction(-5, 1000)}, "FrameHash.time", ValueError, id="time-negative"
        ),
        pytest.param({"quality": 101}, "FrameHash.quality", ValueError, id="quality-high"),
        pytest.param({"quality": True}, "FrameHash.quality", ValueError, id="quality-not-integer"),
        pytest.param({"pdq": "00"}, "invalid pdq hash", HashFormatError, id="pdq-short"),
    ],
)
def test_frame_validation_names_the_field(
    kwargs: dict[str, Any], message: str, error: type[Exception]
) -> None:
    with pytest.raises(error, match=rf"^{re.escape(message)} "):
        FrameHash(**{"index": 0, "time": Fraction(0), "pdq": pdq(1), "quality": 50, **kwargs})


def test_new_entry_normalises() -> None:
    entry = NewEntry("vpdq", "AB" * 16, frames=[FrameHash(0, Fraction(0), "f" * 64, 100)])
    assert entry.value == "ab" * 16
    assert entry.frames == (FrameHash(0, Fraction(0), "f" * 64, 100),)
    # A frame hash is lowercase by construction, so an uppercase one never reaches a list.
    with pytest.raises(HashFormatError, match=r"^FrameHash\.pdq "):
        FrameHash(0, Fraction(0), "F" * 64, 100)


# ------------------------------------------------------------------------- adding


def test_duplicates_are_counted_and_skipped(listed: Store) -> None:
    first = listed.lists.add_entries("known", [NewEntry("pdq", pdq(i)) for i in range(10)])
    assert first == AddResult(added=10, duplicates=0)
    # 5 already in the list, 3 repeated within the input (across batch boundaries too).
    again = [NewEntry("pdq", pdq(i)) for i in range(5, 15)]
    again += [NewEntry("pdq", pdq(12)), NewEntry("pdq", pdq(13).upper()), NewEntry("pdq", pdq(14))]
    result = listed.lists.add_entries("known", again, batch_size=4)
    assert (result.added, result.duplicates) == (5, 8)
    assert listed.lists.count_entries("known") == 15


def test_same_value_in_another_list_or_type_is_not_a_duplicate(listed: Store) -> None:
    value = pdq(7)
    assert listed.lists.add_entries("known", [NewEntry("pdq", value)]).added == 1
    assert listed.lists.add_entries("other", [NewEntry("pdq", value)]).added == 1
    assert listed.lists.add_entries("known", [NewEntry("sha256", value)]).added == 1
    assert listed.lists.count_entries() == 3
    assert listed.lists.count_entries("known", "pdq") == 1


def test_added_ids_and_entries_since(listed: Store) -> None:
    first = listed.lists.add_entries(
        "known", [NewEntry("md5", md5(i)) for i in range(3)], return_ids=True
    )
    assert first.added_ids is not None
    assert len(first.added_ids) == 3
    second = listed.lists.add_entries(
        "other", [NewEntry("md5", md5(i)) for i in range(2, 6)], return_ids=True
    )
    assert second.added_ids is not None
    since = list(listed.lists.entries_since(max(first.added_ids), batch_size=3))
    assert [e.id for e in since] == sorted(second.added_ids)
    assert {e.list_name for e in since} == {"other"}
    assert listed.lists.add_entries("known", [NewEntry("md5", md5(0))]).added_ids is None


def test_entries_round_trip_with_metadata(listed: Store) -> None:
    when = datetime(2023, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    listed.lists.add_entries(
        "known",
        [
            NewEntry("sha256", "AA" * 32, external_id="te-1", note="seen 2023", added_at=when),
            NewEntry("vpdq", md5(9), frames=frames(3, seed=9)),
        ],
    )
    sha, video = list(listed.lists.iter_entries("known"))
    assert isinstance(sha, EntryInfo)
    assert (sha.list_name, sha.signal_type, sha.value) == ("known", "sha256", "aa" * 32)
    assert (sha.external_id, sha.note, sha.frames) == ("te-1", "seen 2023", ())
    assert sha.added_at == when
    assert sha.added_at.tzinfo == UTC
    assert video.frames == frames(3, seed=9)


def test_non_entry_input_is_refused_with_its_position(listed: Store) -> None:
    items: list[Any] = [NewEntry("md5", md5(1)), "md5 " + md5(2)]
    with pytest.raises(InvalidInputError, match=r"^entries\[1\]: expected a NewEntry"):
        listed.lists.add_entries("known", items)


def bad_after(n: int) -> Iterator[Any]:
    yield from (NewEntry("md5", md5(i)) for i in range(n))
    yield "not an entry"


def test_batches_commit_unless_atomic(listed: Store) -> None:
    with pytest.raises(InvalidInputError):
        listed.lists.add_entries("known", bad_after(25), batch_size=10, atomic=True)
    assert listed.lists.count_entries("known") == 0
    with pytest.raises(InvalidInputError, match=r"entries\[25\]"):
        listed.lists.add_entries("known", bad_after(25), batch_size=10)
    # The two complete batches before the bad one stay; a rerun skips them.
    assert listed.lists.count_entries("known") == 20
    result = listed.lists.add_entries("known", (NewEntry("md5", md5(i)) for i in range(25)))
    assert (result.added, result.duplicates) == (5, 20)


@pytest.mark.parametrize("batch_size", [pytest.param(0, id="zero"), pytest.param(10**6, id="huge")])
def test_batch_size_is_bounded(listed: Store, batch_size: int) -> None:
    with pytest.raises(InvalidInputError, match=r"^batch_size: "):
        listed.lists.add_entries("known", [], batch_size=batch_size)


def test_adding_touches_updated_at(listed: Store) -> None:
    before = listed.lists.get_list("known").updated_at
    listed.lists.add_entries("known", [NewEntry("md5", md5(1))])
    assert listed.lists.get_list("known").updated_at > before


# ---------------------------------------------------------------------- streaming


def test_iter_entries_pages_and_filters(listed: Store) -> None:
    listed.lists.add_entries("known", [NewEntry("pdq", pdq(i)) for i in range(7)])
    listed.lists.add_entries("other", [NewEntry("md5", md5(i)) for i in range(5)])
    listed.lists.add_entries(
        "known", [NewEntry("vpdq", md5(100 + i), frames=frames(i + 1, seed=i)) for i in range(4)]
    )
    everything = list(listed.lists.iter_entries(batch_size=3))
    assert len(everything) == 16
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert {e.value for e in listed.lists.iter_entries("other", batch_size=2)} == {
        md5(i) for i in range(5)
    }
    videos = list(listed.lists.iter_entries("known", "vpdq", batch_size=3))
    assert [len(v.frames) for v in videos] == [1, 2, 3, 4]
    assert [v.frames for v in videos] == [frames(i + 1, seed=i) for i in range(4)]
    assert list(listed.lists.iter_entries("other", "vpdq")) == []


@pytest.mark.slow
def test_streaming_200k_entries_keeps_memory_bounded(listed: Store) -> None:
    n = 200_000

    def generate() -> Iterator[NewEntry]:
        return (NewEntry("pdq", pdq(i)) for i in range(n))

    # What holding every entry would cost, measured on a tenth and scaled up.
    gc.collect()
    tracemalloc.start()
    try:
        held = list(itertools.islice(generate(), n // 10))
        holding = tracemalloc.get_traced_memory()[0] * 10
        del held
    finally:
        tracemalloc.stop()

    gc.collect()
    tracemalloc.start()
    try:
        result = listed.lists.add_entries("known", generate())
        _, adding_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.added, result.duplicates) == (n, 0)
    assert adding_peak < holding / 4, f"add peaked at {adding_peak} B; all entries: {holding} B"

    # Reading back pages by id; a quarter of the way is past the steady state (one page
    # of 5000 in memory) and keeps the traced run short.
    tracemalloc.start()
    try:
        for seen, _ in enumerate(listed.lists.iter_entries("known"), start=1):
            if seen == n // 4:
                break
        _, reading_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reading_peak < holding / 4, f"read peaked at {reading_peak} B; all: {holding} B"
    assert sum(1 for _ in listed.lists.iter_entries("known", batch_size=20_000)) == n


# ----------------------------------------------------------------------- removing


def test_remove_entries(listed: Store) -> None:
    listed.lists.add_entries("known", [NewEntry("md5", md5(i)) for i in range(10)])
    listed.lists.add_entries("known", [NewEntry("vpdq", md5(3), frames=frames(2))])
    assert listed.lists.remove_entries("known", [md5(1), md5(2).upper(), md5(99)]) == 2
    assert listed.lists.remove_entries("known", [md5(3)], signal_type="vpdq") == 1
    assert listed.lists.count_entries("known") == 8
    assert listed.lists.count_entries("known", "md5") == 8
    with pytest.raises(InvalidInputError, match=r"^value: "):
        listed.lists.remove_entries("known", ["zz"])
    assert listed.lists.count_entries("known") == 8


def test_deleting_a_list_cascades(listed: Store, raw: Engine) -> None:
    listed.lists.add_entries("known", [NewEntry("vpdq", md5(1), frames=frames(5))])
    listed.lists.add_entries("known", [NewEntry("md5", md5(2))])
    listed.lists.add_entries("other", [NewEntry("md5", md5(2))])
    item = listed.items.record_item("item-1", md5=md5(2))
    for entry in listed.lists.iter_entries():
        listed.items.record_hit(entry.id, item, 0)
    assert (count(raw, VpdqFrame.entry_id), count(raw, MatchHit.id)) == (5, 3)

    listed.lists.delete_list("known")

    assert count(raw, HashEntry.id) == 1
    assert count(raw, VpdqFrame.entry_id) == 0
    assert count(raw, MatchHit.id) == 1
    assert [e.list_name for e in listed.lists.iter_entries()] == ["other"]


def test_removing_an_entry_cascades_to_frames_and_hits(listed: Store, raw: Engine) -> None:
    listed.lists.add_entries("known", [NewEntry("vpdq", md5(1), frames=frames(4))])
    (entry,) = listed.lists.iter_entries("known")
    listed.items.record_hit(entry.id, listed.items.record_item("v"), 3)
    listed.lists.remove_entries("known", [md5(1)])
    assert (count(raw, VpdqFrame.entry_id), count(raw, MatchHit.id)) == (0, 0)
