"""Fixtures of the redaction suite: the face detector, face photos and face footage.

The face model ships inside mediaguard (package data), so nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mediaguard.redaction import FaceDetector

# The video suite's builders; pytest puts tests/ on sys.path for these test packages.
from video.builders import SUFFIX, VideoSpec, write_video


@pytest.fixture(scope="session")
def face_detector() -> FaceDetector:
    """One CenterFace session for the whole suite (loading it costs about 0.1 s)."""
    return FaceDetector()


MakeFaceVideo = Callable[..., Path]


@pytest.fixture
def face_video(tmp_path: Path, photos) -> MakeFaceVideo:
    """Footage of a real face: a 320 x 240 window panning across the astronaut photo."""
    astronaut = photos.pixels("astronaut")

    def picture(index: int) -> np.ndarray:
        x = min(2 * index, 512 - 320)
        return np.ascontiguousarray(astronaut[20:260, x : x + 320])

    counter = iter(range(1000))

    def make(**options: object) -> Path:
        settings: dict[str, object] = {
            "size": (320, 240),
            "frames": 20,
            "rate": Fraction(10),
            "picture": picture,
        }
        settings.update(options)
        spec = VideoSpec(**settings)  # type: ignore[arg-type]
        path = tmp_path / f"faces{next(counter)}{SUFFIX[spec.fmt]}"
        write_video(spec, path)
        return path

    return make
