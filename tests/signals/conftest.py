"""Fixtures for the ONNX-backed detectors; the models themselves are in onnx_models.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mediaguard.media.types import Frame
from signals.onnx_models import ModelFactory, solid_frame


@pytest.fixture
def models(tmp_path: Path) -> ModelFactory:
    return ModelFactory(tmp_path)


@pytest.fixture
def solid() -> Callable[..., Frame]:
    """Builds one-colour frames; see :func:`solid_frame`."""
    return solid_frame
