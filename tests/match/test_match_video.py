from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from _match_helpers import flip_bits

from mediaguard.match import (
    FrameHash,
    HashFormatError,
    PDQIndex,
    VideoIndex,
    format_vpdq,
    match_frames,
    match_percentages,
    parse_vpdq,
)


def _video(codes: np.ndarray, quality: int = 100, start: int = 0) -> list[FrameHash]:
    return [
        FrameHash(start + i, Fraction(start + i), c.tobytes().hex(), quality)
        for i, c in enumerate(codes)
    ]


@pytest.fixture
def target(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(10, 32), dtype=np.uint8)


def _flipped(codes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([flip_bits(c, n, rng) for c in codes])


@pytest.mark.parametrize(
    ("make_query", "expected"),
    [
        pytest.param(lambda t, r: t, (100.0, 100.0), id="identical"),
        pytest.param(lambda t, r: t[:5], (100.0, 50.0), id="50-percent-clip"),
        pytest.param(lambda t, r: _flipped(t, 10, r), (100.0, 100.0), id="perturbed-10-bits"),
        pytest.param(lambda t, r: _flipped(t, 31, r), (100.0, 100.0), id="distance-31"),
        pytest.param(lambda t, r: _flipped(t, 32, r), (0.0, 0.0), id="distance-32-no-match"),
        pytest.param(
            lambda t, r: np.concatenate([t, r.integers(0, 256, (10, 32), dtype=np.uint8)]),
            (50.0, 100.0),
            id="listed-video-inside-longer-upload",
        ),
        pytest.param(
            lambda t, r: np.concatenate([t, t, t]), (100.0, 100.0), id="repeated-frames-dedup"
        ),
    ],
)
def test_percentages_brute_and_index_agree(
    make_query: object, expected: tuple[float, float], target: np.ndarray, rng: np.random.Generator
) -> None:
    query = _video(make_query(target, rng))  # type: ignore[operator]
    tv = _video(target)
    assert match_percentages(query, tv) == expected
    index = VideoIndex.build([(7, tv)])
    hits = index.query(query, compared_pct=0.0)
    if expected == (0.0, 0.0):
        assert hits == []
    else:
        assert [(h.entry_id, h.query_match_pct, h.compared_match_pct) for h in hits] == [
            (7, *expected)
        ]


def test_low_quality_frames_ignored_on_both_sides(target: np.ndarray) -> None:
    good = _video(target[:5])
    bad = _video(target[5:], quality=49)
    # The target's low-quality half is not counted, so the good half is 100 %.
    assert match_percentages(good, good + bad) == (100.0, 100.0)
    # Query frames below quality are not matched at all.
    assert match_percentages(bad, good + bad) == (0.0, 0.0)
    index = VideoIndex.build([(1, good + bad)])
    assert [h.compared_match_pct for h in index.query(good)] == [100.0]
    assert index.query(bad) == []


@pytest.mark.parametrize(
    ("matched", "compared_pct", "hit"),
    [
        pytest.param(8, 80.0, True, id="exactly-80-matches"),
        pytest.param(7, 80.0, False, id="70-below-80"),
        pytest.param(10, 100.0, True, id="100-at-100"),
        pytest.param(9, 90.0, True, id="90-at-90"),
    ],
)
def test_compared_threshold_edges(
    matched: int, compared_pct: float, hit: bool, target: np.ndarray, rng: np.random.Generator
) -> None:
    query = _video(target[:matched])
    index = VideoIndex.build([(3, _video(target))])
    got = index.query(query, compared_pct=compared_pct)
    assert bool(got) is hit
    if hit:
        assert got[0].compared_match_pct == matched * 10.0


def test_query_threshold_like_threatexchange(target: np.ndarray, rng: np.random.Generator) -> None:
    longer = np.concatenate([target[:5], rng.integers(0, 256, (15, 32), dtype=np.uint8)])
    index = VideoIndex.build([(1, _video(target))])
    assert index.query(_video(longer), query_pct=80.0, compared_pct=0.0) == []
    assert index.query(_video(target[:5]), query_pct=80.0, compared_pct=0.0)[0].entry_id == 1


def test_index_over_many_videos_matches_brute(rng: np.random.Generator) -> None:
    videos = {
        vid: rng.integers(0, 256, (int(rng.integers(3, 30)), 32), dtype=np.uint8)
        for vid in range(40)
    }
    index = VideoIndex.build((vid, _video(c)) for vid, c in videos.items())
    # A query mixing perturbed frames of several listed videos with noise.
    parts = [
        _flipped(videos[3], 20, rng),
        videos[8][:4],
        rng.integers(0, 256, (12, 32), dtype=np.uint8),
    ]
    query = _video(np.concatenate(parts))
    got = {
        h.entry_id: (h.query_match_pct, h.compared_match_pct)
        for h in index.query(query, compared_pct=0.0)
    }
    expected = {}
    for vid, c in videos.items():
        qp, cp = match_percentages(query, _video(c))
        if qp or cp:
            expected[vid] = (qp, cp)
    assert got == expected
    assert set(got) == {3, 8}
    best = index.query(query)
    assert [h.entry_id for h in best] == [3]
    assert best[0].frame == 0


def test_remove_and_save_load(tmp_path: Path, target: np.ndarray, rng: np.random.Generator) -> None:
    other = rng.integers(0, 256, (6, 32), dtype=np.uint8)
    index = VideoIndex.build([(1, _video(target)), (2, _video(other))])
    with pytest.raises(ValueError, match="already"):
        index.add([(1, _video(target))])
    assert index.remove([2, 99]) == 1
    assert index.query(_video(other)) == []
    index.save(tmp_path / "v.mgidx")
    loaded = VideoIndex.load(tmp_path / "v.mgidx")
    assert len(loaded) == 1
    assert [h.entry_id for h in loaded.query(_video(target))] == [1]
    assert loaded.query(_video(other)) == []


def test_match_frames_against_image_list(target: np.ndarray, rng: np.random.Generator) -> None:
    images = PDQIndex.build([100, 101], np.stack([target[2], target[7]]))
    frames = _video(_flipped(target, 5, rng), start=10)
    got = match_frames(images, frames)
    assert [(m.entry_id, m.frame, m.distance) for m in got] == [(100, 12, 5), (101, 17, 5)]
    frames[2] = FrameHash(12, Fraction(12), frames[2].pdq, 10)  # low quality: ignored
    assert [m.entry_id for m in match_frames(images, frames)] == [101]
    dup = _video(np.stack([target[7], target[7]]))
    assert len(match_frames(images, dup, best_per_entry=False)) == 2
    assert len(match_frames(images, dup)) == 1


def test_vpdq_value_round_trip(target: np.ndarray) -> None:
    frames = [FrameHash(i, Fraction(i, 2), c.tobytes().hex(), 90) for i, c in enumerate(target)]
    assert parse_vpdq(format_vpdq(frames)) == frames


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"index": -1}, ValueError, id="negative-index"),
        pytest.param({"index": 1.0}, ValueError, id="float-index"),
        pytest.param({"quality": True}, ValueError, id="bool-quality"),
        pytest.param({"quality": 101}, ValueError, id="quality"),
        pytest.param({"time": Fraction(-1)}, ValueError, id="negative-time"),
        pytest.param({"pdq": "AB" * 32}, HashFormatError, id="uppercase"),
        pytest.param({"pdq": "ab"}, HashFormatError, id="short"),
    ],
)
def test_frame_hash_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    base: dict[str, object] = {"index": 0, "time": Fraction(0), "pdq": "ab" * 32, "quality": 50}
    base.update(kwargs)
    with pytest.raises(error):
        FrameHash(**base)  # type: ignore[arg-type]
