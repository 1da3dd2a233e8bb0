"""Show the hostile corpus's outcome distribution at the end of the run."""

from __future__ import annotations

import pytest

#: Filled by the corpus test: section title -> lines to show in the summary.
REPORT: dict[str, list[str]] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in REPORT.items():
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)
