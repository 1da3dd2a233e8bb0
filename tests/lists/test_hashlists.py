"""Hash lists wired to the store and the scanner, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mediaguard.config import ScanConfig
from mediaguard.lists.hashlists import ListMatcher, export_file, import_file
from mediaguard.match.types import SignalType
from mediaguard.policy.model import Decision, Policy, Quarantine
from mediaguard.scanner import Scanner
from mediaguard.store import Store


def _flip(hex_hash: str, bits: int) -> str:
    """The hash with its first ``bits`` bits inverted: a copy at exactly that distance."""
    raw = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), np.uint8))
    raw[:bits] ^= 1
    return np.packbits(raw).tobytes().hex()


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reference(photo_bytes: bytes) -> dict[str, str]:
    """The photo's hashes as a scanner without lists computes them."""
    verdict = Scanner(ScanConfig(detectors=())).scan(photo_bytes)
    return {"md5": verdict.hashes.md5, "pdq": verdict.hashes.pdq[0].hash}


def _scanner(store: Store, tmp_path: Path, policy: Policy | None = None, **kw: object) -> Scanner:
    matcher = ListMatcher(store, index_dir=tmp_path / "idx", **kw)  # type: ignore[arg-type]
    return Scanner(ScanConfig(detectors=()), policy, matcher=matcher)


def _import(store: Store, name: str, text: str) -> object:
    return import_file(store, name, io.StringIO(text))


def test_exact_and_pdq_matches_block(
    store: Store, tmp_path: Path, photo_bytes: bytes, reference: dict[str, str]
) -> None:
    store.lists.create_list("gifct", "terrorism", "block")
    _import(store, "gifct", f"md5 {reference['md5']}\npdq {_flip(reference['pdq'], 20)}\n")
    verdict = _scanner(store, tmp_path).scan(photo_bytes)
    assert verdict.decision is Decision.BLOCK
    by_signal = {m.signal: m for m in verdict.matches}
    assert by_signal["md5"].distance == 0
    assert by_signal["pdq"].distance == 20
    assert by_signal["pdq"].list == "gifct"
    assert by_signal["pdq"].category == "terrorism"


@pytest.mark.parametrize(
    ("list_distance", "flipped", "matches"),
    [
        pytest.param(31, 31, True, id="default-radius-edge"),
        pytest.param(31, 32, False, id="just-outside"),
        pytest.param(10, 11, False, id="tighter-list"),
        pytest.param(10, 10, True, id="tighter-list-edge"),
    ],
)
def test_per_list_distance(
    store: Store,
    tmp_path: Path,
    photo_bytes: bytes,
    reference: dict[str, str],
    list_distance: int,
    flipped: int,
    matches: bool,
) -> None:
    store.lists.create_list("l", "terrorism", "block", pdq_distance=list_distance)
    _import(store, "l", f"pdq {_flip(reference['pdq'], flipped)}\n")
    verdict = _scanner(store, tmp_path).scan(photo_bytes)
    assert bool(verdict.matches) is matches


def test_allow_list_overrides(
    store: Store, tmp_path: Path, photo_bytes: bytes, reference: dict[str, str]
) -> None:
    store.lists.create_list("shared", "terrorism", "block")
    store.lists.create_list("known-good", "benign", "allow")
    _import(store, "shared", f"pdq {reference['pdq']}\n")
    _import(store, "known-good", f"md5 {reference['md5']}\n")
    verdict = _scanner(store, tmp_path).scan(photo_bytes)
    assert verdict.decision is Decision.ALLOW
    assert {r.code for r in verdict.reasons} == {"list_allow"}


def test_policy_rule_overrides_list_action(
    store: Store, tmp_path: Path, photo_bytes: bytes, reference: dict[str, str]
) -> None:
    store.lists.create_list("shared", "terrorism", "block")
    _import(store, "shared", f"pdq {reference['pdq']}\n")
    policy = Policy.from_toml('name = "p"\nversion = "1"\n[lists.shared]\naction = "review"\n')
    assert _scanner(store, tmp_path, policy).scan(photo_bytes).decision is Decision.REVIEW


def test_quarantine_after_too_many_hits(
    store: Store, tmp_path: Path, photo_bytes: bytes, reference: dict[str, str]
) -> None:
    store.lists.create_list("shared", "terrorism", "block")
    _import(store, "shared", f"pdq {reference['pdq']}\n")
    scanner = _scanner(store, tmp_path, quarantine=Quarantine(max_hits=2, window_hours=1))
    decisions = []
    for i in range(4):
        # Distinct items (different bytes, same picture) each count as a hit.
        image = Image.open(io.BytesIO(photo_bytes))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80 + i)
        decisions.append(scanner.scan(buffer.getvalue()).decision)
    assert decisions[:3] == [Decision.BLOCK] * 3
    assert decisions[3] is Decision.REVIEW


def test_no_record_keeps_no_trace(store: Store, tmp_path: Path, photo_bytes: bytes) -> None:
    _scanner(store, tmp_path, record=False).scan(photo_bytes)
    assert list(store.items.iter_items()) == []
    _scanner(store, tmp_path).scan(photo_bytes)
    assert len(list(store.items.iter_items())) == 1


def test_dihedral_matching_finds_mirrored_copy(store: Store, tmp_path: Path) -> None:
    from skimage import data

    original = Image.fromarray(data.coffee())
    listed = Scanner(ScanConfig(detectors=())).scan(_png(original)).hashes.pdq[0].hash
    store.lists.create_list("l", "terrorism", "block")
    _import(store, "l", f"pdq {listed}\n")
    mirrored = _png(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    matcher = ListMatcher(store, index_dir=tmp_path / "idx")
    plain = Scanner(ScanConfig(detectors=()), matcher=matcher).scan(mirrored)
    assert plain.matches == []
    with_dihedral = Scanner(ScanConfig(detectors=(), dihedral=True), matcher=matcher)
    (match,) = with_dihedral.scan(mirrored).matches
    assert match.transform == "mirror_x"
    assert match.distance <= 31


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_low_quality_hash_is_not_matched_perceptually(store: Store, tmp_path: Path) -> None:
    flat = _png(Image.new("RGB", (200, 200), (120, 120, 120)))
    weak = Scanner(ScanConfig(detectors=())).scan(flat).hashes.pdq[0]
    assert not weak.usable
    store.lists.create_list("l", "terrorism", "block")
    _import(store, "l", f"pdq {weak.hash}\n")
    verdict = _scanner(store, tmp_path).scan(flat)
    assert verdict.matches == []
    assert any("not matched against PDQ lists" in note for note in verdict.notes)


def test_index_persists_and_updates_incrementally(
    store: Store, tmp_path: Path, reference: dict[str, str]
) -> None:
    store.lists.create_list("l", "terrorism", "block")
    _import(store, "l", f"pdq {reference['pdq']}\n")
    ListMatcher(store, index_dir=tmp_path / "idx")
    state = json.loads((tmp_path / "idx" / "state.json").read_text())
    assert state["count"] == 1
    _import(store, "l", f"pdq {_flip(reference['pdq'], 40)}\nmd5 {reference['md5']}\n")
    reloaded = ListMatcher(store, index_dir=tmp_path / "idx")
    assert json.loads((tmp_path / "idx" / "state.json").read_text())["count"] == 3
    assert len(reloaded.lookup(SignalType.MD5, reference["md5"])) == 1
    # A removal is detected and the cache rebuilt without the removed entry.
    store.lists.remove_entries("l", [reference["pdq"]])
    rebuilt = ListMatcher(store, index_dir=tmp_path / "idx")
    assert rebuilt.lookup(SignalType.PDQ, reference["pdq"]) == []
    assert json.loads((tmp_path / "idx" / "state.json").read_text())["count"] == 2


def test_damaged_index_cache_is_rebuilt(
    store: Store, tmp_path: Path, reference: dict[str, str]
) -> None:
    store.lists.create_list("l", "terrorism", "block")
    _import(store, "l", f"pdq {reference['pdq']}\n")
    ListMatcher(store, index_dir=tmp_path / "idx")
    (tmp_path / "idx" / "pdq.idx").write_bytes(b"not an index")
    matcher = ListMatcher(store, index_dir=tmp_path / "idx")
    assert [m.distance for m in matcher.lookup(SignalType.PDQ, reference["pdq"])] == [0]


def test_import_reports_bad_lines_and_retroactive_matches(
    store: Store, tmp_path: Path, photo_bytes: bytes, reference: dict[str, str]
) -> None:
    _scanner(store, tmp_path).scan(photo_bytes, name="upload-7")
    store.lists.create_list("new", "terrorism", "block")
    report = import_file(
        store,
        "new",
        io.StringIO(
            f"# shared list\npdq {_flip(reference['pdq'], 5)}\npdq nothex\n"
            f"md5 {reference['md5']}\nmd5 {reference['md5']}\nsha1 abc\n"
        ),
    )
    assert report.added == 2
    assert report.error_count == 2
    assert [e.line_no for e in report.errors] == [3, 6]
    assert sorted((m.entry.signal_type, m.distance) for m in report.retro_matches) == [
        ("md5", 0),
        ("pdq", 5),
    ]
    assert {m.item.source for m in report.retro_matches} == {"upload-7"}


def test_export_round_trips(store: Store, reference: dict[str, str]) -> None:
    store.lists.create_list("l", "terrorism", "block")
    text = f"pdq {reference['pdq']}\nmd5 {reference['md5']}\n"
    _import(store, "l", text)
    out = io.StringIO()
    assert export_file(store, "l", out) == 2
    store.lists.create_list("copy", "terrorism", "block")
    report = import_file(store, "copy", io.StringIO(out.getvalue()))
    assert (report.added, report.error_count) == (2, 0)
    assert sorted(out.getvalue().split("\n")) == sorted(text.split("\n"))


def test_vpdq_entries_round_trip_and_match_animation(store: Store, tmp_path: Path) -> None:
    from importlib.util import find_spec

    spec = find_spec("skimage.data")
    assert spec is not None
    assert spec.origin is not None
    gif = (Path(spec.origin).parent / "no_time_for_that_tiny.gif").read_bytes()
    bag = Scanner(ScanConfig(detectors=())).scan(gif).hashes.pdq
    frames = [f"{p.hash},{p.quality},{i}.000" for i, p in enumerate(bag)]
    store.lists.create_list("videos", "terrorism", "review")
    report = import_file(store, "videos", io.StringIO(f"vpdq {json.dumps(frames)}\n"))
    assert report.added == 1
    verdict = _scanner(store, tmp_path).scan(gif)
    assert [m.signal for m in verdict.matches] == ["vpdq"]
    assert verdict.decision is Decision.REVIEW
