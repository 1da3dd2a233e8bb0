"""A watched stream's state: decision in force, its segments and matches, and since when.

Why separate: the rolling decision (:mod:`mediaguard.policy.window`) says what the policy
decides now; the state remembers the stream's history in a bounded form a reviewer and a
status line can read: when the current decision began, which categories were in force
over which stretches, which list entries matched and when first. Old closed segments and
matches beyond :data:`MAX_KEPT` are dropped (oldest first) so a stream that runs for days
keeps a flat memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from mediaguard.live.events import MatchSeen, SegmentInfo
from mediaguard.match.types import Match
from mediaguard.policy.model import Decision
from mediaguard.policy.window import WindowOutcome

__all__ = ["MAX_KEPT", "StreamState"]

MAX_KEPT: Final = 500


@dataclass(slots=True)
class _Open:
    decision: Decision
    start: Fraction
    peak: float


@dataclass(slots=True)
class StreamState:
    """Updated per sample by :meth:`update`; read at any time."""

    decision: Decision = Decision.ALLOW
    since: Fraction = Fraction(0)
    samples: int = 0
    last_time: Fraction | None = None
    _open: dict[str, _Open] = field(default_factory=dict)
    _closed: deque[SegmentInfo] = field(default_factory=lambda: deque(maxlen=MAX_KEPT))
    _matches: dict[tuple[str, int], MatchSeen] = field(default_factory=dict)

    def update(self, time: Fraction, outcome: WindowOutcome, matches: tuple[Match, ...]) -> None:
        self.samples += 1
        self.last_time = time
        if outcome.decision is not self.decision:
            self.decision, self.since = outcome.decision, time
        scores = {r.category: r.score for r in outcome.reasons if r.score is not None}
        for category, level in outcome.levels.items():
            current = self._open.get(category)
            if current is not None and current.decision is not level:
                self._close(category, current, time)
                current = None
            if level is Decision.ALLOW:
                continue
            score = scores.get(category) or 0.0
            if current is None:
                self._open[category] = _Open(level, time, score)
            else:
                current.peak = max(current.peak, score)
        for match in matches:
            self._seen(match, time)

    def _close(self, category: str, segment: _Open, end: Fraction) -> None:
        del self._open[category]
        self._closed.append(
            SegmentInfo(
                category=category,
                decision=segment.decision,
                start_s=float(segment.start),
                end_s=float(end),
                peak_score=segment.peak,
            )
        )

    def _seen(self, match: Match, time: Fraction) -> None:
        key = (match.list, match.entry_id)
        seen = self._matches.get(key)
        if seen is None:
            if len(self._matches) >= MAX_KEPT:
                del self._matches[next(iter(self._matches))]
            self._matches[key] = MatchSeen(
                list=match.list,
                category=match.category,
                signal=match.signal,
                entry_id=match.entry_id,
                distance=match.distance,
                first_s=float(time),
                last_s=float(time),
                samples=1,
            )
            return
        self._matches[key] = seen.model_copy(
            update={
                "last_s": float(time),
                "samples": seen.samples + 1,
                "distance": min(seen.distance, match.distance),
            }
        )

    @property
    def segments(self) -> list[SegmentInfo]:
        """Closed segments, then those still open (``end_s`` None), in start order."""
        still = [
            SegmentInfo(
                category=c,
                decision=o.decision,
                start_s=float(o.start),
                end_s=None,
                peak_score=o.peak,
            )
            for c, o in self._open.items()
        ]
        return sorted([*self._closed, *still], key=lambda s: (s.start_s, s.category))

    @property
    def matches(self) -> list[MatchSeen]:
        return sorted(self._matches.values(), key=lambda m: (m.first_s, m.list, m.entry_id))
