"""What every detector promises the pipeline, checked on every implementation.

The scanner batches frames of any size through ``detect`` and trusts what comes back:
one list per frame in order, categories the policy was checked against at start-up,
scores in 0..1 and boxes inside the upright original. A new detector kind joins
``DETECTORS`` below and inherits every check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mediaguard.media.types import Frame
from mediaguard.signals.base import Detector
from mediaguard.signals.detectors import registry
from mediaguard.signals.protected import protected_term
from signals.onnx_models import ModelFactory

# Benign real photos from the root conftest's ``photos`` fixture, of different shapes.
PHOTOS = ["astronaut", "coffee", "camera"]


def _classifier(tmp_path: Path) -> Detector:
    weights = np.array([[0.0, 4.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 4.0]], np.float32)
    path = ModelFactory(tmp_path).classifier(weights)
    options = {
        "id": "platform",
        "model": path.name,
        "version": "1",
        "licence": "proprietary",
        "input_size": [32, 32],
        "output": "softmax",
        "labels": ["safe", "knife", "gun"],
        "categories": {"knife": "weapon", "gun": "weapon"},
    }
    return registry.create("onnx", options, base_dir=path.parent)


def _yolo(tmp_path: Path) -> Detector:
    # Boxes that poke past every edge of the 64 x 64 input, so clipping is exercised.
    boxes = [(4, 4, 16, 16), (60, 60, 20, 20), (32, 32, 80, 80), (32, 2, 10, 10)]
    scores = np.array([[0.9, 0.0, 0.7, 0.0], [0.0, 0.8, 0.0, 0.6]], np.float32)
    gain = np.full_like(scores, 0.001)
    path = ModelFactory(tmp_path).yolo(boxes, scores, gain=gain)
    options = {
        "id": "platform-boxes",
        "model": path.name,
        "version": "1",
        "licence": "proprietary",
        "input_size": [64, 64],
        "output": "yolo",
        "labels": ["knife", "gun"],
        "categories": {"knife": "weapon", "gun": "weapon"},
    }
    return registry.create("onnx", options, base_dir=path.parent)


def _builtin(name: str) -> Callable[[Path], Detector]:
    def build(tmp_path: Path) -> Detector:
        return registry.create(name, {}, base_dir=tmp_path)

    return build


# Each kind, built as a user's config would build it, and the name its detections carry
# (a built-in's registry name; a platform model's configured id, so two custom models
# stay apart in the verdict).
DETECTORS = [
    pytest.param((_builtin("open_nsfw"), "open_nsfw"), id="open_nsfw"),
    pytest.param(
        (_builtin("nudenet"), "nudenet"),
        id="nudenet",
        marks=pytest.mark.skipif(find_spec("nudenet") is None, reason="nudenet extra absent"),
    ),
    pytest.param((_classifier, "platform"), id="onnx-classifier"),
    pytest.param((_yolo, "platform-boxes"), id="onnx-yolo"),
]


@pytest.fixture(params=DETECTORS)
def built(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Detector, str]:
    build, emits_as = request.param
    return build(tmp_path), emits_as


@pytest.fixture
def detector(built: tuple[Detector, str]) -> Detector:
    return built[0]


def _frame(pixels: np.ndarray, long_side: int, index: int = 0) -> Frame:
    """The frame the media stage hands over: reduced to a working size, with its scale."""
    height, width = pixels.shape[:2]
    ratio = min(1.0, long_side / max(height, width))
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    resized = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
    return Frame(index=index, time=None, pixels=resized, scale=max(height, width) / max(size))


def test_is_registered_under_its_name(detector: Detector) -> None:
    assert registry.available()[type(detector).name] is type(detector)


def test_declares_neutral_categories_and_its_provenance(detector: Detector) -> None:
    assert detector.categories
    for category in detector.categories:
        assert isinstance(category, str)
        assert category
        assert protected_term(category) is None, category
    model = detector.model
    assert model.name
    assert model.version
    assert model.licence
    assert model.package
    if model.path is not None:
        assert model.path.is_file()
        assert len(model.sha256) == 64
    assert detector.input_size > 0


def test_an_empty_batch_gives_an_empty_answer(detector: Detector) -> None:
    assert detector.detect([]) == []


def test_one_answer_per_frame_in_order_with_valid_detections(
    built: tuple[Detector, str], photos: object
) -> None:
    detector, emits_as = built
    originals = [photos.pixels(name) for name in PHOTOS]  # type: ignore[attr-defined]
    frames = [_frame(p, detector.input_size, i) for i, p in enumerate(originals)]

    batched = detector.detect(frames)

    assert len(batched) == len(frames)
    for frame, original, found in zip(frames, originals, batched, strict=True):
        height, width = original.shape[:2]
        for detection in found:
            assert detection.detector == emits_as
            assert detection.category in detector.categories
            assert 0.0 <= detection.score <= 1.0
            assert detection.frame == frame.index
            if detection.box is not None:
                box = detection.box
                # The working size rounds each side to whole pixels, so a box clipped to
                # the working frame may pass the original's edge by up to one working
                # pixel, ``scale`` original pixels.
                slack = math.ceil(frame.scale)
                assert box.x + box.width <= width + slack, (box, width)
                assert box.y + box.height <= height + slack, (box, height)
    # Batching changes nothing: each frame alone gives the same labels and scores.
    for frame, found in zip(frames, batched, strict=True):
        alone = detector.detect([frame])[0]
        assert [(d.label, d.category) for d in alone] == [(d.label, d.category) for d in found]
        assert [d.score for d in alone] == pytest.approx([d.score for d in found], abs=1e-4)


@pytest.mark.parametrize("shape", [(1, 1), (1, 900), (700, 2), (3, 3)])
def test_degenerate_frame_shapes_do_not_break_it(
    built: tuple[Detector, str], shape: tuple[int, int]
) -> None:
    detector, emits_as = built
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    frame = Frame(index=7, time=None, pixels=pixels, scale=1.0)

    (found,) = detector.detect([frame])

    for detection in found:
        assert (detection.detector, detection.frame) == (emits_as, 7)
        assert detection.category in detector.categories
        assert 0.0 <= detection.score <= 1.0
        if detection.box is not None:
            assert detection.box.x + detection.box.width <= shape[1] + 1
            assert detection.box.y + detection.box.height <= shape[0] + 1
