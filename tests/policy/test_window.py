"""The live window rule: a category decided by hits in the last samples, lists at once."""

from __future__ import annotations

import pytest

from mediaguard.errors import PolicyError
from mediaguard.match.types import Match
from mediaguard.policy.model import Decision, ListAction, Policy
from mediaguard.policy.window import RollingDecision
from mediaguard.signals.base import Detection

POLICY = Policy.from_toml(
    """
name = "live"
version = "1"
[categories.sexual]
review = 0.4
block = 0.9
[stream]
window = 5
hits = 3
[stream.categories.violence]
window = 2
hits = 1
[categories.violence]
review = 0.5
"""
)


def _det(score: float, category: str = "sexual") -> Detection:
    return Detection(detector="d", category=category, label="x", score=score)


def _feed(rolling: RollingDecision, scores: list[float]) -> list[Decision]:
    return [rolling.update([_det(s)]).decision for s in scores]


def test_block_needs_three_of_the_last_five_samples_at_the_block_threshold() -> None:
    decisions = _feed(RollingDecision(POLICY), [0.95, 0.1, 0.95, 0.1, 0.95, 0.1, 0.1, 0.1])
    # 0.95 once or twice stays allowed (below review's 3 hits too); the third in the
    # window blocks; once two of the three have left the window, it is allowed again.
    assert decisions == [
        Decision.ALLOW,
        Decision.ALLOW,
        Decision.ALLOW,
        Decision.ALLOW,
        Decision.BLOCK,
        Decision.ALLOW,
        Decision.ALLOW,
        Decision.ALLOW,
    ]


def test_one_noisy_frame_never_blocks_and_review_counts_block_level_hits() -> None:
    rolling = RollingDecision(POLICY)
    assert _feed(rolling, [0.99]) == [Decision.ALLOW]
    outcome = None
    for score in (0.5, 0.95):
        outcome = rolling.update([_det(score)])
    assert outcome is not None
    assert outcome.decision is Decision.REVIEW
    assert outcome.sample is Decision.BLOCK
    reason = outcome.reasons[0]
    assert reason.code == "category_review"
    assert (
        reason.message
        == "sexual-content score 0.99 (review threshold 0.40) in 3 of the last 3 samples"
    )


def test_a_category_override_decides_on_its_own_window() -> None:
    rolling = RollingDecision(POLICY)
    first = rolling.update([_det(0.6, "violence")])
    assert first.decision is Decision.REVIEW
    assert first.levels == {"violence": Decision.REVIEW}
    assert rolling.update([]).decision is Decision.REVIEW
    assert rolling.update([]).decision is Decision.ALLOW


def test_a_list_match_acts_on_its_sample_and_stays_while_it_is_in_the_window() -> None:
    rolling = RollingDecision(POLICY)
    match = Match(list="l", category="c", signal="pdq", value="0" * 64, entry_id=1, distance=3)
    hit = rolling.update([], [match], list_actions={"l": ListAction.BLOCK})
    assert hit.decision is Decision.BLOCK
    assert [r.code for r in hit.reasons] == ["list_block"]
    later = [rolling.update([]).decision for _ in range(5)]
    assert later == [Decision.BLOCK] * 4 + [Decision.ALLOW]


def test_nothing_found_is_allowed_with_a_no_flags_reason() -> None:
    outcome = RollingDecision(Policy.default_policy()).update([])
    assert outcome.decision is Decision.ALLOW
    assert [r.code for r in outcome.reasons] == ["no_flags"]


@pytest.mark.parametrize(
    ("table", "field"),
    [("window = 3\nhits = 4", "hits"), ("window = 0", "window"), ("hit = 2", "hit")],
)
def test_a_bad_window_rule_names_its_field(table: str, field: str) -> None:
    with pytest.raises(PolicyError, match=field):
        Policy.from_toml(f'name = "p"\nversion = "1"\n[stream]\n{table}\n')


def test_the_default_policy_documents_its_window() -> None:
    rules = Policy.default_policy().stream
    assert (rules.window, rules.hits) == (5, 3)
