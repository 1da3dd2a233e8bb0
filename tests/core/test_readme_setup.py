"""The README's set-up reaches everything the README then shows.

A new user follows the README, not the Makefile: so the one set-up it gives (``make
demo``) must install every extra the later sections rely on, the README must say how to
get ``mediaguard`` on PATH, and every command and extra it names must exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import typer.main

from mediaguard.cli import app

_ROOT = Path(__file__).resolve().parents[2]
_README = (_ROOT / "README.md").read_text(encoding="utf-8")
_PROJECT = tomllib.loads((_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_EXTRAS = set(_PROJECT["project"]["optional-dependencies"])


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", _README, flags=re.DOTALL)
    return [line.split("#", 1)[0] for block in blocks for line in block.splitlines()]


def _demo_commands() -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        ["make", "-n", "-B", "demo"],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_demo_installs_every_extra_the_readme_uses_by_default() -> None:
    commands = _demo_commands()
    installed = re.search(r"pip install --quiet -e '\.\[([a-z,]+)\]'", commands)
    assert installed is not None, commands
    # The service and its review queue; redaction needs no extra.
    assert set(installed.group(1).split(",")) == {"service", "samples"}
    assert "mediaguard hashlist create demo-review" in commands
    assert "mediaguard scan build/samples" in commands


def test_readme_says_how_to_get_mediaguard_on_path() -> None:
    assert ". .venv/bin/activate" in _README


def test_readme_names_only_real_extras() -> None:
    named = {
        e for group in re.findall(r"mediaguard\[([a-z,]+)\]", _README) for e in group.split(",")
    }
    assert {"service", "ray", "nudenet"} <= named
    assert named <= _EXTRAS


def test_readme_shell_commands_exist() -> None:
    root = typer.main.get_command(app)
    groups: dict[str, object] = getattr(root, "commands", {})
    seen = 0
    for line in _shell_lines():
        for first, second in re.findall(r"\bmediaguard ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", line):
            assert first in groups, line
            subcommands: dict[str, object] = getattr(groups[first], "commands", {})
            if subcommands:
                assert second in subcommands, line
            seen += 1
    assert seen > 20
