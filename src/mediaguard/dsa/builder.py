"""From one decision to the Transparency Database's JSON object, and batches of them.

Design note: Article 17 DSA requires a statement of reasons for every decision that
restricts content, and Article 24(5) requires online platforms to send those statements
to the Commission's DSA Transparency Database, where they are published. This module
turns a decision into that database's JSON object and nothing more: it makes no network
call, keeps no state and reads no store, so the exporter that submits statements can be
tested, replaced or run offline against this pure core. The platform is identified by the
API token, so ``platform_name`` appears only in the database's responses and is not a
field here.

Nothing personal leaves mediaguard. A statement is public, so it carries the decision's
id (the ``puid``), dates, the reason code's fixed texts and a short machine-generated
facts line. :class:`StatementInput` refuses facts that look like an email address, a
handle, a web or IP address, a file name or path, a phone or account number, or a
content hash (a hash lets anyone holding a private picture confirm it was moderated).
``source_identity`` (who sent a notice) is never written.

The values written here (``DECISION_GROUND_*``, ``SOURCE_*``, the EEA states, ...) are
the builder's own constants, not read from :mod:`~mediaguard.dsa.schema`: every statement
is checked by the independent :func:`~mediaguard.dsa.validator.validate` before it is
returned, and that check means something only if the two do not share their tables.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

from mediaguard.dsa.reasons import EXPORTABLE, Action, Ground, ReasonCode
from mediaguard.dsa.validator import validate
from mediaguard.errors import MediaguardError
from mediaguard.iterutil import chunks

Automation = Literal["fully", "partially", "not"]
#: mediaguard's media kinds. An animated GIF, WebP or PNG is an ``image`` in mediaguard
#: and is reported as one; only container video is ``video``.
ContentKind = Literal["image", "video"]
#: ``notice`` is a notice under Article 16 DSA.
Source = Literal["voluntary", "notice", "trusted_flagger", "other_notification"]

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
