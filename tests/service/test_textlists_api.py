"""Term lists and URL lists over HTTP: CRUD, imports (text, CSV, JSON), export, removal."""

from __future__ import annotations

import httpx
import pytest

from ._support import Keys


def _create(
    client: httpx.Client, keys: Keys, kind: str, name: str, **extra: object
) -> httpx.Response:
    body = {"name": name, "category": "fraud", "action": "block", **extra}
    return client.post(f"/v1/{kind}lists", json=body, headers=Keys.auth(keys.lists))


def _text(client: httpx.Client, keys: Keys, path: str, text: str) -> httpx.Response:
    return client.post(
        path, content=text, headers={**Keys.auth(keys.lists), "Content-Type": "text/plain"}
    )


def test_crud_of_both_kinds(client: httpx.Client, keys: Keys) -> None:
    assert _create(client, keys, "term", "scam", source="ops").status_code == 201
    assert _create(client, keys, "url", "phishing").status_code == 201
    assert _create(client, keys, "url", "scam").status_code == 409  # names span both kinds
    terms = client.get("/v1/termlists", headers=Keys.auth(keys.lists)).json()
    assert [(t["name"], t["kind"], t["entries"]) for t in terms] == [("scam", "term", 0)]
    # A term list is not found under /v1/urllists.
    assert client.get("/v1/urllists/scam", headers=Keys.auth(keys.lists)).status_code == 404
    patched = client.patch(
        "/v1/urllists/phishing", json={"action": "review"}, headers=Keys.auth(keys.lists)
    )
    assert patched.json()["action"] == "review"
    assert client.delete("/v1/urllists/phishing", headers=Keys.auth(keys.lists)).status_code == 204
    missing = client.get("/v1/urllists/phishing", headers=Keys.auth(keys.lists))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"name": "Bad Name", "category": "x"}, 422, id="name"),
        pytest.param({"name": "ok", "category": "religion"}, 400, id="protected-trait"),
        pytest.param({"name": "ok", "category": "x", "pdq_distance": 3}, 422, id="unknown-field"),
    ],
)
def test_invalid_lists_are_refused(
    client: httpx.Client, keys: Keys, body: dict[str, object], status: int
) -> None:
    response = client.post("/v1/termlists", json=body, headers=Keys.auth(keys.lists))
    assert response.status_code == status, response.text


def test_text_import_reports_lines_and_the_service_keeps_serving(
    client: httpx.Client, keys: Keys
) -> None:
    assert _create(client, keys, "term", "scam").status_code == 201
    text = "free bitcoin\nre:(a+)+\\1\nre:((a{100}){100}){100}\n\\#winner\n"
    report = _text(client, keys, "/v1/termlists/scam/entries", text).json()
    assert (report["added"], report["error_count"]) == (2, 2)
    assert [e["line"] for e in report["errors"]] == [2, 3]
    assert "RE2" in report["errors"][0]["reason"]
    exported = client.get("/v1/termlists/scam/entries", headers=Keys.auth(keys.lists))
    assert exported.status_code == 200
    assert exported.text.splitlines() == ["free bitcoin", "\\#winner"]
    removed = client.post(
        "/v1/termlists/scam/entries/remove",
        json={"values": ["FREE  Bitcoin"]},
        headers=Keys.auth(keys.lists),
    ).json()
    assert removed == {"removed": 1}
    assert client.get("/healthz").status_code == 200


def test_csv_and_json_imports_of_a_url_list(client: httpx.Client, keys: Keys) -> None:
    assert _create(client, keys, "url", "phishing").status_code == 201
    csv_text = "domain,note\nexample-bank.com,mail\ncom,\n"
    report = _text(client, keys, "/v1/urllists/phishing/entries", csv_text).json()
    assert (report["added"], [e["line"] for e in report["errors"]]) == (1, [3])
    entries = [
        {"value": "https://Evil.Example/pay", "note": "n"},
        {"value": "no host at all://"},
        {"value": "evil.example", "type": "phrase"},
        {"value": "paypa1.example", "type": "domain"},
    ]
    report = client.post(
        "/v1/urllists/phishing/entries", json=entries, headers=Keys.auth(keys.lists)
    ).json()
    assert report["added"] == 2
    assert [e["line"] for e in report["errors"]] == [2, 3]
    exported = client.get(
        "/v1/urllists/phishing/entries?format=csv", headers=Keys.auth(keys.lists)
    ).text
    assert "evil.example/pay,prefix" in exported
    bad = client.post(
        "/v1/urllists/phishing/entries",
        content=b"[1, 2",
        headers={**Keys.auth(keys.lists), "Content-Type": "application/json"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_json"


def test_lists_need_the_lists_scope(client: httpx.Client, keys: Keys) -> None:
    response = client.get("/v1/termlists", headers=Keys.auth(keys.scan))
    assert response.status_code == 403
