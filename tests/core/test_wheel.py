"""What a user gets from ``pip install mediaguard``: the wheel, not this checkout.

Every other test imports mediaguard from ``src/`` (an editable install), where a file
left out of the package data is still there. Here the wheel is built, checked against
the files git tracks under ``src/mediaguard``, installed into a folder of its own and
run from there: the face model, the migrations and the shipped policy must work from
the installed copy alone.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from importlib.metadata import packages_distributions
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


def test_every_package_mediaguard_imports_is_declared_by_the_wheel(wheel: Path) -> None:
    # A package that only arrives as another's dependency (starlette through fastapi,
    # say) can leave with that package's next release; what src imports by name must
    # be named in the wheel's own requirements, in the core set or in an extra.
    with zipfile.ZipFile(wheel) as zipped:
        (metadata,) = [n for n in zipped.namelist() if n.endswith(".dist-info/METADATA")]
        text = zipped.read(metadata).decode()
    requirements = [
        line.removeprefix("Requires-Dist:").strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    declared = {_normal(re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0]) for r in requirements}
    providers = packages_distributions()
    undeclared = {}
    for path in (ROOT / "src" / "mediaguard").rglob("*.py"):
        for module in _imported(path):
            dists = {_normal(d) for d in providers.get(module, [module])}
            if not dists & declared:
                undeclared.setdefault(module, path.relative_to(ROOT).as_posix())
    assert undeclared == {}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported(path: Path) -> set[str]:
    """Top-level names of the third-party modules ``path`` imports, lazily or not."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in _OWN}


_OWN = {"mediaguard", "__future__"}
