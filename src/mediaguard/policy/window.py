"""The rolling decision of a live stream: the policy applied over a window of samples.

Why separate: :func:`~mediaguard.policy.engine.decide` judges one item from everything
found in it; a live stream is judged continuously, and a broadcast must not be stopped by
one noisy frame. :class:`RollingDecision` keeps, per category, the level each of the last
``window`` samples reached (:class:`~mediaguard.policy.model.StreamRules`) and decides the
category only when ``hits`` of them agree. A hash-list match is different in kind: a
listed image is not noise, so it acts on the sample it is found in and stays in force
while that sample is inside the window. Like the engine it is a pure function of what it
was fed, so a stream's decisions can be re-derived from its samples during an audit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mediaguard.match.types import Match
from mediaguard.policy.engine import Reason, decide, score_message
from mediaguard.policy.model import Decision, ListAction, Policy
from mediaguard.signals.base import Detection

__all__ = ["RollingDecision", "WindowOutcome"]


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """The stream's decision after a sample, with the reasons in force.

    Attributes:
        decision: the most severe decision any category's window or any match reached.
        reasons: one per category or match in force; ``no_flags`` when there is none.
        levels: each category's window decision (categories seen in the window only).
        sample: the decision of the latest sample alone, as the item engine sees it.
    """

    decision: Decision
    reasons: tuple[Reason, ...]
    levels: Mapping[str, Decision]
    sample: Decision


@dataclass(slots=True)
class _Track:
    levels: deque[int]
    scores: deque[float]


class RollingDecision:
    """Feeds samples one at a time; each :meth:`update` returns the decision in force."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._tracks: dict[str, _Track] = {}
        self._matches: deque[tuple[Reason, ...]] = deque(maxlen=policy.stream.window)

    def _track(self, category: str) -> _Track:
        track = self._tracks.get(category)
        if track is None:
            size = self.policy.stream.window_of(category).window
            track = _Track(deque(maxlen=size), deque(maxlen=size))
            self._tracks[category] = track
        return track

    def update(
        self,
        detections: Sequence[Detection],
        matches: Sequence[Match] = (),
        *,
        list_actions: Mapping[str, ListAction] | None = None,
        quarantined: Collection[int] = frozenset(),
    ) -> WindowOutcome:
        """Add one sample's detections and matches; return the stream's decision now."""
        outcome = decide(
            self.policy, detections, matches, list_actions=list_actions, quarantined=quarantined
        )
        reached = {
            r.category: r.decision
            for r in outcome.reasons
            if r.code.startswith("category_") and r.category is not None
        }
        best: dict[str, float] = {}
        for det in detections:
            best[det.category] = max(best.get(det.category, 0.0), det.score)
        for category in set(self._tracks) | set(best):
            track = self._track(category)
            track.levels.append(reached.get(category, Decision.ALLOW).severity)
            track.scores.append(best.get(category, 0.0))
        self._matches.append(
            tuple(r for r in outcome.reasons if r.list is not None and r.code != "list_allow")
        )
        reasons: list[Reason] = []
        levels: dict[str, Decision] = {}
        for category in sorted(self._tracks):
            level, reason = self._category(category, self._tracks[category])
            levels[category] = level
            if reason is not None:
                reasons.append(reason)
        seen: set[tuple[str | None, str]] = set()
        for sample_reasons in self._matches:
            for reason in sample_reasons:
                if (reason.list, reason.code) not in seen:
                    seen.add((reason.list, reason.code))
                    reasons.append(reason)
        flagged = [r.decision for r in reasons if r.decision is not Decision.ALLOW]
        decision = max(flagged, key=lambda d: d.severity, default=Decision.ALLOW)
        if not reasons:
            reasons.append(
                Reason(
                    code="no_flags",
                    decision=Decision.ALLOW,
                    message="no category reached its window rule and no list matched",
                )
            )
        return WindowOutcome(decision, tuple(reasons), levels, outcome.decision)

    def _category(self, category: str, track: _Track) -> tuple[Decision, Reason | None]:
        rule = self.policy.stream.window_of(category)
        limits = self.policy.thresholds(category)
        for level, threshold in ((Decision.BLOCK, limits.block), (Decision.REVIEW, limits.review)):
            if threshold is None:
                continue
            hits = sum(1 for seen in track.levels if seen >= level.severity)
            if hits >= rule.hits:
                peak = max(s for s, seen in zip(track.scores, track.levels, strict=True) if seen)
                text = score_message(category, peak, level.value, threshold)
                message = f"{text} in {hits} of the last {len(track.levels)} samples"
                return level, Reason(
                    code=f"category_{level.value}",
                    decision=level,
                    message=message,
                    category=category,
                    score=peak,
                )
        return Decision.ALLOW, None
