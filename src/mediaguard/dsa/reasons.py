"""Reason codes: what a reviewer picks, and what it means under the DSA.

Design note: what a reviewer picks is a :class:`ReasonCode`: a slug the UI shows with a
label, mapped once, in reviewed configuration (``reasons.toml``, shipped beside this
module and replaceable with ``review_reasons``), to the DSA's ground, category and
explanation. Reviewers never write legal text per decision, so statements stay
consistent and free of personal data.

This is configuration, read once at start-up by the service and by ``mediaguard dsa
export``; it is kept apart from the builder because it changes with a platform's terms of
service and legal review, while the builder changes only with the database's schema. A
code's category and keywords are checked against the database's own tables
(:mod:`~mediaguard.dsa.schema`) when the file is loaded, so a typo is refused at start-up
rather than on the first export.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Literal, get_args

from mediaguard.dsa.schema import CATEGORIES, KEYWORDS, is_url
from mediaguard.errors import ConfigError
from mediaguard.signals.protected import check_name

#: What a reviewer (or the pipeline) decides. Only ``remove`` and ``restrict`` restrict
#: content, so only they need a statement of reasons.
Action = Literal["approve", "remove", "restrict", "escalate"]
Ground = Literal["illegal", "incompatible"]

#: The actions that restrict content, and so the only ones a statement is made for.
EXPORTABLE: Final = frozenset({"remove", "restrict"})

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
        if self.category not in CATEGORIES:
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
            if keyword not in KEYWORDS or keyword == "KEYWORD_OTHER":
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
        if self.reference_url is not None and not is_url(self.reference_url, 500):
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
        raw = files("mediaguard.dsa").joinpath("reasons.toml").read_bytes()
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
