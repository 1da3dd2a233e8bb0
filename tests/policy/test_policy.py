"""Policy parsing and the decision engine."""

from __future__ import annotations

import pytest

from mediaguard.errors import PolicyError, ProtectedTraitError
from mediaguard.match.types import Match
from mediaguard.policy.engine import category_scores, decide, score_message
from mediaguard.policy.model import Decision, ListAction, Policy
from mediaguard.signals.base import Detection

POLICY = """
name = "test"
version = "7"
[default]
review = 0.6
[categories.sexual]
review = 0.4
block = 0.85
[categories.weapon]
review = 0.5
block = 0.9
[lists.override]
action = "review"
"""


def det(category: str, score: float, frame: int = 0) -> Detection:
    return Detection(detector="t", category=category, label=category, score=score, frame=frame)


def match(list_name: str, entry_id: int = 1, distance: int = 0) -> Match:
    return Match(
        list=list_name,
        category="terror",
        signal="pdq",
        value="0" * 64,
        entry_id=entry_id,
        distance=distance,
        transform=None,
        frame=None,
        external_id=None,
    )


@pytest.fixture
def policy() -> Policy:
    return Policy.from_toml(POLICY)


def test_default_policy_is_documented_and_versioned() -> None:
    policy = Policy.default_policy()
    assert policy.name == "default"
    assert policy.version
    assert len(policy.sha256) == 64
    assert policy.thresholds("sexual").block is not None


@pytest.mark.parametrize(
    ("detections", "expected"),
    [
        pytest.param([], Decision.ALLOW, id="nothing"),
        pytest.param([det("sexual", 0.39)], Decision.ALLOW, id="below-review"),
        pytest.param([det("sexual", 0.4)], Decision.REVIEW, id="at-review"),
        pytest.param([det("sexual", 0.85)], Decision.BLOCK, id="at-block"),
        pytest.param([det("weapon", 0.7), det("sexual", 0.1)], Decision.REVIEW, id="worst-wins"),
        pytest.param([det("unknown", 0.99)], Decision.REVIEW, id="default-never-blocks"),
        pytest.param([det("unknown", 0.59)], Decision.ALLOW, id="default-review-edge"),
        pytest.param(
            [det("sexual", 0.1, frame=0), det("sexual", 0.9, frame=3)],
            Decision.BLOCK,
            id="worst-frame",
        ),
    ],
)
def test_thresholds(policy: Policy, detections: list[Detection], expected: Decision) -> None:
    outcome = decide(policy, detections)
    assert outcome.decision is expected
    assert outcome.reasons, "every decision carries at least one reason"


def test_reason_names_category_score_and_frame(policy: Policy) -> None:
    outcome = decide(policy, [det("sexual", 0.1), det("sexual", 0.9, frame=3)])
    (reason,) = outcome.reasons
    assert reason.code == "category_block"
    assert reason.category == "sexual"
    assert reason.score == pytest.approx(0.9)
    assert reason.message == "sexual-content score 0.90 (block threshold 0.85) at frame 3"


@pytest.mark.parametrize(
    ("category", "score", "decision", "threshold", "message"),
    [
        ("sexual", 0.54, "review", 0.4, "sexual-content score 0.54 (review threshold 0.40)"),
        ("sexual", 0.4, "review", 0.4, "sexual-content score 0.40 (review threshold 0.40)"),
        # A finer threshold shows the score as finely: never "0.40 (threshold 0.401)".
        ("violence", 0.4012, "block", 0.401, "violence score 0.401 (block threshold 0.401)"),
        ("suggestive", 0.7, "review", 0.6, "suggestive-content score 0.70 (review threshold 0.60)"),
    ],
)
def test_score_reason_states_the_measurement_not_a_verdict(
    category: str, score: float, decision: str, threshold: float, message: str
) -> None:
    assert score_message(category, score, decision, threshold) == message


def test_category_scores_take_the_maximum() -> None:
    scores = category_scores([det("a", 0.2), det("a", 0.7), det("b", 0.1)])
    assert scores == {"a": pytest.approx(0.7), "b": pytest.approx(0.1)}


def test_list_actions_policy_overrides_list_hint(policy: Policy) -> None:
    hints = {"override": ListAction.BLOCK, "plain": ListAction.BLOCK}
    assert decide(policy, [], [match("override")], list_actions=hints).decision is Decision.REVIEW
    assert decide(policy, [], [match("plain")], list_actions=hints).decision is Decision.BLOCK


def test_unknown_list_goes_to_review(policy: Policy) -> None:
    assert decide(policy, [], [match("nobody-knows")]).decision is Decision.REVIEW


def test_allow_list_overrides_other_matches_not_scores(policy: Policy) -> None:
    hints = {"bad": ListAction.BLOCK, "good": ListAction.ALLOW}
    outcome = decide(policy, [], [match("bad"), match("good", 2)], list_actions=hints)
    assert outcome.decision is Decision.ALLOW
    assert [r.code for r in outcome.reasons] == ["list_allow"]
    flagged = decide(
        policy, [det("sexual", 0.95)], [match("bad"), match("good", 2)], list_actions=hints
    )
    assert flagged.decision is Decision.BLOCK


def test_quarantined_entry_goes_to_review(policy: Policy) -> None:
    hints = {"bad": ListAction.BLOCK}
    outcome = decide(policy, [], [match("bad", entry_id=9)], list_actions=hints, quarantined={9})
    assert outcome.decision is Decision.REVIEW
    assert outcome.reasons[0].code == "quarantined"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param('version = "1"', "name", id="missing-name"),
        pytest.param('name = "x"', "version", id="missing-version"),
        pytest.param(
            'name = "x"\nversion = "1"\n[categories.a]\nreview = 2',
            "categories.a.review",
            id="out-of-range",
        ),
        pytest.param(
            'name = "x"\nversion = "1"\n[categories.a]\nreview = "high"',
            "categories.a.review",
            id="wrong-type",
        ),
        pytest.param(
            'name = "x"\nversion = "1"\n[categories.a]\nreview = 0.9\nblock = 0.1',
            "categories.a",
            id="review-above-block",
        ),
        pytest.param(
            'name = "x"\nversion = "1"\n[lists.l]\naction = "delete"',
            "lists.l.action",
            id="bad-action",
        ),
        pytest.param('name = "x"\nversion = "1"\nthreshold = 1', "threshold", id="unknown-key"),
        pytest.param('name = "x"\nversion = "1"\nsha256 = "ab"', "sha256", id="sha-not-settable"),
        pytest.param("name = [", "not valid TOML", id="not-toml"),
    ],
)
def test_errors_name_the_field(text: str, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_toml(text, origin="p.toml")
    message = str(info.value)
    assert message.startswith("p.toml: ")
    assert field in message


@pytest.mark.parametrize("category", ["ethnicity", "religious_dress", "apparent_age", "Gender"])
def test_protected_category_refused(category: str) -> None:
    text = f'name = "x"\nversion = "1"\n[categories.{category}]\nreview = 0.5'
    with pytest.raises(ProtectedTraitError, match="protected trait"):
        Policy.from_toml(text)


def test_unreadable_policy_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError, match="cannot read policy file"):
        Policy.load(tmp_path / "missing.toml")
