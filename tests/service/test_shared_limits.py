"""Rate limits and log-in throttling hold across two ``serve`` processes on one store.

Each process alone would allow a key its whole limit (and an account its whole failure
budget); the budget lives in the database, so the two together allow it once.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediaguard.service.auth import create_key
from mediaguard.store import Store

from ._support import SECRET

pytestmark = pytest.mark.slow

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
PASSWORD = "a-long-enough-password-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(url: str, data_dir: Path, settings_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    settings = settings_dir / f"settings-{port}.toml"
    settings.write_text(
        f'database_url = "{url}"\ndata_dir = "{data_dir}"\n'
        f'webhook_signing_secret = "{SECRET}"\nport = {port}\nworkers = 0\n'
        'log_level = "warning"\nrate_limit_per_minute = 0\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGUARD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "mediaguard.commands.service", "serve", "--settings", str(settings)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.2)


@pytest.fixture
def servers(migrated_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two ``serve`` processes on one migrated store and one data directory."""
    started = [_serve(migrated_url, tmp_path / "data", tmp_path) for _ in range(2)]
    try:
        for process, base in started:
            _wait_ready(process, base)
        yield [base for _, base in started]
    finally:
        for process, _ in started:
            process.send_signal(signal.SIGTERM)
        for process, _ in started:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def test_a_keys_rate_limit_is_shared_by_two_server_processes(
    migrated_url: str, servers: list[str]
) -> None:
    limit = 4  # one request's share refills in 15 s, far longer than this test's requests
    with Store.open(migrated_url) as store:
        _, token = create_key(store.keys, ["scan"], name="shared", rate_limit_per_minute=limit)
    auth = {"Authorization": f"Bearer {token}"}
    statuses = [
        httpx.get(f"{servers[i % 2]}/v1/jobs", headers=auth, timeout=30).status_code
        for i in range(2 * limit)
    ]
    assert statuses.count(200) == limit, statuses
    assert statuses[:limit] == [200] * limit
    refused = httpx.get(f"{servers[1]}/v1/jobs", headers=auth, timeout=30)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 15


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    form = client.get("/review/login")
    assert form.status_code == 200
    token = _LOGIN_TOKEN.search(form.text)
    assert token is not None
    fields = {"username": username, "password": password, "login_token": token.group(1)}
    return client.post("/review/login", data=fields)


def test_failed_log_ins_are_counted_across_two_server_processes(
    migrated_url: str, servers: list[str]
) -> None:
    with Store.open(migrated_url) as store:
        store.reviewers.create_reviewer("alice", PASSWORD)
    clients = [httpx.Client(base_url=base, timeout=30) for base in servers]
    try:
        # Five failures (the per-account budget), split three and two between the two.
        for attempt in range(5):
            assert _login(clients[attempt % 2], "alice", "wrong password!").status_code == 401
        for client in clients:
            refused = _login(client, "alice", PASSWORD)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) > 0
    finally:
        for client in clients:
            client.close()
