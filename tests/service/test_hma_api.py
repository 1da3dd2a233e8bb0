"""HMA's API on mediaguard: banks, bank content, lookups, compare and hashing.

Requests and expected bodies are written from Hasher-Matcher-Actioner's blueprints and
tests (``OpenMediaMatch/blueprints/{curation,matching,hashing}.py``): the same paths,
parameters, status codes and response shapes, against the real server on loopback with
a real database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ._support import Keys

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def _flip(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16) ^ ((1 << bits) - 1)
    return f"{value:064x}"


class MediaServer:
    """Serves ``/photo.jpg`` (image/jpeg), ``/blob`` (no type) and ``/redirect`` -> photo."""

    def __init__(self, body: bytes) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/photo.jpg")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                kind = "image/jpeg" if self.path == "/photo.jpg" else "application/octet-stream"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.body = body
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def media(photos: Any) -> Iterator[MediaServer]:
    server = MediaServer(photos.file("grace_hopper"))
    yield server
    server.close()


def _bank(client: httpx.Client, keys: Keys, name: str = "TEST_BANK") -> None:
    response = client.post("/c/banks", json={"name": name}, headers=Keys.auth(keys.lists))
    assert response.status_code == 201, response.text


def _add(client: httpx.Client, keys: Keys, bank: str, signals: dict[str, str]) -> int:
    response = client.post(f"/c/bank/{bank}/signal", json=signals, headers=Keys.auth(keys.lists))
    assert response.status_code == 200, response.text
    assert response.json()["signals"] == signals
    content_id: int = response.json()["id"]
    return content_id


def test_bank_lifecycle(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.lists)
    assert client.get("/c/banks", headers=auth).json() == []
    for bad in ("01_TEST_BANK", "my_test_bank", "A" * 65):
        response = client.post("/c/banks", json={"name": bad}, headers=auth)
        assert response.status_code in (400, 422), bad
        assert "error" in response.json()
    created = client.post("/c/banks", json={"name": "MY_TEST_BANK_01"}, headers=auth)
    assert created.status_code == 201
    assert created.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}
    assert client.get("/c/banks", headers=auth).json() == [created.json()]
    again = client.post("/c/banks", json={"name": "MY_TEST_BANK_01"}, headers=auth)
    assert again.status_code == 403
    # The bank is a hash list like any other, visible through /v1.
    listed = client.get("/v1/hashlists/my_test_bank_01", headers=auth).json()
    assert (listed["category"], listed["action"]) == ("hma", "review")

    off = client.put("/c/bank/MY_TEST_BANK_01", json={"enabled": False}, headers=auth)
    assert off.status_code == 200
    assert off.json()["matching_enabled_ratio"] == 0
    half = client.put("/c/bank/MY_TEST_BANK_01", json={"enabled_ratio": 0.5}, headers=auth)
    assert half.json() == {"name": "MY_TEST_BANK_01", "matching_enabled_ratio": 0.5}
    renamed = client.put("/c/bank/MY_TEST_BANK_01", json={"name": "OTHER"}, headers=auth)
    assert renamed.status_code == 400
    assert (
        client.put("/c/bank/MY_TEST_BANK_01", json={"enabled_ratio": 2}, headers=auth).status_code
        == 400
    )
    assert (
        client.get("/c/bank/MY_TEST_BANK_01", headers=auth).json()["matching_enabled_ratio"] == 0.5
    )
    assert client.get("/c/bank/NO_SUCH_BANK", headers=auth).status_code == 404

    assert client.delete("/c/bank/MY_TEST_BANK_01", headers=auth).json() == {"message": "Done"}
    assert client.delete("/c/bank/MY_TEST_BANK_01", headers=auth).status_code == 200
    assert client.get("/c/bank/MY_TEST_BANK_01", headers=auth).status_code == 404
    assert client.get("/c/banks", headers=auth).json() == []


def test_lookup_answers_in_hma_shape(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.lists)
    _bank(client, keys, "BANK_A")
    _bank(client, keys, "BANK_B")
    a = _add(client, keys, "BANK_A", {"pdq": PDQ})
    b = _add(client, keys, "BANK_B", {"pdq": _flip(PDQ, 3)})

    found = client.get("/m/lookup", params={"signal_type": "pdq", "signal": PDQ}, headers=auth)
    assert found.status_code == 200, found.text
    assert found.json() == {
        "BANK_A": [{"bank_content_id": a, "distance": "0"}],
        "BANK_B": [{"bank_content_id": b, "distance": "3"}],
    }
    only_b = client.get(
        "/m/lookup", params={"signal_type": "pdq", "signal": PDQ, "banks": "BANK_B"}, headers=auth
    )
    assert only_b.json() == {"BANK_B": [{"bank_content_id": b, "distance": "3"}]}
    far = _flip(PDQ, 200)
    assert (
        client.get("/m/lookup", params={"signal_type": "pdq", "signal": far}, headers=auth).json()
        == {}
    )

    raw = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ}, headers=auth)
    assert sorted(raw.json()["matches"]) == sorted([a, b])
    with_distance = client.get(
        "/m/raw_lookup",
        params={"signal_type": "pdq", "signal": PDQ, "include_distance": "true", "banks": "BANK_A"},
        headers=auth,
    )
    assert with_distance.json() == {"matches": [{"bank_content_id": a, "distance": "0"}]}

    # A bank at ratio 0 is left out of /m/lookup unless the coin flip is bypassed, and
    # /m/raw_lookup never applies the ratio, as in HMA.
    client.put("/c/bank/BANK_B", json={"enabled": False}, headers=auth)
    params = {"signal_type": "pdq", "signal": PDQ, "seed": "item-1"}
    assert set(client.get("/m/lookup", params=params, headers=auth).json()) == {"BANK_A"}
    bypass = {**params, "bypass_coinflip": "true"}
    assert set(client.get("/m/lookup", params=bypass, headers=auth).json()) == {"BANK_A", "BANK_B"}
    assert len(client.get("/m/raw_lookup", params=params, headers=auth).json()["matches"]) == 2

    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    c = _add(client, keys, "BANK_A", {"video_md5": md5})
    exact = client.get(
        "/m/lookup", params={"signal_type": "video_md5", "signal": md5}, headers=auth
    )
    assert exact.json() == {"BANK_A": [{"bank_content_id": c, "distance": "0"}]}


def test_bank_content(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.lists)
    _bank(client, keys)
    response = client.post(
        "/c/bank/TEST_BANK/signal", json={"pdq": PDQ, "note": "from a report"}, headers=auth
    )
    content_id = response.json()["id"]
    # A hash the bank already holds is not banked twice: its content id comes back.
    assert _add(client, keys, "TEST_BANK", {"pdq": PDQ}) == content_id
    got = client.get(f"/c/bank/TEST_BANK/content/{content_id}", headers=auth)
    assert got.json() == {
        "id": content_id,
        "disable_until_ts": 1,
        "original_media_uri": None,
        "bank": {"name": "TEST_BANK", "matching_enabled_ratio": 1.0},
        "note": "from a report",
    }
    signals = client.get(
        f"/c/bank/TEST_BANK/content/{content_id}", params={"include_signals": "true"}, headers=auth
    )
    assert signals.json()["signals"] == {"pdq": PDQ}
    assert client.get("/c/bank/TEST_BANK/content/999999", headers=auth).status_code == 404
    assert client.get(f"/c/bank/NOPE/content/{content_id}", headers=auth).status_code == 404

    for bad in ({}, {"pdq": "zz"}, {"not_a_type": PDQ}, {"pdq": 5}):
        refused = client.post("/c/bank/TEST_BANK/signal", json=bad, headers=auth)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"]

    deleted = client.delete(f"/c/bank/TEST_BANK/content/{content_id}", headers=auth)
    assert deleted.json() == {"deleted": 1}
    assert client.delete(f"/c/bank/TEST_BANK/content/{content_id}", headers=auth).json() == {
        "deleted": 0
    }
    assert (
        client.get("/m/lookup", params={"signal_type": "pdq", "signal": PDQ}, headers=auth).json()
        == {}
    )


def test_compare(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.lists)
    body = {"pdq": [PDQ, _flip(PDQ, 9)], "video_md5": ["a" * 32, "a" * 32]}
    response = client.post("/m/compare", json=body, headers=auth)
    assert response.json() == {"pdq": [True, {"distance": 9}], "video_md5": [True, {}]}
    far = client.post("/m/compare", json={"pdq": [PDQ, _flip(PDQ, 40)]}, headers=auth)
    assert far.json() == {"pdq": [False, {"distance": 40}]}
    for bad in ([1, 2], {"pdq": [PDQ]}, {"pdq": PDQ}, {"pdq": [PDQ, "xyz"]}, {"nope": [1, 2]}):
        assert client.post("/m/compare", json=bad, headers=auth).status_code == 400, bad
    garbage = client.post("/m/compare", content=b"{not json", headers=auth)
    assert garbage.status_code == 400
    assert client.get("/healthz").status_code == 200


def test_hash_upload_matches_what_a_scan_hashes(
    client: httpx.Client, keys: Keys, photos: Any
) -> None:
    data = photos.file("grace_hopper")
    hashed = client.post("/h/hash", files={"photo": ("g.jpg", data)}, headers=Keys.auth(keys.scan))
    assert hashed.status_code == 200, hashed.text
    scanned = client.post("/v1/scan", files={"file": ("g.jpg", data)}, headers=Keys.auth(keys.scan))
    assert hashed.json() == {"pdq": scanned.json()["hashes"]["pdq"][0]["hash"]}
    video = client.post(
        "/h/hash", files={"video": ("v.mp4", b"not really")}, headers=Keys.auth(keys.scan)
    )
    assert video.json() == {"video_md5": hashlib.md5(b"not really").hexdigest()}
    wrong = client.post("/h/hash", files={"document": ("x", data)}, headers=Keys.auth(keys.scan))
    assert wrong.status_code == 400
    junk = client.post("/h/hash", files={"photo": ("x.jpg", b"junk")}, headers=Keys.auth(keys.scan))
    assert 400 <= junk.status_code < 500
    assert junk.json()["error"]["code"]


@pytest.mark.parametrize("settings_overrides", [{"url_fetch_allow_private": True}])
def test_url_hashing_lookup_and_banking(
    client: httpx.Client, keys: Keys, media: MediaServer
) -> None:
    auth = Keys.auth(keys.lists)
    by_url = client.get(
        "/h/hash", params={"url": f"{media.url}/photo.jpg"}, headers=Keys.auth(keys.scan)
    )
    assert by_url.status_code == 200, by_url.text
    pdq = by_url.json()["pdq"]
    redirected = client.get(
        "/h/hash", params={"url": f"{media.url}/redirect"}, headers=Keys.auth(keys.scan)
    )
    assert redirected.json() == {"pdq": pdq}
    untyped = client.get(
        "/h/hash", params={"url": f"{media.url}/blob"}, headers=Keys.auth(keys.scan)
    )
    assert untyped.status_code == 400
    typed = client.get(
        "/h/hash",
        params={"url": f"{media.url}/blob", "content_type": "photo"},
        headers=Keys.auth(keys.scan),
    )
    assert typed.json() == {"pdq": pdq}

    _bank(client, keys)
    added = client.post(
        "/c/bank/TEST_BANK/content", params={"url": f"{media.url}/photo.jpg"}, headers=auth
    )
    assert added.status_code == 200, added.text
    assert added.json()["signals"] == {"pdq": pdq}
    content_id = added.json()["id"]
    expected = {"TEST_BANK": [{"bank_content_id": content_id, "distance": "0"}]}
    looked = client.get("/m/lookup", params={"url": f"{media.url}/photo.jpg"}, headers=auth)
    assert looked.json() == {"pdq": expected}
    elided = client.get(
        "/m/lookup", params={"url": f"{media.url}/photo.jpg", "signal_type": "pdq"}, headers=auth
    )
    assert elided.json() == expected
    uploaded = client.post("/m/lookup", files={"photo": ("g.jpg", media.body)}, headers=auth)
    assert uploaded.json() == {"pdq": expected}
    neither = client.post("/c/bank/TEST_BANK/content", headers=auth)
    assert neither.status_code == 400


def test_urls_on_private_addresses_are_refused(
    client: httpx.Client, keys: Keys, media: MediaServer
) -> None:
    for path in ("/h/hash", "/m/lookup"):
        response = client.get(
            path,
            params={"url": f"{media.url}/photo.jpg"},
            headers=Keys.auth(keys.lists if path == "/m/lookup" else keys.scan),
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "url_refused"
    for url in ("file:///etc/passwd", "http://user:pw@example.com/x", "gopher://x"):
        response = client.get("/h/hash", params={"url": url}, headers=Keys.auth(keys.scan))
        assert response.status_code == 400, url


def test_keys_and_scopes_apply(client: httpx.Client, keys: Keys) -> None:
    missing = client.get("/c/banks")
    assert missing.status_code == 401
    assert missing.json()["message"] == missing.json()["error"]["message"]
    assert "message" not in client.get("/v1/hashlists").json()
    assert client.get("/c/banks", headers=Keys.auth(keys.scan)).status_code == 403
    params = {"signal_type": "pdq", "signal": PDQ}
    assert client.get("/m/lookup", params=params, headers=Keys.auth(keys.scan)).status_code == 403
    assert (
        client.post(
            "/h/hash", files={"photo": ("x", b"x")}, headers=Keys.auth(keys.lists)
        ).status_code
        == 403
    )


def test_bad_lookups_are_typed_errors(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.lists)
    for params in (
        {"signal_type": "pdq", "signal": "zz"},
        {"signal_type": "pdq", "signal": PDQ + "00"},
        {"signal_type": "nope", "signal": PDQ},
        {"signal": PDQ},
        {},
    ):
        response = client.get("/m/lookup", params=params, headers=auth)
        assert response.status_code == 400, params
        body = response.json()
        # mediaguard's envelope, with HMA's top-level message beside it.
        assert body["error"]["code"], params
        assert body["message"] == body["error"]["message"]
    assert (
        client.get(
            "/m/raw_lookup", params={"signal_type": "pdq", "signal": "z"}, headers=auth
        ).status_code
        == 400
    )
    assert client.get("/m/index/status", headers=auth).json()["pdq"]["size"] == 0


@pytest.mark.parametrize("settings_overrides", [{"hma_api": False}])
def test_the_hma_api_can_be_turned_off(client: httpx.Client, keys: Keys) -> None:
    assert client.get("/c/banks", headers=Keys.auth(keys.lists)).status_code == 404
    assert client.get("/v1/hashlists", headers=Keys.auth(keys.lists)).status_code == 200
