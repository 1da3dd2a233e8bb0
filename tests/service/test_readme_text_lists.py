"""The README's term-list and URL-list walk-through, run as written.

Its code blocks are read from README.md and run in order in a fresh folder: the Python
that builds ``poster.jpg`` (a real photo, a real segno QR code, DejaVu text), the shell
commands (run by bash, with this interpreter's ``mediaguard`` on PATH), the library
snippet, and the ``curl`` to ``POST /v1/scan`` against a live service opened
with the README's scan configuration. What the README says the output is, is checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mediaguard.service.runtime import ServiceRuntime

from ._support import LiveServer, make_keys, make_settings

_ROOT = Path(__file__).resolve().parents[2]


def _blocks() -> list[tuple[str, str]]:
    readme = (_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Text and QR codes", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```(python|sh)\n(.*?)```", section, flags=re.DOTALL)


def _run_shell(line: str, env: dict[str, str]) -> str:
    """One README shell line, run by bash with this interpreter's ``mediaguard`` on PATH."""
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # 1: something was flagged, which is what the walk-through shows.
    assert done.returncode in (0, 1), f"{line}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


def test_the_readme_finds_the_term_and_the_qr_url(
    tmp_path: Path,
    migrated_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("rapidocr")
    monkeypatch.chdir(tmp_path)
    # The CLI and the service share one database, as they do by default in the README.
    monkeypatch.setenv("MEDIAGUARD_DATABASE_URL", migrated_url)
    blocks = _blocks()
    assert [kind for kind, _ in blocks] == ["python", "sh", "python", "sh"]
    (_, poster), (_, commands), (_, library), (_, service) = blocks

    exec(compile(poster, "README poster", "exec"), {})
    assert (tmp_path / "poster.jpg").is_file()

    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    printed = ""
    for line in commands.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            printed = _run_shell(line, env)
    expected = [json.loads(line[2:]) for line in commands.splitlines() if line.startswith('# "')]
    messages = [json.loads(line) for line in printed.splitlines()]
    assert expected
    assert set(expected) <= set(messages)

    out = io.StringIO()
    names: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(library, "README library", "exec"), names)
    names["scanner"].matcher.store.close()  # the snippet's store, opened from its config
    said = [line.lstrip("# ") for line in library.splitlines() if line.startswith("# ")]
    assert set(said) <= set(out.getvalue().splitlines()), out.getvalue()

    serve, curl = [line for line in service.splitlines() if line.strip()]
    assert serve.startswith("MEDIAGUARD_SCAN_CONFIG=$PWD/text.toml mediaguard serve")
    settings = make_settings(
        migrated_url, tmp_path / "service-data", scan_config=tmp_path / "text.toml"
    )
    runtime = ServiceRuntime.open(settings)
    server = LiveServer(runtime)
    server.start()
    try:
        key = make_keys(runtime.store.keys).scan
        command = curl.replace("http://127.0.0.1:8080", server.base_url)
        done = subprocess.run(
            ["bash", "-c", command],
            env={"KEY": key, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
    finally:
        server.stop()
        runtime.close()
    assert sorted(json.loads(line) for line in done.stdout.split()) == ["phishing", "scam"]
