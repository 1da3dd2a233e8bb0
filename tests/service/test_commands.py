"""``mediaguard keys``, ``db``, ``serve`` and ``worker`` through the command functions.

They run in-process through :func:`mediaguard.commands.service.main`, the runner that
the main CLI's registration mirrors.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mediaguard.commands.service import main
from mediaguard.scanner import Scanner
from mediaguard.service.auth import authenticate
from mediaguard.service.errors import ApiError
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store import SchemaError, Store

from ._support import SECRET, make_settings


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_db_upgrade_and_current(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Store.open(database_url) as store:
        head = store.head_revision()
    versions = Path(__file__).parents[2] / "src/mediaguard/store/migrations/versions"
    assert head == max(p.name[:4] for p in versions.glob("0*.py"))  # the newest file
    assert main(["db", "current", "--database", database_url]) == 1
    assert f"expected: {head}" in _flat(capsys.readouterr().out)
    assert main(["db", "upgrade", "--database", database_url]) == 0
    assert f"-> {head}" in _flat(capsys.readouterr().err)
    assert main(["db", "current", "--database", database_url]) == 0
    assert "up to date" in _flat(capsys.readouterr().out)


def test_keys_create_ls_revoke(migrated_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["keys", "create", "--scopes", "scan,lists", "--name", "ci", "--rate-limit", "120/min",
         "--database", migrated_url]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token.startswith("mg_")
    assert "shown only now" in _flat(captured.err)
    with Store.open(migrated_url) as store:
        principal = authenticate(store.keys, token)
    assert principal.key.scopes == {"scan", "lists"}
    assert principal.key.rate_limit_per_minute == 120
    key_id = token.split("_")[1]
    assert main(["keys", "ls", "--database", migrated_url]) == 0
    listed = _flat(capsys.readouterr().out)
    assert key_id in listed
    assert token not in listed
    assert main(["keys", "revoke", key_id, "--database", migrated_url]) == 0
    with Store.open(migrated_url) as store, pytest.raises(ApiError):
        authenticate(store.keys, token)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--scopes", "scan,root"], "root", id="unknown-scope"),
        pytest.param(["--scopes", "scan", "--rate-limit", "fast"], "rate-limit", id="bad-rate"),
    ],
)
def test_keys_create_refuses_bad_options(
    migrated_url: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["keys", "create", *args, "--database", migrated_url]) == 2
    assert message in _flat(capsys.readouterr().err)


def _settings_file(tmp_path: Path, url: str, secret: str = SECRET) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'database_url = "{url}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'webhook_signing_secret = "{secret}"\n'
    )
    return path


def test_serve_refuses_a_stale_schema(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings_file(tmp_path, database_url)
    assert main(["serve", "--settings", str(settings)]) == 2
    assert "mediaguard db upgrade" in _flat(capsys.readouterr().err)
    assert main(["worker", "--settings", str(settings)]) == 2


def test_serve_refuses_placeholder_secrets(
    migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings_file(tmp_path, migrated_url, secret="changeme")
    assert main(["serve", "--settings", str(settings)]) == 2
    assert "webhook_signing_secret" in _flat(capsys.readouterr().err)


def test_runtime_refuses_a_stale_schema(
    database_url: str, tmp_path: Path, base_scanner: Scanner
) -> None:
    with pytest.raises(SchemaError, match="db upgrade"):
        ServiceRuntime.open(make_settings(database_url, tmp_path / "d"), scanner=base_scanner)


@pytest.mark.slow
def test_serve_starts_and_stops(migrated_url: str, tmp_path: Path) -> None:
    port = _free_port()
    settings = _settings_file(tmp_path, migrated_url)
    with settings.open("a") as extra:
        extra.write(f'port = {port}\nlog_level = "warning"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGUARD_")}
    command = [sys.executable, "-m", "mediaguard.commands.service", "serve"]
    process = subprocess.Popen(
        [*command, "--settings", str(settings)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert ready.json()["status"] == "ready"
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(60) in (0, -signal.SIGTERM)
        if process.stdout is not None:
            process.stdout.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
