"""Every command's ``--help`` renders, and what it names exists.

Help text passes through rich markup, which silently drops anything that looks like a
tag, such as the ``[ray]`` of ``pip install 'mediaguard[ray]'``; and help is written by
hand, so it can promise a command that was never written. The whole command tree is
walked, so a new command is checked without being listed here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer.main
from typer.testing import CliRunner

from mediaguard.cli import app

_ROOT = Path(__file__).resolve().parents[2]
_EXTRA = re.compile(r"mediaguard\[([a-z0-9_,-]+)\]")
_COMMAND = re.compile(r"\bmediaguard ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")
_BORDERS = str.maketrans("│╭╮╰╯─", "      ")


def _subcommands(command: click.Command) -> dict[str, click.Command]:
    """A group's sub-commands (Typer's groups are not ``click.Group`` subclasses)."""
    commands: dict[str, click.Command] = getattr(command, "commands", {})
    return commands


def _tree(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in _subcommands(command).items():
        yield from _tree(sub, (*path, name))


_ROOT_COMMAND = typer.main.get_command(app)
_PATHS = list(_tree(_ROOT_COMMAND))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


def _flat(text: str) -> str:
    """The help with panel borders and rich's wrapping undone."""
    return " ".join(text.translate(_BORDERS).split())


def _extras() -> set[str]:
    project = tomllib.loads((_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(project["project"]["optional-dependencies"])


def _command(path: tuple[str, ...]) -> click.Command | None:
    command: click.Command | None = _ROOT_COMMAND
    for name in path:
        command = _subcommands(command).get(name) if command is not None else None
    return command


def test_the_tree_is_walked() -> None:
    # Groups and their sub-commands are both reached.
    assert ("scan",) in _PATHS
    assert ("hashlist", "import") in _PATHS
    assert ("db", "current") in _PATHS
    assert len(_PATHS) > 25


@pytest.mark.parametrize("path", _PATHS, ids=lambda p: " ".join(p) or "mediaguard")
def test_help_names_only_real_extras_and_commands(path: tuple[str, ...]) -> None:
    text = _flat(_help(path))
    assert "'mediaguard'" not in text  # an extra eaten by markup leaves exactly this
    for names in _EXTRA.findall(text):
        for extra in names.split(","):
            assert extra in _extras(), f"{' '.join(path)} --help names mediaguard[{extra}]"
    for first, second in _COMMAND.findall(text):
        group = _command((first,))
        assert group is not None, f"{' '.join(path)} --help names `mediaguard {first}`"
        if _subcommands(group) and second:
            assert _command((first, second)) is not None, (
                f"{' '.join(path)} --help names `mediaguard {first} {second}`"
            )


def test_extras_in_brackets_survive_markup() -> None:
    assert "pip install 'mediaguard[ray]'" in _flat(_help(("scan",)))
    assert "pip install 'mediaguard[ray]'" in _flat(_help(("worker",)))
    assert "pip install 'mediaguard[nudenet]'" in _flat(_help(("redact",)))


def test_scan_help_says_it_scans_video() -> None:
    assert "Scan images and videos" in _flat(_help(("scan",)))


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        (("scan",), "0123"),
        (("watch",), "0123"),
        (("redact",), "0124"),
        (("hashlist", "import"), "023"),
    ],
)
def test_each_exit_code_stays_on_one_line(path: tuple[str, ...], codes: str) -> None:
    lines = [line.strip() for line in _help(path).splitlines()]
    start = lines.index("Exit codes:")
    block = lines[start + 1 : start + 1 + len(codes)]
    assert [line[:1] for line in block] == list(codes)
    # Nothing of a code's meaning spills onto a line of its own.
    assert lines[start + 1 + len(codes)] == ""


def test_db_help_promises_only_its_subcommands() -> None:
    text = _flat(_help(("db",)))
    named = set(re.findall(r"`db ([a-z]+)`", text))
    assert named == {"upgrade", "current", "prune"}
    assert named == set(_subcommands(_subcommands(_ROOT_COMMAND)["db"]))
