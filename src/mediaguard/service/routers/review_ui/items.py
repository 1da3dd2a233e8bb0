"""The reviewer's work: the queue, an item with its preview, decisions and list additions.

Design note: every route here depends on a logged-in reviewer, and every POST on the
session's CSRF token (:mod:`~mediaguard.service.routers.review_ui.sessions`), so these
routes only deal with the work itself. What a decision does beyond the store (its DSA
statement, its appeal) lives in :mod:`mediaguard.review` and the API, not here.

Wellness: an item shows its shielded (greyscale, blurred) preview until the reviewer
presses Reveal; the reveal is audited, and only a reviewer with an audited reveal can
load the clear image. Every page and preview is sent ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final, cast, get_args

from fastapi import Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from mediaguard.dsa import Action
from mediaguard.review import texts
from mediaguard.review.intake import PreviewKind, has_clear_preview, preview_path, preview_time
from mediaguard.review.preview import moment
from mediaguard.service import hashlists, textlists
from mediaguard.service.deps import RuntimeDep
from mediaguard.service.routers.review_ui.pages import Halt, error_page, is_htmx, page, ui_router
from mediaguard.service.routers.review_ui.sessions import (
    Checked,
    Reviewer,
    Reviewing,
    base_context,
)
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.signals.base import Detection
from mediaguard.signals.hashes import MIN_PDQ_QUALITY
from mediaguard.store import audit
from mediaguard.store.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDenied,
)
from mediaguard.store.review import WAITING
from mediaguard.store.review_models import DECISION_ACTIONS
from mediaguard.store.review_types import AppealInfo, DecisionInfo, ReviewItemInfo
from mediaguard.verdict import Verdict

#: Access keys of the item page's controls, shown on the page and in docs/review.md.
ACCESS_KEYS: Final[Mapping[str, str]] = {
    "v": "reveal the clear preview",
    "a": "approve",
    "r": "remove",
    "s": "restrict",
    "e": "escalate",
    "c": "reason code",
    "n": "note",
    "d": "submit the decision",
}
_ACTION_KEYS: Final = {"approve": "a", "remove": "r", "restrict": "s", "escalate": "e"}
#: Detections scoring below this are folded away on the item page: a video yields one
#: detection per sampled frame, and hundreds of rows of 0.001 would bury the few that
#: made the item need a person. They stay one click away, never dropped.
FAINT_SCORE: Final = 0.05

router = ui_router()


def recorded_decision(
    runtime: ServiceRuntime, reviewing: Reviewing, decision_id: str
) -> tuple[DecisionInfo, str] | None:
    """The decision the reviewer just recorded and its item's source, to confirm it.

    Only the reviewer's own decision is confirmed: the id comes from the URL, and a
    confirmation must not become a way to read other reviewers' decisions.
    """
    if not decision_id:
        return None
    try:
        decision = runtime.store.review.get_decision(decision_id)
        source = runtime.store.review.get_item(decision.item_id).source
    except NotFoundError:
        return None
    if decision.reviewer != reviewing.session.reviewer.username:
        return None
    return decision, source


# ------------------------------------------------------------------------ queue


def _age(created_at: datetime, now: datetime) -> str:
    """How long an item has waited, coarsely, as reviewers read it at a glance."""
    if created_at.tzinfo is None:  # SQLite returns naive UTC
        created_at = created_at.replace(tzinfo=UTC)
    minutes = max(0, int((now - created_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


@router.get("/review")
def queue(
    request: Request,
    runtime: RuntimeDep,
    reviewing: Reviewer,
    category: str = "",
    list_name: Annotated[str, Query(alias="list")] = "",
    recorded: str = "",
) -> Response:
    """The waiting items; an htmx request (a filter changed) gets only the table."""
    reviewer = reviewing.session.reviewer
    items = runtime.store.review.queue(
        reviewer.id, category=category or None, list_name=list_name or None
    )
    categories, lists = runtime.store.review.facets()
    now = datetime.now(UTC)
    context = {
        **base_context(reviewing),
        "items": [(item, _age(item.created_at, now)) for item in items],
        "categories": categories,
        "lists": lists,
        "category": category,
        "list_name": list_name,
        "recorded": recorded_decision(runtime, reviewing, recorded),
    }
    name = "review/_queue_table.html" if is_htmx(request) else "review/queue.html"
    return page(request, name, context)


# ------------------------------------------------------------------------ item


def _item_or_halt(request: Request, runtime: ServiceRuntime, item_id: str) -> ReviewItemInfo:
    try:
        return runtime.store.review.get_item(item_id)
    except NotFoundError:
        raise Halt(
            error_page(request, 404, "No such item", "This review item does not exist.")
        ) from None


def _hash_choices(verdict: Verdict) -> list[tuple[str, str]]:
    """The item's hashes a list may gain: its digests, and its PDQ when good enough to match."""
    choices = [("md5", verdict.hashes.md5), ("sha256", verdict.hashes.sha256)]
    usable = [p for p in verdict.hashes.pdq if p.quality >= MIN_PDQ_QUALITY]
    if usable:
        choices.insert(0, ("pdq", usable[0].hash))
    return choices


def split_detections(verdict: Verdict) -> tuple[list[Detection], list[Detection]]:
    """The detections worth a row, and the faint ones (below :data:`FAINT_SCORE`)."""
    shown = [d for d in verdict.detections if d.score >= FAINT_SCORE]
    faint = [d for d in verdict.detections if d.score < FAINT_SCORE]
    return shown, faint


def preview_caption(runtime: ServiceRuntime, item: ReviewItemInfo, verdict: Verdict) -> str:
    """Which frame a video item's preview shows and why; empty for an image.

    The exact time is the one the preview was rendered at; an item queued before that
    was recorded says the time the frame was chosen for instead.
    """
    if item.media_kind != "video" or not item.has_preview:
        return ""
    why = "the first frame (no stretch of the video reached a threshold)"
    if verdict.timeline:
        # The same choice as the preview's renderer: highest peak, earliest on a tie.
        best = min(verdict.timeline, key=lambda s: (-s.peak_score, s.start_s))
        peak = f"{best.category}, peak {best.peak_score:.2f}"
        why = f"the start of its highest-scoring stretch ({peak})"
    seconds = preview_time(runtime.data_dir, item.id)
    if seconds is None:
        return f"The preview is the first frame at or after {float(moment(verdict)):.2f} s: {why}."
    scanned = [
        p.frame
        for p in verdict.hashes.pdq
        if p.time_s is not None and abs(p.time_s - seconds) < 1e-3
    ]
    frame = f" (scanned frame {scanned[0]})" if scanned else ""
    return f"The preview is the frame at {seconds:.2f} s{frame}: {why}."


@dataclass
class ItemForm:
    """What the reviewer entered, kept when a submission is refused."""

    action: str = ""
    reason_code: str = ""
    note: str = ""
    error: str | None = None
    list_message: str | None = None
    list_error: str | None = None
    text_list_message: str | None = None
    text_list_error: str | None = None


def _item_page(
    request: Request,
    runtime: ServiceRuntime,
    reviewing: Reviewing,
    item: ReviewItemInfo,
    form: ItemForm,
    *,
    clear: bool = False,
    status_code: int = 200,
    recorded: str = "",
) -> HTMLResponse:
    verdict = Verdict.model_validate_json(item.verdict_json)
    shown, faint = split_detections(verdict)
    decisions = runtime.store.review.decisions_for(item.id)
    appeals: list[AppealInfo] = [
        appeal
        for decision in decisions
        for appeal in runtime.store.review.appeals_for(decision.id)
        if appeal.state == "open"
    ]
    reasons = runtime.reasons
    seconds: float | None = None
    if item.media_kind == "video":
        seconds = preview_time(runtime.data_dir, item.id)
        seconds = float(moment(verdict)) if seconds is None else seconds
    context = {
        **base_context(reviewing),
        "item": item,
        "verdict": verdict,
        "waiting": item.state in WAITING,
        "clear": clear,
        "revealable": has_clear_preview(runtime.data_dir, item.id),
        "preview_caption": preview_caption(runtime, item, verdict),
        "detections": shown,
        "faint_detections": faint,
        "faint_score": FAINT_SCORE,
        "recorded": recorded_decision(runtime, reviewing, recorded),
        "decisions": decisions,
        "appeals": appeals,
        "actions": [(action, _ACTION_KEYS[action]) for action in DECISION_ACTIONS],
        "reason_groups": [(action, reasons.for_action(action)) for action in get_args(Action)],
        "hash_lists": runtime.store.lists.lists(),
        "hash_choices": _hash_choices(verdict),
        "read_rows": texts.read_rows(verdict),
        "overlay": texts.overlay(verdict, seconds=seconds),
        "term_lists": textlists.list_all(runtime, "term"),
        "url_lists": textlists.list_all(runtime, "url"),
        "term_choices": texts.term_choices(verdict),
        "domain_choices": texts.domain_choices(verdict),
        "form": form,
        "access_keys": ACCESS_KEYS,
    }
    return page(request, "review/item.html", context, status_code)


@router.get("/review/items/{item_id}")
def item_page(
    request: Request,
    runtime: RuntimeDep,
    reviewing: Reviewer,
    item_id: str,
    show: str = "",
    recorded: str = "",
) -> Response:
    """An item; its clear preview only after a reveal (``?show=clear``, the no-script path).

    ``?recorded=DECISION_ID`` confirms the decision just recorded on the previous item.
    """
    item = _item_or_halt(request, runtime, item_id)
    clear = show == "clear" and runtime.store.review.has_revealed(
        item.id, reviewing.session.reviewer
    )
    return _item_page(request, runtime, reviewing, item, ItemForm(), clear=clear, recorded=recorded)


@router.post("/review/items/{item_id}/reveal")
def reveal(request: Request, runtime: RuntimeDep, reviewing: Checked, item_id: str) -> Response:
    """Audit a reveal, then show the clear preview (a fragment for htmx)."""
    item = _item_or_halt(request, runtime, item_id)
    if not has_clear_preview(runtime.data_dir, item.id):
        return error_page(
            request,
            409,
            "Nothing to reveal",
            "No clear preview is kept for this item (its category is shielded only).",
        )
    runtime.store.review.reveal(item.id, reviewing.session.reviewer)
    if is_htmx(request):
        return page(
            request,
            "review/_preview.html",
            {**base_context(reviewing), "item": item, "clear": True, "revealable": True},
        )
    return RedirectResponse(f"/review/items/{item.id}?show=clear", status_code=303)


@router.get("/review/items/{item_id}/preview/{kind}")
def preview(
    request: Request, runtime: RuntimeDep, reviewing: Reviewer, item_id: str, kind: str
) -> Response:
    """A preview JPEG; the clear one only to a reviewer whose reveal is audited."""
    item = _item_or_halt(request, runtime, item_id)
    if kind not in get_args(PreviewKind):
        return error_page(request, 404, "No such preview", "Unknown preview kind.")
    shown: PreviewKind = "clear" if kind == "clear" else "shielded"
    if shown == "clear" and not runtime.store.review.has_revealed(
        item.id, reviewing.session.reviewer
    ):
        return error_page(
            request, 403, "Not revealed", "Press Reveal on the item page to see this preview."
        )
    path = preview_path(runtime.data_dir, item.id, shown)
    if not item.has_preview or not path.is_file():
        return error_page(request, 404, "No preview", "This item has no preview.")
    return FileResponse(path, media_type="image/jpeg")


@router.post("/review/items/{item_id}/decide")
def decide(
    request: Request,
    runtime: RuntimeDep,
    reviewing: Checked,
    item_id: str,
    action: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Record a decision and go to the next waiting item; a refusal keeps the form."""
    item = _item_or_halt(request, runtime, item_id)
    reviewer = reviewing.session.reviewer
    form = ItemForm(action=action, reason_code=reason_code, note=note)
    reasons = runtime.reasons
    status = 422
    decision: DecisionInfo | None = None
    if action not in DECISION_ACTIONS:
        form.error = "Choose an action."
    elif reason_code not in {r.code for r in reasons.for_action(cast(Action, action))}:
        form.error = f"Choose a reason code that applies to {action}."
    else:
        try:
            decision = runtime.store.review.decide(
                item.id, reviewer, action=action, reason_code=reason_code, note=note
            )
        except ConflictError as err:
            form.error, status = f"Not recorded: {err}.", 409
        except PermissionDenied as err:
            form.error, status = f"Not recorded: {err}.", 403
        except InvalidInputError as err:
            form.error = f"Not recorded: {err}."
    if form.error is not None or decision is None:
        item = runtime.store.review.get_item(item.id)
        return _item_page(request, runtime, reviewing, item, form, status_code=status)
    # An escalated item stays waiting (higher up), so "next" must skip it.
    following = [i for i in runtime.store.review.queue(reviewer.id, limit=2) if i.id != item.id]
    target = f"/review/items/{following[0].id}" if following else "/review"
    return RedirectResponse(f"{target}?recorded={decision.id}", status_code=303)


@router.post("/review/items/{item_id}/list")
def add_to_list(
    request: Request,
    runtime: RuntimeDep,
    reviewing: Checked,
    item_id: str,
    list_name: Annotated[str, Form()] = "",
    signal: Annotated[str, Form()] = "",
) -> Response:
    """Add one of the item's own hashes to a list and match it against past items.

    The hash is taken from the stored verdict, never from the form, so this form cannot
    add arbitrary values to a list.
    """
    item = _item_or_halt(request, runtime, item_id)
    form = ItemForm()
    chosen = dict(_hash_choices(Verdict.model_validate_json(item.verdict_json))).get(signal)
    status = 200
    if chosen is None:
        form.list_error, status = "Choose one of the item's hashes.", 422
    else:
        entry = {"signal_type": signal, "value": chosen, "note": f"review item {item.id}"}
        try:
            with audit.acting_as(reviewing.session.reviewer.actor):
                report = hashlists.import_json(runtime, list_name, json.dumps([entry]).encode())
        except NotFoundError:
            form.list_error, status = f"There is no hash list {list_name!r}.", 404
        else:
            if report.added:
                form.list_message = (
                    f"Added the {signal} hash to {list_name}: {report.retro_matches} past "
                    f"item(s) now match."
                )
            else:
                form.list_message = f"The {signal} hash is already on {list_name}."
    return _item_page(request, runtime, reviewing, item, form, status_code=status)


@router.post("/review/items/{item_id}/textlist")
def add_to_text_list(
    request: Request,
    runtime: RuntimeDep,
    reviewing: Checked,
    item_id: str,
    list_name: Annotated[str, Form()] = "",
    choice: Annotated[str, Form()] = "",
) -> Response:
    """Add a phrase read in the item to a term list, or a domain to a URL list.

    ``choice`` is ``term:<n>`` or ``domain:<n>``, an index into what the stored verdict
    offers (:mod:`mediaguard.review.texts`), never a value from the form.
    """
    item = _item_or_halt(request, runtime, item_id)
    verdict = Verdict.model_validate_json(item.verdict_json)
    form = ItemForm()
    kind, _, number = choice.partition(":")
    offered = {"term": texts.term_choices, "domain": texts.domain_choices}.get(kind)
    values = offered(verdict) if offered is not None else []
    status = 200
    if not number.isdigit() or int(number) >= len(values):
        form.text_list_error, status = "Choose one of the phrases or domains read.", 422
    else:
        value = values[int(number)]
        entry = {"value": value, "type": "phrase" if kind == "term" else "domain"}
        entry["note"] = f"review item {item.id}"
        list_kind = "term" if kind == "term" else "url"
        try:
            with audit.acting_as(reviewing.session.reviewer.actor):
                report = textlists.import_json(
                    runtime, list_kind, list_name, json.dumps([entry]).encode()
                )
        except NotFoundError:
            form.text_list_error, status = f"There is no {list_kind} list {list_name!r}.", 404
        else:
            if report.errors:
                form.text_list_error, status = f"Not added: {report.errors[0].reason}", 422
            elif report.added:
                form.text_list_message = f"Added {value!r} to {list_name}."
            else:
                form.text_list_message = f"{value!r} is already on {list_name}."
    return _item_page(request, runtime, reviewing, item, form, status_code=status)
