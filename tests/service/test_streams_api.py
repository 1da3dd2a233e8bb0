"""``/v1/streams`` on a live service: the address guard, a watched stream's alert
webhook, its events and its end, on SQLite and PostgreSQL.

The streams are real HLS broadcasts on 127.0.0.1 (``tests/live``), so the end-to-end tests
set ``stream_allow_private = true``; the guard is tested with it off.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from live.listing import list_broadcast_photo
from live.servers import Broadcaster, FolderServer, free_port, hls_broadcast
from live.servers import wait_for as wait_path
from mediaguard.review.intake import preview_path
from mediaguard.service.auth import create_key
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.streams import StreamWorker, submit_stream
from mediaguard.service.webhooks import SIGNATURE_HEADER, verify_signature

from ._support import SECRET, Keys, Receiver, event_of, wait_for


@pytest.mark.parametrize("settings_overrides", [pytest.param({}, id="private-refused")])
@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8080/live.m3u8", id="loopback"),
        pytest.param("http://127.1/live.m3u8", id="loopback-short"),
        pytest.param("http://2130706433/live.m3u8", id="loopback-decimal"),
        pytest.param("http://0x7f000001/live.m3u8", id="loopback-hex"),
        pytest.param("http://localhost/live.m3u8", id="localhost"),
        pytest.param("http://10.1.2.3/live.m3u8", id="rfc1918-10"),
        pytest.param("http://172.16.0.9/live.m3u8", id="rfc1918-172"),
        pytest.param("http://192.168.1.5/live.m3u8", id="rfc1918-192"),
        pytest.param("http://100.64.0.1/live.m3u8", id="carrier-nat"),
        pytest.param("http://169.254.169.254/latest/meta-data", id="link-local-metadata"),
        pytest.param("http://[::1]/live.m3u8", id="ipv6-loopback"),
        pytest.param("http://[::ffff:127.0.0.1]/live.m3u8", id="ipv4-mapped"),
        pytest.param("http://[fd00::1]/live.m3u8", id="ipv6-unique-local"),
        pytest.param("http://[fe80::1]/live.m3u8", id="ipv6-link-local"),
        pytest.param("http://0.0.0.0/live.m3u8", id="unspecified"),
        pytest.param("rtmp://10.0.0.7/live/key", id="rtmp-private"),
        pytest.param("rtsp://192.168.0.20:8554/cam", id="rtsp-private"),
        pytest.param("file:///etc/passwd", id="file-scheme"),
        pytest.param("concat:http://example.com/a.ts|b.ts", id="concat"),
        pytest.param("http://user:pw@example.com/live.m3u8", id="credentials"),
    ],
)
def test_stream_urls_on_refused_addresses_are_400(
    client: httpx.Client, keys: Keys, url: str
) -> None:
    response = client.post("/v1/streams", json={"url": url}, headers=Keys.auth(keys.scan))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "stream_target_refused"
    # The service keeps serving.
    assert client.get("/v1/streams", headers=Keys.auth(keys.scan)).json() == []


def test_bad_stream_bodies_are_4xx_json(client: httpx.Client, keys: Keys) -> None:
    auth = Keys.auth(keys.scan)
    assert client.post("/v1/streams", json={}, headers=auth).status_code == 422
    bad_rate = client.post(
        "/v1/streams", json={"url": "https://example.com/x.m3u8", "rate": "0"}, headers=auth
    )
    assert bad_rate.status_code == 400, bad_rate.text
    assert client.get("/v1/streams/" + "0" * 32, headers=auth).status_code == 404
    assert client.post("/v1/streams", json={"url": "x"}).status_code == 401


def _list_photo(runtime: ServiceRuntime, photo: str, action: str = "block") -> None:
    list_broadcast_photo(runtime.store, photo, action)
    assert runtime.matcher is not None
    runtime.matcher.mark_stale()


PRIVATE_STREAMS: dict[str, Any] = {"stream_allow_private": True, "stream_workers": 1}


@pytest.mark.parametrize("settings_overrides", [pytest.param(PRIVATE_STREAMS, id="streams")])
def test_a_listed_frame_mid_stream_sends_a_signed_alert_and_the_stream_ends(
    client: httpx.Client,
    keys: Keys,
    runtime: ServiceRuntime,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    _list_photo(runtime, "astronaut")
    with hls_broadcast(tmp_path / "hls", "chelsea:3,astronaut:2,coffee:2") as (server, caster):
        auth = Keys.auth(keys.scan)
        created = client.post(
            "/v1/streams",
            json={"url": server.url("index.m3u8"), "callback_url": receiver.url + "/cb"},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        stream_id = created.json()["id"]
        alert = receiver.get(timeout=30)
        body = event_of(alert)
        assert body["type"] == "stream.alert"
        assert verify_signature(SECRET, alert.headers[SIGNATURE_HEADER.lower()], alert.body)
        assert body["data"]["stream_id"] == stream_id
        event = body["data"]["event"]
        assert event["decision"] == "block"
        assert event["reasons"][0]["code"] == "list_block"
        assert event["time"] == "3/1"
        ended = event_of(receiver.get(timeout=30))
        assert ended["type"] == "stream.ended"
        final = wait_for(
            lambda: (
                (r := client.get(f"/v1/streams/{stream_id}", headers=auth).json())["state"]
                == "ended"
                and r
            )
        )
        assert final["attempts"] == 1
        events = client.get(f"/v1/streams/{stream_id}/events", headers=auth).json()
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "started"
        assert "alert" in kinds
        assert kinds[-1] == "ended"
        later = client.get(
            f"/v1/streams/{stream_id}/events", params={"after": events[0]["id"]}, headers=auth
        ).json()
        assert [e["kind"] for e in later] == kinds[1:]
        assert caster.wait() == 0


@pytest.mark.parametrize(
    "settings_overrides",
    [pytest.param({**PRIVATE_STREAMS, "stream_workers": 1}, id="streams")],
)
def test_a_stream_that_never_starts_fails_with_a_stream_failed_webhook(
    client: httpx.Client, keys: Keys, receiver: Receiver
) -> None:
    auth = Keys.auth(keys.scan)
    url = f"http://127.0.0.1:{free_port()}/live.m3u8"
    created = client.post(
        "/v1/streams", json={"url": url, "callback_url": receiver.url + "/cb"}, headers=auth
    )
    stream_id = created.json()["id"]
    failed = event_of(receiver.get(timeout=30))
    assert failed["type"] == "stream.failed"
    assert failed["data"]["event"]["error"].startswith("StreamUnavailable")
    final = wait_for(
        lambda: (
            (r := client.get(f"/v1/streams/{stream_id}", headers=auth).json())["state"] == "failed"
            and r
        )
    )
    assert final["error"].startswith("StreamUnavailable")


@pytest.mark.parametrize(
    "settings_overrides",
    [pytest.param({**PRIVATE_STREAMS, "stream_workers": 0, "job_lease_seconds": 3.0}, id="x")],
)
def test_a_killed_workers_stream_is_taken_over_within_the_lease(
    runtime: ServiceRuntime, settings: Any, tmp_path: Path
) -> None:

    folder = tmp_path / "hls"
    folder.mkdir()
    server = FolderServer(folder)
    caster = Broadcaster("hls", "coffee:30", out=folder)
    env = {
        **os.environ,
        "MEDIAGUARD_DATABASE_URL": settings.resolved_database_url(),
        "MEDIAGUARD_DATA_DIR": str(tmp_path / "worker-data"),
        "MEDIAGUARD_ENVIRONMENT": "production",
        "MEDIAGUARD_WEBHOOK_SIGNING_SECRET": SECRET,
        "MEDIAGUARD_STREAM_ALLOW_PRIVATE": "true",
        "MEDIAGUARD_STREAM_WORKERS": "1",
        "MEDIAGUARD_JOB_LEASE_SECONDS": "3",
        "MEDIAGUARD_WORKER_POLL_INTERVAL": "0.1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from mediaguard.cli import run; run()", "worker", "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()
    taker: threading.Thread | None = None
    try:
        wait_path(folder / "index.m3u8")
        streams = runtime.store.streams
        info = submit_stream(
            runtime,
            api_key_id=_key_id(runtime),
            url=server.url("index.m3u8"),
            callback_url=None,
            rate="1",
        )
        # Worker A (the process) claims the stream and starts watching.
        wait_for(lambda: [e for e in streams.events(info.id) if e.kind == "started"], timeout=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed = time.monotonic()
        before = len(streams.events(info.id))
        b = StreamWorker(runtime)
        taker = threading.Thread(target=b.run, args=(stop,), daemon=True)
        taker.start()
        taken = wait_for(
            lambda: (s := streams.get_stream(info.id)).attempts == 2 and s.lease_owner == b.owner,
            timeout=30,
        )
        assert taken
        # Taken over within the lease (3 s) plus the idle poll and a renewal period.
        assert time.monotonic() - killed < 3 + 0.5 + 1.5
        wait_for(
            lambda: len([e for e in streams.events(info.id) if e.kind == "started"]) == 2,
            timeout=30,
        )
        assert len(streams.events(info.id)) > before
        streams.request_stop(info.id)
        final = wait_for(
            lambda: (s := streams.get_stream(info.id)).state == "stopped" and s, timeout=30
        )
        assert final.attempts == 2
    finally:
        stop.set()
        if worker.poll() is None:
            worker.kill()
        if taker is not None:
            taker.join(15)
        caster.close()
        server.close()


def _key_id(runtime: ServiceRuntime) -> int:
    info, _token = create_key(runtime.store.keys, ["scan"], name="streams")
    return info.id


@pytest.mark.parametrize("settings_overrides", [pytest.param(PRIVATE_STREAMS, id="streams")])
def test_a_review_alert_queues_the_frame_and_a_reviewers_remove_sends_stream_action(
    client: httpx.Client,
    keys: Keys,
    runtime: ServiceRuntime,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    _list_photo(runtime, "rocket", action="review")
    with hls_broadcast(tmp_path / "hls", "camera:2,rocket:3,coffee:12") as (server, _):
        auth = Keys.auth(keys.scan)
        created = client.post(
            "/v1/streams",
            json={"url": server.url("index.m3u8"), "callback_url": receiver.url + "/cb"},
            headers=auth,
        )
        stream_id = created.json()["id"]
        alert = event_of(receiver.get(timeout=30))
        assert alert["type"] == "stream.alert"
        assert alert["data"]["event"]["decision"] == "review"
        streams = runtime.store.streams
        linked = wait_for(lambda: streams.unannounced_items(stream_id), timeout=15)
        item_id, at = linked[0]
        assert at == alert["data"]["event"]["time_s"]
        item = runtime.store.review.get_item(item_id)
        assert item.state == "open"
        assert item.has_preview
        # The triggering frame's preview is stored shielded (and clear, for a reviewer's
        # deliberate reveal), as for any queued item.
        assert preview_path(runtime.data_dir, item_id, "shielded").is_file()
        assert item.verdict["decision"] == "review"
        assert item.verdict["reasons"][0]["code"] == "list_review"
        reviewer = runtime.store.reviewers.create_reviewer("alice", "a-long-enough-password-1")
        runtime.store.review.decide(
            item_id, reviewer, action="remove", reason_code="sexual_content"
        )
        action = event_of(receiver.get(timeout=30))
        assert action["type"] == "stream.action"
        assert action["data"]["action"] == "remove"
        assert action["data"]["item_id"] == item_id
        assert action["data"]["stream_id"] == stream_id
        assert streams.unannounced_items(stream_id) == []
        client.delete(f"/v1/streams/{stream_id}", headers=auth)
        wait_for(
            lambda: (
                client.get(f"/v1/streams/{stream_id}", headers=auth).json()["state"] == "stopped"
            )
        )
