"""The review UI over HTTP: log-in, CSRF, redirects, reveals, decisions, lists, headers.

The app is the production one (``create_app`` with a real runtime, its lifespan run by
an in-process ASGI client) on SQLite and PostgreSQL. Queue items come from real scans: a
hash list with action ``review`` holds a real photo's MD5, and ``POST /v1/scan`` of that
photo queues it, with its previews, through the service's own intake. The client's base
URL is ``https://testserver`` so the session cookie must carry ``Secure``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from PIL import Image

# The service suite's helpers; pytest puts tests/ on sys.path for these test packages.
from mediaguard.policy.model import Decision
from mediaguard.review.intake import preview_path, preview_time_path
from mediaguard.scanner import Scanner
from mediaguard.service.app import create_app
from mediaguard.service.auth import create_key
from mediaguard.service.routers.review_ui.items import FAINT_SCORE
from mediaguard.service.routers.review_ui.sessions import LOGIN_COOKIE, SESSION_COOKIE
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.signals.base import Detection
from mediaguard.store import Store
from mediaguard.store.review_types import ReviewItemInfo
from mediaguard.timeline import Segment, fraction_text
from service._support import Keys, make_settings
from video.builders import VideoSpec, write_video

PASSWORD = "correct horse battery"
PHOTO = "grace_hopper"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    """The default detectors, loaded once for the module."""
    return Scanner()


class Client:
    """A synchronous face on an ``httpx.AsyncClient`` that calls the app in-process.

    Each instance is one browser: its own cookie jar. The calls run on the event loop of
    a blocking portal, the same loop that runs the app's lifespan.
    """

    def __init__(self, portal: BlockingPortal, app: FastAPI, base_url: str) -> None:
        self._portal = portal
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, follow_redirects=False
        )

    @property
    def cookies(self) -> httpx.Cookies:
        return self._http.cookies

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self._portal.call(partial(self._http.get, url, **options))

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self._portal.call(partial(self._http.post, url, **options))

    def close(self) -> None:
        self._portal.call(self._http.aclose)


@dataclass
class Ui:
    """The running app, its runtime, API keys, and a first client."""

    runtime: ServiceRuntime
    portal: BlockingPortal
    app: FastAPI
    scan_key: str
    lists_key: str
    clients: list[Client] = field(default_factory=list)

    def client_for(self, base_url: str = "https://testserver") -> Client:
        """Another browser: its own cookie jar, the same app."""
        made = Client(self.portal, self.app, base_url)
        self.clients.append(made)
        return made

    @property
    def client(self) -> Client:
        return self.clients[0]


@pytest.fixture
def ui(database_url: str, tmp_path: Path, scanner: Scanner) -> Iterator[Ui]:
    with Store.open(database_url) as store:
        store.upgrade()
    settings = make_settings(database_url, tmp_path / "data", workers=0, webhook_dispatchers=0)
    runtime = ServiceRuntime.open(settings, scanner=scanner)
    try:
        _, scan_key = create_key(runtime.store.keys, ["scan"], name="scan")
        _, lists_key = create_key(runtime.store.keys, ["lists"], name="lists")
        app = create_app(settings, runtime=runtime)
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(app.router.lifespan_context(app)),
        ):
            made = Ui(runtime, portal, app, scan_key, lists_key)
            made.client_for()
            try:
                yield made
            finally:
                for client in made.clients:
                    client.close()
    finally:
        runtime.close()


def _login(client: Client, username: str, password: str, next_path: str = "") -> Any:
    form = client.get("/review/login", params={"next": next_path} if next_path else None)
    assert form.status_code == 200
    token = _LOGIN_TOKEN.search(form.text)
    assert token is not None
    fields = {"username": username, "password": password, "login_token": token.group(1)}
    if next_path:
        fields["next"] = next_path
    return client.post("/review/login", data=fields)


def _reviewer(ui: Ui, name: str, client: Client | None = None) -> Client:
    """A logged-in client for a new reviewer ``name``."""
    ui.runtime.store.reviewers.create_reviewer(name, PASSWORD)
    client = client or ui.client_for()
    assert _login(client, name, PASSWORD).status_code == 303
    return client


def _csrf(page: httpx.Response) -> str:
    found = _TOKEN.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def _queue_photo(ui: Ui, photos: Any, name: str = PHOTO) -> ReviewItemInfo:
    """Scan a real photo whose MD5 is on a ``review`` list; return its queue item."""
    data = photos.file(name)
    lists = Keys.auth(ui.lists_key)
    if ui.client.get("/v1/hashlists/suspect", headers=lists).status_code == 404:
        created = ui.client.post(
            "/v1/hashlists",
            json={"name": "suspect", "category": "sexual", "action": "review"},
            headers=lists,
        )
        assert created.status_code == 201, created.text
    imported = ui.client.post(
        "/v1/hashlists/suspect/entries",
        json=[{"signal_type": "md5", "value": hashlib.md5(data).hexdigest()}],
        headers=lists,
    )
    assert imported.status_code == 200, imported.text
    scanned = ui.client.post(
        "/v1/scan", files={"file": (f"{name}.jpg", data)}, headers=Keys.auth(ui.scan_key)
    )
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["decision"] == "review"
    # The intake runs as the response's background task, which Client awaits.
    (item,) = [i for i in ui.runtime.store.review.queue(None) if i.source == f"{name}.jpg"]
    assert item.has_preview
    return item


def _decide(client: Client, item_id: str, **fields: str) -> httpx.Response:
    page = client.get(f"/review/items/{item_id}")
    assert page.status_code == 200
    data = {"csrf_token": _csrf(page), **fields}
    return client.post(f"/review/items/{item_id}/decide", data=data)


# ------------------------------------------------------------------------ log-in


@pytest.mark.parametrize(
    ("path", "expected_next"),
    [
        pytest.param("/review", "/review", id="queue"),
        pytest.param("/review/items/abc?show=clear", "/review/items/abc?show=clear", id="item"),
    ],
)
def test_logged_out_pages_redirect_to_login_with_next(
    ui: Ui, path: str, expected_next: str
) -> None:
    response = ui.client.get(path)

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/review/login"
    assert parse_qs(location.query)["next"] == [expected_next]


def test_logged_out_post_changes_nothing(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)

    response = ui.client.post(
        f"/review/items/{item.id}/decide",
        data={"action": "approve", "reason_code": "no_violation"},
    )

    assert response.status_code == 303
    assert response.headers["location"].startswith("/review/login?next=")
    assert ui.runtime.store.review.decisions_for(item.id) == []


def test_login_goes_to_a_local_next_page(ui: Ui) -> None:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)

    response = _login(ui.client, "alice", PASSWORD, "/review?category=sexual")

    assert response.status_code == 303
    assert response.headers["location"] == "/review?category=sexual"
    assert ui.client.get("/review").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/review",
        "//evil.example/review",
        "/\\evil.example/review",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/reviewer/../review",
        "/elsewhere",
        "/review\r\nSet-Cookie: x=1",
        " https://evil.example",
    ],
)
def test_open_redirect_is_refused(ui: Ui, target: str) -> None:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)

    form = ui.client.get("/review/login", params={"next": target})
    response = _login(ui.client, "alice", PASSWORD, target)

    assert 'name="next" value="/review"' in form.text
    assert response.status_code == 303
    assert response.headers["location"] == "/review"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("alice", "wrong password!", id="wrong-password"),
        pytest.param("nobody", PASSWORD, id="unknown-user"),
    ],
)
def test_failed_login_gives_one_generic_message(ui: Ui, username: str, password: str) -> None:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)

    response = _login(ui.client, username, password)

    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert SESSION_COOKIE not in response.cookies
    assert ui.client.get("/review").status_code == 303


def test_repeated_failed_logins_are_throttled(ui: Ui) -> None:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)
    limit = ui.runtime.login_throttle.per_account
    for _ in range(limit):
        assert _login(ui.client, "alice", "wrong password!").status_code == 401

    refused = _login(ui.client, "alice", PASSWORD)

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert SESSION_COOKIE not in refused.cookies
    # Another account from the same address still gets in (under the address's limit).
    ui.runtime.store.reviewers.create_reviewer("bob", PASSWORD)
    assert _login(ui.client, "bob", PASSWORD).status_code == 303


def test_disabled_reviewer_cannot_log_in_and_loses_sessions(ui: Ui) -> None:
    client = _reviewer(ui, "alice")
    ui.runtime.store.reviewers.disable_reviewer("alice")

    assert client.get("/review").status_code == 303
    assert _login(client, "alice", PASSWORD).status_code == 401


@pytest.mark.parametrize(
    "token",
    [pytest.param(None, id="missing"), pytest.param("forged", id="forged")],
)
def test_login_form_is_csrf_protected(ui: Ui, token: str | None) -> None:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)
    ui.client.get("/review/login")
    fields = {"username": "alice", "password": PASSWORD}
    if token is not None:
        fields["login_token"] = token

    response = ui.client.post("/review/login", data=fields)

    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert SESSION_COOKIE not in response.cookies


def test_login_token_needs_its_own_cookie(ui: Ui) -> None:
    """A token lifted from another browser's form is useless without that browser's cookie."""
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)
    token = _LOGIN_TOKEN.search(ui.client.get("/review/login").text)
    assert token is not None
    other = ui.client_for()
    other.get("/review/login")

    response = other.post(
        "/review/login",
        data={"username": "alice", "password": PASSWORD, "login_token": token.group(1)},
    )

    assert response.status_code == 403


def test_logout_ends_the_session_on_the_server(ui: Ui) -> None:
    client = _reviewer(ui, "alice")
    session_token = client.cookies[SESSION_COOKIE]
    token = _csrf(client.get("/review"))

    response = client.post("/review/logout", data={"csrf_token": token})

    assert response.status_code == 303
    assert ui.runtime.store.reviewers.session(session_token) is None
    assert client.get("/review").status_code == 303


# ------------------------------------------------------------------------ cookies, headers


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [("https://testserver", True), ("http://testserver", False)],
)
def test_cookie_flags(ui: Ui, base_url: str, secure: bool) -> None:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)
    client = ui.client_for(base_url)

    form = client.get("/review/login")
    response = _login(client, "alice", PASSWORD)

    set_cookies = [*form.headers.get_list("set-cookie"), *response.headers.get_list("set-cookie")]
    names = [c.split("=", 1)[0] for c in set_cookies]
    # The log-in form's cookie is set, then cleared when the session starts.
    assert names == [LOGIN_COOKIE, SESSION_COOKIE, LOGIN_COOKIE]
    for set_cookie in set_cookies:
        parts = [p.strip().lower() for p in set_cookie.split(";")]
        assert "httponly" in parts
        assert "samesite=strict" in parts
        assert "path=/review" in parts
        assert ("secure" in parts) is secure


def test_security_headers_on_every_kind_of_answer(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")
    answers = {
        "login page": ui.client.get("/review/login"),
        "redirect": ui.client.get("/review"),
        "queue": client.get("/review"),
        "item": client.get(f"/review/items/{item.id}"),
        "shielded preview": client.get(f"/review/items/{item.id}/preview/shielded"),
        "refused preview": client.get(f"/review/items/{item.id}/preview/clear"),
        "csrf refusal": client.post(f"/review/items/{item.id}/reveal"),
        "missing item": client.get("/review/items/" + "0" * 32),
    }

    for what, response in answers.items():
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, what
        assert "'unsafe-inline'" not in csp, what
        assert response.headers.get("x-frame-options") == "DENY", what
        assert response.headers.get("referrer-policy") == "no-referrer", what
        assert response.headers.get("cache-control") == "no-store", what


def test_pages_have_no_inline_script(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")

    for page in (client.get("/review"), client.get(f"/review/items/{item.id}")):
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page.text, re.S)
        assert scripts, "htmx is loaded"
        assert all(body.strip() == "" for body in scripts)
        assert 'src="/review/htmx/htmx.min.js"' in page.text
        assert not re.search(r"\son[a-z]+=", page.text), "no inline event handlers"


def test_htmx_and_stylesheet_are_served_locally(ui: Ui) -> None:
    htmx = ui.client.get("/review/htmx/htmx.min.js")
    css = ui.client.get("/review/static/review.css")

    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]
    assert css.status_code == 200
    assert ":focus-visible" in css.text
    assert "@import" not in css.text
    assert "url(" not in css.text


# ------------------------------------------------------------------------ queue


def test_queue_lists_items_and_filters(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")

    page = client.get("/review")
    filtered = client.get("/review", params={"list": "suspect"})
    elsewhere = client.get("/review", params={"category": "violence"})
    fragment = client.get("/review", params={"list": "suspect"}, headers={"HX-Request": "true"})

    assert f'href="/review/items/{item.id}"' in page.text
    assert '<option value="suspect">suspect</option>' in page.text
    assert f"/review/items/{item.id}" in filtered.text
    assert f"/review/items/{item.id}" not in elsewhere.text
    assert fragment.text.lstrip().startswith('<div id="queue"')
    assert "<html" not in fragment.text


# ------------------------------------------------------------------------ reveal


def test_clear_preview_only_after_an_audited_reveal(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")
    page = client.get(f"/review/items/{item.id}")
    clear_url = f"/review/items/{item.id}/preview/clear"

    assert f'src="/review/items/{item.id}/preview/shielded"' in page.text
    assert clear_url not in page.text
    assert client.get(clear_url).status_code == 403
    shielded = client.get(f"/review/items/{item.id}/preview/shielded")
    assert shielded.status_code == 200
    assert shielded.headers["content-type"] == "image/jpeg"

    revealed = client.post(
        f"/review/items/{item.id}/reveal",
        headers={"HX-Request": "true", "X-CSRF-Token": _csrf(page)},
    )

    assert revealed.status_code == 200
    assert f'src="{clear_url}"' in revealed.text
    clear = client.get(clear_url)
    assert clear.status_code == 200
    assert clear.content[:2] == b"\xff\xd8"
    assert clear.content != shielded.content
    assert clear.headers["cache-control"] == "no-store"
    reveals = [e for e in ui.runtime.store.audit.audit_entries() if e.action == "preview.reveal"]
    assert [(e.actor, e.subject) for e in reveals] == [("reviewer:alice", item.id)]
    assert ui.runtime.store.audit.verify_audit().ok
    # Another reviewer's reveal does not open the clear image to someone else.
    other = _reviewer(ui, "bob")
    assert other.get(clear_url).status_code == 403


def test_a_shielded_only_category_keeps_no_clear_preview_to_reveal(ui: Ui, photos: Any) -> None:
    assert ui.runtime.intake is not None
    ui.runtime.intake.shield_only = frozenset({"sexual"})
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")
    page = client.get(f"/review/items/{item.id}")

    assert f'src="/review/items/{item.id}/preview/shielded"' in page.text
    assert 'id="reveal"' not in page.text
    assert "No clear preview is kept" in page.text
    assert not preview_path(ui.runtime.data_dir, item.id, "clear").exists()
    refused = client.post(
        f"/review/items/{item.id}/reveal",
        headers={"HX-Request": "true", "X-CSRF-Token": _csrf(page)},
    )
    assert refused.status_code == 409
    assert client.get(f"/review/items/{item.id}/preview/clear").status_code == 403
    assert [e for e in ui.runtime.store.audit.audit_entries() if e.action == "preview.reveal"] == []


def test_reveal_without_javascript_redirects_to_the_clear_page(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")
    token = _csrf(client.get(f"/review/items/{item.id}"))

    response = client.post(f"/review/items/{item.id}/reveal", data={"csrf_token": token})

    assert response.status_code == 303
    assert response.headers["location"] == f"/review/items/{item.id}?show=clear"
    page = client.get(response.headers["location"])
    assert f'src="/review/items/{item.id}/preview/clear"' in page.text


def test_show_clear_needs_a_reveal(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")

    page = client.get(f"/review/items/{item.id}", params={"show": "clear"})

    assert "/preview/clear" not in page.text
    assert "/preview/shielded" in page.text


# ------------------------------------------------------------------------ CSRF


@pytest.mark.parametrize(
    "token",
    [pytest.param(None, id="missing"), pytest.param("wrong", id="wrong")],
)
def test_decision_without_the_csrf_token_is_refused(ui: Ui, photos: Any, token: str | None) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")
    fields = {"action": "remove", "reason_code": "sexual_content"}
    if token is not None:
        fields["csrf_token"] = token

    response = client.post(f"/review/items/{item.id}/decide", data=fields)
    reveal = client.post(f"/review/items/{item.id}/reveal", headers={"X-CSRF-Token": "wrong"})

    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert reveal.status_code == 403
    assert ui.runtime.store.review.decisions_for(item.id) == []
    assert ui.runtime.store.review.get_item(item.id).state == "open"
    assert not ui.runtime.store.review.has_revealed(
        item.id, ui.runtime.store.reviewers.get_reviewer("alice")
    )


def test_another_sessions_csrf_token_is_refused(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    alice = _reviewer(ui, "alice")
    bob = _reviewer(ui, "bob")
    bobs_token = _csrf(bob.get("/review"))

    response = alice.post(
        f"/review/items/{item.id}/decide",
        data={"csrf_token": bobs_token, "action": "approve", "reason_code": "no_violation"},
    )

    assert response.status_code == 403
    assert ui.runtime.store.review.decisions_for(item.id) == []


# ------------------------------------------------------------------------ decisions


def test_decision_is_recorded_and_leads_to_the_next_item(ui: Ui, photos: Any) -> None:
    first = _queue_photo(ui, photos, PHOTO)
    second = _queue_photo(ui, photos, "astronaut")
    client = _reviewer(ui, "alice")

    response = _decide(
        client, first.id, action="remove", reason_code="sexual_content", note="obvious"
    )

    assert response.status_code == 303
    (decision,) = ui.runtime.store.review.decisions_for(first.id)
    assert response.headers["location"] == f"/review/items/{second.id}?recorded={decision.id}"
    assert (decision.reviewer, decision.action, decision.reason_code, decision.note) == (
        "alice",
        "remove",
        "sexual_content",
        "obvious",
    )
    created = ui.runtime.store.audit.last_audit("decision.create", decision.id)
    assert created is not None
    assert created.actor == "reviewer:alice"
    # An escalated item stays in the queue, higher up; "next" is another item.
    escalated = _decide(client, second.id, action="escalate", reason_code="needs_specialist")
    (escalation,) = ui.runtime.store.review.decisions_for(second.id)
    assert escalated.headers["location"] == f"/review?recorded={escalation.id}"
    assert ui.runtime.store.review.get_item(second.id).state == "escalated"


def test_the_next_page_confirms_the_recorded_decision_to_its_reviewer(ui: Ui, photos: Any) -> None:
    first = _queue_photo(ui, photos, PHOTO)
    second = _queue_photo(ui, photos, "astronaut")
    alice = _reviewer(ui, "alice")
    bob = _reviewer(ui, "bob")

    response = _decide(alice, first.id, action="remove", reason_code="sexual_content")
    (decision,) = ui.runtime.store.review.decisions_for(first.id)
    following = alice.get(response.headers["location"])
    bobs_view = bob.get(f"/review/items/{second.id}?recorded={decision.id}")
    unknown = alice.get(f"/review?recorded={'0' * 32}")

    assert following.status_code == 200
    notice = re.search(
        r'<p class="notice" role="status" id="decision-recorded">(.*?)</p>',
        following.text,
        flags=re.DOTALL,
    )
    assert notice is not None
    assert re.sub(r"<[^>]+>", "", notice.group(1)) == (
        f"Recorded decision {decision.id}: remove (sexual_content) on {PHOTO}.jpg."
    )
    # Another reviewer's decision, or no decision, is never confirmed.
    assert 'id="decision-recorded"' not in bobs_view.text
    assert 'id="decision-recorded"' not in unknown.text


def test_decision_ids_are_shown_and_a_closed_item_has_no_decide_form(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")
    open_page = client.get(f"/review/items/{item.id}")

    _decide(client, item.id, action="approve", reason_code="no_violation")
    (decision,) = ui.runtime.store.review.decisions_for(item.id)
    closed_page = client.get(f"/review/items/{item.id}")

    assert 'id="decision-form"' in open_page.text
    assert 'id="not-waiting"' not in open_page.text
    assert f'<code class="decision-id">{decision.id}</code>' in closed_page.text
    assert 'id="decision-form"' not in closed_page.text
    assert 'id="decide"' not in closed_page.text
    assert "This item is closed; it is not waiting for a decision." in closed_page.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"action": "approve", "reason_code": "sexual_content"},
            "Choose a reason code that applies to approve",
            id="reason-for-another-action",
        ),
        pytest.param({"reason_code": "no_violation"}, "Choose an action", id="no-action"),
        pytest.param(
            {"action": "remove", "reason_code": "sexual_content", "note": "x" * 4001},
            "note: expected at most 4000 characters",
            id="note-too-long",
        ),
    ],
)
def test_invalid_decision_keeps_the_form(
    ui: Ui, photos: Any, fields: dict[str, str], message: str
) -> None:
    item = _queue_photo(ui, photos)
    client = _reviewer(ui, "alice")

    response = _decide(client, item.id, **fields)

    assert response.status_code == 422
    assert message in response.text
    if "action" in fields:
        assert f'value="{fields["action"]}" accesskey' in response.text
        checked = re.search(r'id="action-(\w+)"[^>]*checked', response.text)
        assert checked is not None
        assert checked.group(1) == fields["action"]
    assert ui.runtime.store.review.decisions_for(item.id) == []


def test_second_decision_is_a_conflict_that_keeps_the_form(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    alice = _reviewer(ui, "alice")
    bob = _reviewer(ui, "bob")
    alices_page = alice.get(f"/review/items/{item.id}")

    assert _decide(bob, item.id, action="approve", reason_code="no_violation").status_code == 303
    response = alice.post(
        f"/review/items/{item.id}/decide",
        data={
            "csrf_token": _csrf(alices_page),
            "action": "remove",
            "reason_code": "sexual_content",
            "note": "my note stays",
        },
    )

    assert response.status_code == 409
    assert "already decided" in response.text
    assert ">my note stays</textarea>" in response.text
    assert [d.reviewer for d in ui.runtime.store.review.decisions_for(item.id)] == ["bob"]


def test_appealed_item_is_hidden_from_the_reviewer_appealed(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    alice = _reviewer(ui, "alice")
    bob = _reviewer(ui, "bob")
    _decide(alice, item.id, action="remove", reason_code="sexual_content")
    (decision,) = ui.runtime.store.review.decisions_for(item.id)
    ui.runtime.store.review.appeal(decision.id, "this is my own holiday photo")

    alices_queue = alice.get("/review")
    bobs_queue = bob.get("/review")
    refused = _decide(alice, item.id, action="approve", reason_code="no_violation")
    bobs_page = bob.get(f"/review/items/{item.id}")

    assert f"/review/items/{item.id}" not in alices_queue.text
    assert f"/review/items/{item.id}" in bobs_queue.text
    assert refused.status_code == 403
    assert "different reviewer" in refused.text
    assert "Open appeal" in bobs_page.text
    assert "this is my own holiday photo" in bobs_page.text
    assert len(ui.runtime.store.review.decisions_for(item.id)) == 1


# ------------------------------------------------------------------------ lists


def test_add_to_list_reports_past_items_that_now_match(ui: Ui, photos: Any) -> None:
    item = _queue_photo(ui, photos)
    ui.runtime.store.lists.create_list("reviewed-bad", "sexual", "block")
    client = _reviewer(ui, "alice")
    token = _csrf(client.get(f"/review/items/{item.id}"))

    response = client.post(
        f"/review/items/{item.id}/list",
        data={"csrf_token": token, "list_name": "reviewed-bad", "signal": "sha256"},
    )
    again = client.post(
        f"/review/items/{item.id}/list",
        data={"csrf_token": token, "list_name": "reviewed-bad", "signal": "sha256"},
    )

    assert response.status_code == 200
    assert "Added the sha256 hash to reviewed-bad: 1 past item(s) now match." in response.text
    (entry,) = ui.runtime.store.lists.iter_entries("reviewed-bad")
    assert (entry.signal_type, entry.value) == ("sha256", item.sha256)
    # The past item is the one recorded when the photo was scanned.
    (past,) = ui.runtime.store.items.find_items_by_digest(sha256=item.sha256)
    assert past.source == f"{PHOTO}.jpg"
    added = ui.runtime.store.audit.last_audit("hashlist.entries_add", "reviewed-bad")
    assert added is not None
    assert added.actor == "reviewer:alice"
    assert "already on reviewed-bad" in again.text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        pytest.param(
            {"list_name": "reviewed-bad", "signal": "vpdq"},
            422,
            "Choose one of the item",
            id="not-one-of-the-items-hashes",
        ),
        pytest.param(
            {"list_name": "gone", "signal": "md5"}, 404, "no hash list", id="missing-list"
        ),
    ],
)
def test_add_to_list_refusals(
    ui: Ui, photos: Any, fields: dict[str, str], status: int, message: str
) -> None:
    item = _queue_photo(ui, photos)
    ui.runtime.store.lists.create_list("reviewed-bad", "sexual", "block")
    client = _reviewer(ui, "alice")
    token = _csrf(client.get(f"/review/items/{item.id}"))

    response = client.post(f"/review/items/{item.id}/list", data={"csrf_token": token, **fields})

    assert response.status_code == status
    assert message in response.text
    assert ui.runtime.store.lists.count_entries("reviewed-bad") == 0


# ------------------------------------------------------------------------ what the page shows


# ------------------------------------------------------------------------ what the page shows


def _take(ui: Ui, verdict: Any, source: Path | bytes) -> ReviewItemInfo:
    """Queue a verdict the way the service's intake does, previews included."""
    assert ui.runtime.intake is not None
    item = ui.runtime.intake.take(verdict.model_copy(update={"decision": Decision.REVIEW}), source)
    assert item is not None
    return item


def test_faint_detections_are_folded_away_not_dropped(
    ui: Ui, photos: Any, scanner: Scanner
) -> None:
    data = photos.file(PHOTO)
    scores = [0.62, 0.001, 0.004, 0.03]
    detections = [
        Detection(detector="open_nsfw", category="sexual", label="explicit", score=s, frame=i)
        for i, s in enumerate(scores)
    ]
    verdict = scanner.scan(data).model_copy(update={"detections": detections})
    item = _take(ui, verdict, data)
    client = _reviewer(ui, "alice")

    page = client.get(f"/review/items/{item.id}").text

    table, _, rest = page.partition('<details id="faint-detections">')
    folded = rest.partition("</details>")[0]
    assert FAINT_SCORE == 0.05
    assert [s for s in scores if f"<td>{s:.3f}</td>" in table] == [0.62]
    assert [s for s in scores if f"<td>{s:.3f}</td>" in folded] == [0.001, 0.004, 0.03]
    assert "3 detection(s) scoring below 0.05 (highest 0.030), folded away" in folded


def test_a_video_preview_says_which_frame_it_shows(
    ui: Ui, photos: Any, scanner: Scanner, tmp_path: Path
) -> None:
    pictures = [
        np.asarray(Image.fromarray(photos.pixels(name)).convert("RGB").resize((160, 120)))
        for name in ("astronaut", "coffee", "chelsea")
    ]
    reel = tmp_path / "reel.mp4"
    write_video(
        VideoSpec(
            fmt="mp4",
            size=(160, 120),
            frames=75,
            rate=Fraction(25),
            picture=lambda index: pictures[index // 25],
        ),
        reel,
    )
    top = Segment(
        category="violence", start_s=2.0, end_s=3.0, start=fraction_text(Fraction(2)),
        end=fraction_text(Fraction(3)), peak_score=0.91, peak_frame=50, samples=1,
    )  # fmt: skip
    verdict = scanner.scan(reel).model_copy(update={"timeline": [top]})
    item = _take(ui, verdict, reel)
    client = _reviewer(ui, "alice")

    page = client.get(f"/review/items/{item.id}").text

    assert preview_time_path(ui.runtime.data_dir, item.id).is_file()
    caption = re.search(r'<p class="hint" id="preview-frame">(.*?)</p>', page, flags=re.DOTALL)
    assert caption is not None
    assert caption.group(1) == (
        "The preview is the frame at 2.00 s (scanned frame 50): the start of its "
        "highest-scoring stretch (violence, peak 0.91)."
    )
    # A still image's preview needs no caption.
    photo = _queue_photo(ui, photos)
    assert 'id="preview-frame"' not in client.get(f"/review/items/{photo.id}").text
