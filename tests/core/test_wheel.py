"""What a user gets from ``pip install mediaguard``: the wheel, not this checkout.

Every other test imports mediaguard from ``src/`` (an editable install), where a file
left out of the package data is still there. Here the wheel is built, checked against
the files git tracks under ``src/mediaguard``, installed into a folder of its own and
run from there: the face model, the migrations and the shipped policy must work from
the installed copy alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from redact.fresh import redact_astronaut

ROOT = Path(__file__).resolve().parents[2]

_RUN_FROM_WHEEL = """
import sys
from pathlib import Path

import mediaguard
from mediaguard.cli import main
from mediaguard.store import Store

source, output, installed, database = sys.argv[1:]
assert Path(mediaguard.__file__).is_relative_to(installed), mediaguard.__file__
with Store.open(f"sqlite:///{database}") as store:
    store.upgrade()
    store.check_current()
sys.exit(main(["redact", source, output]))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("mediaguard-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "src/mediaguard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {path.removeprefix("src/") for path in tracked}
    with zipfile.ZipFile(wheel) as zipped:
        shipped = set(zipped.namelist())
    assert len(expected) > 150
    assert sorted(expected - shipped) == []


def test_the_installed_wheel_redacts_and_migrates_on_its_own(
    wheel: Path, tmp_path: Path, photos
) -> None:
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    database = str(tmp_path / "store.db")
    redact_astronaut(_RUN_FROM_WHEEL, tmp_path, photos, str(target), database, env=env)
