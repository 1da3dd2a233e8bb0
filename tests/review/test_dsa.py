"""DSA statements of reasons: the builder, the independent validator, batches and reason codes.

The expected enumeration values below are written out from the Transparency Database's
schema on purpose, rather than read from the module, so a wrong constant in the builder
fails here.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaguard.dsa import (
    EEA,
    Automation,
    ContentKind,
    ReasonCode,
    ReasonCodes,
    Source,
    StatementError,
    StatementInput,
    batches,
    load_reasons,
    statement,
    validate,
)
from mediaguard.errors import ConfigError, ProtectedTraitError

REASONS = load_reasons(None)
DAY = date(2025, 7, 1)


def make_input(**changes: Any) -> StatementInput:
    fields: dict[str, Any] = {
        "decision_id": "mg-decision-42",
        "action": "remove",
        "reason": REASONS["sexual_content"],
        "automated_detection": True,
        "automated_decision": "partially",
        "content_type": "image",
        "content_date": DAY,
        "application_date": DAY + timedelta(days=1),
        "facts": "category nsfw scored 0.97, at or above the block threshold 0.90",
    }
    fields.update(changes)
    return StatementInput(**fields)


def valid_statement(**changes: object) -> dict[str, object]:
    """A statement as the database documents it, with ``changes`` applied (None deletes)."""
    out: dict[str, object] = {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "A law",
        "illegal_content_explanation": "Why it is illegal",
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "content_type": ["CONTENT_TYPE_IMAGE"],
        "territorial_scope": ["DE", "FR"],
        "content_date": "2025-07-01",
        "application_date": "2025-07-02",
        "decision_facts": "matched a hash list",
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY",
        "puid": "TK421",
    }
    for key, value in changes.items():
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


def fields_of(issues: list[str]) -> set[str]:
    return {issue.split(":", 1)[0] for issue in issues}


# --- the builder -----------------------------------------------------------------------


def test_remove_statement_validates_and_uses_the_schema_values() -> None:
    out = statement(make_input(action="remove", reason=REASONS["known_csam_match"]))

    assert validate(out) == []
    assert out["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert out["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert out["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert out["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
    assert "Directive 2011/93/EU" in str(out["illegal_content_legal_ground"])
    assert out["illegal_content_explanation"]
    assert "incompatible_content_ground" not in out
    assert out["puid"] == "mg-decision-42"
    assert out["content_date"] == "2025-07-01"
    assert out["application_date"] == "2025-07-02"
    json.dumps(out)  # the API body is plain JSON


def test_restrict_statement_validates_with_the_codes_visibility() -> None:
    out = statement(make_input(action="restrict", reason=REASONS["sexual_content"]))

    assert validate(out) == []
    assert out["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED"]
    assert out["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert out["incompatible_content_ground"]
    assert out["incompatible_content_explanation"]
    assert out["incompatible_content_illegal"] == "No"
    assert "illegal_content_legal_ground" not in out


def test_terrorist_content_cites_the_regulation() -> None:
    out = statement(make_input(reason=REASONS["terrorist_content"]))

    assert out["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    assert "2021/784" in str(out["illegal_content_legal_ground"])


def test_default_territorial_scope_is_every_eea_state() -> None:
    out = statement(make_input())

    assert out["territorial_scope"] == sorted(EEA)
    assert len(EEA) == 30
    assert "GR" in EEA  # the database spells Greece GR, not EL
    assert "GB" not in EEA


def test_territorial_scope_can_be_narrowed_and_is_sorted_without_duplicates() -> None:
    out = statement(make_input(), territorial_scope=["FR", "DE", "FR"])

    assert out["territorial_scope"] == ["DE", "FR"]


@pytest.mark.parametrize("scope", [["GB"], ["EL"], ["de"], []])
def test_a_scope_outside_the_eea_is_refused(scope: list[str]) -> None:
    with pytest.raises(StatementError, match="territorial_scope"):
        statement(make_input(), territorial_scope=scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("voluntary", "SOURCE_VOLUNTARY"),
        ("notice", "SOURCE_ARTICLE_16"),
        ("trusted_flagger", "SOURCE_TRUSTED_FLAGGER"),
        ("other_notification", "SOURCE_TYPE_OTHER_NOTIFICATION"),
    ],
)
def test_source_type(source: Source, expected: str) -> None:
    assert statement(make_input(source=source))["source_type"] == expected


@pytest.mark.parametrize(
    ("automation", "expected"),
    [
        ("fully", "AUTOMATED_DECISION_FULLY"),
        ("partially", "AUTOMATED_DECISION_PARTIALLY"),
        ("not", "AUTOMATED_DECISION_NOT_AUTOMATED"),
    ],
)
def test_automated_decision(automation: Automation, expected: str) -> None:
    assert statement(make_input(automated_decision=automation))["automated_decision"] == expected


@pytest.mark.parametrize(("detected", "expected"), [(True, "Yes"), (False, "No")])
def test_automated_detection(detected: bool, expected: str) -> None:
    out = statement(make_input(automated_detection=detected))
    assert out["automated_detection"] == expected


@pytest.mark.parametrize(
    ("kind", "expected"), [("image", "CONTENT_TYPE_IMAGE"), ("video", "CONTENT_TYPE_VIDEO")]
)
def test_content_type(kind: ContentKind, expected: str) -> None:
    assert statement(make_input(content_type=kind))["content_type"] == [expected]


def test_statement_has_no_platform_name_or_source_identity() -> None:
    out = statement(make_input(source="notice"))

    # The API token names the platform; the notifier's identity is personal data.
    assert "platform_name" not in out
    assert "source_identity" not in out


@given(
    reason=st.sampled_from([REASONS[code] for code in REASONS if REASONS[code].exportable]),
    data=st.data(),
    detected=st.booleans(),
    automation=st.sampled_from(get_args(Automation)),
    kind=st.sampled_from(get_args(ContentKind)),
    source=st.sampled_from(get_args(Source)),
    content_date=st.dates(date(2000, 1, 1), date(2038, 1, 1)),
    gap=st.integers(0, 4000),
    puid=st.text("abcXYZ019_-", min_size=1, max_size=500),
    scope=st.lists(st.sampled_from(EEA), min_size=1),
)
def test_every_exportable_decision_makes_a_valid_statement(
    reason: ReasonCode,
    data: st.DataObject,
    detected: bool,
    automation: Automation,
    kind: ContentKind,
    source: Source,
    content_date: date,
    gap: int,
    puid: str,
    scope: list[str],
) -> None:
    action = data.draw(st.sampled_from([a for a in reason.actions if a in ("remove", "restrict")]))
    applied = max(content_date + timedelta(days=gap), date(2020, 1, 1))
    applied = min(applied, date(2038, 1, 1))
    entry = make_input(
        decision_id=puid,
        action=action,
        reason=reason,
        automated_detection=detected,
        automated_decision=automation,
        content_type=kind,
        content_date=min(content_date, applied),
        application_date=applied,
        source=source,
    )

    assert validate(statement(entry, territorial_scope=scope)) == []


@pytest.mark.parametrize("action", ["approve", "escalate"])
def test_approve_and_escalate_are_not_exportable(action: str) -> None:
    with pytest.raises(StatementError, match=r"action: .*only remove and restrict"):
        make_input(action=action, reason=REASONS["no_violation"])


def test_a_reason_that_does_not_apply_to_the_action_is_refused() -> None:
    with pytest.raises(StatementError, match="reason: 'known_csam_match' does not apply"):
        make_input(action="restrict", reason=REASONS["known_csam_match"])


@pytest.mark.parametrize("decision_id", ["", "has space", "a/b", "ü", "x\n", "a.b", "x" * 501])
def test_a_decision_id_that_cannot_be_a_puid_is_refused(decision_id: str) -> None:
    with pytest.raises(StatementError, match="decision_id"):
        make_input(decision_id=decision_id)


def test_a_puid_of_500_characters_is_accepted() -> None:
    assert statement(make_input(decision_id="a" * 500))["puid"] == "a" * 500


def test_content_after_the_decision_is_refused() -> None:
    with pytest.raises(StatementError, match="content_date"):
        make_input(content_date=DAY, application_date=DAY - timedelta(days=1))


def test_a_datetime_is_refused_for_a_date() -> None:
    with pytest.raises(StatementError, match="application_date: pass a date"):
        make_input(application_date=datetime(2025, 7, 2, 23, 30))


def test_a_decision_before_the_databases_first_day_is_refused() -> None:
    with pytest.raises(StatementError, match="application_date: must be between 2020-01-01"):
        statement(make_input(content_date=date(2019, 1, 1), application_date=date(2019, 1, 2)))


# --- facts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "what"),
    [
        ("reported by jane.doe@example.org", "email address"),
        ("posted by @someone", "handle"),
        ("seen at https://example.org/u/123", "web address"),
        ("found on www.example.org", "web address"),
        ("uploaded from 192.168.10.4", "IP address"),
        ("uploaded from 2001:db8::1", "IP address"),
        ("file IMG_2041.JPG matched", "file name"),
        ("source holiday-with-anna.mp4", "file name"),
        ("read from /home/anna/pics", "path"),
        ("read from C:\\Users\\anna", "path"),
        ("call +49 151 2345 6789", "phone or account number"),
        ("account 123456789", "phone or account number"),
        ("pdq f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", "content hash"),
    ],
)
def test_facts_that_look_like_personal_data_are_refused(facts: str, what: str) -> None:
    with pytest.raises(StatementError, match=f"facts: looks like it holds an? {what}") as info:
        make_input(facts=facts)
    # The refusal does not echo the data it keeps out of the statement.
    assert facts not in str(info.value)


@pytest.mark.parametrize(
    "facts",
    [
        "category nsfw scored 0.9731 at or above block 0.90",
        "matched hash list ncmec-2024 (action block) on 2025-07-01",
        "frames 12 to 48 of 300 scored above review; policy default v3",
        "remove/restrict: reviewer confirmed the automated proposal",
    ],
)
def test_ordinary_machine_facts_are_kept(facts: str) -> None:
    assert make_input(facts=facts).facts == facts


def test_facts_are_collapsed_to_one_line() -> None:
    entry = make_input(facts="  nsfw\n\tscored\x00 0.9\u200b \r\n ")

    assert entry.facts == "nsfw scored 0.9"


@pytest.mark.parametrize("facts", ["", "   \n\t"])
def test_empty_facts_are_refused(facts: str) -> None:
    with pytest.raises(StatementError, match="facts: required"):
        make_input(facts=facts)


def test_long_facts_are_cut_to_the_databases_limit() -> None:
    entry = make_input(facts="nsfw " * 2000)

    assert len(entry.facts) == 5000
    assert entry.facts.endswith("…")
    assert validate(statement(entry)) == []


# --- the validator -----------------------------------------------------------------------


def test_the_documented_example_validates() -> None:
    assert validate(valid_statement()) == []


REQUIRED = [
    "decision_ground",
    "category",
    "content_type",
    "territorial_scope",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
]


@pytest.mark.parametrize("key", REQUIRED)
@pytest.mark.parametrize("absent", [None, "", "  ", []])
def test_each_required_field_is_required(key: str, absent: object) -> None:
    changed = valid_statement(**{key: None})
    if absent is not None:
        changed[key] = absent

    assert f"{key}: required" in validate(changed)


def test_some_restriction_is_required() -> None:
    issues = validate(valid_statement(decision_visibility=None))

    assert fields_of(issues) == {"decision_visibility"}
    assert (
        validate(
            valid_statement(decision_visibility=None, decision_account="DECISION_ACCOUNT_SUSPENDED")
        )
        == []
    )


ENUMERATIONS: list[tuple[str, list[str] | str, object]] = [
    # (field, a valid value, a near miss)
    ("decision_visibility", ["DECISION_VISIBILITY_CONTENT_DEMOTED"], ["CONTENT_REMOVED"]),
    ("decision_monetary", "DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_SUSPENDED"),
    ("decision_provision", "DECISION_PROVISION_TOTAL_TERMINATION", "TOTAL_TERMINATION"),
    ("decision_account", "DECISION_ACCOUNT_TERMINATED", "DECISION_ACCOUNT_DELETED"),
    ("account_type", "ACCOUNT_TYPE_PRIVATE", "Private"),
    ("decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT", "Illegal Content"),
    (
        "category",
        "STATEMENT_CATEGORY_VIOLENCE",
        "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
    ),
    (
        "category_addition",
        ["STATEMENT_CATEGORY_SELF_HARM"],
        ["STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"],
    ),
    ("category_specification", ["KEYWORD_NUDITY"], ["KEYWORD_DANGEROUS_TOYS"]),
    ("content_type", ["CONTENT_TYPE_SYNTHETIC_MEDIA", "CONTENT_TYPE_VIDEO"], ["CONTENT_TYPE_GIF"]),
    ("territorial_scope", ["LI", "NO", "IS"], ["EL"]),
    ("content_language", "EN", "en"),
    ("source_type", "SOURCE_ARTICLE_16", "SOURCE_NOTICE"),
    ("automated_detection", "No", "no"),
    ("automated_decision", "AUTOMATED_DECISION_NOT_AUTOMATED", "AUTOMATED_DECISION_NOT"),
]


@pytest.mark.parametrize(("key", "good", "bad"), ENUMERATIONS)
def test_each_enumeration_is_checked(key: str, good: object, bad: object) -> None:
    assert validate(valid_statement(**{key: good})) == []
    assert fields_of(validate(valid_statement(**{key: bad}))) == {key}


@pytest.mark.parametrize("key", ["automated_detection", "incompatible_content_illegal"])
def test_yes_no_fields_take_the_words_not_booleans(key: str) -> None:
    changed = valid_statement(decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT")
    changed |= {
        "illegal_content_legal_ground": "",
        "illegal_content_explanation": "",
        "incompatible_content_ground": "Terms",
        "incompatible_content_explanation": "Why",
        key: True,
    }

    assert f"{key}: True is not an allowed value" in validate(changed)


def test_an_array_field_must_be_an_array() -> None:
    issues = validate(valid_statement(content_type="CONTENT_TYPE_IMAGE"))

    assert issues == ["content_type: must be an array"]


@pytest.mark.parametrize("key", ["platform_name", "uuid", "created_at", "decision_id"])
def test_unknown_fields_are_rejected(key: str) -> None:
    assert validate(valid_statement(**{key: "x"})) == [
        f"{key}: not a field of a statement of reasons"
    ]


@given(puid=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != ""))
def test_a_puid_with_any_other_character_is_rejected(puid: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    issues = validate(valid_statement(puid=puid))

    assert ("puid" in fields_of(issues)) == (not set(puid) <= allowed)


def test_a_puid_over_500_characters_is_rejected() -> None:
    assert validate(valid_statement(puid="a" * 500)) == []
    assert validate(valid_statement(puid="a" * 501)) == ["puid: at most 500 characters, got 501"]


def test_a_trailing_newline_does_not_sneak_into_a_puid() -> None:
    assert fields_of(validate(valid_statement(puid="TK421\n"))) == {"puid"}


def test_illegal_ground_needs_its_legal_ground_and_explanation() -> None:
    issues = validate(valid_statement(illegal_content_legal_ground=None))
    assert issues == [
        "illegal_content_legal_ground: required when decision_ground is "
        "DECISION_GROUND_ILLEGAL_CONTENT"
    ]
    issues = validate(valid_statement(illegal_content_explanation=" "))
    assert fields_of(issues) == {"illegal_content_explanation"}


def test_incompatible_ground_needs_its_ground_and_explanation() -> None:
    changed = valid_statement(
        decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
        illegal_content_legal_ground=None,
        illegal_content_explanation=None,
    )

    assert fields_of(validate(changed)) == {
        "incompatible_content_ground",
        "incompatible_content_explanation",
    }


def test_fields_of_the_other_ground_are_rejected() -> None:
    issues = validate(
        valid_statement(incompatible_content_ground="Terms", incompatible_content_illegal="No")
    )

    assert fields_of(issues) == {"incompatible_content_ground", "incompatible_content_illegal"}


@pytest.mark.parametrize(
    ("key", "value", "other"),
    [
        ("decision_visibility", ["DECISION_VISIBILITY_OTHER"], "decision_visibility_other"),
        ("decision_monetary", "DECISION_MONETARY_OTHER", "decision_monetary_other"),
        ("content_type", ["CONTENT_TYPE_OTHER"], "content_type_other"),
    ],
)
def test_other_values_need_their_free_text(key: str, value: object, other: str) -> None:
    assert fields_of(validate(valid_statement(**{key: value}))) == {other}
    assert validate(valid_statement(**{key: value, other: "Shadow ban"})) == []
    assert fields_of(validate(valid_statement(**{other: "Shadow ban"}))) == {other}


def test_source_identity_is_rejected_on_a_voluntary_decision() -> None:
    assert fields_of(validate(valid_statement(source_identity="Someone"))) == {"source_identity"}
    assert validate(valid_statement(source_type="SOURCE_ARTICLE_16", source_identity="A")) == []


@pytest.mark.parametrize("value", ["2025-7-1", "01-07-2025", "2025-07-01T00:00:00", "2025-02-30"])
def test_dates_must_be_calendar_dates_as_yyyy_mm_dd(value: str) -> None:
    assert fields_of(validate(valid_statement(content_date=value))) == {"content_date"}


@pytest.mark.parametrize(
    "end_date",
    [
        "end_date_visibility_restriction",
        "end_date_account_restriction",
        "end_date_monetary_restriction",
        "end_date_service_restriction",
    ],
)
def test_an_end_date_before_the_application_date_is_rejected(end_date: str) -> None:
    assert validate(valid_statement(**{end_date: "2025-07-02"})) == []
    issues = validate(valid_statement(**{end_date: "2025-07-01"}))
    assert issues == [f"{end_date}: must not be before application_date"]


def test_content_after_the_application_date_is_rejected() -> None:
    issues = validate(valid_statement(content_date="2025-07-03"))

    assert issues == ["content_date: must not be after application_date"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("application_date", "2019-12-31"),
        ("application_date", "2038-01-02"),
        ("content_date", "1999-12-31"),
        ("end_date_visibility_restriction", "2038-01-02"),
    ],
)
def test_dates_outside_the_databases_range_are_rejected(key: str, value: str) -> None:
    assert key in fields_of(validate(valid_statement(**{key: value})))


@pytest.mark.parametrize(
    ("key", "limit"),
    [
        ("decision_facts", 5000),
        ("illegal_content_legal_ground", 500),
        ("illegal_content_explanation", 2000),
    ],
)
def test_text_length_limits(key: str, limit: int) -> None:
    assert validate(valid_statement(**{key: "x" * limit})) == []
    assert fields_of(validate(valid_statement(**{key: "x" * (limit + 1)}))) == {key}


@pytest.mark.parametrize("url", ["not a url", "ftp://example.org/terms", "https://" + "a" * 500])
def test_reference_url_must_be_a_web_address(url: str) -> None:
    issues = validate(valid_statement(decision_ground_reference_url=url))
    assert fields_of(issues) == {"decision_ground_reference_url"}


def test_content_id_takes_an_ean13() -> None:
    assert validate(valid_statement(content_id={"EAN-13": "0123456789123"})) == []
    assert fields_of(validate(valid_statement(content_id={"EAN-13": "123"}))) == {"content_id"}


# --- batches -----------------------------------------------------------------------------


@given(count=st.integers(0, 350), size=st.integers(1, 100))
def test_batches_never_exceed_the_limit_and_keep_order(count: int, size: int) -> None:
    items = [{"puid": f"p{i}"} for i in range(count)]

    bodies = list(batches(items, size))

    assert all(set(body) == {"statements"} for body in bodies)
    assert all(1 <= len(body["statements"]) <= size for body in bodies)
    assert [s for body in bodies for s in body["statements"]] == items


def test_batches_default_to_the_apis_limit_of_100() -> None:
    bodies = list(batches({"puid": f"p{i}"} for i in range(250)))

    assert [len(body["statements"]) for body in bodies] == [100, 100, 50]


@pytest.mark.parametrize("size", [0, 101])
def test_batch_size_outside_the_apis_range_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        list(batches([], size))


# --- reason codes ------------------------------------------------------------------------


def test_default_reason_codes() -> None:
    assert list(REASONS) == [
        "sexual_content",
        "known_csam_match",
        "terrorist_content",
        "violent_content",
        "scam_or_phishing",
        "spam",
        "other_terms_violation",
        "no_violation",
        "needs_specialist",
    ]
    assert [r.code for r in REASONS.for_action("approve")] == ["no_violation"]
    assert [r.code for r in REASONS.for_action("escalate")] == ["needs_specialist"]
    assert {r.code for r in REASONS.for_action("remove")} == {
        "sexual_content",
        "known_csam_match",
        "terrorist_content",
        "violent_content",
        "scam_or_phishing",
        "spam",
        "other_terms_violation",
    }
    assert not REASONS["no_violation"].exportable
    assert REASONS["known_csam_match"].ground == "illegal"
    assert REASONS["sexual_content"].ground == "incompatible"


GOOD_REASON = """
[reasons.spam_images]
label = "Spam"
actions = ["remove", "restrict"]
ground = "incompatible"
category = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
ground_reference = "Terms, section 4"
explanation = "No spam."
restrict_visibility = "DECISION_VISIBILITY_CONTENT_DEMOTED"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reasons.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_custom_file_loads(tmp_path: Path) -> None:
    reasons = load_reasons(write(tmp_path, GOOD_REASON))

    assert list(reasons) == ["spam_images"]
    out = statement(make_input(action="restrict", reason=reasons["spam_images"]))
    assert out["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DEMOTED"]
    assert "incompatible_content_illegal" not in out


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('label = "Spam"', 'label = ""', r"reasons\.spam_images\.label: must be 1 to 100"),
        ('label = "Spam"', "label = 3", r"reasons\.spam_images\.label: must be a string"),
        ('label = "Spam"\n', "", r"reasons\.spam_images\.label: required"),
        ('actions = ["remove", "restrict"]', "actions = []", r"\.actions: must name at least"),
        ('actions = ["remove", "restrict"]', 'actions = ["delete"]', r"\.actions: 'delete' is not"),
        ('actions = ["remove", "restrict"]', 'actions = "remove"', r"\.actions: must be an array"),
        ('ground = "incompatible"', 'ground = "tos"', r"\.ground: must be 'illegal' or"),
        ("STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "SCAMS", r"\.category: 'SCAMS' is not a DSA"),
        ('"Terms, section 4"', '"x"\nexplain = "y"', r"reasons\.spam_images\.explain: unknown key"),
        ('ground_reference = "Terms, section 4"\n', "", r"\.ground_reference: required"),
        (
            "DECISION_VISIBILITY_CONTENT_DEMOTED",
            "DECISION_VISIBILITY_CONTENT_REMOVED",
            r"\.restrict_visibility: required",
        ),
        (
            'restrict_visibility = "DECISION_VISIBILITY_CONTENT_DEMOTED"\n',
            'also_illegal = "no"\n',
            r"\.also_illegal: must be a boolean",
        ),
        ("[reasons.spam_images]", "[reasons.Spam]", r"reasons\.Spam: a reason code must match"),
        ("[reasons.spam_images]", "version = 1\n[reasons.spam_images]", r"version: unknown key"),
    ],
)
def test_reason_file_errors_name_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD_REASON
    path = write(tmp_path, GOOD_REASON.replace(old, new))
    with pytest.raises(ConfigError, match=message) as info:
        load_reasons(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('category_specification = ["KEYWORD_SPAM"]', r"\.category_specification: 'KEYWORD_SPAM'"),
        (
            'category_specification = ["KEYWORD_OTHER"]',
            r"\.category_specification: 'KEYWORD_OTHER'",
        ),
        ('category_specification = ["KEYWORD_PHISHING", "KEYWORD_PHISHING"]', "twice"),
        ('reference_url = "terms.html"', r"\.reference_url: must be an http\(s\) URL"),
    ],
)
def test_reason_mapping_errors_name_the_field(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_reasons(write(tmp_path, GOOD_REASON + extra + "\n"))


def test_also_illegal_says_the_incompatible_content_is_also_illegal(tmp_path: Path) -> None:
    reasons = load_reasons(write(tmp_path, GOOD_REASON + "also_illegal = true\n"))

    out = statement(make_input(reason=reasons["spam_images"]))
    assert out["incompatible_content_illegal"] == "Yes"


def test_also_illegal_is_only_for_the_incompatible_ground() -> None:
    with pytest.raises(ConfigError, match=r"reasons\.x\.also_illegal: only for the incompatible"):
        ReasonCode(
            code="x",
            label="X",
            actions=("remove",),
            ground="illegal",
            category="STATEMENT_CATEGORY_VIOLENCE",
            ground_reference="A law",
            explanation="Why",
            also_illegal=True,
        )


def test_a_code_only_for_approve_carries_no_dsa_mapping(tmp_path: Path) -> None:
    text = '[reasons.fine]\nlabel = "Fine"\nactions = ["approve"]\nground = "illegal"\n'

    with pytest.raises(ConfigError, match=r"reasons\.fine\.ground: only a code for remove"):
        load_reasons(write(tmp_path, text))


def test_restrict_visibility_is_only_for_codes_that_restrict(tmp_path: Path) -> None:
    text = GOOD_REASON.replace('["remove", "restrict"]', '["remove"]')

    with pytest.raises(ConfigError, match=r"\.restrict_visibility: the code does not apply"):
        load_reasons(write(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    ["", "not toml [", "[reasons]\n", "reasons = 1\n", "[reasons]\nspam = 1\n"],
)
def test_a_file_without_reason_tables_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"reasons|not valid TOML"):
        load_reasons(write(tmp_path, text))


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read reason codes"):
        load_reasons(tmp_path / "missing.toml")


def test_duplicate_codes_are_refused() -> None:
    reason = REASONS["no_violation"]

    with pytest.raises(ConfigError, match="defined twice"):
        ReasonCodes((reason, reason))


@pytest.mark.parametrize(
    ("old", "new", "term"),
    [
        ("[reasons.spam_images]", "[reasons.ethnic_slurs]", "ethnic"),
        ('label = "Spam"', 'label = "Images of women"', "women"),
        (
            "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
            "women",
        ),
        (
            'ground = "incompatible"',
            'ground = "incompatible"\n'
            'category_specification = ["KEYWORD_AGE_SPECIFIC_RESTRICTIONS"]',
            "age",
        ),
    ],
)
def test_a_reason_naming_a_protected_trait_is_refused(
    tmp_path: Path, old: str, new: str, term: str
) -> None:
    path = write(tmp_path, GOOD_REASON.replace(old, new))

    with pytest.raises(ProtectedTraitError, match=f"'{term}' names a protected trait") as info:
        load_reasons(path)
    assert str(info.value).startswith(str(path))


def test_automated_blocks_have_a_reason_code_per_category() -> None:
    automated = REASONS.automated

    assert automated["csam"] == "known_csam_match"
    assert automated["terrorism"] == "terrorist_content"
    assert automated["sexual"] == "sexual_content"
    assert automated["*"] == "other_terms_violation"
    assert all("remove" in REASONS[code].actions for code in automated.values())


def test_a_file_without_automated_codes_has_none(tmp_path: Path) -> None:
    assert load_reasons(write(tmp_path, GOOD_REASON)).automated == {}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('"*" = "missing_code"', r"automated\.\*: 'missing_code' is not a reason code"),
        ('"*" = 3', r"automated\.\*: must be a reason code"),
    ],
)
def test_automated_codes_must_exist_and_remove(tmp_path: Path, table: str, message: str) -> None:
    path = write(tmp_path, GOOD_REASON + "\n[automated]\n" + table + "\n")

    with pytest.raises(ConfigError, match=message) as info:
        load_reasons(path)
    assert str(info.value).startswith(str(path))


def test_an_automated_code_must_apply_to_remove(tmp_path: Path) -> None:
    text = GOOD_REASON.replace('["remove", "restrict"]', '["restrict"]')

    with pytest.raises(ConfigError, match=r"automated\.sexual: 'spam_images' is not"):
        load_reasons(write(tmp_path, text + '\n[automated]\nsexual = "spam_images"\n'))


def test_an_automated_category_naming_a_protected_trait_is_refused(tmp_path: Path) -> None:
    text = GOOD_REASON + '\n[automated]\nreligious_symbols = "spam_images"\n'

    with pytest.raises(ProtectedTraitError, match="'religious' names a protected trait"):
        load_reasons(write(tmp_path, text))
