"""Who is reviewing: log-in and log-out, the session cookie, and CSRF checks.

Design note: this is the UI's only door. Every other route depends on :data:`Reviewer`
(a live session, else a redirect to the log-in page) or :data:`Checked` (that, plus the
session's CSRF token on a state-changing request), so an item route cannot be written
that skips either check. It is kept apart from the item routes because it changes for
security reasons, and is easier to review on its own.

Sessions: the cookie holds the token of
:meth:`~mediaguard.store.reviewers.ReviewerRepository.create_session` (the database keeps
only its hash). It is ``HttpOnly``, ``SameSite=Strict``, scoped to
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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from math import ceil
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mediaguard.service.deps import RuntimeDep
from mediaguard.service.routers.review_ui.pages import Halt, error_page, is_htmx, page, ui_router
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store.review_types import SessionInfo

SESSION_COOKIE: Final = "mediaguard_review"
LOGIN_COOKIE: Final = "mediaguard_review_login"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
COOKIE_PATH: Final = "/review"
#: How long a log-in form stays valid.
LOGIN_FORM_SECONDS: Final = 3600

router = ui_router()


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


def _csrf_refused(request: Request) -> HTMLResponse:
    return error_page(
        request,
        403,
        "Form expired",
        "This form was not sent from the review UI or has expired, so nothing was changed. "
        "Go back, reload the page and try again.",
    )


@dataclass(frozen=True, slots=True)
class Reviewing:
    """The logged-in reviewer of a request, with the cookie token that proves it."""

    token: str
    session: SessionInfo


def _logged_in(request: Request, runtime: RuntimeDep) -> Reviewing:
    """The request's live session, or a halt that redirects to the log-in page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = runtime.store.reviewers.session(token) if token else None
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/review/login?next={quote(safe_next(target), safe='')}"
        if is_htmx(request):
            # htmx follows a 303 inside its XMLHttpRequest and would swap the log-in
            # page into a fragment; HX-Redirect makes it load the page instead.
            raise Halt(Response(status_code=401, headers={"HX-Redirect": login}))
        raise Halt(RedirectResponse(login, status_code=303))
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
        raise Halt(_csrf_refused(request))
    return reviewing


Checked = Annotated[Reviewing, Depends(_checked)]


def base_context(reviewing: Reviewing) -> dict[str, Any]:
    """What every logged-in page needs: the reviewer, and the CSRF token for its forms."""
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
    response = page(
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
    reviewer = runtime.store.reviewers.authenticate(name, password)
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
    token, _ = runtime.store.reviewers.create_session(reviewer, timedelta(hours=hours))
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, token, round(hours * 3600))
    _clear_cookie(request, response, LOGIN_COOKIE)
    return response


@router.post("/review/logout")
def logout(request: Request, runtime: RuntimeDep, reviewing: Checked) -> Response:
    """End the session on the server and forget the cookie."""
    runtime.store.reviewers.end_session(reviewing.token)
    response = RedirectResponse("/review/login", status_code=303)
    _clear_cookie(request, response, SESSION_COOKIE)
    return response
