"""The review UI in a real Chromium: log in, queue, shielded preview, reveal, decide.

Items reach the queue the way they do in production: a hash list with action
``review`` holds a real photo's MD5, and the photo is scanned through ``POST /v1/scan``
on the running service, whose intake queues it with its previews. The browser then does
what a reviewer does, and the test checks what must be true afterwards: the audit log
names the reviewer for the reveal and the decision, its chain verifies, and the item
has left the queue.

``MEDIAGUARD_SCREENSHOTS=1`` also writes ``docs/screenshots/review-queue.png`` and
``review-item.png`` from the same run.
"""

from __future__ import annotations

import hashlib
import io
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from mediaguard.dsa import validate
from mediaguard.policy.model import Decision
from mediaguard.signals.base import Detection
from mediaguard.store.review_types import ReviewItemInfo
from mediaguard.timeline import Segment, fraction_text

# The service and video suites' helpers; pytest puts tests/ on sys.path for them.
from service._support import Keys, wait_for
from video.builders import VideoSpec, write_video

from .conftest import Live

PASSWORD = "correct horse battery"
ACTIONS = ("approve", "remove", "restrict", "escalate")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _queue_photo(live: Live, photos: Any, name: str) -> ReviewItemInfo:
    """Scan a real photo whose MD5 is on a ``review`` list; wait for its queue item."""
    data = photos.file(name)
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        lists = Keys.auth(live.keys.lists)
        if http.get("/v1/hashlists/suspect", headers=lists).status_code == 404:
            created = http.post(
                "/v1/hashlists",
                json={"name": "suspect", "category": "sexual", "action": "review"},
                headers=lists,
            )
            assert created.status_code == 201, created.text
        imported = http.post(
            "/v1/hashlists/suspect/entries",
            json=[{"signal_type": "md5", "value": hashlib.md5(data).hexdigest()}],
            headers=lists,
        )
        assert imported.status_code == 200, imported.text
        scanned = http.post(
            "/v1/scan", files={"file": (f"{name}.jpg", data)}, headers=Keys.auth(live.keys.scan)
        )
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["decision"] == "review"

    def queued() -> list[ReviewItemInfo]:
        return [i for i in live.runtime.store.review.queue(None) if i.source == f"{name}.jpg"]

    (item,) = wait_for(queued)
    assert item.has_preview
    return item


def _log_in(page: Any, live: Live, username: str, path: str = "/review") -> None:
    """Open ``path`` logged out, land on the log-in page, log in, come back to ``path``."""
    page.goto(live.url(path))
    assert page.url.startswith(live.url("/review/login?next="))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live.url(path))


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _screenshot(page: Any, name: str) -> None:
    if os.environ.get("MEDIAGUARD_SCREENSHOTS", "").strip() in ("", "0"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=False)


def test_review_an_item_from_log_in_to_decision(
    page: Any, module_live_server: Live, photos: Any
) -> None:
    live = module_live_server
    store = live.runtime.store
    item = _queue_photo(live, photos, "grace_hopper")
    store.reviewers.create_reviewer("alice", PASSWORD)
    page.set_viewport_size({"width": 1280, "height": 900})
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    _log_in(page, live, "alice")

    row = page.locator(f'a.row-link[href="/review/items/{item.id}"]')
    assert row.inner_text() == "grace_hopper.jpg"
    _screenshot(page, "review-queue.png")

    with page.expect_response(lambda r: r.url.endswith("/preview/shielded")) as shielded:
        row.click()
    page.wait_for_url(live.url(f"/review/items/{item.id}"))
    image = page.locator("#preview-image")
    assert image.get_attribute("src") == f"/review/items/{item.id}/preview/shielded"
    assert "Shielded preview" in (image.get_attribute("alt") or "")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    grey = _pixels(shielded.value.body())
    assert (grey[..., 0] == grey[..., 1]).all()
    assert (grey[..., 1] == grey[..., 2]).all()
    _screenshot(page, "review-item.png")

    with page.expect_response(lambda r: r.url.endswith("/preview/clear")) as clear:
        page.get_by_role("button", name="Reveal").click()
    revealed = page.locator("#preview-image.clear")
    revealed.wait_for(state="visible")
    assert revealed.get_attribute("src") == f"/review/items/{item.id}/preview/clear"
    assert clear.value.status == 200
    colour = _pixels(clear.value.body())
    assert (colour[..., 0] != colour[..., 2]).any(), "the clear preview keeps its colours"
    assert revealed.evaluate("img => img.complete && img.naturalWidth > 0")
    # htmx swapped the image in place: no navigation to the no-script ?show=clear page.
    assert page.url == live.url(f"/review/items/{item.id}")

    # Before an action is chosen every group of reason codes is offered; once one is,
    # only its own.
    groups = page.locator("#reason_code optgroup")
    offered = "gs => gs.map(g => [g.dataset.action, getComputedStyle(g).display !== 'none'])"
    assert dict(groups.evaluate_all(offered)) == dict.fromkeys(ACTIONS, True)
    page.check("#action-remove")
    assert dict(groups.evaluate_all(offered)) == {a: a == "remove" for a in ACTIONS}
    page.select_option("#reason_code", "sexual_content")
    page.fill("#note", "explicit; matches the suspect list")
    page.click("#decide")
    page.wait_for_url(lambda url: url.startswith(live.url("/review?recorded=")))

    assert "Nothing is waiting for review" in page.locator("#queue").inner_text()
    (recorded,) = store.review.decisions_for(item.id)
    confirmation = page.locator("#decision-recorded")
    assert confirmation.is_visible()
    assert confirmation.inner_text() == (
        f"Recorded decision {recorded.id}: remove (sexual_content) on grace_hopper.jpg."
    )
    # The closed item shows its decision's id and offers no Decide form any more.
    page.goto(live.url(f"/review/items/{item.id}"))
    assert page.locator("code.decision-id").inner_text() == recorded.id
    assert page.locator("#decision-form").count() == 0
    assert page.locator("#not-waiting").is_visible()
    alice = [
        (e.action, e.subject)
        for e in store.audit.audit_entries()
        if e.actor == "reviewer:alice" and e.action in ("preview.reveal", "decision.create")
    ]
    (decision,) = store.review.decisions_for(item.id)
    assert alice == [("preview.reveal", item.id), ("decision.create", decision.id)]
    assert (decision.action, decision.reason_code) == ("remove", "sexual_content")
    assert decision.note == "explicit; matches the suspect list"
    assert store.audit.verify_audit().ok
    assert all(i.id != item.id for i in store.review.queue(None))
    # The decision's DSA statement, as the platform fetches it, is valid and anonymous.
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        answer = http.get(
            f"/v1/decisions/{decision.id}/statement", headers=Keys.auth(live.keys.review)
        )
    assert answer.status_code == 200, answer.text
    statement = answer.json()
    assert validate(statement) == []
    assert statement["puid"] == decision.id
    assert statement["automated_detection"] == "Yes"
    assert statement["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    for private in ("alice", "grace_hopper", "matches the suspect list"):
        assert private not in answer.text
    assert not [m for m in console if "Content Security Policy" in m], console


def test_a_tampered_csrf_token_is_refused(page: Any, module_live_server: Live, photos: Any) -> None:
    live = module_live_server
    item = _queue_photo(live, photos, "astronaut")
    live.runtime.store.reviewers.create_reviewer("bob", PASSWORD)
    _log_in(page, live, "bob", f"/review/items/{item.id}")

    page.locator('#decision-form input[name="csrf_token"]').evaluate(
        "input => { input.value = input.value.slice(1) + 'x' }"
    )
    page.check("#action-approve")
    page.select_option("#reason_code", "no_violation")
    with page.expect_response(lambda r: r.url.endswith("/decide")) as answer:
        page.click("#decide")

    assert answer.value.status == 403
    assert page.get_by_role("heading", name="Form expired").is_visible()
    assert live.runtime.store.review.decisions_for(item.id) == []
    assert live.runtime.store.review.get_item(item.id).state == "open"


@pytest.mark.parametrize("path", ["/review", "/review/items/" + "0" * 32])
def test_logged_out_navigation_lands_on_the_log_in_page(
    page: Any, module_live_server: Live, path: str
) -> None:
    page.goto(module_live_server.url(path))

    assert page.url.startswith(module_live_server.url("/review/login?next="))
    assert page.get_by_role("heading", name="Log in to review").is_visible()
    assert page.get_by_label("User name").is_visible()


def test_an_item_can_be_decided_with_the_keyboard_alone(
    page: Any, module_live_server: Live, photos: Any
) -> None:
    live = module_live_server
    store = live.runtime.store
    item = _queue_photo(live, photos, "chelsea")
    store.reviewers.create_reviewer("carol", PASSWORD)
    _log_in(page, live, "carol", f"/review/items/{item.id}")

    # Every control of the decision form is reachable by its label.
    for label in ("Approve", "Remove", "Restrict", "Escalate", "Reason code", "Note"):
        assert page.get_by_label(label, exact=False).first.is_visible(), label
    # From the first action, with keys only: choose Escalate, a reason, a note, submit.
    page.focus("#action-approve")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert page.is_checked("#action-escalate")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "reason_code"
    page.select_option("#reason_code", "needs_specialist")  # a native select's own keys
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "note"
    page.keyboard.type("second opinion")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "decide"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    (decision,) = store.review.decisions_for(item.id)
    assert (decision.action, decision.reason_code, decision.note) == (
        "escalate",
        "needs_specialist",
        "second opinion",
    )
    assert store.review.get_item(item.id).state == "escalated"


def test_a_video_item_says_which_frame_it_shows_and_folds_faint_detections(
    page: Any, module_live_server: Live, photos: Any, ui_scanner: Any, tmp_path: Path
) -> None:
    live = module_live_server
    pictures = [
        np.asarray(Image.fromarray(photos.pixels(name)).convert("RGB").resize((160, 120)))
        for name in ("astronaut", "coffee", "chelsea")
    ]
    reel = tmp_path / "reel.mp4"
    spec = VideoSpec(
        fmt="mp4", size=(160, 120), frames=75, rate=Fraction(25),
        picture=lambda index: pictures[index // 25],
    )  # fmt: skip
    write_video(spec, reel)
    scanned = ui_scanner.scan(reel)
    faint = [
        Detection(detector="open_nsfw", category="sexual", label="explicit", score=s, frame=f)
        for f, s in ((0, 0.002), (25, 0.01), (50, 0.71))
    ]
    top = Segment(
        category="sexual", start_s=2.0, end_s=3.0, start=fraction_text(Fraction(2)),
        end=fraction_text(Fraction(3)), peak_score=0.71, peak_frame=50, samples=1,
    )  # fmt: skip
    verdict = scanned.model_copy(
        update={"decision": Decision.REVIEW, "detections": faint, "timeline": [top]}
    )
    assert live.runtime.intake is not None
    item = live.runtime.intake.take(verdict, reel)
    assert item is not None
    live.runtime.store.reviewers.create_reviewer("dave", PASSWORD)
    _log_in(page, live, "dave", f"/review/items/{item.id}")

    assert page.locator("#preview-frame").inner_text() == (
        "The preview is the frame at 2.00 s (scanned frame 50): the start of its "
        "highest-scoring stretch (sexual, peak 0.71)."
    )
    assert page.locator("#detections tbody tr").count() == 1
    assert "0.710" in page.locator("#detections tbody tr").inner_text()
    folded = page.locator("#faint-detections")
    assert not folded.evaluate("d => d.open")
    assert not folded.locator("table").is_visible()
    folded.locator("summary").click()
    assert folded.locator("table").is_visible()
    assert folded.locator("tbody tr").count() == 2
