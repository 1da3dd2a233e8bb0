"""EU Digital Services Act statements of reasons for ``remove`` and ``restrict`` decisions.

Design note: Article 17 DSA requires a statement of reasons for every decision that
restricts content, and Article 24(5) requires online platforms to send those statements
to the Commission's DSA Transparency Database, where they are published. This module
turns a decision into that database's JSON object and nothing more: it makes no network
call, keeps no state and reads no store, so the exporter that submits statements can be
tested, replaced or run offline against this pure core.

What a reviewer picks is a :class:`ReasonCode`: a slug the UI shows with a label, mapped
once, in reviewed configuration (``reasons.toml``), to the DSA's ground, category and
explanation. Reviewers never write legal text per decision, so statements stay
consistent and free of personal data.

Nothing personal leaves mediaguard. A statement is public, so it carries the decision's
id (the ``puid``), dates, the reason code's fixed texts and a short machine-generated
facts line. :class:`StatementInput` refuses facts that look like an email address, a
handle, a web or IP address, a file name or path, a phone or account number, or a
content hash (a hash lets anyone holding a private picture confirm it was moderated).
``source_identity`` (who sent a notice) is never written.

Schema followed: the DSA Transparency Database submission API (endpoints
``POST /api/v1/statement`` and ``POST /api/v1/statements``), in the schema revised on
1 July 2025 for the Implementing Regulation on Transparency Reporting. It was read from
the database's own source, github.com/digital-services-act/transparency-database at
commit 69e80a0b (June 2026): the validation rules in
``app/Http/Requests/StatementStoreRequest.php`` and
``app/Services/GroupedSubmissionsService.php`` (batches of 1 to 100), the enumerations in
``app/Models/Statement.php``, ``app/Services/EuropeanCountriesService.php`` and
``app/Services/EuropeanLanguagesService.php``, and the field documentation in
``resources/markdown/api-documentation.md``. The platform is identified by the API token,
so ``platform_name`` appears only in the database's responses and is not a field here.

:func:`validate` is deliberately independent of the builder: it keeps its own literal
tables copied from the schema, so a wrong constant in :func:`statement` shows up as a
validation failure instead of being checked against itself. It is at least as strict as
the database. Where the database silently drops a field that does not apply (say
``source_identity`` on a voluntary decision), :func:`validate` reports it, because
mediaguard never means to send one. It follows the API documentation where that is
stricter than the rules in code (``territorial_scope`` required, end dates not before the
application date), and adds one rule of its own: the content cannot postdate the
decision that restricts it.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from mediaguard.errors import ConfigError, MediaguardError
from mediaguard.iterutil import chunks
from mediaguard.signals.protected import check_name

#: What a reviewer (or the pipeline) decides. Only ``remove`` and ``restrict`` restrict
#: content, so only they need a statement of reasons.
Action = Literal["approve", "remove", "restrict", "escalate"]
Ground = Literal["illegal", "incompatible"]
Automation = Literal["fully", "partially", "not"]
#: mediaguard's media kinds. An animated GIF, WebP or PNG is an ``image`` in mediaguard
#: and is reported as one; only container video is ``video``.
ContentKind = Literal["image", "video"]
#: ``notice`` is a notice under Article 16 DSA.
Source = Literal["voluntary", "notice", "trusted_flagger", "other_notification"]

EXPORTABLE: Final = frozenset({"remove", "restrict"})
#: The API takes at most this many statements per ``POST /api/v1/statements``.
BATCH_MAX: Final = 100
#: Limit of ``decision_facts`` in the database; longer facts are cut to fit.
FACTS_MAX: Final = 5000

#: Every EEA state, as the database spells them (Greece is ``GR``).
EEA: Final[tuple[str, ...]] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip


class StatementError(MediaguardError):
    """A decision cannot be exported as a statement of reasons; the message says why."""


# --------------------------------------------------------------------------------------
# Reason codes
# --------------------------------------------------------------------------------------

_SLUG = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LABEL_MAX = 100
#: Visibility restrictions a ``restrict`` decision may apply. Removal is ``remove``'s, and
#: DECISION_VISIBILITY_OTHER would need free text per decision.
_RESTRICT_VISIBILITIES: Final = frozenset(
    {
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
    }
)
_DSA_KEYS: Final = (
    "ground",
    "category",
    "ground_reference",
    "explanation",
    "category_specification",
    "restrict_visibility",
    "also_illegal",
    "reference_url",
)


@dataclass(frozen=True)
class ReasonCode:
    """Why a reviewer decided as they did, and what that means under the DSA.

    A code for ``remove`` or ``restrict`` carries the DSA mapping; a code only for
    ``approve`` or ``escalate`` carries none, since no statement is ever made for it.

    Attributes:
        code: slug stored with the decision (``[a-z][a-z0-9_]*``, up to 64 characters).
        label: what the review UI shows.
        actions: the decision actions the code may justify.
        ground: ``illegal`` (against a law) or ``incompatible`` (against the terms of
            service).
        category: a ``STATEMENT_CATEGORY_*`` value.
        ground_reference: the law (illegal) or the section of the terms (incompatible)
            relied on, up to 500 characters.
        explanation: why content of this kind is illegal or incompatible on that ground,
            up to 2000 characters.
        category_specification: ``KEYWORD_*`` values that narrow the category.
        restrict_visibility: the ``DECISION_VISIBILITY_*`` a ``restrict`` decision
            applies; required when the code applies to ``restrict``. A ``remove``
            decision is always DECISION_VISIBILITY_CONTENT_REMOVED.
        also_illegal: for the incompatible ground, whether the content is also
            considered illegal; None leaves it unsaid.
        reference_url: where the law or terms can be read, up to 500 characters.

    Raises:
        ConfigError: naming the first invalid field.
        ProtectedTraitError: when the code, label, category or a keyword names a
            protected trait of a person. This refuses a few of the database's own
            values, for example STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN or
            KEYWORD_AGE_SPECIFIC_RESTRICTIONS: mediaguard infers no gender or age, so it
            cannot assert them; the neutral category (here
            STATEMENT_CATEGORY_CYBER_VIOLENCE) fits.
    """

    code: str
    label: str
    actions: tuple[Action, ...]
    ground: Ground | None = None
    category: str | None = None
    ground_reference: str | None = None
    explanation: str | None = None
    category_specification: tuple[str, ...] = ()
    restrict_visibility: str | None = None
    also_illegal: bool | None = None
    reference_url: str | None = None

    def __post_init__(self) -> None:
        if not _SLUG.fullmatch(self.code):
            raise ConfigError(
                f"reasons.{self.code}: a reason code must match [a-z][a-z0-9_]* "
                "(up to 64 characters)"
            )
        where = f"reasons.{self.code}"
        check_name("reason code", self.code)
        if not self.label.strip() or len(self.label) > _LABEL_MAX:
            raise ConfigError(f"{where}.label: must be 1 to {_LABEL_MAX} characters")
        check_name("reason label", self.label)
        if not self.actions:
            raise ConfigError(f"{where}.actions: must name at least one action")
        for action in self.actions:
            if action not in get_args(Action):
                raise ConfigError(
                    f"{where}.actions: {action!r} is not one of {', '.join(get_args(Action))}"
                )
        if len(set(self.actions)) != len(self.actions):
            raise ConfigError(f"{where}.actions: lists an action twice")
        if self.exportable:
            self._check_mapping(where)
        else:
            for key in _DSA_KEYS:
                if getattr(self, key) not in (None, ()):
                    raise ConfigError(
                        f"{where}.{key}: only a code for remove or restrict carries a DSA "
                        "mapping; this one applies to no decision that needs a statement"
                    )

    def _check_mapping(self, where: str) -> None:
        if self.ground not in get_args(Ground):
            raise ConfigError(f"{where}.ground: must be 'illegal' or 'incompatible'")
        if self.category not in _CATEGORIES:
            raise ConfigError(
                f"{where}.category: {self.category!r} is not a DSA statement category "
                "(STATEMENT_CATEGORY_*)"
            )
        check_name("DSA category", self.category)
        for name, text, limit in (
            ("ground_reference", self.ground_reference, 500),
            ("explanation", self.explanation, 2000),
        ):
            if text is None or not text.strip() or len(text) > limit:
                raise ConfigError(f"{where}.{name}: required, 1 to {limit} characters")
        for keyword in self.category_specification:
            if keyword not in _KEYWORDS or keyword == "KEYWORD_OTHER":
                raise ConfigError(
                    f"{where}.category_specification: {keyword!r} is not a DSA keyword "
                    "(KEYWORD_*; KEYWORD_OTHER needs free text per decision and is not used)"
                )
            check_name("DSA keyword", keyword)
        if len(set(self.category_specification)) != len(self.category_specification):
            raise ConfigError(f"{where}.category_specification: lists a keyword twice")
        if "restrict" in self.actions and self.restrict_visibility not in _RESTRICT_VISIBILITIES:
            raise ConfigError(
                f"{where}.restrict_visibility: required for a code that applies to restrict, "
                f"one of {', '.join(sorted(_RESTRICT_VISIBILITIES))}"
            )
        if "restrict" not in self.actions and self.restrict_visibility is not None:
            raise ConfigError(f"{where}.restrict_visibility: the code does not apply to restrict")
        if self.also_illegal is not None and self.ground != "incompatible":
            raise ConfigError(f"{where}.also_illegal: only for the incompatible ground")
        if self.reference_url is not None and not _is_url(self.reference_url, 500):
            raise ConfigError(
                f"{where}.reference_url: must be an http(s) URL of 500 characters or less"
            )

    @property
    def exportable(self) -> bool:
        """Whether the code justifies a decision that needs a statement of reasons."""
        return not EXPORTABLE.isdisjoint(self.actions)


@dataclass(frozen=True)
class ReasonCodes(Mapping[str, ReasonCode]):
    """The reason codes reviewers choose from, by code, in the order they were defined.

    Attributes:
        codes: the codes.
        automated_by_category: (category, code) pairs naming the code recorded when the
            pipeline blocks content of that policy or hash-list category on its own;
            category ``*`` is the fallback. A block removes, so each code must apply
            to ``remove``.
    """

    codes: tuple[ReasonCode, ...]
    automated_by_category: tuple[tuple[str, str], ...] = ()
    _by_code: dict[str, ReasonCode] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, ReasonCode] = {}
        for reason in self.codes:
            if reason.code in by_code:
                raise ConfigError(f"reasons.{reason.code}: defined twice")
            by_code[reason.code] = reason
        object.__setattr__(self, "_by_code", by_code)
        for category, code in self.automated_by_category:
            if category != "*":
                check_name("automated category", category)
            if code not in by_code or "remove" not in by_code[code].actions:
                raise ConfigError(
                    f"automated.{category}: {code!r} is not a reason code that applies to "
                    "remove, as an automated block does"
                )

    @property
    def automated(self) -> dict[str, str]:
        """The code recorded on an automated block, by category (``*``: any other)."""
        return dict(self.automated_by_category)

    def __getitem__(self, code: str) -> ReasonCode:
        return self._by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self.codes)

    def for_action(self, action: Action) -> tuple[ReasonCode, ...]:
        """The codes a reviewer may pick for ``action``, in file order."""
        return tuple(reason for reason in self.codes if action in reason.actions)


def load_reasons(path: Path | None = None) -> ReasonCodes:
    """Read reason codes from a TOML file, or the ones shipped with mediaguard.

    The file holds one ``[reasons.<code>]`` table per code, with the fields of
    :class:`ReasonCode` (``actions`` and ``category_specification`` as arrays), and an
    optional ``[automated]`` table of ``category = "code"`` for automated blocks. Unknown
    keys are refused: a misspelt key must not silently drop part of a legal mapping.

    Raises:
        ConfigError: when the file cannot be read or is invalid; the message names the
            file and the field.
        ProtectedTraitError: when a code, label, category or keyword names a protected
            trait of a person.
    """
    if path is None:
        origin = "reasons.toml"
        raw = files("mediaguard.actions").joinpath("reasons.toml").read_bytes()
    else:
        origin = str(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise ConfigError(f"cannot read reason codes {path}: {err.strerror or err}") from err
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{origin}: not valid TOML: {err}") from err
    try:
        return _reasons_from(data)
    except ConfigError as err:
        raise type(err)(f"{origin}: {err}") from err


def _reasons_from(data: dict[str, Any]) -> ReasonCodes:
    for key in data:
        if key not in ("reasons", "automated"):
            raise ConfigError(
                f"{key}: unknown key; the file holds [reasons.<code>] tables and [automated]"
            )
    automated = data.get("automated", {})
    if not isinstance(automated, dict):
        raise ConfigError("automated: must be a table of category = reason code")
    for category, code in automated.items():
        if not isinstance(code, str):
            raise ConfigError(f"automated.{category}: must be a reason code (a string)")
    tables = data.get("reasons")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError("reasons: at least one [reasons.<code>] table is required")
    codes = []
    for code, table in tables.items():
        where = f"reasons.{code}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        for key in table:
            if key not in _TOML_TYPES:
                raise ConfigError(f"{where}.{key}: unknown key")
        values: dict[str, Any] = {}
        for key, kind in _TOML_TYPES.items():
            value = table.get(key)
            if value is None:
                if key in ("label", "actions"):
                    raise ConfigError(f"{where}.{key}: required")
                continue
            if kind is list:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"{where}.{key}: must be an array of strings")
                value = tuple(value)
            elif not isinstance(value, kind):
                raise ConfigError(f"{where}.{key}: must be a {_TOML_NAMES[kind]}")
            values[key] = value
        codes.append(ReasonCode(code=code, **values))
    return ReasonCodes(tuple(codes), tuple(automated.items()))


_TOML_TYPES: Final[dict[str, type]] = {
    "label": str,
    "actions": list,
    "ground": str,
    "category": str,
    "ground_reference": str,
    "explanation": str,
    "category_specification": list,
    "restrict_visibility": str,
    "also_illegal": bool,
    "reference_url": str,
}
_TOML_NAMES: Final[dict[type, str]] = {str: "string", bool: "boolean (true or false)"}


# --------------------------------------------------------------------------------------
# Building a statement
# --------------------------------------------------------------------------------------

_PUID = re.compile(r"[A-Za-z0-9_-]{1,500}")
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
#: What personal data in a facts line tends to look like, named for the refusal.
_PERSONAL: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("an email address", re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")),
    ("a handle", re.compile(r"(?<![\w@])@\w")),
    ("a web address", re.compile(r"\b[a-z][a-z0-9+.-]*://|\bwww\.", re.IGNORECASE)),
    ("an IP address", re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|[0-9A-Fa-f]*::[0-9A-Fa-f]")),
    ("a path", re.compile(r"(?<!\S)~?\.{0,2}/\w|\\|\b[A-Za-z]:[\\/]")),
    (
        "a file name",
        re.compile(
            r"\w\.(?:jpe?g|png|gif|webp|hei[cf]|avif|bmp|tiff?|mp4|m4v|mov|mkv|webm|avi"
            r"|3gp|wmv|flv|pdf|docx?|txt|zip)\b",
            re.IGNORECASE,
        ),
    ),
    ("a phone or account number", re.compile(r"\d(?:[\s()-]?\d){6,}")),
    ("a content hash", re.compile(r"\b[0-9A-Fa-f]{16,}\b")),
)

_VISIBILITY_FOR_REMOVE: Final = "DECISION_VISIBILITY_CONTENT_REMOVED"
_GROUND_VALUES: Final[dict[Ground, str]] = {
    "illegal": "DECISION_GROUND_ILLEGAL_CONTENT",
    "incompatible": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
}
_CONTENT_TYPE_VALUES: Final[dict[ContentKind, str]] = {
    "image": "CONTENT_TYPE_IMAGE",
    "video": "CONTENT_TYPE_VIDEO",
}
_SOURCE_VALUES: Final[dict[Source, str]] = {
    "voluntary": "SOURCE_VOLUNTARY",
    "notice": "SOURCE_ARTICLE_16",
    "trusted_flagger": "SOURCE_TRUSTED_FLAGGER",
    "other_notification": "SOURCE_TYPE_OTHER_NOTIFICATION",
}
_AUTOMATION_VALUES: Final[dict[Automation, str]] = {
    "fully": "AUTOMATED_DECISION_FULLY",
    "partially": "AUTOMATED_DECISION_PARTIALLY",
    "not": "AUTOMATED_DECISION_NOT_AUTOMATED",
}


@dataclass(frozen=True)
class StatementInput:
    """What a statement of reasons needs to know about one decision, and nothing else.

    Attributes:
        decision_id: the decision's stable, unique id; it becomes the ``puid``, so it
            may hold only ``A-Z a-z 0-9 _ -`` and at most 500 characters, and must never
            be reused.
        action: the decision; only ``remove`` and ``restrict`` can be exported.
        reason: the reason code the decision was taken under; it must apply to
            ``action``.
        automated_detection: whether the content was found by automated means (a
            mediaguard scan), rather than reported by a person.
        automated_decision: how much of the decision a machine took: ``fully`` for a
            pipeline block, ``partially`` for a reviewer confirming a machine's
            proposal, ``not`` for a reviewer's own decision.
        content_type: the media's kind.
        content_date: the day the content was received (uploaded or scanned).
        application_date: the day the decision took effect.
        facts: a short, machine-generated line of facts, such as which categories or
            hash lists triggered. It is published: callers must build it from
            mediaguard's own names and numbers only, never from user data, file names,
            captions or free text typed by a person. Control characters and runs of
            white space are collapsed, text beyond :data:`FACTS_MAX` characters is cut,
            and text that looks like personal data is refused.
        source: what started the decision: mediaguard's own initiative
            (``voluntary``), a notice under Article 16 DSA, a trusted flagger, or
            another notification.

    Raises:
        StatementError: when the decision cannot be exported, naming the field.
    """

    decision_id: str
    action: Action
    reason: ReasonCode
    automated_detection: bool
    automated_decision: Automation
    content_type: ContentKind
    content_date: date
    application_date: date
    facts: str
    source: Source = "voluntary"

    def __post_init__(self) -> None:
        if self.action not in EXPORTABLE:
            raise StatementError(
                f"action: {self.action!r} restricts no content, so it has no statement of "
                "reasons; only remove and restrict are exported"
            )
        if self.action not in self.reason.actions:
            raise StatementError(
                f"reason: {self.reason.code!r} does not apply to {self.action!r} "
                f"(it applies to {', '.join(self.reason.actions)})"
            )
        if not _PUID.fullmatch(self.decision_id):
            raise StatementError(
                "decision_id: must be 1 to 500 characters of A-Z, a-z, 0-9, '_' and '-' "
                "to serve as the statement's puid"
            )
        for name in ("content_date", "application_date"):
            if isinstance(getattr(self, name), datetime):
                raise StatementError(
                    f"{name}: pass a date, not a datetime; choose the time zone whose day "
                    "counts before calling"
                )
        if self.content_date > self.application_date:
            raise StatementError(
                "content_date: the content cannot be received after the decision on it "
                f"({self.content_date.isoformat()} > {self.application_date.isoformat()})"
            )
        object.__setattr__(self, "facts", _clean_facts(self.facts))


def _clean_facts(text: str) -> str:
    """Collapse control characters and white space, refuse personal data, cut to fit."""
    visible = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )
    cleaned = " ".join(visible.split())
    if not cleaned:
        raise StatementError("facts: required; say which categories or lists triggered")
    undated = _ISO_DATE.sub(" ", cleaned)
    for what, pattern in _PERSONAL:
        if pattern.search(undated):
            # The message does not repeat the text: it may be the very data kept out.
            raise StatementError(
                f"facts: looks like it holds {what}; statements are public, so build the "
                "facts from mediaguard's own category and list names only"
            )
    if len(cleaned) > FACTS_MAX:
        cleaned = cleaned[: FACTS_MAX - 1].rstrip() + "…"
    return cleaned


def statement(
    entry: StatementInput, *, territorial_scope: Iterable[str] = EEA
) -> dict[str, object]:
    """The Transparency Database's JSON object for one decision.

    Args:
        entry: the decision.
        territorial_scope: ISO codes of the EEA states where the restriction applies;
            every EEA state unless the platform restricts only in some.

    Raises:
        StatementError: when the statement would not pass :func:`validate` (for
            example a date outside the database's range, or a state outside the EEA);
            the message lists every problem.
    """
    reason = entry.reason
    if reason.ground is None:  # ReasonCode refuses this for an exportable code
        raise StatementError(f"reason: {reason.code!r} has no DSA mapping")
    visibility = _VISIBILITY_FOR_REMOVE if entry.action == "remove" else reason.restrict_visibility
    out: dict[str, object] = {
        "decision_visibility": [visibility],
        "decision_ground": _GROUND_VALUES[reason.ground],
    }
    if reason.reference_url is not None:
        out["decision_ground_reference_url"] = reason.reference_url
    if reason.ground == "illegal":
        out["illegal_content_legal_ground"] = reason.ground_reference
        out["illegal_content_explanation"] = reason.explanation
    else:
        out["incompatible_content_ground"] = reason.ground_reference
        out["incompatible_content_explanation"] = reason.explanation
        if reason.also_illegal is not None:
            out["incompatible_content_illegal"] = "Yes" if reason.also_illegal else "No"
    out["category"] = reason.category
    if reason.category_specification:
        out["category_specification"] = list(reason.category_specification)
    out |= {
        "content_type": [_CONTENT_TYPE_VALUES[entry.content_type]],
        "territorial_scope": sorted(set(territorial_scope)),
        "content_date": entry.content_date.isoformat(),
        "application_date": entry.application_date.isoformat(),
        "decision_facts": entry.facts,
        "source_type": _SOURCE_VALUES[entry.source],
        "automated_detection": "Yes" if entry.automated_detection else "No",
        "automated_decision": _AUTOMATION_VALUES[entry.automated_decision],
        "puid": entry.decision_id,
    }
    issues = validate(out)
    if issues:
        raise StatementError(f"statement {entry.decision_id}: " + "; ".join(issues))
    return out


def batches(
    statements: Iterable[Mapping[str, object]], size: int = BATCH_MAX
) -> Iterator[dict[str, list[Mapping[str, object]]]]:
    """Request bodies for ``POST /api/v1/statements``: ``{"statements": [...]}``, in order.

    The database accepts 1 to 100 statements per call; an empty input yields nothing.

    Raises:
        ValueError: when ``size`` is not between 1 and 100.
    """
    if not 1 <= size <= BATCH_MAX:
        raise ValueError(f"size must be between 1 and {BATCH_MAX}, got {size}")
    for chunk in chunks(statements, size):
        yield {"statements": chunk}


def _is_url(value: str, limit: int) -> bool:
    parts = urlsplit(value)
    return len(value) <= limit and parts.scheme in ("http", "https") and bool(parts.netloc)


# --------------------------------------------------------------------------------------
# Validation: the database's rules, with enumerations copied from its schema
# --------------------------------------------------------------------------------------

_VISIBILITIES: Final = frozenset(
    {
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    }
)
_MONETARY: Final = frozenset(
    {"DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER"}
)
_PROVISIONS: Final = frozenset(
    {
        "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "DECISION_PROVISION_TOTAL_SUSPENSION",
        "DECISION_PROVISION_PARTIAL_TERMINATION",
        "DECISION_PROVISION_TOTAL_TERMINATION",
    }
)
_ACCOUNTS: Final = frozenset({"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"})
_ACCOUNT_TYPES: Final = frozenset({"ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"})
_GROUNDS: Final = frozenset(
    {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
)
_CONTENT_TYPES: Final = frozenset(
    {
        "CONTENT_TYPE_APP",
        "CONTENT_TYPE_AUDIO",
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_PRODUCT",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
        "CONTENT_TYPE_TEXT",
        "CONTENT_TYPE_VIDEO",
        "CONTENT_TYPE_OTHER",
    }
)
_CATEGORIES: Final = frozenset(
    {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    }
)
_KEYWORDS: Final = frozenset(
    {
        "KEYWORD_ADULT_SEXUAL_MATERIAL",
        "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
        "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
        "KEYWORD_ANIMAL_HARM",
        "KEYWORD_BIOMETRIC_DATA_BREACH",
        "KEYWORD_BULLYING_AGAINST_GIRLS",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
        "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
        "KEYWORD_COORDINATED_HARM",
        "KEYWORD_COPYRIGHT_INFRINGEMENT",
        "KEYWORD_CYBER_BULLYING_INTIMIDATION",
        "KEYWORD_CYBER_HARASSMENT",
        "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
        "KEYWORD_CYBER_INCITEMENT",
        "KEYWORD_CYBER_STALKING",
        "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
        "KEYWORD_DATA_FALSIFICATION",
        "KEYWORD_DEFAMATION",
        "KEYWORD_DESIGN_INFRINGEMENT",
        "KEYWORD_DISCRIMINATION",
        "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
        "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
        "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
        "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
        "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
        "KEYWORD_HATE_SPEECH",
        "KEYWORD_HIDDEN_ADVERTISEMENT",
        "KEYWORD_HUMAN_EXPLOITATION",
        "KEYWORD_HUMAN_TRAFFICKING",
        "KEYWORD_ILLEGAL_ORGANIZATIONS",
        "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
        "KEYWORD_INAUTHENTIC_ACCOUNTS",
        "KEYWORD_INAUTHENTIC_LISTINGS",
        "KEYWORD_INAUTHENTIC_USER_REVIEWS",
        "KEYWORD_INCITEMENT_AGAINST_WOMEN",
        "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
        "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
        "KEYWORD_LANGUAGE_REQUIREMENTS",
        "KEYWORD_MISINFORMATION_DISINFORMATION",
        "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
        "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
        "KEYWORD_MISSING_PROCESSING_GROUND",
        "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
        "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
        "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
        "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
        "KEYWORD_NONCOMPLIANCE_PRICING",
        "KEYWORD_NUDITY",
        "KEYWORD_PATENT_INFRINGEMENT",
        "KEYWORD_PHISHING",
        "KEYWORD_PROHIBITED_PRODUCTS",
        "KEYWORD_PYRAMID_SCHEMES",
        "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
        "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
        "KEYWORD_RISK_PUBLIC_HEALTH",
        "KEYWORD_SELF_MUTILATION",
        "KEYWORD_STALKING",
        "KEYWORD_SUICIDE",
        "KEYWORD_TERRORIST_CONTENT",
        "KEYWORD_TRADE_SECRET_INFRINGEMENT",
        "KEYWORD_TRADEMARK_INFRINGEMENT",
        "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
        "KEYWORD_UNLAWFUL_SALE_ANIMALS",
        "KEYWORD_UNSAFE_CHALLENGES",
        "KEYWORD_UNSAFE_PRODUCTS",
        "KEYWORD_VIOLATION_EU_LAW",
        "KEYWORD_VIOLATION_NATIONAL_LAW",
        "KEYWORD_OTHER",
    }
)
#: EuropeanCountriesService::EUROPEAN_COUNTRY_CODES: the EEA.
_COUNTRIES: Final = frozenset((
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
))  # fmt: skip
#: EuropeanLanguagesService::ALL_LANGUAGES: ISO 639-1, upper case.
_LANGUAGES: Final = frozenset((
    "AB", "AA", "AF", "AK", "SQ", "AM", "AR", "AN", "HY", "AS", "AV", "AE", "AY", "AZ", "BM", "BA",
    "EU", "BE", "BN", "BH", "BI", "BS", "BR", "BG", "MY", "CA", "KM", "CH", "CE", "NY", "ZH", "CU",
    "CV", "KW", "CO", "CR", "HR", "CS", "DA", "DV", "NL", "DZ", "EN", "EO", "ET", "EE", "FO", "FJ",
    "FI", "FR", "FF", "GD", "GL", "LG", "KA", "DE", "KI", "EL", "KL", "GN", "GU", "HT", "HA", "HE",
    "HZ", "HI", "HO", "HU", "IS", "IO", "IG", "ID", "IA", "IE", "IU", "IK", "GA", "IT", "JA", "JV",
    "KN", "KR", "KS", "KK", "RW", "KV", "KG", "KO", "KJ", "KU", "KY", "LO", "LA", "LV", "LB", "LI",
    "LN", "LT", "LU", "MK", "MG", "MS", "ML", "MT", "GV", "MI", "MR", "MH", "RO", "MN", "NA", "NV",
    "ND", "NG", "NE", "SE", "NO", "NB", "NN", "II", "OC", "OJ", "OR", "OM", "OS", "PI", "PA", "PS",
    "FA", "PL", "PT", "QU", "RM", "RN", "RU", "SM", "SG", "SA", "SC", "SR", "SN", "SD", "SI", "SK",
    "SL", "SO", "ST", "NR", "ES", "SU", "SW", "SS", "SV", "TL", "TY", "TG", "TA", "TT", "TE", "TH",
    "BO", "TI", "TO", "TS", "TN", "TR", "TK", "TW", "UG", "UK", "UR", "UZ", "VE", "VI", "VO", "WA",
    "CY", "FY", "WO", "XH", "YI", "YO", "ZA", "ZU",
))  # fmt: skip
_SOURCES: Final = frozenset(
    {
        "SOURCE_ARTICLE_16",
        "SOURCE_TRUSTED_FLAGGER",
        "SOURCE_TYPE_OTHER_NOTIFICATION",
        "SOURCE_VOLUNTARY",
    }
)
_YES_NO: Final = frozenset({"Yes", "No"})
_AUTOMATED_DECISIONS: Final = frozenset(
    {
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    }
)

_ONE_OF: Final[dict[str, frozenset[str]]] = {
    "decision_monetary": _MONETARY,
    "decision_provision": _PROVISIONS,
    "decision_account": _ACCOUNTS,
    "account_type": _ACCOUNT_TYPES,
    "decision_ground": _GROUNDS,
    "category": _CATEGORIES,
    "content_language": _LANGUAGES,
    "source_type": _SOURCES,
    "automated_detection": _YES_NO,
    "automated_decision": _AUTOMATED_DECISIONS,
    "incompatible_content_illegal": _YES_NO,
}
_MANY_OF: Final[dict[str, frozenset[str]]] = {
    "decision_visibility": _VISIBILITIES,
    "content_type": _CONTENT_TYPES,
    "category_addition": _CATEGORIES,
    "category_specification": _KEYWORDS,
    "territorial_scope": _COUNTRIES,
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
    if url is not None and not (isinstance(url, str) and _is_url(url.strip(), 500)):
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
