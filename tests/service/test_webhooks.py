"""Webhooks: signed, retried with back-off, logged, idempotent, and kept off private networks.

The receiver is a real HTTP server on 127.0.0.1, so these tests set
``webhook_allow_private = true`` (the documented setting for on-prem receivers); the
refusal of private targets is tested with it off.
"""

from __future__ import annotations

import ipaddress
import socket
import time

import httpx
import pytest

from mediaguard.service import webhooks
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TargetRefused,
    check_target,
    enqueue_event,
    sign,
    verify_signature,
)
from mediaguard.store.service_types import NewEvent

from ._support import SECRET, Keys, LiveServer, Receiver, event_of, wait_for, wait_job


def _register(client: httpx.Client, token: str, url: str, events: list[str]) -> dict[str, object]:
    response = client.post(
        "/v1/webhooks", json={"url": url, "events": events}, headers=Keys.auth(token)
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_job_events_are_signed_retried_and_logged(
    client: httpx.Client, keys: Keys, photos, receiver: Receiver
) -> None:
    endpoint = _register(client, keys.scan, receiver.url + "/hook", ["job.completed"])
    secret = str(endpoint["secret"])
    assert secret.startswith("whsec_")
    receiver.statuses = [500]  # the first attempt fails, the retry succeeds
    job = client.post(
        "/v1/jobs",
        files=[("files", ("a.jpg", photos.file("grace_hopper")))],
        headers=Keys.auth(keys.scan),
    ).json()
    first, second = receiver.get(), receiver.get()
    for received in (first, second):
        assert received.path == "/hook"
        assert verify_signature(secret, received.headers[SIGNATURE_HEADER.lower()], received.body)
        assert not verify_signature(
            SECRET, received.headers[SIGNATURE_HEADER.lower()], received.body
        )
    # The retry is the same event: same id, same body; a receiver deduplicates on the id.
    assert first.headers[EVENT_ID_HEADER.lower()] == second.headers[EVENT_ID_HEADER.lower()]
    assert first.body == second.body
    assert (
        first.headers["mediaguard-delivery-attempt"],
        second.headers["mediaguard-delivery-attempt"],
    ) == ("1", "2")
    event = event_of(second)
    assert event["type"] == "job.completed"
    assert event["id"] == second.headers[EVENT_ID_HEADER.lower()]
    assert event["data"]["job"]["id"] == job["id"]
    assert event["data"]["job"]["state"] == "done"
    assert len(event["data"]["job"]["results"]) == 1

    def delivered() -> list[dict[str, object]]:
        found = client.get(
            "/v1/webhooks/deliveries",
            params={"event_id": event["id"]},
            headers=Keys.auth(keys.scan),
        ).json()
        return found if found and found[0]["state"] == "delivered" else []

    delivery = wait_for(delivered)[0]
    assert delivery["attempts"] == 2
    assert [a["status_code"] for a in delivery["log"]] == [500, 200]
    assert delivery["log"][0]["error"] == "receiver answered 500"
    time.sleep(0.5)
    assert receiver.requests.empty()  # delivered once it succeeded, not again


def test_callback_url_is_signed_with_the_server_secret(
    client: httpx.Client, keys: Keys, photos, receiver: Receiver
) -> None:
    job = client.post(
        "/v1/jobs",
        params={"callback_url": receiver.url + "/job-done"},
        content=b"definitely not media but sniffable? no",
        headers=Keys.auth(keys.scan),
    )
    assert job.status_code == 415  # refused at submission: no event for a job never made
    job = client.post(
        "/v1/jobs",
        params={"callback_url": receiver.url + "/job-done"},
        content=photos.file("rocket"),
        headers=Keys.auth(keys.scan),
    ).json()
    received = receiver.get()
    assert received.path == "/job-done"
    assert verify_signature(SECRET, received.headers[SIGNATURE_HEADER.lower()], received.body)
    assert event_of(received)["data"]["job"]["id"] == job["id"]
    assert wait_job(client, keys.scan, job["id"])["state"] == "done"


def test_failed_job_event(client: httpx.Client, keys: Keys, photos, receiver: Receiver) -> None:
    _register(client, keys.scan, receiver.url, ["job.failed"])
    data = photos.file("grace_hopper")
    response = client.post("/v1/jobs", content=data[: len(data) // 2], headers=Keys.auth(keys.scan))
    assert response.status_code == 201
    event = event_of(receiver.get())
    assert event["type"] == "job.failed"
    assert event["data"]["job"]["error"]["code"] in ("corrupt_media", "unsupported_media")


def test_redirects_are_not_followed(
    client: httpx.Client, keys: Keys, runtime: ServiceRuntime, receiver: Receiver
) -> None:
    receiver.default_status = 302
    receiver.location = "http://169.254.169.254/latest/meta-data/"
    _register(client, keys.lists, receiver.url, ["hashlist.retro_match"])
    event_id = enqueue_event(runtime.store, "hashlist.retro_match", {"list": "x", "matches": []})
    runtime.events_waiting.set()
    received = receiver.get()
    assert received.headers[EVENT_ID_HEADER.lower()] == event_id

    def attempted() -> list[dict[str, object]]:
        found = client.get(
            "/v1/webhooks/deliveries", params={"event_id": event_id}, headers=Keys.auth(keys.lists)
        ).json()
        return found if found and found[0]["log"] else []

    log = wait_for(attempted)[0]["log"]
    assert log[0]["status_code"] == 302
    assert "redirects are not followed" in log[0]["error"]


@pytest.mark.parametrize("settings_overrides", [pytest.param({"webhook_max_attempts": 3}, id="3")])
def test_attempts_are_bounded(
    live: LiveServer, runtime: ServiceRuntime, receiver: Receiver
) -> None:
    receiver.default_status = 503
    event = runtime.store.webhooks.enqueue_event(
        NewEvent("hashlist.retro_match", {"list": "x"}, urls=(receiver.url,))
    )
    runtime.events_waiting.set()
    limit = runtime.settings.webhook_max_attempts

    def exhausted() -> list[object]:
        found = runtime.store.webhooks.deliveries(None, event_id=event.id)
        return found if found and found[0].state == "failed" else []

    delivery = wait_for(exhausted, timeout=60)[0]
    assert delivery.attempts == limit
    assert len(delivery.log) == limit
    assert receiver.requests.qsize() == limit


def test_enqueue_event_works_outside_a_request(
    client: httpx.Client, keys: Keys, runtime: ServiceRuntime, receiver: Receiver
) -> None:
    endpoint = _register(client, keys.lists, receiver.url, ["hashlist.retro_match"])
    event_id = enqueue_event(runtime.store, "hashlist.retro_match", {"list": "a", "matches": []})
    received = receiver.get()
    assert received.headers[EVENT_ID_HEADER.lower()] == event_id
    assert verify_signature(
        str(endpoint["secret"]), received.headers[SIGNATURE_HEADER.lower()], received.body
    )


def test_retro_match_subscription_needs_the_lists_scope(
    client: httpx.Client, keys: Keys, receiver: Receiver
) -> None:
    response = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["hashlist.retro_match"]},
        headers=Keys.auth(keys.scan),
    )
    assert response.status_code == 403


def test_endpoint_listing_and_removal(client: httpx.Client, keys: Keys, receiver: Receiver) -> None:
    endpoint = _register(client, keys.scan, receiver.url, ["job.completed", "job.failed"])
    listed = client.get("/v1/webhooks", headers=Keys.auth(keys.scan)).json()
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    assert client.get("/v1/webhooks", headers=Keys.auth(keys.lists)).json() == []
    other = client.delete(f"/v1/webhooks/{endpoint['id']}", headers=Keys.auth(keys.limited))
    assert other.status_code == 404
    gone = client.delete(f"/v1/webhooks/{endpoint['id']}", headers=Keys.auth(keys.scan))
    assert gone.status_code == 204
    assert client.get("/v1/webhooks", headers=Keys.auth(keys.scan)).json() == []


@pytest.mark.parametrize(
    "settings_overrides", [pytest.param({"webhook_allow_private": False}, id="private-refused")]
)
@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8080/hook", id="loopback"),
        pytest.param("http://localhost/hook", id="localhost"),
        pytest.param("http://10.1.2.3/hook", id="rfc1918"),
        pytest.param("http://169.254.169.254/latest/meta-data", id="link-local-metadata"),
        pytest.param("http://[::1]/hook", id="ipv6-loopback"),
        pytest.param("http://[::ffff:127.0.0.1]/hook", id="ipv4-mapped"),
        pytest.param("http://0.0.0.0/hook", id="unspecified"),
        pytest.param("ftp://example.com/hook", id="scheme"),
        pytest.param("http://user:pw@example.com/hook", id="credentials"),
    ],
)
def test_private_targets_are_refused(client: httpx.Client, keys: Keys, url: str) -> None:
    response = client.post(
        "/v1/webhooks", json={"url": url, "events": ["job.completed"]}, headers=Keys.auth(keys.scan)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "webhook_target_refused"


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # A host resolving to a public and a private address is refused: an attacker's DNS
    # could otherwise hand out the private one at connect time.
    def fake(host: str, port: int, type: int = 0) -> list[tuple[object, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.5", port)),
        ]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake)
    with pytest.raises(TargetRefused, match=r"192\.168\.1\.5"):
        check_target("https://mixed.example/hook", allow_private=False)
    assert check_target("https://mixed.example/hook", allow_private=True)


def test_connect_time_guard_refuses_rebinding(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def fake(host: str, port: int, type: int = 0) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in next(answers)]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake)
    check_target("http://rebind.example/", allow_private=False)  # first answer: public
    backend = webhooks.GuardedBackend(allow_private=False)
    with pytest.raises(TargetRefused):
        backend.connect_tcp("rebind.example", 80)  # second answer: loopback


def test_signature_helpers() -> None:
    body = b'{"id":"evt_1"}'
    now = 1_700_000_000
    header = f"t={now},v1={sign('s3cret-s3cret-s3cret', now, body)}"
    assert verify_signature("s3cret-s3cret-s3cret", header, body, now=now + 10)
    assert not verify_signature("s3cret-s3cret-s3cret", header, body + b" ", now=now)
    assert not verify_signature("s3cret-s3cret-s3cret", header, body, now=now + 3600)
    assert not verify_signature("s3cret-s3cret-s3cret", "garbage", body, now=now)


def test_global_addresses_are_allowed() -> None:
    assert webhooks._address_allowed(ipaddress.ip_address("93.184.216.34"), False)
    assert not webhooks._address_allowed(ipaddress.ip_address("100.64.0.1"), False)
