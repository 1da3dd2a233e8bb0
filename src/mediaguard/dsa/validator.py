"""The Transparency Database's rules for one statement, checked on its JSON object.

Design note: :func:`validate` is deliberately independent of the builder: it imports
nothing from :mod:`~mediaguard.dsa.builder` or :mod:`~mediaguard.dsa.reasons` and reads
its allowed values from the literal tables in :mod:`~mediaguard.dsa.schema`, so a wrong
constant in :func:`~mediaguard.dsa.builder.statement` shows up as a validation failure
instead of being checked against itself. It takes any mapping, so a statement built
elsewhere, or edited by hand before submission, is checked by the same rules.

It is at least as strict as the database. Where the database silently drops a field that
does not apply (say ``source_identity`` on a voluntary decision), :func:`validate`
reports it, because mediaguard never means to send one. It follows the API documentation
where that is stricter than the rules in code (``territorial_scope`` required, end dates
not before the application date), and adds one rule of its own: the content cannot
postdate the decision that restricts it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Final

from mediaguard.dsa.schema import (
    ACCOUNT_TYPES,
    ACCOUNTS,
    AUTOMATED_DECISIONS,
    CATEGORIES,
    CONTENT_TYPES,
    COUNTRIES,
    GROUNDS,
    KEYWORDS,
    LANGUAGES,
    MONETARY,
    PROVISIONS,
    SOURCES,
    VISIBILITIES,
    YES_NO,
    is_url,
)

_ONE_OF: Final[dict[str, frozenset[str]]] = {
    "decision_monetary": MONETARY,
    "decision_provision": PROVISIONS,
    "decision_account": ACCOUNTS,
    "account_type": ACCOUNT_TYPES,
    "decision_ground": GROUNDS,
    "category": CATEGORIES,
    "content_language": LANGUAGES,
    "source_type": SOURCES,
    "automated_detection": YES_NO,
    "automated_decision": AUTOMATED_DECISIONS,
    "incompatible_content_illegal": YES_NO,
}
_MANY_OF: Final[dict[str, frozenset[str]]] = {
    "decision_visibility": VISIBILITIES,
    "content_type": CONTENT_TYPES,
    "category_addition": CATEGORIES,
    "category_specification": KEYWORDS,
    "territorial_scope": COUNTRIES,
}
_TEXT_MAX: Final[dict[str, int]] = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "category_specification_other": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "content_type_other": 500,
    "decision_facts": 5000,
    "source_identity": 500,
}
_FIRST: Final = date(2000, 1, 1)
_LAST: Final = date(2038, 1, 1)
_DATE_RANGE: Final[dict[str, tuple[date, date]]] = {
    "content_date": (_FIRST, _LAST),
    "application_date": (date(2020, 1, 1), _LAST),
    "end_date_account_restriction": (_FIRST, _LAST),
    "end_date_monetary_restriction": (_FIRST, _LAST),
    "end_date_service_restriction": (_FIRST, _LAST),
    "end_date_visibility_restriction": (_FIRST, _LAST),
}
_OTHER_FIELDS: Final = frozenset({"decision_ground_reference_url", "puid", "content_id"})
_KNOWN: Final = frozenset(
    set(_ONE_OF) | set(_MANY_OF) | set(_TEXT_MAX) | set(_DATE_RANGE) | _OTHER_FIELDS
)
_REQUIRED: Final = (
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
)
_DECISIONS: Final = (
    "decision_visibility",
    "decision_monetary",
    "decision_provision",
    "decision_account",
)
#: Fields that only belong with one decision ground.
_GROUND_FIELDS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    # ground: (required, allowed but optional)
    "DECISION_GROUND_ILLEGAL_CONTENT": (
        ("illegal_content_legal_ground", "illegal_content_explanation"),
        (),
    ),
    "DECISION_GROUND_INCOMPATIBLE_CONTENT": (
        ("incompatible_content_ground", "incompatible_content_explanation"),
        ("incompatible_content_illegal",),
    ),
}
#: (field, its free-text companion, the value that calls for it, whether it is required).
_OTHER_TEXT: Final = (
    ("decision_visibility", "decision_visibility_other", "DECISION_VISIBILITY_OTHER", True),
    ("decision_monetary", "decision_monetary_other", "DECISION_MONETARY_OTHER", True),
    ("content_type", "content_type_other", "CONTENT_TYPE_OTHER", True),
    ("category_specification", "category_specification_other", "KEYWORD_OTHER", False),
)
_DATE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
_PUID_FORMAT = re.compile(r"[a-zA-Z0-9_-]+")
_EAN13 = re.compile(r"[0-9]{13}")


def validate(statement: Mapping[str, object]) -> list[str]:
    """Check a statement against the Transparency Database's rules.

    Null, empty and blank values count as absent, as the database treats them. Unknown
    fields, fields that do not apply (such as ``source_identity`` on a voluntary
    decision) and wrong types are reported.

    Returns:
        One ``"field: problem"`` line per problem; an empty list when the statement is
        valid.
    """
    issues: list[str] = []
    given = {key: value for key, value in statement.items() if not _blank(value)}
    for key in statement:
        if key not in _KNOWN:
            issues.append(f"{key}: not a field of a statement of reasons")
    for key in _REQUIRED:
        if key not in given:
            issues.append(f"{key}: required")
    if all(key not in given for key in _DECISIONS):
        issues.append(
            "decision_visibility: required unless decision_monetary, decision_provision "
            "or decision_account is given"
        )
    for key, allowed in _ONE_OF.items():
        if key in given and (not isinstance(given[key], str) or given[key] not in allowed):
            issues.append(f"{key}: {given[key]!r} is not an allowed value")
    for key, allowed in _MANY_OF.items():
        if key in given:
            issues.extend(_check_many(key, given[key], allowed))
    for key, limit in _TEXT_MAX.items():
        value = given.get(key)
        if value is not None and not isinstance(value, str):
            issues.append(f"{key}: must be a string")
        elif isinstance(value, str) and len(value.strip()) > limit:
            issues.append(f"{key}: at most {limit} characters, got {len(value.strip())}")
    dates = {
        key: _check_date(key, given[key], *bounds, issues)
        for key, bounds in _DATE_RANGE.items()
        if key in given
    }
    issues.extend(_check_conditions(given, dates))
    issues.extend(_check_identifiers(given))
    return issues


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict | tuple) and not value)


def _check_many(key: str, value: object, allowed: frozenset[str]) -> list[str]:
    if not isinstance(value, list | tuple):
        return [f"{key}: must be an array"]
    return [f"{key}: {item!r} is not an allowed value" for item in value if item not in allowed]


def _check_date(key: str, value: object, lo: date, hi: date, issues: list[str]) -> date | None:
    if not isinstance(value, str) or not _DATE_FORMAT.fullmatch(value):
        issues.append(f"{key}: must be a date as YYYY-MM-DD, got {value!r}")
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        issues.append(f"{key}: {value!r} is not a calendar date")
        return None
    if not lo <= day <= hi:
        issues.append(f"{key}: must be between {lo.isoformat()} and {hi.isoformat()}")
        return None
    return day


def _check_conditions(given: Mapping[str, object], dates: Mapping[str, date | None]) -> list[str]:
    issues = []
    for key, other, needle, required in _OTHER_TEXT:
        value = given.get(key)
        chosen = value == needle or (isinstance(value, list | tuple) and needle in value)
        if chosen and required and other not in given:
            issues.append(f"{other}: required when {key} is {needle}")
        if not chosen and other in given:
            issues.append(f"{other}: only allowed when {key} is {needle}")
    ground = given.get("decision_ground")
    if isinstance(ground, str) and ground in _GROUND_FIELDS:
        for key in _GROUND_FIELDS[ground][0]:
            if key not in given:
                issues.append(f"{key}: required when decision_ground is {ground}")
        for other, (needed, optional) in _GROUND_FIELDS.items():
            for key in (*needed, *optional):
                if other != ground and key in given:
                    issues.append(f"{key}: only allowed when decision_ground is {other}")
    if given.get("source_type") == "SOURCE_VOLUNTARY" and "source_identity" in given:
        issues.append("source_identity: not allowed when source_type is SOURCE_VOLUNTARY")
    applied = dates.get("application_date")
    if applied is not None:
        for key, day in dates.items():
            if key.startswith("end_date_") and day is not None and day < applied:
                issues.append(f"{key}: must not be before application_date")
        content = dates.get("content_date")
        if content is not None and content > applied:
            issues.append("content_date: must not be after application_date")
    return issues


def _check_identifiers(given: Mapping[str, object]) -> list[str]:
    issues = []
    puid = given.get("puid")
    if puid is not None:
        if not isinstance(puid, str) or not _PUID_FORMAT.fullmatch(puid):
            issues.append("puid: only A-Z, a-z, 0-9, '_' and '-' are allowed")
        elif len(puid) > 500:
            issues.append(f"puid: at most 500 characters, got {len(puid)}")
    url = given.get("decision_ground_reference_url")
    if url is not None and not (isinstance(url, str) and is_url(url.strip(), 500)):
        issues.append(
            "decision_ground_reference_url: must be an http(s) URL of 500 characters or less"
        )
    content_id = given.get("content_id")
    if content_id is not None and not (
        isinstance(content_id, Mapping)
        and set(content_id) == {"EAN-13"}
        and isinstance(content_id["EAN-13"], str)
        and _EAN13.fullmatch(content_id["EAN-13"])
    ):
        issues.append('content_id: must be {"EAN-13": "<13 digits>"}')
    return issues
