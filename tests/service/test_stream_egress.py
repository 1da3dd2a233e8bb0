"""The address guard on every connection a watched stream makes (service/egress.py).

A stream URL's host is checked at submission, but FFmpeg then follows redirects and
reads HLS segments wherever a playlist names them. These tests serve a real HLS
playlist on 127.0.0.1 and treat exactly that address as the public origin; any other
name (``localhost``, also loopback) goes through the real guard with private addresses
refused, so it stands for an internal host. The same playlist watched without the
guard does reach the "internal" host, which is what the guarded runs must prevent.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediaguard.errors import StreamUnavailable
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream
from mediaguard.service.egress import EgressProxy, StreamEgress, guard
from mediaguard.service.webhooks import TargetRefused

pytestmark = pytest.mark.timeout(120)

ORIGIN = "127.0.0.1"
OPTIONS = {"open_timeout_s": 8.0, "read_timeout_s": 4.0, "backoff_s": 0.1, "reconnect_attempts": 1}


def public_origin_only(host: str, port: int) -> list[str]:
    """127.0.0.1 plays the public origin; every other host meets the real guard."""
    if host == ORIGIN:
        return [ORIGIN]
    return guard(allow_private=False)(host, port)


@dataclass
class Seen:
    """What the origin server was asked: (Host header, path, Connection header)."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def hosts(self) -> set[str]:
        return {host.rsplit(":", 1)[0] for host, _, _ in self.requests}

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]


class _Origin(SimpleHTTPRequestHandler):
    seen: Seen

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.seen.requests.append(
            (self.headers.get("Host", ""), self.path, self.headers.get("Connection", ""))
        )
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@dataclass
class Origin:
    port: int
    seen: Seen

    def url(self, path: str, host: str = ORIGIN) -> str:
        return f"http://{host}:{self.port}/{path}"


def _write_vod(folder: Path) -> list[str]:
    """Three one-second H.264 segments and their VOD playlist; the segment names."""
    out = av.open(
        str(folder / "index.m3u8"),
        "w",
        format="hls",
        options={
            "hls_time": "1",
            "hls_playlist_type": "vod",
            "hls_segment_filename": str(folder / "seg%d.ts"),
        },
    )
    stream = out.add_stream("libx264", rate=10, options={"g": "10", "preset": "ultrafast"})
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    rng = np.random.default_rng(0)
    for i in range(30):
        pixels = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
        pixels[:, : 3 * i] = 40
        for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return sorted(p.name for p in folder.glob("seg*.ts"))


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Origin]:
    folder = tmp_path / "www"
    folder.mkdir()
    assert _write_vod(folder) == ["seg0.ts", "seg1.ts", "seg2.ts"]
    seen = Seen()
    handler = type("Handler", (_Origin,), {"seen": seen})
    server = ThreadingHTTPServer((ORIGIN, 0), partial(handler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Origin(server.server_address[1], seen)
    server.shutdown()
    server.server_close()


def _point_segment_at(folder: Path, segment: str, url: str) -> None:
    playlist = folder / "index.m3u8"
    text = playlist.read_text()
    assert f"\n{segment}\n" in text
    playlist.write_text(text.replace(f"\n{segment}\n", f"\n{url}\n"))


def _watch(url: str, egress: StreamEgress | None) -> list[LiveSample]:
    options = LiveOptions(egress=egress, **OPTIONS)  # type: ignore[arg-type]
    with LiveStream(url, options, working_size=64) as stream:
        return [item for item in stream if isinstance(item, LiveSample)]


def _guarded_watch(url: str) -> tuple[list[LiveSample], str | None]:
    """The samples of ``url`` watched through the guard, and its last refusal."""
    egress = StreamEgress(public_origin_only)
    try:
        return _watch(url, egress), egress.refusal()
    finally:
        egress.close()


def test_a_segment_on_a_refused_host_is_never_fetched(origin: Origin, tmp_path: Path) -> None:
    _point_segment_at(tmp_path / "www", "seg1.ts", origin.url("seg1.ts", "localhost"))
    url = origin.url("index.m3u8")

    guarded, refusal = _guarded_watch(url)
    asked = origin.seen.paths()
    assert asked[0] == "/index.m3u8"
    assert "/seg0.ts" in asked
    assert "/seg2.ts" in asked
    assert "/seg1.ts" not in asked
    assert origin.seen.hosts() == {ORIGIN}
    assert refusal is not None
    assert "'localhost'" in refusal
    assert guarded
    assert all(s.time < 1 or s.time >= 2 for s in guarded)
    # Every request reached the origin as one request on its own connection.
    assert {connection for _, _, connection in origin.seen.requests} == {"close"}

    origin.seen.requests.clear()
    unguarded = _watch(url, None)
    assert "localhost" in origin.seen.hosts()  # the hole the guard closes
    assert "/seg1.ts" in origin.seen.paths()
    assert len(unguarded) > len(guarded)


def test_a_redirect_to_a_refused_host_fails_the_stream_and_says_why(origin: Origin) -> None:
    target = origin.url("index.m3u8", host="localhost")
    url = origin.url(f"redirect?to={target}")

    egress = StreamEgress(public_origin_only)
    try:
        with pytest.raises(StreamUnavailable) as failed:
            _watch(url, egress)
    finally:
        egress.close()
    assert "refused: stream host 'localhost'" in str(failed.value)
    assert origin.seen.hosts() == {ORIGIN}
    assert [path for path in origin.seen.paths() if not path.startswith("/redirect")] == []

    origin.seen.requests.clear()
    assert _watch(url, None)  # followed without the guard
    assert "localhost" in origin.seen.hosts()


# ------------------------------------------------------------- the proxy on the wire


def _exchange(proxy: EgressProxy, request: bytes) -> bytes:
    port = int(proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # all said: a tunnel ends when both sides have
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that sends back what it receives."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("localhost", id="name"),
        pytest.param("127.0.0.2", id="loopback"),
        pytest.param("[::1]", id="ipv6-loopback"),
        pytest.param("[::ffff:127.0.0.1]", id="ipv4-mapped"),
        pytest.param("169.254.169.254", id="link-local-metadata"),
        pytest.param("10.0.0.7", id="private"),
        pytest.param("0.0.0.0", id="unspecified"),
    ],
)
def test_the_proxy_refuses_each_private_address_form_with_403(host: str) -> None:
    proxy = EgressProxy(guard(allow_private=False))
    try:
        answer = _exchange(proxy, f"GET http://{host}:8080/x HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        tunnel = _exchange(proxy, f"CONNECT {host}:443 HTTP/1.1\r\n\r\n".encode())
        refusal = proxy.take_refusal()
    finally:
        proxy.close()
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert tunnel.startswith(b"HTTP/1.1 403 ")
    assert b"stream_allow_private" in answer
    assert refusal is not None
    assert "stream host" in refusal


def test_a_connect_tunnel_carries_bytes_both_ways(echo: int) -> None:
    proxy = EgressProxy(guard(allow_private=True))
    try:
        answer = _exchange(proxy, f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\n\r\nhello".encode())
    finally:
        proxy.close()
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\nhello"


def test_a_forwarded_request_is_origin_form_without_the_proxy_headers(echo: int) -> None:
    proxy = EgressProxy(guard(allow_private=True))
    request = (
        f"GET http://127.0.0.1:{echo}/live/index.m3u8?token=1 HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{echo}\r\nProxy-Connection: keep-alive\r\n"
        "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nUser-Agent: Lavf\r\n\r\n"
    )
    try:
        echoed = _exchange(proxy, request.encode())
    finally:
        proxy.close()
    assert (
        echoed
        == (
            f"GET /live/index.m3u8?token=1 HTTP/1.1\r\nHost: 127.0.0.1:{echo}\r\n"
            "User-Agent: Lavf\r\nConnection: close\r\n\r\n"
        ).encode()
    )


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /relative HTTP/1.1\r\n\r\n", b"400", id="not-absolute"),
        pytest.param(b"GET ftp://example.org/ HTTP/1.1\r\n\r\n", b"400", id="not-http"),
        pytest.param(b"NONSENSE\r\n\r\n", b"400", id="no-request-line"),
        pytest.param(b"CONNECT example.org HTTP/1.1\r\n\r\n", b"400", id="connect-no-port"),
        pytest.param(
            b"GET http://a/ HTTP/1.1\r\n" + b"X: " + b"y" * 20_000, b"431", id="huge-head"
        ),
    ],
)
def test_a_malformed_request_gets_a_status_and_the_proxy_keeps_serving(
    request_bytes: bytes, status: bytes, echo: int
) -> None:
    proxy = EgressProxy(guard(allow_private=True))
    try:
        answer = _exchange(proxy, request_bytes)
        after = _exchange(proxy, f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\n\r\nok".encode())
    finally:
        proxy.close()
    assert answer.split(b" ")[1] == status
    assert after.endswith(b"\r\n\r\nok")


def test_closing_the_proxy_cuts_an_open_tunnel(echo: int) -> None:
    proxy = EgressProxy(guard(allow_private=True))
    port = int(proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        proxy.close()
        sock.settimeout(5)
        try:
            rest = sock.recv(100)
        except ConnectionResetError:
            rest = b""
    assert rest == b""


# ------------------------------------------------------------------ rtsp and rtmp


def test_rtsp_and_rtmp_hosts_are_checked_and_pinned_to_the_checked_address() -> None:
    refusing = StreamEgress(guard(allow_private=False))
    allowing = StreamEgress(guard(allow_private=True))
    try:
        with pytest.raises(TargetRefused, match="'localhost'"):
            refusing.route("rtsp://localhost:8554/cam")
        with pytest.raises(TargetRefused, match=r"10\.1\.2\.3"):
            refusing.route("rtmp://10.1.2.3/live/key")
        pinned, options = allowing.route("rtsp://localhost:8554/cam?x=1")
        assert pinned in ("rtsp://127.0.0.1:8554/cam?x=1", "rtsp://[::1]:8554/cam?x=1")
        assert options == {}
        assert allowing.route("rtmp://127.0.0.1/live/key") == ("rtmp://127.0.0.1/live/key", {})
        # TLS needs the name: checked, kept.
        assert allowing.route("rtmps://localhost/live/key")[0] == "rtmps://localhost/live/key"
        url, options = allowing.route("https://localhost/live.m3u8")
        assert url == "https://localhost/live.m3u8"
        assert options["http_proxy"].startswith("http://127.0.0.1:")
        assert "httpproxy" in options["protocol_whitelist"]
        assert "httpproxy" not in allowing.route("http://localhost/x")[1]["protocol_whitelist"]
    finally:
        refusing.close()
        allowing.close()


@pytest.fixture
def tls_origin(origin: Origin, tmp_path: Path) -> Iterator[Origin]:
    """The same folder over https, with a certificate made for the test by openssl."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={ORIGIN}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = type("Handler", (_Origin,), {"seen": origin.seen})
    server = ThreadingHTTPServer((ORIGIN, 0), partial(handler, directory=str(tmp_path / "www")))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Origin(server.server_address[1], origin.seen)
    server.shutdown()
    server.server_close()


def test_https_is_tunnelled_and_guarded_the_same(tls_origin: Origin, tmp_path: Path) -> None:
    refused = tls_origin.url("seg1.ts", "localhost").replace("http://", "https://")
    _point_segment_at(tmp_path / "www", "seg1.ts", refused)
    url = tls_origin.url("index.m3u8").replace("http://", "https://")
    samples, refusal = _guarded_watch(url)
    assert [s.time for s in samples if not s.cut][:1] == [0]
    assert tls_origin.seen.paths() == ["/index.m3u8", "/seg0.ts", "/seg2.ts"]
    assert refusal is not None
    assert "'localhost'" in refusal
