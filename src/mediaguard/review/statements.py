"""From a stored decision to its DSA statement of reasons.

Design note: the API (``GET /v1/decisions/{id}/statement``) and the CLI (``mediaguard
dsa export``) must publish the same statement for the same decision, so both call
:func:`statement_for`. The facts are built here from mediaguard's own names and numbers
(categories, scores, list categories, who decided in general terms), never from the
file name, the reviewer's note or the reviewer's name, nor from text or codes read in the
media (a URL or phone number there is personal data): a statement is published.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mediaguard.dsa import EEA, ReasonCodes, StatementError, StatementInput, statement
from mediaguard.store.review_types import DecisionInfo, ReviewItemInfo


def facts_for(decision: DecisionInfo, item: ReviewItemInfo) -> str:
    """A public, personal-data-free account of why the decision was taken."""
    verdict = item.verdict
    scores: dict[str, Any] = verdict.get("scores", {})
    parts: list[str] = []
    flagged = [
        f"{category} (score {float(scores[category]):.2f})"
        for category in item.categories
        if category in scores
    ]
    if flagged:
        parts.append("automated classifiers flagged " + ", ".join(flagged))
    listed = sorted({str(m.get("category")) for m in verdict.get("matches", [])})
    if listed:
        parts.append("the content matched hash lists of known " + ", ".join(listed) + " content")
    parts += _text_facts(verdict)
    kind = "video" if item.media_kind == "video" else "image"
    who = "automatically" if decision.reviewer is None else "by a human reviewer"
    parts.append(f"the {kind} was {_past(decision.action)} {who}")
    return "; ".join(parts).capitalize() + "."


def _text_facts(verdict: dict[str, Any]) -> list[str]:
    """What term and URL lists matched, by category and place only.

    Never the text, the URL or the list entry: a line read from an image may hold a phone
    number, an address or a name, and a statement is published. Only lists whose match
    counted (a reason that flags names them) are told.
    """
    counted = {
        str(r.get("list"))
        for r in verdict.get("reasons", [])
        if r.get("list") and r.get("decision") != "allow"
    }
    found: dict[tuple[str, str], set[str]] = {}
    for match in verdict.get("text_matches", []):
        if str(match.get("list")) in counted:
            key = (str(match.get("kind")), str(match.get("found_in")))
            found.setdefault(key, set()).add(str(match.get("category")))
    parts = []
    for (kind, found_in), categories in sorted(found.items()):
        lists = "term lists" if kind == "term" else "URL lists"
        where = "text read in the content" if found_in == "text" else "a QR code or barcode in it"
        parts.append(f"{where} matched {lists} of {', '.join(sorted(categories))} content")
    return parts


def _past(action: str) -> str:
    return {"remove": "removed", "restrict": "restricted"}.get(action, action)


def statement_for(
    decision: DecisionInfo,
    item: ReviewItemInfo,
    reasons: ReasonCodes,
    *,
    territorial_scope: Iterable[str] = EEA,
) -> dict[str, object]:
    """The Transparency Database statement of one remove or restrict decision.

    Raises:
        StatementError: when the decision is not exportable (approve, escalate) or its
            reason code is unknown or has no DSA mapping; the message says which.
    """
    reason = reasons.get(decision.reason_code)
    if reason is None:
        raise StatementError(
            f"reason_code: {decision.reason_code!r} is not in the reason codes file, so the "
            "decision cannot be mapped to a DSA ground and category"
        )
    entry = StatementInput(
        decision_id=decision.id,
        action=decision.action,  # type: ignore[arg-type]  # checked by StatementInput
        reason=reason,
        automated_detection=decision.automated_detection,
        automated_decision=decision.automated_decision,  # type: ignore[arg-type]
        content_type="video" if item.media_kind == "video" else "image",
        content_date=item.created_at.date(),
        application_date=decision.created_at.date(),
        facts=facts_for(decision, item),
    )
    return statement(entry, territorial_scope=territorial_scope)
