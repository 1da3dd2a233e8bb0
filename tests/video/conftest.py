"""Fixtures of the video suite: footage written with PyAV into each test's folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .builders import SUFFIX, VideoSpec, write_video

MakeVideo = Callable[..., Path]


@pytest.fixture
def make_video(tmp_path: Path) -> MakeVideo:
    """Write a video described by :class:`VideoSpec` keyword arguments; return its path."""
    counter = iter(range(10_000))

    def make(**options: object) -> Path:
        spec = VideoSpec(**options)  # type: ignore[arg-type]
        path = tmp_path / f"video{next(counter)}{SUFFIX[spec.fmt]}"
        write_video(spec, path)
        return path

    return make
