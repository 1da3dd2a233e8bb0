"""Hash lists over HTTP: CRUD, bulk import (text and JSON), lookup, retroactive matches."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.webhooks import SIGNATURE_HEADER, verify_signature

from ._support import Keys, Receiver, event_of


def _create(
    client: httpx.Client, keys: Keys, name: str = "known-bad", **extra: object
) -> httpx.Response:
    body = {"name": name, "category": "terrorism", "action": "block", **extra}
    return client.post("/v1/hashlists", json=body, headers=Keys.auth(keys.lists))


def test_crud(client: httpx.Client, keys: Keys) -> None:
    created = _create(client, keys, source="GIFCT", pdq_distance=20)
    assert created.status_code == 201, created.text
    assert created.json()["entries"] == 0
    assert _create(client, keys).status_code == 409
    listed = client.get("/v1/hashlists", headers=Keys.auth(keys.lists)).json()
    assert [item["name"] for item in listed] == ["known-bad"]
    patched = client.patch(
        "/v1/hashlists/known-bad", json={"action": "review"}, headers=Keys.auth(keys.lists)
    )
    assert patched.json()["action"] == "review"
    assert patched.json()["pdq_distance"] == 20
    gone = client.delete("/v1/hashlists/known-bad", headers=Keys.auth(keys.lists))
    assert gone.status_code == 204
    missing = client.get("/v1/hashlists/known-bad", headers=Keys.auth(keys.lists))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"name": "Bad Name", "category": "x"}, 422, id="name"),
        pytest.param({"name": "ok", "category": "x", "pdq_distance": 99}, 422, id="distance"),
        pytest.param({"name": "ok", "category": "ethnicity"}, 400, id="protected-trait"),
        pytest.param({"name": "ok", "category": "x", "colour": "red"}, 422, id="unknown-field"),
    ],
)
def test_invalid_lists_are_refused(
    client: httpx.Client, keys: Keys, body: dict[str, object], status: int
) -> None:
    response = client.post("/v1/hashlists", json=body, headers=Keys.auth(keys.lists))
    assert response.status_code == status, response.text


def test_text_import_lookup_and_retro_match(
    client: httpx.Client, keys: Keys, photos, receiver: Receiver
) -> None:
    hook = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["hashlist.retro_match"]},
        headers=Keys.auth(keys.lists),
    ).json()
    # An image scanned before the list knows it...
    verdict = client.post(
        "/v1/scan", content=photos.file("astronaut"), headers=Keys.auth(keys.scan)
    ).json()
    assert verdict["matches"] == []
    sha256, pdq = verdict["hashes"]["sha256"], verdict["hashes"]["pdq"][0]["hash"]
    assert _create(client, keys).status_code == 201
    text = f"# exported\nsha256 {sha256}\npdq {pdq}\nmd5 nothex\n"
    report = client.post(
        "/v1/hashlists/known-bad/entries",
        content=text,
        headers={**Keys.auth(keys.lists), "Content-Type": "text/plain"},
    ).json()
    assert report["added"] == 2
    assert report["error_count"] == 1
    assert report["errors"][0]["line"] == 4
    # ...is found retroactively, and announced.
    assert report["retro_matches"] >= 1
    assert len(report["events"]) == 1
    received = receiver.get()
    assert verify_signature(
        str(hook["secret"]), received.headers[SIGNATURE_HEADER.lower()], received.body
    )
    event = event_of(received)
    assert event["type"] == "hashlist.retro_match"
    assert event["data"]["list"] == "known-bad"
    assert {m["item"]["sha256"] for m in event["data"]["matches"]} == {sha256}
    # Lookups see the new entries at once, and later scans match.
    found = client.post(
        "/v1/lookup", json={"signal_type": "pdq", "value": pdq}, headers=Keys.auth(keys.lists)
    ).json()
    assert [m["list"] for m in found["matches"]] == ["known-bad"]
    again = client.post("/v1/scan", content=photos.file("astronaut"), headers=Keys.auth(keys.scan))
    assert again.json()["decision"] == "block"
    assert {m["list"] for m in again.json()["matches"]} == {"known-bad"}
    again_import = client.post(
        "/v1/hashlists/known-bad/entries",
        content=text,
        headers={**Keys.auth(keys.lists), "Content-Type": "text/plain"},
    ).json()
    assert (again_import["added"], again_import["duplicates"]) == (0, 2)


def test_json_import(client: httpx.Client, keys: Keys) -> None:
    assert _create(client, keys, name="json-list").status_code == 201
    entries = [
        {"signal_type": "md5", "value": "0" * 32, "external_id": "te-1", "note": "n"},
        {"signal_type": "video_sha256", "value": "a" * 64},
        {"signal_type": "pdq", "value": "xyz"},
        {"value": "b" * 32},
    ]
    report = client.post(
        "/v1/hashlists/json-list/entries", json=entries, headers=Keys.auth(keys.lists)
    ).json()
    assert report["added"] == 2
    assert report["error_count"] == 2
    assert [e["line"] for e in report["errors"]] == [3, 4]
    found = client.post(
        "/v1/lookup", json={"signal_type": "md5", "value": "0" * 32}, headers=Keys.auth(keys.lists)
    ).json()
    assert found["matches"][0]["external_id"] == "te-1"
    bad = client.post(
        "/v1/hashlists/json-list/entries",
        content=b'{"not": "an array"}',
        headers={**Keys.auth(keys.lists), "Content-Type": "application/json"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_json"


def test_import_into_a_missing_list(client: httpx.Client, keys: Keys) -> None:
    response = client.post(
        "/v1/hashlists/nope/entries",
        content="md5 " + "0" * 32,
        headers={**Keys.auth(keys.lists), "Content-Type": "text/plain"},
    )
    assert response.status_code == 404


def test_lookup_validates(client: httpx.Client, keys: Keys) -> None:
    response = client.post(
        "/v1/lookup", json={"signal_type": "md5", "value": "zz" * 16}, headers=Keys.auth(keys.lists)
    )
    assert response.status_code == 422
    response = client.post(
        "/v1/lookup", json={"signal_type": "md5", "value": "0" * 64}, headers=Keys.auth(keys.lists)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_hash"


def test_hostile_import_bodies_get_4xx_on_both_backends(client: httpx.Client, keys: Keys) -> None:
    assert _create(client, keys, name="hostile").status_code == 201
    text_headers = {**Keys.auth(keys.lists), "Content-Type": "text/plain"}
    nul = client.post(
        "/v1/hashlists/hostile/entries",
        content="signal_type,hash,note\nmd5," + "1" * 32 + ",a\x00b\n",
        headers=text_headers,
    )
    assert nul.status_code == 200, nul.text
    assert nul.json()["added"] == 1
    huge = client.post(
        "/v1/hashlists/hostile/entries",
        content="signal_type,hash,note\nmd5," + "2" * 32 + ',"' + "x" * 200_000 + '"\n',
        headers=text_headers,
    )
    assert huge.status_code in (200, 400), huge.text
    if huge.status_code == 400:
        assert huge.json()["error"]["code"] == "invalid_list_file"
    binary = client.post(
        "/v1/hashlists/hostile/entries", content=bytes(range(256)) * 50, headers=text_headers
    )
    assert binary.status_code == 200
    assert binary.json()["added"] == 0
    json_nul = client.post(
        "/v1/hashlists/hostile/entries",
        json=[{"signal_type": "md5", "value": "3" * 32, "note": "a\x00b"}],
        headers=Keys.auth(keys.lists),
    )
    assert json_nul.status_code == 200
    assert json_nul.json()["error_count"] == 1
    created = client.post(
        "/v1/hashlists",
        json={"name": "nul", "category": "x", "source": "a\x00"},
        headers=Keys.auth(keys.lists),
    )
    assert created.status_code == 422


def test_a_picture_added_over_http_matches_its_cropped_repost(
    client: httpx.Client, keys: Keys, photos, runtime: ServiceRuntime
) -> None:
    assert _create(client, keys, name="tvec").status_code == 201
    picture = photos.encode(photos.pixels("coffee"), "jpeg", quality=90)
    added = client.post(
        "/v1/hashlists/tvec/media?name=coffee.jpg",
        files={"file": ("upload.jpg", picture)},
        headers=Keys.auth(keys.lists),
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert len(body["entry_ids"]) == 3  # its PDQ, MD5 and SHA-256
    assert body["crops_added"] >= 8
    (record,) = [e for e in runtime.store.audit.audit_entries() if e.action.endswith("picture_add")]
    every_key = runtime.store.keys.keys()
    (lists_key,) = [k for k in every_key if k.id == keys.ids["lists"]]
    assert record.actor == f"key:{lists_key.key_id}"

    pixels = photos.pixels("coffee")
    height, width = pixels.shape[:2]
    cropped = pixels[height // 10 : height - height // 10, width // 10 : width - width // 10]
    copy = photos.encode(cropped, "jpeg", quality=80)
    verdict = client.post("/v1/scan", content=copy, headers=Keys.auth(keys.scan)).json()
    assert verdict["decision"] == "block"
    (match,) = [m for m in verdict["matches"] if m["signal"] == "pdq"]
    assert match["external_id"] == "coffee.jpg"
    assert "centre crop 10%" in match["variant"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        pytest.param("tvec", b"not a picture at all", 415, "unsupported_media", id="not-media"),
        pytest.param("tvec", b"", 400, "empty_upload", id="empty"),
        pytest.param("tvec", "flat", 400, "media_error", id="too-flat-to-hash"),
        pytest.param("nope", b"\xff\xd8\xff", 404, "not_found", id="no-list"),
    ],
)
def test_bad_pictures_are_refused_and_the_list_is_unchanged(
    client: httpx.Client, keys: Keys, photos, path: str, body: bytes | str, status: int, code: str
) -> None:
    assert _create(client, keys, name="tvec").status_code == 201
    if body == "flat":
        body = photos.encode(np.full((300, 400, 3), 128, dtype=np.uint8), "png")
    refused = client.post(
        f"/v1/hashlists/{path}/media", content=body, headers=Keys.auth(keys.lists)
    )
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code
    listed = client.get("/v1/hashlists/tvec", headers=Keys.auth(keys.lists)).json()
    assert listed["entries"] == 0
    scan_key = client.post(
        f"/v1/hashlists/{path}/media", content=b"x", headers=Keys.auth(keys.scan)
    )
    assert scan_key.status_code == 403
