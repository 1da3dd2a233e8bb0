"""API keys: hashed at rest, required everywhere but health and metrics, scoped, limited."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from mediaguard.service.auth import authenticate, new_token, token_sha256
from mediaguard.service.errors import ApiError
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store import resolve_url

from ._support import Keys

ROUTES = [
    pytest.param("POST", "/v1/scan", id="scan"),
    pytest.param("POST", "/v1/jobs", id="jobs-create"),
    pytest.param("GET", "/v1/jobs", id="jobs-list"),
    pytest.param("GET", "/v1/jobs/" + "0" * 32, id="job-get"),
    pytest.param("GET", "/v1/hashlists", id="lists"),
    pytest.param("POST", "/v1/lookup", id="lookup"),
    pytest.param("GET", "/v1/webhooks", id="webhooks"),
    pytest.param("GET", "/v1/webhooks/deliveries", id="deliveries"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_needs_a_key(
    client: httpx.Client, keys: Keys, method: str, path: str
) -> None:
    missing = client.request(method, path)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.request(method, path, headers=Keys.auth(keys.scan[:-4] + "AAAA"))
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    garbage = client.request(method, path, headers={"Authorization": "Bearer nope"})
    assert garbage.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("key", "method", "path", "allowed"),
    [
        pytest.param("lists", "POST", "/v1/scan", False, id="lists-cannot-scan"),
        pytest.param("review", "POST", "/v1/scan", False, id="review-cannot-scan"),
        pytest.param("scan", "GET", "/v1/hashlists", False, id="scan-cannot-read-lists"),
        pytest.param("scan", "POST", "/v1/lookup", False, id="scan-cannot-lookup"),
        pytest.param("review", "GET", "/v1/jobs", False, id="review-cannot-list-jobs"),
        pytest.param("review", "GET", "/v1/webhooks", False, id="review-no-webhooks"),
        pytest.param("lists", "GET", "/v1/hashlists", True, id="lists-reads-lists"),
        pytest.param("admin", "GET", "/v1/hashlists", True, id="admin-reads-lists"),
        pytest.param("admin", "GET", "/v1/jobs", True, id="admin-lists-jobs"),
    ],
)
def test_scopes_are_enforced(
    client: httpx.Client, keys: Keys, key: str, method: str, path: str, allowed: bool
) -> None:
    token = getattr(keys, key)
    body = {"signal_type": "md5", "value": "0" * 32} if path == "/v1/lookup" else None
    response = client.request(method, path, headers=Keys.auth(token), json=body)
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "insufficient_scope"


def test_revoked_key_is_refused_at_once(
    client: httpx.Client, keys: Keys, runtime: ServiceRuntime
) -> None:
    assert client.get("/v1/jobs", headers=Keys.auth(keys.scan)).status_code == 200
    key_id = keys.scan.split("_")[1]
    runtime.store.keys.revoke_key(key_id)
    response = client.get("/v1/jobs", headers=Keys.auth(keys.scan))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_rate_limit_answers_429_with_retry_after(client: httpx.Client, keys: Keys) -> None:
    statuses = [
        client.get("/v1/jobs", headers=Keys.auth(keys.limited)).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    response = client.get("/v1/jobs", headers=Keys.auth(keys.limited))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 30
    # Other keys are not affected.
    assert client.get("/v1/jobs", headers=Keys.auth(keys.scan)).status_code == 200


def test_keys_are_stored_hashed(runtime: ServiceRuntime, keys: Keys, migrated_url: str) -> None:
    engine = create_engine(resolve_url(migrated_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key_id, secret_sha256 FROM api_keys")).all()
    finally:
        engine.dispose()
    stored = dict(rows)
    for token in (keys.scan, keys.admin):
        key_id = token.split("_")[1]
        assert stored[key_id] == token_sha256(token)
        assert all(token not in str(value) for row in rows for value in row)


def test_token_format() -> None:
    key_id, token = new_token()
    prefix, middle, secret = token.split("_", 2)
    assert (prefix, middle) == ("mg", key_id)
    assert len(key_id) == 12
    assert len(secret) == 43


def test_authenticate_refuses_unknown_key_ids(runtime: ServiceRuntime) -> None:
    _, token = new_token()
    with pytest.raises(ApiError) as refused:
        authenticate(runtime.store.keys, token)
    assert refused.value.status == 401


def test_health_and_metrics_need_no_key(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
