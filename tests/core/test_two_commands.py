"""The README's two commands are the ones CI runs, and the test one needs nothing else.

CI calls ``.ci/run``; if it did its own set-up, a user following the README would run
a different, smaller suite than CI. So ``.ci/run`` may only call ``make test``, and the
``test`` target must start the services itself and forbid skipping for a missing one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(script: str) -> list[str]:
    """Shell lines that do something: no comments, blanks, shebang or shell options."""
    lines = [line.strip() for line in script.splitlines()]
    return [
        line for line in lines if line and not line.startswith("#") and not line.startswith("set ")
    ]


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the Quick start has no code block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]


def test_the_readme_gives_two_commands_a_demo_and_the_tests() -> None:
    commands = [c for c in _quick_start() if c.startswith("make ")]

    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    assert _commands(script) == ['cd "$(dirname "$0")/.."', "exec make test"]


def _recipe(target: str) -> list[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.MULTILINE)
    assert match is not None, f"no {target} target"
    return [line.strip() for line in match.group(1).splitlines()]


def test_make_test_starts_the_services_and_forbids_skipping() -> None:
    (runs_tests,) = [line for line in _recipe("test") if "pytest" in line]
    assert shlex.split(runs_tests)[:2] == ["bash", "tools/with-services.sh"]

    wrapper = (ROOT / "tools" / "with-services.sh").read_text(encoding="utf-8")
    assert "bash .ci/postgres.sh" in wrapper
    assert "apt-get install -y -qq --no-install-recommends chromium" in wrapper
    assert "export MEDIAGUARD_REQUIRE_SERVICES=1 MEDIAGUARD_REQUIRE_BROWSER=1" in wrapper
    assert _commands(wrapper)[-1] == '"$@"'
