"""Review through the API: scans reach the queue, decisions, DSA statements, appeals, audit.

Every item here got into review by a real scan of a real photo through the running
service, matched against a hash list whose action is ``review`` or ``block``.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from mediaguard.cli import main
from mediaguard.dsa import validate
from mediaguard.review.intake import new_item, preview_path
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store import NewEntry
from mediaguard.store.base import utcnow
from mediaguard.store.review_types import ReviewerInfo
from mediaguard.verdict import Verdict

from ._support import Keys, make_settings, tiny_mp4, wait_for, wait_job

PASSWORD = "correct horse battery"


def _list(runtime: ServiceRuntime, name: str, action: str, category: str, photo: bytes) -> None:
    runtime.store.lists.create_list(name, category, action)
    md5 = hashlib.md5(photo).hexdigest()
    runtime.store.lists.add_entries(name, [NewEntry("md5", md5)])
    assert runtime.matcher is not None
    runtime.matcher.refresh()


def _scan(client: httpx.Client, keys: Keys, photo: bytes, name: str) -> dict[str, Any]:
    response = client.post(
        "/v1/scan", params={"name": name}, content=photo, headers=Keys.auth(keys.scan)
    )
    assert response.status_code == 200, response.text
    verdict: dict[str, Any] = response.json()
    return verdict


def _reviewer(runtime: ServiceRuntime, name: str) -> ReviewerInfo:
    return runtime.store.reviewers.create_reviewer(name, PASSWORD)


@pytest.fixture
def flagged(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, photos: Any
) -> dict[str, Any]:
    """A real photo scanned into review through a `review` hash list."""
    photo = photos.file("astronaut")
    _list(runtime, "suspected", "review", "csam", photo)
    verdict = _scan(client, keys, photo, "holiday-of-jane-doe.png")
    assert verdict["decision"] == "review"
    # The item is queued just after the response is sent.
    items = wait_for(lambda: client.get("/v1/review/items", headers=Keys.auth(keys.review)).json())
    assert len(items) == 1
    item: dict[str, Any] = items[0]
    return item


def test_a_review_verdict_is_queued_with_a_shielded_preview(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, flagged: dict[str, Any]
) -> None:
    assert flagged["state"] == "open"
    assert flagged["lists"] == ["suspected"]
    assert flagged["categories"] == ["csam"]
    assert flagged["machine_decision"] == "review"
    one = client.get(f"/v1/review/items/{flagged['id']}", headers=Keys.auth(keys.review))
    assert one.json()["verdict"]["matches"][0]["list"] == "suspected"
    with Image.open(preview_path(runtime.data_dir, flagged["id"], "shielded")) as shielded:
        assert shielded.mode == "L"
    with Image.open(preview_path(runtime.data_dir, flagged["id"], "clear")) as clear:
        assert clear.mode == "RGB"
        assert np.asarray(clear).std() > 20
    filtered = client.get(
        "/v1/review/items", params={"list": "other"}, headers=Keys.auth(keys.review)
    )
    assert filtered.json() == []


def test_review_routes_need_the_review_scope(
    client: httpx.Client, keys: Keys, flagged: dict[str, Any]
) -> None:
    assert client.get("/v1/review/items", headers=Keys.auth(keys.scan)).status_code == 403
    assert client.get("/v1/review/items").status_code == 401
    assert client.get("/v1/review/items", headers=Keys.auth(keys.admin)).status_code == 200


def test_human_removal_has_a_valid_statement_without_personal_data(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, flagged: dict[str, Any]
) -> None:
    alice = _reviewer(runtime, "alice")
    decision = runtime.store.review.decide(
        flagged["id"], alice, action="remove", reason_code="known_csam_match", note="jane's"
    )
    response = client.get(f"/v1/decisions/{decision.id}/statement", headers=Keys.auth(keys.review))
    assert response.status_code == 200, response.text
    statement = response.json()
    assert validate(statement) == []
    assert statement["puid"] == decision.id
    assert statement["automated_detection"] == "Yes"
    assert statement["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert statement["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert statement["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert statement["content_type"] == ["CONTENT_TYPE_IMAGE"]
    text = json.dumps(statement).lower()
    for private in ("jane", "holiday", "alice", ".png"):
        assert private not in text
    public = client.get(f"/v1/decisions/{decision.id}", headers=Keys.auth(keys.review)).json()
    assert public["decided_by"] == "reviewer"
    assert "alice" not in json.dumps(public)


def test_an_approval_has_no_statement(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, flagged: dict[str, Any]
) -> None:
    alice = _reviewer(runtime, "alice")
    decision = runtime.store.review.decide(
        flagged["id"], alice, action="approve", reason_code="no_violation"
    )
    response = client.get(f"/v1/decisions/{decision.id}/statement", headers=Keys.auth(keys.review))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_exportable"


def test_a_block_is_a_fully_automated_appealable_decision(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, photos: Any
) -> None:
    photo = photos.file("coffee")
    _list(runtime, "known", "block", "csam", photo)
    start = utcnow() - timedelta(seconds=1)
    assert _scan(client, keys, photo, "x.png")["decision"] == "block"
    found = wait_for(
        lambda: client.get(
            "/v1/decisions",
            params={"since": start.isoformat(), "action": "remove"},
            headers=Keys.auth(keys.review),
        ).json()
    )
    assert len(found) == 1
    decision = found[0]
    assert decision["decided_by"] == "pipeline"
    assert decision["reason_code"] == "known_csam_match"
    statement = client.get(
        f"/v1/decisions/{decision['id']}/statement", headers=Keys.auth(keys.review)
    ).json()
    assert validate(statement) == []
    assert statement["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    # Nothing waits in the queue until the block is appealed.
    assert client.get("/v1/review/items", headers=Keys.auth(keys.review)).json() == []
    appealed = client.post(
        f"/v1/decisions/{decision['id']}/appeals",
        json={"reason": "it is my own coffee"},
        headers=Keys.auth(keys.review),
    )
    assert appealed.status_code == 201, appealed.text
    queue = client.get("/v1/review/items", headers=Keys.auth(keys.review)).json()
    assert [i["state"] for i in queue] == ["appealed"]


def test_appeal_is_decided_by_another_reviewer_and_audited(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, flagged: dict[str, Any]
) -> None:
    alice = _reviewer(runtime, "alice")
    bob = _reviewer(runtime, "bob")
    removed = runtime.store.review.decide(
        flagged["id"], alice, action="remove", reason_code="known_csam_match"
    )
    url = f"/v1/decisions/{removed.id}/appeals"
    response = client.post(url, json={"reason": "mistake"}, headers=Keys.auth(keys.review))
    assert response.status_code == 201
    appeal = response.json()
    again = client.post(url, json={}, headers=Keys.auth(keys.review))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert runtime.store.review.queue(alice.id) == []
    restored = runtime.store.review.decide(
        flagged["id"], bob, action="approve", reason_code="no_violation"
    )
    outcome = client.get(f"/v1/appeals/{appeal['id']}", headers=Keys.auth(keys.review)).json()
    assert outcome["outcome"] == "reversed"
    assert outcome["resolution_id"] == restored.id
    history = client.get(
        f"/v1/review/items/{flagged['id']}/decisions", headers=Keys.auth(keys.review)
    ).json()
    assert [d["action"] for d in history] == ["remove", "approve"]
    assert history[0]["appeals"][0]["outcome"] == "reversed"
    records = {e.action: e for e in runtime.store.audit.audit_entries()}
    review_key = runtime.store.keys.keys()[2]
    assert review_key.name == "review"
    assert records["appeal.create"].actor == f"key:{review_key.key_id}"
    assert records["appeal.resolve"].actor == "reviewer:bob"
    assert runtime.store.audit.verify_audit().ok


def test_unknown_ids_are_404_and_malformed_are_422(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.review)
    assert client.get("/v1/decisions/d_" + "0" * 32, headers=auth).status_code == 404
    assert client.get("/v1/decisions/nope", headers=auth).status_code == 422
    assert client.get("/v1/review/items/" + "0" * 32, headers=auth).status_code == 404
    assert (
        client.get("/v1/decisions", params={"since": "2026-01-01T00:00"}, headers=auth).status_code
        == 422
    )


def test_api_key_changes_and_policy_are_audited(runtime: ServiceRuntime, keys: Keys) -> None:
    actions = [e.action for e in runtime.store.audit.audit_entries()]
    assert actions[0] == "policy.change"
    assert actions.count("key.create") == 5
    # Opening again with the same policy records no change.
    again = ServiceRuntime.open(runtime.settings, scanner=runtime.scanner)
    again.close()
    assert [e.action for e in runtime.store.audit.audit_entries()].count("policy.change") == 1


# ---------------------------------------------------------------------- commands


def test_audit_verify_catches_a_record_edited_in_the_database(
    runtime: ServiceRuntime, migrated_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _reviewer(runtime, "alice")
    assert main(["audit", "verify", "--database", migrated_url]) == 0
    printed = capsys.readouterr().out
    assert "intact" in printed
    anchor = printed.split("anchor ")[1].split()[0]
    verify = ["audit", "verify", "--database", migrated_url]
    assert main([*verify, "--anchor", anchor]) == 0
    assert main([*verify, "--anchor", anchor.replace(":", ":0", 1)[:-1]]) == 1
    assert main([*verify, "--anchor", "head"]) == 2
    capsys.readouterr()
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--database", migrated_url, "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert {line["action"] for line in lines} >= {"reviewer.create", "policy.change"}
    target = next(line["seq"] for line in lines if line["action"] == "reviewer.create")
    with runtime.store.db.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET subject = 'mallory' WHERE seq = :seq"), {"seq": target}
        )
    assert main(["audit", "verify", "--database", migrated_url]) == 1
    err = capsys.readouterr().err
    assert f"record {target}" in err


def test_dsa_export_writes_batches_of_at_most_100_valid_statements(
    runtime: ServiceRuntime,
    migrated_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alice = _reviewer(runtime, "alice")
    verdict = Verdict.model_validate_json(_a_verdict_json(runtime))
    for n in range(150):
        item = new_item(
            verdict.model_copy(update={"source": f"user-{n}.jpg"}), job_id=None, has_preview=False
        )
        queued = runtime.store.review.enqueue(item)
        action = "approve" if n % 10 == 0 else "remove"
        reason = "no_violation" if action == "approve" else "sexual_content"
        runtime.store.review.decide(queued.id, alice, action=action, reason_code=reason)
    out = tmp_path / "dsa"
    today = utcnow().date().isoformat()
    assert (
        main(["dsa", "export", "--since", today, "--out", str(out), "--database", migrated_url])
        == 0
    )
    files = sorted(out.glob("statements-*.json"))
    bodies = [json.loads(f.read_text()) for f in files]
    assert [len(b["statements"]) for b in bodies] == [100, 35]
    puids = [s["puid"] for b in bodies for s in b["statements"]]
    assert len(set(puids)) == 135
    for body in bodies:
        for statement in body["statements"]:
            assert validate(statement) == []
            assert "user-" not in json.dumps(statement)
    assert main(["dsa", "export", "--since", "[not-a-date]", "--database", migrated_url]) == 2
    # The message names the bad value as given (rich must not read it as markup).
    assert "'[not-a-date]'" in capsys.readouterr().err


def _a_verdict_json(runtime: ServiceRuntime) -> str:
    photo = np.full((64, 64, 3), 128, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    return runtime.scan(buf.getvalue(), name="grey.png").to_json()


def test_shield_only_categories_come_from_the_settings(
    migrated_url: str, tmp_path: Path, base_scanner: Any
) -> None:
    settings = make_settings(migrated_url, tmp_path / "d", review_shield_only=["csam"])
    runtime = ServiceRuntime.open(settings, scanner=base_scanner)
    try:
        assert runtime.intake is not None
        assert runtime.intake.shield_only == frozenset({"csam"})
    finally:
        runtime.close()


def test_review_queue_can_be_turned_off(
    migrated_url: str, tmp_path: Path, base_scanner: Any, photos: Any
) -> None:
    settings = make_settings(migrated_url, tmp_path / "d", review_queue=False)
    runtime = ServiceRuntime.open(settings, scanner=base_scanner)
    try:
        photo = photos.file("astronaut")
        _list(runtime, "suspected", "review", "csam", photo)
        verdict = runtime.scan(photo, name="a.png")
        assert verdict.decision == "review"
        runtime.send_to_review(verdict, photo)
        assert runtime.store.review.queue(None) == []
    finally:
        runtime.close()


def test_previews_of_decided_items_are_deleted_after_their_retention(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, photos: Any, flagged: dict[str, Any]
) -> None:
    other = photos.file("coffee")
    _list(runtime, "suspected-2", "review", "csam", other)
    _scan(client, keys, other, "second.png")
    waiting = wait_for(
        lambda: [i for i in runtime.store.review.queue(None) if i.id != flagged["id"]]
    )
    alice = _reviewer(runtime, "alice")
    runtime.store.review.decide(
        flagged["id"], alice, action="remove", reason_code="known_csam_match"
    )
    assert runtime.intake is not None
    # A decision this instant is not yet past a 30-day retention...
    assert runtime.intake.sweep() == 0
    assert preview_path(runtime.data_dir, flagged["id"], "clear").exists()
    # ...but is past a retention of a millisecond.
    runtime.intake.preview_days = 1e-3 / 86400
    time.sleep(0.01)
    assert runtime.intake.sweep() == 1
    assert not preview_path(runtime.data_dir, flagged["id"], "clear").exists()
    assert not preview_path(runtime.data_dir, flagged["id"], "shielded").exists()
    assert runtime.store.review.get_item(flagged["id"]).has_preview is False
    # The item still waiting keeps its preview.
    assert preview_path(runtime.data_dir, waiting[0].id, "shielded").exists()


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00"])
def test_a_since_outside_the_utc_range_is_refused(
    client: httpx.Client, keys: Keys, since: str
) -> None:
    answer = client.get("/v1/decisions", params={"since": since}, headers=Keys.auth(keys.review))
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_since"


def test_a_video_job_queues_its_item_with_the_job_and_a_frame_preview(
    runtime: ServiceRuntime, client: httpx.Client, keys: Keys, photos: Any
) -> None:
    video = tiny_mp4(photos.pixels("astronaut"))
    _list(runtime, "suspected-video", "review", "csam", video)
    submitted = client.post(
        "/v1/jobs", files=[("files", ("clip.mp4", video))], headers=Keys.auth(keys.scan)
    )
    assert submitted.status_code == 201, submitted.text
    job = wait_job(client, keys.scan, submitted.json()["id"])
    assert job["state"] == "done"
    assert job["results"][0]["decision"] == "review"
    (item,) = wait_for(lambda: runtime.store.review.queue(None))
    assert item.job_id == job["id"]
    assert item.media_kind == "video"
    assert item.has_preview
    with Image.open(preview_path(runtime.data_dir, item.id, "clear")) as frame:
        assert frame.size == (64, 64)
