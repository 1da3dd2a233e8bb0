"""Turn per-sample detections of a video into time segments per category.

Design note: a moderator reviewing a flagged video wants "sexual from 0:12 to 0:31", not
three hundred per-frame scores. :func:`build_timeline` merges the samples of one category
whose score reaches ``min_score`` into segments, tolerating a short run of samples below
it (a model's score flickers from frame to frame) but splitting on a longer one. Times
stay exact: each segment carries its bounds as ``Fraction`` strings (``"num/den"``) next
to the float seconds a UI wants, so a segment can be mapped back to frames exactly.

The rule:

* A sample's score for a category is the highest score of any detection of that
  category on the sample's frame. Samples scoring at least ``min_score`` are *hits*.
* Successive hits of a category join one segment while the time between them is at most
  ``gap``; a longer stretch without a hit ends the segment. The default ``gap`` is two
  sample intervals, so one missed sample between two hits does not split a segment but
  two do.
* A segment starts at the time of its first hit and ends one sample interval after its
  last hit (the content was seen at that sample and is assumed to last until the next
  one), clipped to the video's duration when it is known.
* The *sample interval* is ``1 / rate`` when the caller passes the sampling rate's
  interval (``VideoStream.rate``), else the upper median time between consecutive
  samples (scene-cut samples make the spacing uneven; the median ignores them), or one
  second when there are fewer than two samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from statistics import median_high

from pydantic import BaseModel, ConfigDict, Field

from mediaguard.signals.base import Detection

_DEFAULT_INTERVAL = Fraction(1)
_GAP_INTERVALS = 2


class Segment(BaseModel):
    """A stretch of a video in which one category was detected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str = Field(description="Content category detected in the segment.")
    start_s: float = Field(ge=0.0, description="Start, seconds (rounded; see start).")
    end_s: float = Field(ge=0.0, description="End, seconds (rounded; see end).")
    start: str = Field(description="Exact start in seconds, as a fraction 'num/den'.")
    end: str = Field(description="Exact end in seconds, as a fraction 'num/den'.")
    peak_score: float = Field(ge=0.0, le=1.0, description="Highest score in the segment.")
    peak_frame: int = Field(ge=0, description="Index of the frame with the highest score.")
    samples: int = Field(ge=1, description="Samples in the segment scoring >= min_score.")


def fraction_text(value: Fraction) -> str:
    """An exact fraction as ``"num/den"`` (``"3/1"`` for whole numbers, for uniformity)."""
    return f"{value.numerator}/{value.denominator}"


def sample_interval(times: Sequence[Fraction]) -> Fraction:
    """Upper median time between consecutive samples, or one second for fewer than two."""
    steps = [b - a for a, b in pairwise(times) if b > a]
    if not steps:
        return _DEFAULT_INTERVAL
    return Fraction(median_high(steps))


def build_timeline(
    samples: Sequence[tuple[Fraction, int]],
    detections: Sequence[Detection],
    *,
    min_score: float,
    gap: Fraction | None = None,
    duration: Fraction | None = None,
    interval: Fraction | None = None,
) -> list[Segment]:
    """Merge per-sample detections into segments per category (see the module note).

    Args:
        samples: ``(time, frame index)`` of every sample, in any order; times in
            seconds from the start of the video.
        detections: detections on those samples; ``Detection.frame`` names the sample.
        min_score: lowest score that counts as a hit (0 to 1).
        gap: longest time between two hits of one segment; two sample intervals when
            None.
        duration: the video's duration; segment ends are clipped to it.
        interval: time between fixed-rate samples (``1 / VideoStream.rate``); estimated
            from the sample times when None.

    Returns:
        The segments, ordered by start time, then category.

    Raises:
        ValueError: ``min_score`` is outside 0..1, ``gap`` is negative, or a detection
            names a frame that is not among the samples.
    """
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be within 0..1, got {min_score}")
    if gap is not None and gap < 0:
        raise ValueError(f"gap must not be negative, got {gap}")
    if interval is not None and interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    ordered = sorted(samples)
    times = [time for time, _ in ordered]
    interval = interval if interval is not None else sample_interval(times)
    max_gap = gap if gap is not None else _GAP_INTERVALS * interval
    time_of = {frame: time for time, frame in ordered}

    # Best score per (category, frame).
    best: dict[str, dict[int, float]] = {}
    for detection in detections:
        if detection.frame not in time_of:
            raise ValueError(
                f"detection on frame {detection.frame} has no sample; pass every sampled "
                "(time, frame) to build_timeline"
            )
        per_frame = best.setdefault(detection.category, {})
        per_frame[detection.frame] = max(per_frame.get(detection.frame, 0.0), detection.score)

    segments: list[Segment] = []
    for category, scores in best.items():
        hits = sorted(
            (time_of[frame], frame, score) for frame, score in scores.items() if score >= min_score
        )
        run: list[tuple[Fraction, int, float]] = []
        for hit in hits:
            if run and hit[0] - run[-1][0] > max_gap:
                segments.append(_segment(category, run, interval, duration))
                run = []
            run.append(hit)
        if run:
            segments.append(_segment(category, run, interval, duration))
    segments.sort(key=lambda s: (Fraction(s.start), s.category))
    return segments


def _segment(
    category: str,
    run: Sequence[tuple[Fraction, int, float]],
    interval: Fraction,
    duration: Fraction | None,
) -> Segment:
    # A frame decoded before the stream's start time (codec pre-roll) counts from zero.
    start = max(run[0][0], Fraction(0))
    end = run[-1][0] + interval
    if duration is not None:
        end = max(start, min(end, duration))
    # The earliest frame wins a tie, so the peak points at the first time it was seen.
    _, peak_frame, peak_score = max(run, key=lambda hit: (hit[2], -hit[0]))
    return Segment(
        category=category,
        start_s=float(start),
        end_s=float(end),
        start=fraction_text(start),
        end=fraction_text(end),
        peak_score=peak_score,
        peak_frame=peak_frame,
        samples=len(run),
    )
