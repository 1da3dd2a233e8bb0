"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import httpx
import pytest

from mediaguard.service.runtime import ServiceRuntime

from ._support import Keys, wait_job


def test_readyz_reports_each_check(client: httpx.Client, runtime: ServiceRuntime) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "models": "ok"},
    }
    runtime.store.downgrade("0001")
    try:
        stale = client.get("/readyz")
        assert stale.status_code == 503
        assert stale.json()["error"]["code"] == "not_ready"
        assert "db upgrade" in stale.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200
    finally:
        runtime.store.upgrade()


def test_metrics(client: httpx.Client, keys: Keys, photos) -> None:
    client.post("/v1/scan", content=photos.file("rocket"), headers=Keys.auth(keys.scan))
    client.post("/v1/scan", content=b"nope" * 10, headers=Keys.auth(keys.scan))
    job = client.post("/v1/jobs", content=photos.file("coffee"), headers=Keys.auth(keys.scan))
    wait_job(client, keys.scan, job.json()["id"])
    client.get(f"/v1/jobs/{'f' * 32}", headers=Keys.auth(keys.scan))
    text = client.get("/metrics").text
    assert 'mediaguard_http_requests_total{method="POST",route="/v1/scan",status="200"} 1.0' in text
    assert 'route="/v1/scan",status="415"' in text
    # Route templates, not raw paths, keep label cardinality bounded.
    assert 'route="/v1/jobs/{job_id}",status="404"' in text
    assert "f" * 32 not in text
    assert "mediaguard_http_request_duration_seconds_bucket" in text
    assert 'mediaguard_jobs{state="done"} 1.0' in text
    assert 'mediaguard_jobs{state="queued"} 0.0' in text
    assert 'mediaguard_verdicts_total{decision="allow",via="sync"}' in text
    assert 'via="job"' in text
    assert 'mediaguard_scan_failures_total{error="UnsupportedMedia",via="sync"}' not in text


@pytest.mark.parametrize(
    "settings_overrides", [pytest.param({"metrics_require_auth": True}, id="auth")]
)
def test_metrics_can_require_an_admin_key(client: httpx.Client, keys: Keys) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=Keys.auth(keys.scan)).status_code == 403
    assert client.get("/metrics", headers=Keys.auth(keys.admin)).status_code == 200
