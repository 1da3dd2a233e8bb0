"""The reviewers' web UI: log-in, the queue, an item with its preview, decisions.

Design note: the pages are rendered on the server from Jinja2 templates and enhanced
with htmx (served from the ``django-js-lib-htmx`` package, never from a CDN), so the UI
needs no JavaScript build, runs on an air-gapped install, and every form still works
with scripts off. There is no inline script anywhere, which lets the
Content-Security-Policy forbid it.

Sessions: the cookie holds the token of :meth:`ReviewStore.create_session` (the
database keeps only its hash). It is ``HttpOnly``, ``SameSite=Strict``, scoped to
``/review`` and ``Secure`` whenever the request came over HTTPS. Strict rather than Lax
because nothing outside the UI needs to arrive logged in: a link to an item from a
ticket costs one log-in, and in exchange no request started by another site ever
carries the session.

CSRF: every state-changing form carries the session's CSRF token as a hidden input;
htmx requests may carry it as the ``X-CSRF-Token`` header instead (set once with
``hx-headers`` on ``<body>``). The log-in form has no session yet, so it uses a signed
double-submit token: a random nonce in a cookie, and in the form that nonce's HMAC under
a key kept in the data directory (which every process serving the UI shares anyway,
since the previews live there). A request that fails either check is answered 403
before anything is read or changed.

Wellness: an item shows its shielded (greyscale, blurred) preview until the reviewer
presses Reveal; the reveal is audited, and only a reviewer with an audited reveal can
load the clear image. Every page and preview is sent ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from math import ceil
from pathlib import Path
from typing import Annotated, Any, Final, cast, get_args
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from mediaguard.actions.dsa import Action
from mediaguard.service import hashlists
from mediaguard.service.deps import RuntimeDep
from mediaguard.service.review import PreviewKind, has_clear_preview, preview_path
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.signals.hashes import MIN_PDQ_QUALITY
from mediaguard.store import audit
from mediaguard.store.repo import InvalidInputError, NotFoundError
from mediaguard.store.review_models import DECISION_ACTIONS
from mediaguard.store.review_repo import (
    WAITING,
    AppealInfo,
    ConflictError,
    PermissionDenied,
    ReviewItemInfo,
    SessionInfo,
)
from mediaguard.verdict import Verdict

SESSION_COOKIE: Final = "mediaguard_review"
LOGIN_COOKIE: Final = "mediaguard_review_login"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
COOKIE_PATH: Final = "/review"
#: How long a log-in form stays valid.
LOGIN_FORM_SECONDS: Final = 3600
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

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_HTMX_DIR: Final = files("js_lib_htmx") / "static" / "htmx"
_STATIC_DIR: Final = files("mediaguard.service") / "static"

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("mediaguard.service", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


class _Halt(Exception):
    """Stop handling a request and answer with ``response`` (a redirect, a 403 page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _UiRoute(APIRoute):
    """A route whose every answer, including a halt, carries the UI's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Halt as halt:
                response = halt.response
            response.headers.update(SECURITY_HEADERS)
            return response

        return guarded


router = APIRouter(route_class=_UiRoute, include_in_schema=False)


# ------------------------------------------------------------------------ helpers


def _key(data_dir: Path) -> bytes:
    """The log-in form key, created on first use with owner-only permissions."""
    path = data_dir / "review-ui.key"
    if path.is_file():
        return path.read_bytes()
    # Written aside and linked into place, so a process starting at the same moment
    # sees either no key or the whole key, and the first link wins.
    draft = data_dir / f".review-ui.key.{secrets.token_hex(8)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes()


def _login_signature(runtime: ServiceRuntime, nonce: str) -> str:
    return hmac.new(_key(runtime.data_dir), f"login:{nonce}".encode(), hashlib.sha256).hexdigest()


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of the review UI on this server, else ``/review``.

    Refuses absolute and scheme-relative URLs, backslashes (which browsers read as
    slashes) and control characters, so a crafted log-in link cannot send a reviewer to
    another site after they log in.
    """
    if not value or any(ord(c) < 0x21 or c == "\\" for c in value):
        return "/review"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return "/review"
    if parts.path != "/review" and not parts.path.startswith("/review/"):
        return "/review"
    if parts.path in ("/review/login", "/review/logout"):
        return "/review"
    return value


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response


def _error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    return _page(
        request,
        "review/error.html",
        {"title": title, "message": message, "csrf": None, "reviewer": None},
        status_code,
    )


def _csrf_refused(request: Request) -> HTMLResponse:
    return _error_page(
        request,
        403,
        "Form expired",
        "This form was not sent from the review UI or has expired, so nothing was changed. "
        "Go back, reload the page and try again.",
    )


# ------------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class Reviewing:
    """The logged-in reviewer of a request, with the cookie token that proves it."""

    token: str
    session: SessionInfo


def _logged_in(request: Request, runtime: RuntimeDep) -> Reviewing:
    """The request's live session, or a halt that redirects to the log-in page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = runtime.review.session(token) if token else None
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/review/login?next={quote(safe_next(target), safe='')}"
        if _is_htmx(request):
            # htmx follows a 303 inside its XMLHttpRequest and would swap the log-in
            # page into a fragment; HX-Redirect makes it load the page instead.
            raise _Halt(Response(status_code=401, headers={"HX-Redirect": login}))
        raise _Halt(RedirectResponse(login, status_code=303))
    return Reviewing(token, session)


Reviewer = Annotated[Reviewing, Depends(_logged_in)]


def _checked(
    request: Request,
    reviewing: Reviewer,
    csrf_token: Annotated[str, Form()] = "",
    x_csrf_token: Annotated[str, Header()] = "",
) -> Reviewing:
    """The logged-in reviewer of a POST that carries their session's CSRF token."""
    given = csrf_token or x_csrf_token
    if not given or not hmac.compare_digest(given, reviewing.session.csrf_token):
        raise _Halt(_csrf_refused(request))
    return reviewing


Checked = Annotated[Reviewing, Depends(_checked)]


def _base(reviewing: Reviewing) -> dict[str, Any]:
    return {
        "reviewer": reviewing.session.reviewer,
        "csrf": reviewing.session.csrf_token,
        "htmx_headers": json.dumps({CSRF_HEADER: reviewing.session.csrf_token}),
    }


# ------------------------------------------------------------------------ log-in


def _login_page(
    request: Request,
    runtime: ServiceRuntime,
    next_path: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = _page(
        request,
        "review/login.html",
        {
            "next": next_path,
            "login_token": _login_signature(runtime, nonce),
            "error": error,
            "csrf": None,
            "reviewer": None,
        },
        status_code,
    )
    _set_cookie(request, response, LOGIN_COOKIE, nonce, LOGIN_FORM_SECONDS)
    return response


@router.get("/review/login")
def login_form(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    """The log-in form, with a fresh signed double-submit token."""
    return _login_page(request, runtime, safe_next(next))


@router.post("/review/login")
def login(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    login_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the password and start a session; one generic message for any failure."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = _login_signature(runtime, nonce) if nonce else ""
    if not expected or not hmac.compare_digest(login_token, expected):
        return _csrf_refused(request)
    target = safe_next(next)
    name = username.strip()
    address = request.client.host if request.client else "unknown"
    throttle = runtime.login_throttle
    wait = throttle.retry_after(name, address)
    if wait:
        refused = _login_page(
            request,
            runtime,
            target,
            error=f"Too many failed log-ins. Try again in {ceil(wait / 60)} min.",
            status_code=429,
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    reviewer = runtime.review.authenticate(name, password)
    if reviewer is None:
        throttle.failed(name, address)
        return _login_page(
            request,
            runtime,
            target,
            error="Wrong user name or password, or the account is disabled.",
            status_code=401,
        )
    throttle.succeeded(name)
    hours = runtime.settings.review_session_hours
    token, _ = runtime.review.create_session(reviewer, timedelta(hours=hours))
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, token, round(hours * 3600))
    _clear_cookie(request, response, LOGIN_COOKIE)
    return response


@router.post("/review/logout")
def logout(request: Request, runtime: RuntimeDep, reviewing: Checked) -> Response:
    """End the session on the server and forget the cookie."""
    runtime.review.end_session(reviewing.token)
    response = RedirectResponse("/review/login", status_code=303)
    _clear_cookie(request, response, SESSION_COOKIE)
    return response


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
) -> Response:
    """The waiting items; an htmx request (a filter changed) gets only the table."""
    reviewer = reviewing.session.reviewer
    items = runtime.review.queue(
        reviewer.id, category=category or None, list_name=list_name or None
    )
    categories, lists = runtime.review.facets()
    now = datetime.now(UTC)
    context = {
        **_base(reviewing),
        "items": [(item, _age(item.created_at, now)) for item in items],
        "categories": categories,
        "lists": lists,
        "category": category,
        "list_name": list_name,
    }
    name = "review/_queue_table.html" if _is_htmx(request) else "review/queue.html"
    return _page(request, name, context)


# ------------------------------------------------------------------------ item


def _item_or_halt(request: Request, runtime: ServiceRuntime, item_id: str) -> ReviewItemInfo:
    try:
        return runtime.review.get_item(item_id)
    except NotFoundError:
        raise _Halt(
            _error_page(request, 404, "No such item", "This review item does not exist.")
        ) from None


def _hash_choices(verdict: Verdict) -> list[tuple[str, str]]:
    """The item's hashes a list may gain: its digests, and its PDQ when good enough to match."""
    choices = [("md5", verdict.hashes.md5), ("sha256", verdict.hashes.sha256)]
    usable = [p for p in verdict.hashes.pdq if p.quality >= MIN_PDQ_QUALITY]
    if usable:
        choices.insert(0, ("pdq", usable[0].hash))
    return choices


@dataclass
class ItemForm:
    """What the reviewer entered, kept when a submission is refused."""

    action: str = ""
    reason_code: str = ""
    note: str = ""
    error: str | None = None
    list_message: str | None = None
    list_error: str | None = None


def _item_page(
    request: Request,
    runtime: ServiceRuntime,
    reviewing: Reviewing,
    item: ReviewItemInfo,
    form: ItemForm,
    *,
    clear: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    verdict = Verdict.model_validate_json(item.verdict_json)
    decisions = runtime.review.decisions_for(item.id)
    appeals: list[AppealInfo] = [
        appeal
        for decision in decisions
        for appeal in runtime.review.appeals_for(decision.id)
        if appeal.state == "open"
    ]
    reasons = runtime.reasons
    context = {
        **_base(reviewing),
        "item": item,
        "verdict": verdict,
        "waiting": item.state in WAITING,
        "clear": clear,
        "revealable": has_clear_preview(runtime.data_dir, item.id),
        "decisions": decisions,
        "appeals": appeals,
        "actions": [(action, _ACTION_KEYS[action]) for action in DECISION_ACTIONS],
        "reason_groups": [(action, reasons.for_action(action)) for action in get_args(Action)],
        "hash_lists": runtime.store.lists(),
        "hash_choices": _hash_choices(verdict),
        "form": form,
        "access_keys": ACCESS_KEYS,
    }
    return _page(request, "review/item.html", context, status_code)


@router.get("/review/items/{item_id}")
def item_page(
    request: Request, runtime: RuntimeDep, reviewing: Reviewer, item_id: str, show: str = ""
) -> Response:
    """An item; its clear preview only after a reveal (``?show=clear``, the no-script path)."""
    item = _item_or_halt(request, runtime, item_id)
    clear = show == "clear" and runtime.review.has_revealed(item.id, reviewing.session.reviewer)
    return _item_page(request, runtime, reviewing, item, ItemForm(), clear=clear)


@router.post("/review/items/{item_id}/reveal")
def reveal(request: Request, runtime: RuntimeDep, reviewing: Checked, item_id: str) -> Response:
    """Audit a reveal, then show the clear preview (a fragment for htmx)."""
    item = _item_or_halt(request, runtime, item_id)
    if not has_clear_preview(runtime.data_dir, item.id):
        return _error_page(
            request,
            409,
            "Nothing to reveal",
            "No clear preview is kept for this item (its category is shielded only).",
        )
    runtime.review.reveal(item.id, reviewing.session.reviewer)
    if _is_htmx(request):
        return _page(
            request,
            "review/_preview.html",
            {**_base(reviewing), "item": item, "clear": True, "revealable": True},
        )
    return RedirectResponse(f"/review/items/{item.id}?show=clear", status_code=303)


@router.get("/review/items/{item_id}/preview/{kind}")
def preview(
    request: Request, runtime: RuntimeDep, reviewing: Reviewer, item_id: str, kind: str
) -> Response:
    """A preview JPEG; the clear one only to a reviewer whose reveal is audited."""
    item = _item_or_halt(request, runtime, item_id)
    if kind not in get_args(PreviewKind):
        return _error_page(request, 404, "No such preview", "Unknown preview kind.")
    shown: PreviewKind = "clear" if kind == "clear" else "shielded"
    if shown == "clear" and not runtime.review.has_revealed(item.id, reviewing.session.reviewer):
        return _error_page(
            request, 403, "Not revealed", "Press Reveal on the item page to see this preview."
        )
    path = preview_path(runtime.data_dir, item.id, shown)
    if not item.has_preview or not path.is_file():
        return _error_page(request, 404, "No preview", "This item has no preview.")
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
    if action not in DECISION_ACTIONS:
        form.error = "Choose an action."
    elif reason_code not in {r.code for r in reasons.for_action(cast(Action, action))}:
        form.error = f"Choose a reason code that applies to {action}."
    else:
        try:
            runtime.review.decide(
                item.id, reviewer, action=action, reason_code=reason_code, note=note
            )
        except ConflictError as err:
            form.error, status = f"Not recorded: {err}.", 409
        except PermissionDenied as err:
            form.error, status = f"Not recorded: {err}.", 403
        except InvalidInputError as err:
            form.error = f"Not recorded: {err}."
    if form.error is not None:
        item = runtime.review.get_item(item.id)
        return _item_page(request, runtime, reviewing, item, form, status_code=status)
    # An escalated item stays waiting (higher up), so "next" must skip it.
    following = [i for i in runtime.review.queue(reviewer.id, limit=2) if i.id != item.id]
    target = f"/review/items/{following[0].id}" if following else "/review"
    return RedirectResponse(target, status_code=303)


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


def install(app: FastAPI) -> None:
    """Add the UI's routes, its stylesheet and htmx to ``app``."""
    app.include_router(router)
    app.mount("/review/static", StaticFiles(directory=str(_STATIC_DIR)), name="review-static")
    app.mount("/review/htmx", StaticFiles(directory=str(_HTMX_DIR)), name="review-htmx")
