"""Helpers of the service suite: a live server, keys, a webhook receiver, media."""

from __future__ import annotations

import io
import json
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from mediaguard.service.app import create_app
from mediaguard.service.auth import create_key
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.service.webhooks import ATTEMPT_HEADER, EVENT_ID_HEADER
from mediaguard.store.keys import KeyRepository

SECRET = "test-signing-secret-" + secrets.token_hex(16)


def make_settings(url: str, data_dir: Path, **overrides: Any) -> ServiceSettings:
    """Production settings for tests: fast polling, short back-off, loopback receivers."""
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": url,
        "data_dir": data_dir,
        "webhook_signing_secret": SECRET,
        "webhook_allow_private": True,
        "worker_poll_interval": 0.05,
        "webhook_backoff_base_seconds": 0.1,
        "webhook_backoff_max_seconds": 0.3,
        "webhook_timeout_seconds": 5.0,
        "job_lease_seconds": 10.0,
        "rate_limit_per_minute": 0,
        "hashlist_refresh_seconds": 0.5,
    }
    values.update(overrides)
    return ServiceSettings.load(None, **values)


@dataclass
class Keys:
    """Tokens of one key per scope, and a key limited to 2 requests a minute."""

    scan: str
    lists: str
    review: str
    admin: str
    limited: str
    ids: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        """The Authorization header for a token."""
        return {"Authorization": f"Bearer {token}"}


def make_keys(keys: KeyRepository) -> Keys:
    """One fresh key per scope, and one limited to 2 requests a minute."""
    made: dict[str, str] = {}
    ids: dict[str, int] = {}
    for name, scopes, limit in (
        ("scan", ["scan"], None),
        ("lists", ["lists"], None),
        ("review", ["review"], None),
        ("admin", ["admin"], None),
        ("limited", ["scan"], 2),
    ):
        info, token = create_key(keys, scopes, name=name, rate_limit_per_minute=limit)
        made[name] = token
        ids[name] = info.id
    return Keys(**made, ids=ids)


class LiveServer:
    """uvicorn serving an app on a loopback socket, in a thread."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.app = create_app(runtime.settings, runtime=runtime)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)
        value = check()
    return value


def wait_job(client: httpx.Client, token: str, job_id: str, timeout: float = 60.0) -> Any:
    """The job's JSON once it is done or failed."""

    def finished() -> Any:
        body = client.get(f"/v1/jobs/{job_id}", headers=Keys.auth(token)).json()
        return body if body["state"] in ("done", "failed") else None

    return wait_for(finished, timeout=timeout)


@dataclass
class Received:
    """One request a receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        """The event id header, the same on every attempt of one event."""
        return self.headers[EVENT_ID_HEADER.lower()]

    @property
    def attempt(self) -> str:
        """The delivery attempt header: 1, 2, …"""
        return self.headers[ATTEMPT_HEADER.lower()]


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers from scripts.

    Each request takes the next answer from its path's entry in :attr:`scripts`, else
    from :attr:`statuses`, else :attr:`default_status`. An answer is a status code or
    ``"hold"``: keep the request open until :attr:`release` is set (a slow receiver, so a
    delivery stays in flight as long as a test needs), then answer 200.
    """

    def __init__(self) -> None:
        self.requests: queue.Queue[Received] = queue.Queue()
        self.seen: list[Received] = []
        self.scripts: dict[str, list[int | str]] = {}
        self.statuses: list[int | str] = []
        self.default_status = 200
        self.location: str | None = None
        self.release = threading.Event()
        outer = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with lock:
                    outer.seen.append(got)
                    script = outer.scripts.get(self.path) or outer.statuses
                    action = script.pop(0) if script else outer.default_status
                outer.requests.put(got)
                if action == "hold":
                    outer.release.wait(60)
                    action = 200
                status = int(action)
                try:
                    self.send_response(status)
                    if outer.location and 300 <= status < 400:
                        self.send_header("Location", outer.location)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender died while this request was held
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def get(self, timeout: float = 60.0) -> Received:
        """The next request received."""
        return self.requests.get(timeout=timeout)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def event_of(received: Received) -> dict[str, Any]:
    """The JSON event a receiver got."""
    data: dict[str, Any] = json.loads(received.body)
    return data


def tiny_mp4(pixels: np.ndarray, frames: int = 6) -> bytes:
    """A short real MPEG-4 video made from a photo (pans over it), written with PyAV."""
    img = Image.fromarray(pixels).convert("RGB").resize((96, 96))
    base = np.asarray(img)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width = 64
        stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            crop = np.ascontiguousarray(base[i * 4 : i * 4 + 64, i * 4 : i * 4 + 64])
            frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def wait_gone(path: Path, timeout: float = 10.0) -> bool:
    """Whether ``path`` disappears within ``timeout``: workers discard spooled media just
    after they commit a job's result, so a test that saw the result may be a moment early."""
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()
