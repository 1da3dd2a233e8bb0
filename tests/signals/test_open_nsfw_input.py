"""open_nsfw's input: the cheaper order of preprocess gives the trained pipeline's scores."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mediaguard import media
from mediaguard.media.limits import Limits
from mediaguard.signals.detectors.sexual import OpenNSFW, preprocess

PHOTOS = ["astronaut", "camera", "coffee", "chelsea", "rocket", "grace_hopper"]


def trained_pipeline(pixels: np.ndarray) -> np.ndarray:
    """open_nsfw's input as the network was trained on it, step by step: squash to 256²,
    JPEG round trip of the whole square, centre crop 224², BGR minus the Caffe means."""
    resized = Image.fromarray(pixels).resize((256, 256), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    resized.save(buffer, format="JPEG")
    buffer.seek(0)
    with Image.open(buffer) as reloaded:
        decoded = np.asarray(reloaded.convert("RGB"), dtype=np.float32)
    cropped = decoded[16:240, 16:240, ::-1]
    return cropped - np.array([104.0, 117.0, 123.0], dtype=np.float32)


@pytest.fixture(scope="module")
def detector() -> OpenNSFW:
    return OpenNSFW()


@pytest.mark.parametrize("name", PHOTOS)
def test_scores_match_the_trained_pipeline(detector: OpenNSFW, photos: Any, name: str) -> None:
    frame = media.load(photos.file(name), Limits(), 512).frames[0]
    session, input_name = detector._session, detector._input
    reference = session.run(None, {input_name: trained_pipeline(frame.pixels)[None]})[0][0, 1]
    fast = preprocess(frame)
    assert fast.shape == (224, 224, 3)
    assert fast.dtype == np.float32
    score = detector.detect([frame])[0][0].score
    assert abs(score - float(reference)) <= 0.01
