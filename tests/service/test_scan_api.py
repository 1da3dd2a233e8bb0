"""``POST /v1/scan`` with real photos, and every way an upload can be wrong.

After each refused upload the same server scans a real photo again, to show that bad
input costs the caller a 4xx and the service nothing.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

from ._support import Keys, LiveServer


def _scan_ok(client: httpx.Client, keys: Keys, photo: bytes) -> dict[str, object]:
    response = client.post("/v1/scan", content=photo, headers=Keys.auth(keys.scan))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize(
    "name", [pytest.param(n, id=n) for n in ("grace_hopper", "astronaut", "rocket")]
)
def test_real_photos_get_a_verdict(client: httpx.Client, keys: Keys, photos, name: str) -> None:
    data = photos.file(name)
    response = client.post(
        "/v1/scan", files={"file": (f"{name}.jpg", data)}, headers=Keys.auth(keys.scan)
    )
    assert response.status_code == 200, response.text
    verdict = response.json()
    assert verdict["source"] == f"{name}.jpg"
    assert verdict["decision"] in ("allow", "review", "block")
    assert verdict["media"]["kind"] == "image"
    assert verdict["hashes"]["sha256"]
    assert verdict["models"]
    assert response.headers["x-request-id"]


def test_raw_body_and_name(client: httpx.Client, keys: Keys, photos) -> None:
    response = client.post(
        "/v1/scan",
        params={"name": "upload-42"},
        content=photos.file("coffee"),
        headers={**Keys.auth(keys.scan), "Content-Type": "image/png"},
    )
    assert response.status_code == 200
    assert response.json()["source"] == "upload-42"
    assert response.json()["media"]["format"] == "png"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b"", 400, "empty_upload", id="empty"),
        pytest.param(b"hello, this is not an image\n" * 20, 415, "unsupported_media", id="text"),
        pytest.param(b"\x00" * 5000, 415, "unsupported_media", id="zeros"),
        pytest.param(b"%PDF-1.7\n" + b"x" * 100, 415, "unsupported_media", id="pdf"),
    ],
)
def test_bad_uploads_are_refused_and_the_api_keeps_serving(
    client: httpx.Client, keys: Keys, photos, body: bytes, status: int, code: str
) -> None:
    response = client.post("/v1/scan", content=body, headers=Keys.auth(keys.scan))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    _scan_ok(client, keys, photos.file("grace_hopper"))


def test_truncated_jpeg_is_corrupt(client: httpx.Client, keys: Keys, photos) -> None:
    data = photos.file("grace_hopper")
    response = client.post("/v1/scan", content=data[: len(data) // 3], headers=Keys.auth(keys.scan))
    assert response.status_code in (415, 422), response.text
    assert response.json()["error"]["code"] in ("corrupt_media", "unsupported_media")
    _scan_ok(client, keys, data)


def test_multipart_without_file_part(client: httpx.Client, keys: Keys, photos) -> None:
    response = client.post(
        "/v1/scan", files={"image": ("a.jpg", photos.file("rocket"))}, headers=Keys.auth(keys.scan)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unexpected_field"
    response = client.post(
        "/v1/scan",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        headers={**Keys.auth(keys.scan), "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_multipart"
    _scan_ok(client, keys, photos.file("rocket"))


def test_declared_content_length_over_the_limit_is_refused_before_reading(
    live: LiveServer, keys: Keys, photos
) -> None:
    limit = live.runtime.settings.max_scan_bytes
    # A raw socket lets the test claim a huge body and send none of it: the 413 must
    # come back without the server waiting for (or reading) the body.
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/scan HTTP/1.1\r\nHost: t\r\n"
            + f"Authorization: Bearer {keys.scan}\r\n".encode()
            + f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert "payload_too_large" in head


class _Counter:
    def __init__(self) -> None:
        self.chunks = 0


def test_streamed_oversized_upload_is_refused_early(live: LiveServer, keys: Keys) -> None:
    limit = live.runtime.settings.max_scan_bytes
    chunk = b"\xff\xd8\xff" + b"\x00" * (1024 * 1024 - 3)
    total_chunks = limit // len(chunk) * 4
    counter = _Counter()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(total_chunks):
            counter.chunks += 1
            yield chunk

    async def run() -> httpx.Response:
        # In-process ASGI: the app pulls each chunk when it reads, so the count is exact.
        transport = httpx.ASGITransport(app=live.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post("/v1/scan", content=body(), headers=Keys.auth(keys.scan))

    response = anyio.run(run)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    # It stopped right past the limit: about a quarter of what the client had to send.
    assert counter.chunks <= limit // len(chunk) + 2
    assert counter.chunks < total_chunks


def test_streamed_oversized_multipart_over_http(
    client: httpx.Client, live: LiveServer, keys: Keys, photos
) -> None:
    limit = live.runtime.settings.max_scan_bytes

    def parts() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        for _ in range(limit // (1 << 20) + 8):
            yield b"\xff" * (1 << 20)
        yield b"\r\n--b--\r\n"

    response = client.post(
        "/v1/scan",
        content=parts(),
        headers={**Keys.auth(keys.scan), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_scans_run_concurrently(client: httpx.Client, keys: Keys, photos) -> None:
    data = photos.file("astronaut")
    results: list[int] = []

    async def many() -> None:
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=60) as http:

            async def one() -> None:
                response = await http.post("/v1/scan", content=data, headers=Keys.auth(keys.scan))
                results.append(response.status_code)

            async with anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(one)

    anyio.run(many)
    assert results == [200] * 8
