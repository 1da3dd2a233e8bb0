"""One error shape for everything: unknown routes, wrong methods, invalid input."""

from __future__ import annotations

import httpx
import pytest

from mediaguard.service.runtime import ServiceRuntime

from ._support import Keys


def _shape(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        pytest.param("GET", "/nowhere", 404, "not_found", id="unknown-route"),
        pytest.param("GET", "/v1/scan", 405, "method_not_allowed", id="wrong-method"),
        pytest.param("GET", "/v1/jobs/not-a-job-id", 422, "validation_error", id="bad-path"),
        pytest.param("GET", "/v1/jobs?limit=100000", 422, "validation_error", id="bad-query"),
        pytest.param("GET", "/v1/jobs/" + "a" * 32, 404, "not_found", id="missing-job"),
    ],
)
def test_error_envelope(
    client: httpx.Client, keys: Keys, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path, headers=Keys.auth(keys.admin))
    assert response.status_code == status
    assert _shape(response)["code"] == code


def test_invalid_json_body(client: httpx.Client, keys: Keys) -> None:
    response = client.post(
        "/v1/hashlists",
        content=b"{not json",
        headers={**Keys.auth(keys.lists), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert _shape(response)["code"] == "validation_error"


def test_client_request_id_is_echoed(client: httpx.Client) -> None:
    response = client.get("/nowhere", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["error"]["request_id"] == "abc-123"
    hostile = client.get("/nowhere", headers={"X-Request-ID": "a b<script>"})
    assert hostile.headers["x-request-id"] != "a b<script>"


def test_openapi_and_docs(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/scan",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/webhooks",
        "/v1/webhooks/deliveries",
        "/v1/hashlists",
        "/v1/hashlists/{name}",
        "/v1/hashlists/{name}/entries",
        "/v1/lookup",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
    scan = paths["/v1/scan"]["post"]
    assert "multipart/form-data" in scan["requestBody"]["content"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI is served from the installed package: /docs works air-gapped.
    assert "/docs/static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    script = client.get("/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000
    # No endpoint takes a server path to read, and only HMA's three take a URL to fetch
    # (fetched under the webhook guard, see test_hma_api.py).
    fetching = {"/h/hash", "/m/lookup", "/c/bank/{bank_name}/content"}
    for route, item in paths.items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert parameter["name"] not in ("path", "file_path", "source_url")
                if parameter["name"] == "url":
                    assert route in fetching


def test_unexpected_errors_are_500_without_a_traceback(
    client: httpx.Client,
    keys: Keys,
    runtime: ServiceRuntime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(runtime.store.jobs, "list_jobs", broken)
    response = client.get("/v1/jobs", headers=Keys.auth(keys.scan))
    assert response.status_code == 500
    error = _shape(response)
    assert error["code"] == "internal_error"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert any(error["request_id"] in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert client.get("/v1/jobs", headers=Keys.auth(keys.scan)).status_code == 200
