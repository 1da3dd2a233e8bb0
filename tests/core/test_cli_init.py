"""`mediaguard init` and `mediaguard samples` write into the data directory, not the
working directory, and the settings file holding the signing secret is private."""

from __future__ import annotations

import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from mediaguard.cli import EXIT_OK, EXIT_USAGE, main

_ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> object:
    """A umask that would leave a plainly created file readable by everyone."""
    previous = os.umask(0o000)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_init_writes_private_settings_in_the_data_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--allow-private-webhooks"]) == EXIT_OK
    path = Path(capsys.readouterr().out.strip())
    assert path == Path(os.environ["MEDIAGUARD_DATA_DIR"]) / "mediaguard.toml"
    assert _mode(path) == 0o600
    assert not (tmp_path / "mediaguard.toml").exists()
    values = tomllib.loads(path.read_text(encoding="utf-8"))
    assert len(values["webhook_signing_secret"]) >= 40
    assert values["webhook_allow_private"] is True
    # No temporary file is left next to it.
    assert sorted(p.name for p in path.parent.iterdir()) == ["mediaguard.toml"]


def test_the_written_settings_load_as_production_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_module = pytest.importorskip("mediaguard.service.settings")
    path = tmp_path / "s.toml"
    assert main(["init", "-o", str(path)]) == EXIT_OK
    settings = settings_module.ServiceSettings.load(path)
    assert settings.environment == "production"
    assert settings.webhook_allow_private is False
    assert len(settings.webhook_signing_secret.get_secret_value()) >= 40


def test_init_keeps_an_existing_file_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    assert main(["init", "-o", str(path)]) == EXIT_OK
    first = path.read_text(encoding="utf-8")
    assert main(["init", "-o", str(path)]) == EXIT_USAGE
    assert "exists; pass --force" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == first
    path.chmod(0o644)
    assert main(["init", "-o", str(path), "--force"]) == EXIT_OK
    assert path.read_text(encoding="utf-8") != first
    assert _mode(path) == 0o600


def test_samples_default_to_the_data_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["samples"]) == EXIT_OK
    folder = Path(capsys.readouterr().out.strip())
    assert folder == Path(os.environ["MEDIAGUARD_DATA_DIR"]) / "samples"
    assert (folder / "grace_hopper.jpg").is_file()
    assert not (tmp_path / "samples").exists()


@pytest.mark.parametrize("name", ["mediaguard.toml", "samples/astronaut.png"])
def test_quick_start_leftovers_are_ignored_by_git(name: str) -> None:
    if not (_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "-C", str(_ROOT), "check-ignore", "-q", name], check=False, timeout=30
    )
    assert done.returncode == 0, f"{name} is not ignored"
