"""Shared readers for the text and code tests: models load once per session."""

from __future__ import annotations

import pytest

from mediaguard.signals.codes import CodeReader
from mediaguard.signals.text import TextReader


@pytest.fixture(scope="session")
def text_reader() -> TextReader:
    return TextReader()


@pytest.fixture(scope="session")
def code_reader() -> CodeReader:
    return CodeReader()
