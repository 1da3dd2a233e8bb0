"""Asynchronous jobs over HTTP: batches, video, idempotency, visibility."""

from __future__ import annotations

import httpx
import pytest

from mediaguard.service.runtime import ServiceRuntime

from ._support import Keys, tiny_mp4, wait_gone, wait_job

BATCH = ("grace_hopper", "astronaut", "coffee", "rocket")


def _submit(
    client: httpx.Client, token: str, files: list[tuple[str, bytes]], **headers: str
) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files=[("files", (name, data)) for name, data in files],
        headers={**Keys.auth(token), **headers},
    )


def test_batch_job_completes_with_one_result_per_file(
    client: httpx.Client, keys: Keys, photos, runtime: ServiceRuntime
) -> None:
    files = [(f"{n}.img", photos.file(n)) for n in BATCH]
    files.append(("junk.bin", photos.file("chelsea")[:200]))  # truncated: a scan failure
    response = _submit(client, keys.scan, files)
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["state"] in ("queued", "running")
    assert job["kind"] == "batch"
    assert job["item_count"] == 5
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    done = wait_job(client, keys.scan, job["id"])
    assert done["state"] == "done"
    assert done["attempts"] == 1
    assert done["progress"] == 5
    assert [r["source"] for r in done["results"]] == [name for name, _ in files]
    assert all("decision" in r for r in done["results"][:4])
    assert done["results"][4]["error"] in ("CorruptMedia", "UnsupportedMedia")
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    # The media is gone from the spool once the job finished (keep_media = false).
    assert wait_gone(runtime.spool.job_dir(job["id"]))


def test_single_raw_body_job(client: httpx.Client, keys: Keys, photos) -> None:
    response = client.post(
        "/v1/jobs",
        params={"name": "one.jpg"},
        content=photos.file("grace_hopper"),
        headers=Keys.auth(keys.scan),
    )
    assert response.status_code == 201
    done = wait_job(client, keys.scan, response.json()["id"])
    assert done["kind"] == "single"
    assert done["state"] == "done"
    assert done["results"][0]["source"] == "one.jpg"


def test_video_job_never_crashes(client: httpx.Client, keys: Keys, photos) -> None:
    video = tiny_mp4(photos.pixels("astronaut"))
    response = _submit(client, keys.scan, [("clip.mp4", video)])
    assert response.status_code == 201, response.text
    assert response.json()["inputs"][0]["media_type"] == "video/mp4"
    done = wait_job(client, keys.scan, response.json()["id"])
    if done["state"] == "failed":
        # Until the scanner accepts video it refuses it with a typed error, which the
        # job reports; the worker does not crash or retry.
        assert done["error"]["code"] == "unsupported_media"
        assert "video" in done["error"]["message"]
        assert done["attempts"] == 1
        assert done["results"][0]["error"] == "UnsupportedMedia"
    else:
        assert done["state"] == "done"
        assert done["results"][0]["media"]["kind"] == "video"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        pytest.param(b"", 400, "empty_upload", id="empty"),
        pytest.param(b"<html><body>hi</body></html>", 415, "unsupported_media", id="html"),
    ],
)
def test_bad_files_are_refused_at_submission(
    client: httpx.Client,
    keys: Keys,
    photos,
    runtime: ServiceRuntime,
    data: bytes,
    status: int,
    code: str,
) -> None:
    response = _submit(client, keys.scan, [("ok.jpg", photos.file("rocket")), ("bad", data)])
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert runtime.store.jobs.list_jobs(None) == []
    assert list(runtime.spool.incoming.iterdir()) == []


def test_idempotency_key(client: httpx.Client, keys: Keys, photos) -> None:
    files = [("a.jpg", photos.file("grace_hopper")), ("b.png", photos.file("coffee"))]
    first = _submit(client, keys.scan, files, **{"Idempotency-Key": "order-17"})
    again = _submit(client, keys.scan, files, **{"Idempotency-Key": "order-17"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other = _submit(client, keys.scan, files[:1], **{"Idempotency-Key": "order-17"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    # The same key from another API key is another client's key: a new job.
    theirs = _submit(client, keys.admin, files, **{"Idempotency-Key": "order-17"})
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]
    done = wait_job(client, keys.scan, first.json()["id"])
    assert len(done["results"]) == 2


def test_jobs_are_private_to_their_key(client: httpx.Client, keys: Keys, photos) -> None:
    job = _submit(client, keys.scan, [("a.jpg", photos.file("rocket"))]).json()
    assert client.get(f"/v1/jobs/{job['id']}", headers=Keys.auth(keys.limited)).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}", headers=Keys.auth(keys.admin)).status_code == 200
    mine = client.get("/v1/jobs", headers=Keys.auth(keys.scan)).json()
    assert [j["id"] for j in mine] == [job["id"]]
    assert client.get("/v1/jobs", headers=Keys.auth(keys.limited)).json() == []


def test_too_many_files(client: httpx.Client, keys: Keys, photos, runtime: ServiceRuntime) -> None:
    limit = runtime.settings.max_job_files
    files = [(f"{i}.jpg", photos.file("rocket")) for i in range(limit + 1)]
    response = _submit(client, keys.scan, files)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_files"
    assert list(runtime.spool.incoming.iterdir()) == []


def test_callback_url_to_private_address_is_refused_by_default(
    client: httpx.Client, keys: Keys, photos, runtime: ServiceRuntime
) -> None:
    object.__setattr__(runtime.settings, "webhook_allow_private", False)
    try:
        response = client.post(
            "/v1/jobs",
            params={"callback_url": "http://127.0.0.1:9/hook"},
            content=photos.file("rocket"),
            headers=Keys.auth(keys.scan),
        )
    finally:
        object.__setattr__(runtime.settings, "webhook_allow_private", True)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_target_refused"
