from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _match_helpers import brute, flip_bits

from mediaguard.match import (
    DIHEDRAL_TRANSFORMS,
    MIN_PDQ_QUALITY,
    ExactIndex,
    HashFormatError,
    IndexFormatError,
    PDQIndex,
    SignalType,
    dihedral_queries,
    pdq_bits_to_hex,
    pdq_codes,
    pdq_quality_ok,
)
from mediaguard.match.index import INDEX_VERSION

# ----------------------------------------------------------------------------- contract
# Every index passes the same suite: build, add, query, remove, save/load round trip.


def _codes(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)


IndexFactory = Callable[[list[int], list[str]], Any]

CONTRACT = [
    pytest.param((lambda ids, hs: ExactIndex.build("md5", ids, hs)), 16, id="exact-md5"),
    pytest.param(
        (lambda ids, hs: ExactIndex.build(SignalType.SHA256, ids, hs)), 32, id="exact-sha256"
    ),
    pytest.param((lambda ids, hs: PDQIndex.build(ids, hs)), 32, id="pdq"),
]


def _ids_of(result: list[Any]) -> list[int]:
    return sorted(r[0] if isinstance(r, tuple) else r for r in result)


@pytest.mark.parametrize(("factory", "nbytes"), CONTRACT)
def test_contract_build_query_remove_roundtrip(
    factory: IndexFactory, nbytes: int, rng: np.random.Generator, tmp_path: Path
) -> None:
    codes = _codes(rng, 200, nbytes)
    hexes = [c.tobytes().hex() for c in codes]
    index = factory(list(range(200)), hexes)
    assert len(index) == 200
    assert _ids_of(index.query(hexes[17])) == [17]
    assert _ids_of(index.query(codes[18].tobytes())) == [18]
    index.add([500], [hexes[17]])
    assert _ids_of(index.query(hexes[17])) == [17, 500]
    assert index.remove([17]) == 1
    assert _ids_of(index.query(hexes[17])) == [500]
    assert index.remove([12345]) == 0
    path = tmp_path / "x.mgidx"
    index.save(path)
    loaded = type(index).load(path)
    assert len(loaded) == len(index) == 200
    for h in hexes[:50]:
        assert _ids_of(loaded.query(h)) == _ids_of(index.query(h))
    assert not [p for p in tmp_path.iterdir() if p.name != "x.mgidx"], "temp file left"


@pytest.mark.parametrize(("factory", "nbytes"), CONTRACT)
def test_contract_rejects_bad_hash(factory: IndexFactory, nbytes: int) -> None:
    index = factory([1], ["ab" * nbytes])
    with pytest.raises(HashFormatError, match="hex"):
        index.query("zz" * nbytes)
    with pytest.raises(HashFormatError):
        index.add([2], ["ab" * (nbytes - 1)])
    assert len(index) == 1


@pytest.mark.parametrize(("factory", "nbytes"), CONTRACT)
def test_contract_batch_equals_single(
    factory: IndexFactory, nbytes: int, rng: np.random.Generator
) -> None:
    codes = _codes(rng, 100, nbytes)
    hexes = [c.tobytes().hex() for c in codes]
    index = factory(list(range(100)), hexes)
    queries = [*hexes[::7], "00" * nbytes]
    assert index.query_batch(queries) == [index.query(q) for q in queries]


@pytest.mark.parametrize(("factory", "nbytes"), CONTRACT)
def test_contract_empty_index(factory: IndexFactory, nbytes: int, tmp_path: Path) -> None:
    index = factory([], [])
    assert len(index) == 0
    assert index.query("00" * nbytes) == []
    index.save(tmp_path / "e")
    assert len(type(index).load(tmp_path / "e")) == 0


# ----------------------------------------------------------------------------- PDQ exactness


def _planted(
    rng: np.random.Generator, n: int, distances: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    codes = _codes(rng, n, 32)
    targets = rng.choice(n, size=len(distances), replace=False)
    queries = np.stack(
        [flip_bits(codes[t], d, rng) for t, d in zip(targets, distances, strict=True)]
    )
    return codes, queries


@pytest.mark.parametrize(
    ("n", "radius"),
    [
        pytest.param(3000, 31, id="small-no-perm-high-part"),
        pytest.param(70_000, 31, id="over-65536-rows-3-byte-perm"),
        pytest.param(3000, 0, id="radius-0"),
        pytest.param(3000, 15, id="radius-15-no-flips"),
        pytest.param(3000, 47, id="radius-47-two-flips"),
        pytest.param(500, 80, id="radius-80"),
    ],
)
def test_pdq_matches_brute_force_exactly(n: int, radius: int, rng: np.random.Generator) -> None:
    distances = [*list(range(0, 41)), radius, radius + 1]
    codes, queries = _planted(rng, n, distances)
    ids = np.arange(n) * 7 + 3
    index = PDQIndex.build(ids, codes)
    got = index.query_batch(queries, max_distance=radius)
    for q, hits in zip(queries, got, strict=True):
        expected = sorted(
            ((int(ids[r]), d) for r, d in brute(codes, q, radius).items()),
            key=lambda x: (x[1], x[0]),
        )
        assert hits == expected


def test_pdq_distance_31_in_32_out(rng: np.random.Generator) -> None:
    codes = _codes(rng, 5000, 32)
    index = PDQIndex.build(range(5000), codes)
    at31 = flip_bits(codes[42], 31, rng)
    at32 = flip_bits(codes[42], 32, rng)
    assert (42, 31) in index.query(at31)
    assert all(i != 42 for i, _ in index.query(at32))
    assert (42, 32) in index.query(at32, max_distance=32)


def test_pdq_same_id_several_hashes_reports_min_distance(rng: np.random.Generator) -> None:
    base = _codes(rng, 1, 32)[0]
    far = flip_bits(base, 20, rng)
    index = PDQIndex.build([9, 9], np.stack([far, base]))
    assert index.query(base) == [(9, 0)]


def test_pdq_delta_compaction_and_tombstones(rng: np.random.Generator) -> None:
    codes = _codes(rng, 400, 32)
    index = PDQIndex.build(range(100), codes[:100], delta_limit=50)
    index.add(range(100, 140), codes[100:140])  # stays in the delta
    assert index.query(codes[120]) == [(120, 0)]
    index.add(range(140, 400), codes[140:])  # exceeds the delta: rebuilt
    assert len(index) == 400
    for i in (0, 120, 399):
        assert index.query(codes[i]) == [(i, 0)]
    assert index.remove(range(0, 50)) == 50
    assert index.query(codes[10]) == []
    assert len(index) == 350
    assert index.remove(range(50, 200)) == 150  # over a quarter dead: compacted
    assert len(index) == 200
    assert index.query(codes[300]) == [(300, 0)]


def test_pdq_query_validation(rng: np.random.Generator) -> None:
    index = PDQIndex.build([1], _codes(rng, 1, 32))
    with pytest.raises(ValueError, match="0 and 256"):
        index.query("00" * 32, max_distance=-1)
    with pytest.raises(TypeError):
        index.query("00" * 32, max_distance=3.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer ids"):
        PDQIndex.build([1, 2], _codes(rng, 1, 32))


def test_pdq_codes_vectorised_hex_matches_fromhex(rng: np.random.Generator) -> None:
    codes = _codes(rng, 50, 32)
    hexes = [c.tobytes().hex().upper() for c in codes]
    assert np.array_equal(pdq_codes(hexes), codes)
    with pytest.raises(HashFormatError, match="position 1"):
        pdq_codes(["00" * 32, "0g" * 32])


def test_quality_helper() -> None:
    assert MIN_PDQ_QUALITY == 50
    assert pdq_quality_ok(50)
    assert not pdq_quality_ok(49)
    assert pdq_quality_ok(30, min_quality=20)


# ----------------------------------------------------------------------------- dihedral


def _pdq(img: np.ndarray) -> str:
    import pdqhash

    bits, _ = pdqhash.compute(np.ascontiguousarray(img))
    return pdq_bits_to_hex(bits)


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        pytest.param(lambda a: a, None, id="original"),
        pytest.param(lambda a: a[:, ::-1], "mirror_x", id="mirror-left-right"),
        pytest.param(lambda a: a[::-1], "mirror_y", id="mirror-top-bottom"),
        pytest.param(lambda a: np.rot90(a, -1), "rot90", id="rotate-90-clockwise"),
        pytest.param(lambda a: np.rot90(a, 2), "rot180", id="rotate-180"),
        pytest.param(lambda a: np.rot90(a, 1), "rot270", id="rotate-270-clockwise"),
        pytest.param(lambda a: a.transpose(1, 0, 2), "transpose", id="transpose"),
    ],
)
def test_dihedral_names_say_how_scanned_differs(
    transform: Callable[[np.ndarray], np.ndarray], expected: str | None
) -> None:
    pdqhash = pytest.importorskip("pdqhash")
    data = pytest.importorskip("skimage.data")
    listed = data.astronaut()
    other = data.coffee()
    index = PDQIndex.build([1, 2], [_pdq(listed), _pdq(other)])
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(transform(listed)))
    assert quality >= MIN_PDQ_QUALITY
    hits = index.query_dihedral(dihedral_queries(vectors))
    assert [(h.entry_id, h.transform) for h in hits] == [(1, expected)]
    assert hits[0].distance <= 31


def test_dihedral_queries_needs_eight() -> None:
    assert len(DIHEDRAL_TRANSFORMS) == 8
    with pytest.raises(HashFormatError, match="8 dihedral"):
        dihedral_queries([np.zeros(256, dtype=np.int64)])
    with pytest.raises(HashFormatError, match="256"):
        pdq_bits_to_hex(np.zeros(255))


# ----------------------------------------------------------------------------- persistence


@pytest.fixture
def saved(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    codes = _codes(rng, 70_000, 32)
    path = tmp_path / "pdq.mgidx"
    PDQIndex.build(range(70_000), codes).save(path)
    return path, codes


def test_pdq_save_load_keeps_results(
    saved: tuple[Path, np.ndarray], rng: np.random.Generator
) -> None:
    path, codes = saved
    loaded = PDQIndex.load(path)
    q = flip_bits(codes[777], 25, rng)
    assert loaded.query(q) == [(777, 25)]
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json"))
    assert header["format"] == "mediaguard-index"
    assert header["version"] == INDEX_VERSION
    assert header["counts"] == {"hashes": 70_000}


def _rewrite(path: Path, edit: Callable[[str, bytes], bytes]) -> None:
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, edit(name, data))


def _header_edit(**changes: Any) -> Callable[[str, bytes], bytes]:
    def edit(name: str, data: bytes) -> bytes:
        if name != "header.json":
            return data
        header = json.loads(data)
        header.update(changes)
        return json.dumps(header).encode()

    return edit


def _corrupt_codes(name: str, data: bytes) -> bytes:
    if name != "codes.npy":
        return data
    b = bytearray(data)
    b[-5] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        pytest.param(
            _header_edit(version=INDEX_VERSION + 1),
            "version 2 is not supported",
            id="future-version",
        ),
        pytest.param(_header_edit(kind="exact"), "expected 'pdq'", id="wrong-kind"),
        pytest.param(_header_edit(format="other"), "not a mediaguard index", id="wrong-format"),
        pytest.param(_corrupt_codes, "checksum", id="flipped-byte"),
    ],
)
def test_pdq_load_refuses_bad_files(
    saved: tuple[Path, np.ndarray], edit: Callable[[str, bytes], bytes], needle: str
) -> None:
    path, _ = saved
    _rewrite(path, edit)
    with pytest.raises(IndexFormatError, match=needle):
        PDQIndex.load(path)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"not a zip at all", id="garbage"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_pdq_load_refuses_damaged_bytes(
    saved: tuple[Path, np.ndarray], mangle: Callable[[bytes], bytes]
) -> None:
    path, _ = saved
    path.write_bytes(mangle(path.read_bytes()))
    with pytest.raises(IndexFormatError):
        PDQIndex.load(path)


def test_load_missing_file_is_typed(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError):
        PDQIndex.load(tmp_path / "nope")


def test_pdq_load_refuses_inconsistent_tables(tmp_path: Path, rng: np.random.Generator) -> None:
    # A file whose checksums are right but whose tables do not fit its codes.
    from mediaguard.match.index.container import write_container
    from mediaguard.match.index.multiindex import Segment

    seg = Segment.build(_codes(rng, 1000, 32), np.arange(1000))
    other = Segment.build(_codes(rng, 1000, 32), np.arange(1000))
    path = tmp_path / "bad.mgidx"
    meta = {"counts": {"hashes": 1000}, "chunks": 16, "chunk_bits": 16}
    write_container(
        path,
        "pdq",
        meta,
        {"codes": seg.codes, "ids": seg.ids, "offsets": other.offsets, "perm_lo": seg.perm_lo},
    )
    with pytest.raises(IndexFormatError, match="offset table"):
        PDQIndex.load(path)


def test_save_is_atomic_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    path = tmp_path / "keep.mgidx"
    PDQIndex.build([1], _codes(rng, 1, 32)).save(path)
    before = path.read_bytes()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(OSError, match="disk full"):
        PDQIndex.build([2], _codes(rng, 1, 32)).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mgidx"]


def test_exact_index_rejects_pdq_signal() -> None:
    with pytest.raises(ValueError, match="md5 or sha256"):
        ExactIndex(SignalType.PDQ)
