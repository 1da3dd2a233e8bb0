"""Text and codes in review: the item page, "Add to list" for terms and domains, statements.

A real photo with rendered text (a scam phrase and a phone number) and a real segno QR
code is scanned by the production app with OCR on; a term list with action ``review``
queues it. The reviewer sees what was read with boxes over the shielded preview and the
matched span marked, adds a domain and a phrase to lists, and removes the item; the DSA
statement names a fitting category and says what matched without copying the URL or the
phone number.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from PIL import Image

from mediaguard.config import ScanConfig, TextOptions
from mediaguard.review import texts
from mediaguard.scanner import Scanner
from mediaguard.service.app import create_app
from mediaguard.service.auth import create_key
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store import Store
from mediaguard.store.termlist_repo import TextListStore
from mediaguard.verdict import Verdict
from service._support import Keys, make_settings
from text import builders

from .test_review_ui_http import PASSWORD, Ui, _csrf, _login

URL = "https://login.phish.example/verify?id=42"
PHONE = "0612 345 678"


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(ScanConfig(text=TextOptions(enabled=True)))


@pytest.fixture(scope="module")
def poster() -> bytes:
    drawn = builders.text_image("coffee.png", ("FREE BITCOIN", f"CALL {PHONE}"))
    with Image.open(io.BytesIO(drawn.data)) as img:
        pasted = builders.paste_code(
            img.convert("RGB"), builders.qr_image(URL), module_px=5, at=(600, 420)
        )
    return builders.encode(pasted)


@pytest.fixture
def ui(database_url: str, tmp_path: Path, scanner: Scanner) -> Iterator[Ui]:
    with Store.open(database_url) as store:
        store.upgrade()
        lists = TextListStore(store)
        lists.create_list("scam", "term", "fraud", "review")
        lists.create_list("phishing", "url", "fraud", "review")
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


def _queue(ui: Ui, poster: bytes, *, domains: str = "") -> Any:
    for path, text in (("termlists/scam", "free bitcoin\n"), ("urllists/phishing", domains)):
        imported = ui.client.post(
            f"/v1/{path}/entries",
            content=text,
            headers={**Keys.auth(ui.lists_key), "Content-Type": "text/plain"},
        )
        assert imported.json()["error_count"] == 0, imported.text
    scanned = ui.client.post(
        "/v1/scan", files={"file": ("poster.jpg", poster)}, headers=Keys.auth(ui.scan_key)
    )
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["decision"] == "review"
    (item,) = ui.runtime.store.review.queue(None)
    return item


def _reviewer(ui: Ui) -> Any:
    ui.runtime.store.reviewers.create_reviewer("alice", PASSWORD)
    assert _login(ui.client, "alice", PASSWORD).status_code == 303
    return ui.client


def test_item_page_shows_what_was_read_with_boxes_and_marks(ui: Ui, poster: bytes) -> None:
    item = _queue(ui, poster)
    client = _reviewer(ui)
    page = client.get(f"/review/items/{item.id}")
    assert page.status_code == 200
    html = page.text
    verdict = Verdict.model_validate_json(item.verdict_json)
    (term,) = [m for m in verdict.text_matches if m.list == "scam"]
    assert f"<mark>{term.matched}</mark>" in html
    # One numbered box per line and code over the shielded preview; the matched ones stand out.
    boxes = re.findall(r'<span class="box( hit)?" data-number="(\d+)"', html)
    assert len(boxes) == len(verdict.texts) + len(verdict.codes)
    hit_numbers = {int(n) for hit, n in boxes if hit}
    assert term.index + 1 in hit_numbers
    assert 'id="preview-image" class="shielded"' in html
    # The QR code's payload is listed, and its domain is offered to URL lists.
    assert "login.phish.example/verify" in html
    assert "<code>phish.example</code>" in html
    assert texts.domain_choices(verdict) == ["phish.example"]


def test_add_a_domain_and_a_term_from_the_item(ui: Ui, poster: bytes) -> None:
    item = _queue(ui, poster)
    client = _reviewer(ui)
    page = client.get(f"/review/items/{item.id}")
    token = _csrf(page)
    added = client.post(
        f"/review/items/{item.id}/textlist",
        data={"csrf_token": token, "list_name": "phishing", "choice": "domain:0"},
    )
    assert added.status_code == 200, added.text
    assert "Added &#39;phish.example&#39; to phishing" in added.text
    verdict = Verdict.model_validate_json(item.verdict_json)
    phrases = texts.term_choices(verdict)
    phone_at = next(i for i, p in enumerate(phrases) if "345" in p)
    added = client.post(
        f"/review/items/{item.id}/textlist",
        data={"csrf_token": token, "list_name": "scam", "choice": f"term:{phone_at}"},
    )
    assert added.status_code == 200, added.text
    values = {(e.list_name, e.value) for e in TextListStore(ui.runtime.store).iter_entries()}
    assert ("phishing", "phish.example") in values
    assert ("scam", phrases[phone_at].casefold()) in values
    adds = [
        e for e in ui.runtime.store.audit.audit_entries() if e.action.endswith("list.entries_add")
    ]
    assert adds[-1].actor.startswith("reviewer:")
    # Values come from the verdict only: an index out of range, or a made-up kind, is refused.
    for choice in ("domain:9", "url:0", "term:-1", "evil.example"):
        refused = client.post(
            f"/review/items/{item.id}/textlist",
            data={"csrf_token": token, "list_name": "phishing", "choice": choice},
        )
        assert refused.status_code == 422
    missing = client.post(
        f"/review/items/{item.id}/textlist",
        data={"csrf_token": token, "list_name": "nope", "choice": "domain:0"},
    )
    assert missing.status_code == 404
    # A domain is not a term: the term list named for a domain choice is not found.
    wrong_kind = client.post(
        f"/review/items/{item.id}/textlist",
        data={"csrf_token": token, "list_name": "scam", "choice": "domain:0"},
    )
    assert wrong_kind.status_code == 404


def test_statement_of_a_text_decision_has_a_category_and_no_personal_data(
    ui: Ui, poster: bytes
) -> None:
    item = _queue(ui, poster, domains="phish.example\n")
    client = _reviewer(ui)
    page = client.get(f"/review/items/{item.id}")
    decided = client.post(
        f"/review/items/{item.id}/decide",
        data={"csrf_token": _csrf(page), "action": "remove", "reason_code": "scam_or_phishing"},
    )
    assert decided.status_code == 303, decided.text
    (decision,) = ui.runtime.store.review.decisions_for(item.id)
    _, review_key = create_key(ui.runtime.store.keys, ["review"], name="review")
    response = client.get(f"/v1/decisions/{decision.id}/statement", headers=Keys.auth(review_key))
    assert response.status_code == 200, response.text
    statement = response.json()
    assert statement["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert statement["category_specification"] == ["KEYWORD_PHISHING"]
    facts = statement["decision_facts"].casefold()
    assert "text read in the content matched term lists of fraud content" in facts
    assert "a qr code or barcode in it matched url lists of fraud content" in facts
    assert "by a human reviewer" in facts
    published = json.dumps(statement)
    verdict = Verdict.model_validate_json(item.verdict_json)
    read = [t.text for t in verdict.texts]
    assert any("345" in text for text in read), "the phone number was read"
    # Short digit runs such as "345" occur by chance in the statement's hex identifiers, so
    # the phone number is looked for whole, spaced as printed and as bare digits.
    digits = PHONE.replace(" ", "")
    private = ("phish.example", "http", PHONE, "345 678", digits, "bitcoin", "BITCOIN", "poster")
    for leaked in (*private, *read):
        assert leaked not in published
