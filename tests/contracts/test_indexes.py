"""What every hash index promises the matcher, checked on every index kind.

The list matcher builds an index from entry ids and values, queries it per scanned
item, patches it as entries come and go, and keeps it on disk between runs. Each kind
answers in its own shape (ids for an exact digest, ``(id, distance)`` for PDQ), so an
adapter below turns an answer into the set of ids found; every other promise is the
same for all kinds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediaguard.match.index import ExactIndex, PDQIndex
from mediaguard.match.types import HashFormatError, IndexFormatError


@dataclass(frozen=True)
class Kind:
    """How to build, query and load one index kind."""

    nbytes: int
    build: Callable[[list[int], list[str]], Any]
    load: Callable[[Path], Any]
    found: Callable[[Any], set[int]]


def _exact(signal: str, nbytes: int) -> Kind:
    return Kind(
        nbytes=nbytes,
        build=lambda ids, values: ExactIndex.build(signal, ids, values),
        load=ExactIndex.load,
        found=lambda answer: set(answer),
    )


KINDS = [
    pytest.param(_exact("md5", 16), id="exact-md5"),
    pytest.param(_exact("sha256", 32), id="exact-sha256"),
    pytest.param(
        Kind(
            nbytes=32,
            build=lambda ids, values: PDQIndex.build(ids, values),
            load=PDQIndex.load,
            found=lambda answer: {entry for entry, _distance in answer},
        ),
        id="pdq",
    ),
]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


def values(kind: Kind, n: int) -> list[str]:
    """Random values: random PDQ hashes are ~128 bits apart, far beyond any threshold."""
    return [secrets.token_hex(kind.nbytes) for _ in range(n)]


def test_finds_what_it_holds_and_nothing_else(kind: Kind) -> None:
    held = values(kind, 50)
    index = kind.build(list(range(100, 150)), held)

    assert len(index) == 50
    for entry, value in zip(range(100, 150), held, strict=True):
        assert kind.found(index.query(value)) == {entry}
    assert all(kind.found(index.query(v)) == set() for v in values(kind, 20))
    batch = [*held[:5], *values(kind, 3)]
    assert [kind.found(a) for a in index.query_batch(batch)] == [
        kind.found(index.query(v)) for v in batch
    ]


def test_an_id_may_hold_several_values_and_a_value_several_ids(kind: Kind) -> None:
    a, b = values(kind, 2)
    index = kind.build([1, 1, 2], [a, b, a])

    assert kind.found(index.query(a)) == {1, 2}
    assert kind.found(index.query(b)) == {1}


def test_add_and_remove_patch_it_in_place(kind: Kind) -> None:
    first, second, third = values(kind, 3)
    index = kind.build([1, 2], [first, second])

    index.add([3], [third])
    assert kind.found(index.query(third)) == {3}
    assert index.remove([1, 99]) == 1
    assert kind.found(index.query(first)) == set()
    assert kind.found(index.query(second)) == {2}
    assert len(index) == 2


def test_empty_index_answers_nothing(kind: Kind) -> None:
    index = kind.build([], [])

    assert len(index) == 0
    assert kind.found(index.query(values(kind, 1)[0])) == set()


@pytest.mark.parametrize(
    "bad", ["", "zz", "0" * 63, "g" * 64, "0" * 65, "0" * 31, "not a hash at all"]
)
def test_a_malformed_value_is_refused_and_adds_nothing(kind: Kind, bad: str) -> None:
    index = kind.build([1], values(kind, 1))

    with pytest.raises(HashFormatError):
        index.add([2, 3], [values(kind, 1)[0], bad])
    assert len(index) == 1
    with pytest.raises(HashFormatError):
        index.query(bad)


def test_ids_and_values_must_pair_up(kind: Kind) -> None:
    with pytest.raises(ValueError, match=r"expected 1 integer ids"):
        kind.build([1, 2], values(kind, 1))


def test_saved_index_loads_with_the_same_answers(kind: Kind, tmp_path: Path) -> None:
    held = values(kind, 30)
    index = kind.build(list(range(30)), held)
    index.remove([4])
    path = tmp_path / "lists" / "index.bin"

    index.save(path)
    loaded = kind.load(path)

    assert len(loaded) == len(index)
    probe = [*held, *values(kind, 5)]
    assert [kind.found(a) for a in loaded.query_batch(probe)] == [
        kind.found(a) for a in index.query_batch(probe)
    ]
    assert [p.name for p in path.parent.iterdir()] == ["index.bin"]  # no temp file left


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: raw[:-40] + bytes(40), id="zeroed-tail"),
        pytest.param(lambda raw: b"PK\x03\x04" + secrets.token_bytes(300), id="junk"),
    ],
)
def test_a_damaged_file_is_a_typed_error(
    kind: Kind, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / "index.bin"
    kind.build(list(range(10)), values(kind, 10)).save(path)
    path.write_bytes(damage(path.read_bytes()))

    with pytest.raises(IndexFormatError):
        kind.load(path)


def test_an_index_of_another_kind_is_refused(kind: Kind, tmp_path: Path) -> None:
    path = tmp_path / "other.bin"
    other = PDQIndex.build([1], [secrets.token_hex(32)])
    if isinstance(kind.build([], []), PDQIndex):
        other = ExactIndex.build("sha256", [1], [secrets.token_hex(32)])
    other.save(path)

    with pytest.raises(IndexFormatError):
        kind.load(path)
