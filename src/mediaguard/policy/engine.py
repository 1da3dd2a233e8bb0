"""Turn detections and hash-list matches into a decision with reasons.

Design note: the engine is a pure function of its inputs (policy, detections, matches,
the lists' own actions and which list entries are quarantined), so the same inputs give
the same decision in the CLI, the library and the service, and a decision can be
re-derived during an audit. Every flag it raises becomes a human-readable reason; the
decision is the most severe of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from mediaguard.match.textmatch import TextMatch
from mediaguard.match.types import Match
from mediaguard.policy.model import Decision, ListAction, Policy, Thresholds
from mediaguard.signals.base import Detection


class Reason(BaseModel):
    """Why a decision was taken, in words a reviewer can read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(
        description="Stable code: category_block, category_review, list_block, "
        "list_review, list_allow, quarantined, text_unsure (a term or URL list match in "
        "text read with too little confidence to count) or no_flags."
    )
    decision: Decision = Field(description="The decision this reason argues for.")
    message: str
    category: str | None = None
    list: str | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    reasons: tuple[Reason, ...]


def category_scores(detections: Sequence[Detection]) -> dict[str, float]:
    """The highest score per category over all detections and frames."""
    scores: dict[str, float] = {}
    for det in detections:
        if det.score > scores.get(det.category, -1.0):
            scores[det.category] = det.score
    return scores


#: How a category is named in a reason. A reason states a measurement, a model's score
#: against the policy's threshold, never a verdict: the model's own label (open_nsfw's
#: "explicit") reads as a finding about the media, when it is only the name of the output
#: that scored, so it is left out.
_CATEGORY_NAMES: Final = {"sexual": "sexual-content", "suggestive": "suggestive-content"}


def _places(threshold: float) -> int:
    """Decimal places that show ``threshold`` exactly (2 to 4), used for the score too.

    Both numbers share the precision, so a score at or above its threshold is never shown
    below it by rounding.
    """
    for places in (2, 3):
        if round(threshold, places) == threshold:
            return places
    return 4


def score_message(category: str, score: float, decision: str, threshold: float) -> str:
    """A category reason's text, e.g. ``sexual-content score 0.54 (review threshold 0.40)``."""
    name = _CATEGORY_NAMES.get(category, category)
    places = _places(threshold)
    return f"{name} score {score:.{places}f} ({decision} threshold {threshold:.{places}f})"


def _category_reasons(policy: Policy, detections: Sequence[Detection]) -> list[Reason]:
    best: dict[str, Detection] = {}
    for det in detections:
        current = best.get(det.category)
        if current is None or det.score > current.score:
            best[det.category] = det
    reasons = []
    for category, det in sorted(best.items()):
        limits = policy.thresholds(category)
        for decision, threshold in (
            (Decision.BLOCK, limits.block),
            (Decision.REVIEW, limits.review),
        ):
            if threshold is not None and det.score >= threshold:
                where = f" at frame {det.frame}" if det.frame else ""
                reasons.append(
                    Reason(
                        code=f"category_{decision.value}",
                        decision=decision,
                        message=score_message(category, det.score, decision.value, threshold)
                        + where,
                        category=category,
                        score=det.score,
                    )
                )
                break
    return reasons


def list_action(policy: Policy, name: str, list_actions: Mapping[str, ListAction]) -> ListAction:
    """What a match on list ``name`` means: the policy's rule, else the list's own action,
    else review."""
    rule = policy.lists.get(name)
    if rule is not None:
        return rule.action
    return list_actions.get(name, ListAction.REVIEW)


def _match_reasons(
    policy: Policy,
    matches: Sequence[Match],
    list_actions: Mapping[str, ListAction],
    quarantined: Collection[int],
) -> list[Reason]:
    def action_of(match: Match) -> ListAction:
        return list_action(policy, match.list, list_actions)

    allowing = sorted({m.list for m in matches if action_of(m) is ListAction.ALLOW})
    if allowing:
        others = len([m for m in matches if action_of(m) is not ListAction.ALLOW])
        return [
            Reason(
                code="list_allow",
                decision=Decision.ALLOW,
                message=(
                    f"matched allow-list {name!r}; {others} match(es) on other lists are overridden"
                ),
                list=name,
            )
            for name in allowing
        ]
    reasons = []
    for match in matches:
        action = action_of(match)
        how = "exactly" if match.distance == 0 else f"at PDQ distance {match.distance}"
        if match.variant is not None:
            how = f"as an edited copy ({match.variant}) {how}"
        where = f" (frame {match.frame})" if match.frame is not None else ""
        decision = Decision(action.value)
        if decision is Decision.BLOCK and match.entry_id in quarantined:
            reasons.append(
                Reason(
                    code="quarantined",
                    decision=Decision.REVIEW,
                    message=(
                        f"matched list {match.list!r} {how}{where}, but the entry is "
                        f"quarantined for matching more than {policy.quarantine.max_hits} "
                        f"items in {policy.quarantine.window_hours:g} h; sent to review"
                    ),
                    list=match.list,
                    category=match.category,
                )
            )
            continue
        reasons.append(
            Reason(
                code=f"list_{decision.value}",
                decision=decision,
                message=f"{match.signal} matched list {match.list!r} {how}{where}",
                list=match.list,
                category=match.category,
            )
        )
    return reasons


_SYMBOLOGIES: Final = {
    "qr_code": "QR code",
    "micro_qr_code": "Micro QR code",
    "data_matrix": "Data Matrix code",
    "aztec": "Aztec code",
}


def clock(seconds: float) -> str:
    """A time as a reviewer reads it: ``0:12``, ``1:02:03``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def place(match: TextMatch) -> str:
    """Where a text match was found, without repeating the text: it may be personal data.

    ``in QR code at 0:12``, ``in text at frame 3``, ``in barcode (ean_13)``.
    """
    if match.found_in == "code":
        symbology = match.symbology or "code"
        where = _SYMBOLOGIES.get(symbology, f"barcode ({symbology})")
    else:
        where = "text"
    if match.time_s is not None:
        return f"in {where} at {clock(match.time_s)}"
    return f"in {where} at frame {match.frame}" if match.frame else f"in {where}"


_LIST_NOUNS: Final = {
    ListAction.BLOCK: "blocklist",
    ListAction.REVIEW: "review list",
    ListAction.ALLOW: "allow-list",
}


def _text_reasons(
    policy: Policy, matches: Sequence[TextMatch], list_actions: Mapping[str, ListAction]
) -> list[Reason]:
    """One reason per list and line (or code) that matched, the OCR confidence applied.

    An allow-list match in a line or code overrides the other term and URL matches in
    that same line or code (a trusted domain, a quoted phrase), never a hash-list match
    or a match elsewhere in the media.
    """
    reasons: list[Reason] = []
    places: dict[tuple[str, int], list[TextMatch]] = {}
    for match in matches:
        places.setdefault((match.found_in, match.index), []).append(match)
    limits = policy.text_confidence
    for group in places.values():
        allowing = [
            m for m in group if list_action(policy, m.list, list_actions) is ListAction.ALLOW
        ]
        if allowing:
            first = allowing[0]
            reasons.append(
                Reason(
                    code="list_allow",
                    decision=Decision.ALLOW,
                    message=f"{'URL' if first.kind == 'url' else 'term'} on allow-list "
                    f"`{first.list}` {place(first)}; {len(group) - len(allowing)} other "
                    "match(es) there are overridden",
                    list=first.list,
                )
            )
            continue
        seen: set[str] = set()
        for match in group:
            if match.list in seen:
                continue
            seen.add(match.list)
            reasons.append(
                _text_reason(match, list_action(policy, match.list, list_actions), limits)
            )
    return reasons


def _text_reason(match: TextMatch, action: ListAction, limits: Thresholds) -> Reason:
    what = "URL" if match.kind == "url" else "term"
    message = f"{what} on {_LIST_NOUNS[action]} `{match.list}` {place(match)}"
    decision = Decision(action.value)
    confidence = match.confidence
    if confidence is not None and limits.review is not None and confidence < limits.review:
        return Reason(
            code="text_unsure",
            decision=Decision.ALLOW,
            message=f"{message}, read with OCR confidence {confidence:.2f} (below "
            f"{limits.review:.2f}): not counted",
            list=match.list,
            score=confidence,
        )
    if (
        decision is Decision.BLOCK
        and confidence is not None
        and limits.block is not None
        and confidence < limits.block
    ):
        decision = Decision.REVIEW
        message += (
            f", read with OCR confidence {confidence:.2f} (below {limits.block:.2f}): "
            "sent to review"
        )
    return Reason(
        code=f"list_{decision.value}",
        decision=decision,
        message=message,
        list=match.list,
        category=match.category,
        score=confidence,
    )


def decide(
    policy: Policy,
    detections: Sequence[Detection],
    matches: Sequence[Match] = (),
    *,
    list_actions: Mapping[str, ListAction] | None = None,
    quarantined: Collection[int] = frozenset(),
    text_matches: Sequence[TextMatch] = (),
) -> Outcome:
    """Apply ``policy`` to what the signals and matchers found.

    Args:
        policy: the policy to apply.
        detections: every detection of every frame.
        matches: hash-list matches.
        list_actions: each list's own action, used when the policy has no rule for it.
            A list with neither is sent to review.
        quarantined: ids of list entries whose matches are routed to review.
        text_matches: term and URL list matches in texts and codes.
    """
    reasons = _category_reasons(policy, detections)
    reasons += _match_reasons(policy, matches, list_actions or {}, quarantined)
    reasons += _text_reasons(policy, text_matches, list_actions or {})
    flagged = [r for r in reasons if r.decision is not Decision.ALLOW]
    if not flagged:
        if not reasons:
            reasons.append(
                Reason(
                    code="no_flags",
                    decision=Decision.ALLOW,
                    message="no category reached its review threshold and no list matched",
                )
            )
        return Outcome(Decision.ALLOW, tuple(reasons))
    decision = max((r.decision for r in flagged), key=lambda d: d.severity)
    return Outcome(decision, tuple(reasons))
