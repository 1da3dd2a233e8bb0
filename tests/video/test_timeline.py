"""Merging per-sample detections into segments, on synthetic sample sequences."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mediaguard.signals.base import Detection
from mediaguard.timeline import Segment, build_timeline, fraction_text, sample_interval


def _samples(count: int, step: Fraction = Fraction(1)) -> list[tuple[Fraction, int]]:
    return [(step * i, 25 * i) for i in range(count)]


def _hit(frame: int, score: float, category: str = "sexual") -> Detection:
    return Detection(detector="stub", category=category, label="x", score=score, frame=frame)


def _spans(segments: list[Segment]) -> list[tuple[str, str, str]]:
    return [(s.category, s.start, s.end) for s in segments]


def test_consecutive_hits_merge() -> None:
    detections = [_hit(25 * i, 0.9) for i in (2, 3, 4)]
    (segment,) = build_timeline(_samples(10), detections, min_score=0.5)
    assert (segment.start, segment.end) == ("2/1", "5/1")
    assert (segment.start_s, segment.end_s) == (2.0, 5.0)
    assert segment.samples == 3


def test_one_missed_sample_does_not_split() -> None:
    detections = [_hit(25 * i, 0.9) for i in (1, 3)]
    (segment,) = build_timeline(_samples(10), detections, min_score=0.5)
    assert (segment.start, segment.end) == ("1/1", "4/1")
    assert segment.samples == 2


def test_two_missed_samples_split() -> None:
    detections = [_hit(25 * i, 0.9) for i in (1, 4)]
    segments = build_timeline(_samples(10), detections, min_score=0.5)
    assert _spans(segments) == [("sexual", "1/1", "2/1"), ("sexual", "4/1", "5/1")]


def test_scores_below_min_do_not_count() -> None:
    detections = [_hit(0, 0.9), _hit(25, 0.2), _hit(50, 0.3), _hit(75, 0.9)]
    segments = build_timeline(_samples(5), detections, min_score=0.5)
    assert _spans(segments) == [("sexual", "0/1", "1/1"), ("sexual", "3/1", "4/1")]


def test_custom_gap() -> None:
    detections = [_hit(25 * i, 0.9) for i in (1, 4)]
    (segment,) = build_timeline(_samples(10), detections, min_score=0.5, gap=Fraction(3))
    assert (segment.start, segment.end) == ("1/1", "5/1")


def test_end_is_clipped_to_duration() -> None:
    samples = _samples(4)
    (segment,) = build_timeline(samples, [_hit(75, 0.8)], min_score=0.5, duration=Fraction(33, 10))
    assert (segment.start, segment.end) == ("3/1", "33/10")


def test_peak_and_categories() -> None:
    detections = [
        _hit(0, 0.6),
        _hit(25, 0.95),
        _hit(25, 0.7),  # a weaker duplicate on the same frame
        _hit(50, 0.95),
        _hit(50, 0.8, "violence"),
    ]
    segments = build_timeline(_samples(4), detections, min_score=0.5)
    by_category = {s.category: s for s in segments}
    assert by_category["sexual"].peak_score == 0.95
    assert by_category["sexual"].peak_frame == 25  # the earliest of the tied peaks
    assert by_category["violence"].start == "2/1"
    assert [s.category for s in segments] == ["sexual", "violence"]


def test_exact_fractions_with_ntsc_times() -> None:
    step = Fraction(1001, 1000)
    samples = _samples(5, step)
    (segment,) = build_timeline(samples, [_hit(50, 0.9), _hit(75, 0.9)], min_score=0.5)
    assert Fraction(segment.start) == 2 * step
    assert Fraction(segment.end) == 4 * step
    assert segment.end == fraction_text(4 * step) == "1001/250"


def test_interval_ignores_scene_cut_samples() -> None:
    times = [Fraction(0), Fraction(1), Fraction(5, 4), Fraction(2), Fraction(3)]
    assert sample_interval(times) == 1
    assert sample_interval([Fraction(0)]) == 1


def test_explicit_interval() -> None:
    (segment,) = build_timeline(
        _samples(4), [_hit(25, 0.9)], min_score=0.5, interval=Fraction(1, 2)
    )
    assert (segment.start, segment.end) == ("1/1", "3/2")


def test_unordered_samples() -> None:
    samples = list(reversed(_samples(6)))
    segments = build_timeline(samples, [_hit(25, 0.9), _hit(50, 0.9)], min_score=0.5)
    assert _spans(segments) == [("sexual", "1/1", "3/1")]


def test_nothing_flagged() -> None:
    assert build_timeline(_samples(3), [], min_score=0.5) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"min_score": 1.5}, "min_score", id="score"),
        pytest.param({"min_score": 0.5, "gap": Fraction(-1)}, "gap", id="gap"),
        pytest.param({"min_score": 0.5, "interval": Fraction(0)}, "interval", id="interval"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_timeline(_samples(2), [], **kwargs)  # type: ignore[arg-type]


def test_detection_without_sample() -> None:
    with pytest.raises(ValueError, match="frame 999"):
        build_timeline(_samples(2), [_hit(999, 0.9)], min_score=0.5)


def test_segment_is_frozen_json() -> None:
    (segment,) = build_timeline(_samples(2), [_hit(0, 0.9)], min_score=0.5)
    assert Segment.model_validate_json(segment.model_dump_json()) == segment
    with pytest.raises(ValueError, match="frozen"):
        segment.start = "0/1"  # type: ignore[misc]
