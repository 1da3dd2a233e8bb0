"""The face detector (real photos) and the mask planner (stub detections)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from mediaguard.redaction import FaceDetector, Located, MaskPlanner, faces
from mediaguard.redaction.faces import search_window
from mediaguard.signals.base import Detector
from mediaguard.signals.detectors import registry


@pytest.mark.parametrize(
    ("photo", "face"),
    [
        # Hand-checked face boxes (x1, y1, x2, y2) in the shipped photos.
        pytest.param("astronaut", (181, 58, 269, 177), id="astronaut"),
        pytest.param("grace_hopper", (174, 131, 357, 336), id="grace_hopper"),
        pytest.param("camera", (202, 118, 257, 196), id="camera-photographer"),
    ],
)
def test_finds_the_face_in_real_photos(
    face_detector: FaceDetector,
    photos,
    photo: str,
    face: tuple[int, ...],
) -> None:
    found = face_detector.detect(photos.pixels(photo), threshold=0.5)
    assert len(found) == 1
    box = found.xyxy[0]
    assert np.abs(box - np.asarray(face)).max() < 12
    assert found.scores[0] > 0.8


def test_resize_maps_back_to_the_picture(face_detector: FaceDetector, photos) -> None:
    pixels = photos.pixels("astronaut")
    native = face_detector.detect(pixels, threshold=0.5).xyxy[0]
    enlarged = face_detector.detect(pixels, threshold=0.5, size=1024).xyxy[0]
    assert np.abs(native - enlarged).max() < 12


def test_nothing_on_a_face_free_photo(face_detector: FaceDetector, photos) -> None:
    assert len(face_detector.detect(photos.pixels("coffee"), threshold=0.5)) == 0


def test_never_a_scan_detector() -> None:
    # Faces are detected only to be hidden: the detector is not a registered Detector, so
    # it can never produce a scan category or a verdict field.
    assert not issubclass(FaceDetector, Detector)
    assert all("face" not in name.lower() for name in registry.available())
    assert all(
        "centerface" not in cls.__module__ and cls.__module__ != faces.__name__
        for cls in registry.available().values()
    )
    # The landmark output of the network is never requested.
    assert faces._OUTPUTS == ["537", "538", "539"]


def test_batch_equals_single(face_detector: FaceDetector, photos) -> None:
    pixels = photos.pixels("astronaut")
    single = face_detector.detect(pixels)
    batch = face_detector.detect_batch([pixels, pixels])
    for result in batch:
        np.testing.assert_allclose(result.xyxy, single.xyxy, atol=1e-3)


def test_window_search_finds_the_face(face_detector: FaceDetector, photos) -> None:
    pixels = photos.pixels("astronaut")
    face = face_detector.detect(pixels).xyxy[0]
    located = face_detector.search(
        lambda w, k: pixels[w[1] : w[3] : k, w[0] : w[2] : k], 512, 512, face[None] + 5
    )
    assert np.isfinite(located.boxes[0]).all()
    assert np.abs(located.boxes[0] - face).max() < 4


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((300.0, 200.0, 310.0, 212.0), id="small"),
        pytest.param((0.0, 0.0, 10.0, 10.0), id="corner"),
        pytest.param((600.0, 440.0, 639.0, 479.0), id="far-corner"),
        pytest.param((100.0, 100.0, 400.0, 420.0), id="large"),
    ],
)
@pytest.mark.parametrize("factor", [1, 2])
def test_search_window_is_aligned_and_inside(box: tuple[float, ...], factor: int) -> None:
    x1, y1, x2, y2 = search_window(np.asarray(box, np.float32), 640, 480, factor)
    assert x1 % (32 * factor) == 0
    assert y1 % (32 * factor) == 0
    assert 0 <= x1 < x2 <= 640
    assert 0 <= y1 < y2 <= 480
    assert x1 <= box[0]
    assert y1 <= box[1]
    assert box[2] <= x2
    assert box[3] <= y2


# --- the planner, with stub detections ------------------------------------------------------

FACE = np.asarray([100, 100, 120, 124], np.float32)
NOT_FOUND = np.full((1, 4), np.nan, np.float32)


class Stub:
    """Detections by frame number: ``faces[i]`` is where the face is on frame ``i``."""

    def __init__(self, positions: Sequence[np.ndarray | None], hidden: set[int]) -> None:
        self.positions = positions
        self.hidden = hidden  # frames on which the detector misses the face

    def detect(self, index: int) -> np.ndarray:
        box = self.positions[index]
        return np.zeros((0, 4), np.float32) if box is None or index in self.hidden else box[None]

    def search(self, index: int, predicted: np.ndarray) -> Located:
        box = self.positions[index]
        boxes = np.full((len(predicted), 4), np.nan, np.float32)
        if box is not None and index not in self.hidden:
            boxes[0] = box
        return Located(boxes, np.zeros((0, 4), np.float32))


def _plan(stub: Stub, frames: int, every: int = 4, hold: int = 3) -> list[np.ndarray]:
    planner: MaskPlanner[int] = MaskPlanner(
        stub.detect, stub.search, every=every, hold=hold, lookback=every + 2
    )
    out = []
    for index in range(frames):
        out += planner.push(index)
    out += planner.finish()
    assert [item for item, _ in out] == list(range(frames)), "every frame once, in order"
    return [boxes for _, boxes in out]


def _covers(boxes: np.ndarray, face: np.ndarray) -> bool:
    return bool(
        len(boxes)
        and (
            (boxes[:, 0] <= face[0])
            & (boxes[:, 1] <= face[1])
            & (boxes[:, 2] >= face[2])
            & (boxes[:, 3] >= face[3])
        ).any()
    )


@pytest.mark.parametrize("every", [1, 4])
@pytest.mark.parametrize("missed", [4, 6])  # a whole-search frame (every=4), a followed one
def test_face_missed_on_one_frame_is_still_masked(every: int, missed: int) -> None:
    positions = [FACE + np.float32(i) for i in range(12)]  # drifting 1 px per frame
    boxes = _plan(Stub(positions, hidden={missed}), 12, every=every)
    for index, frame_boxes in enumerate(boxes):
        assert _covers(frame_boxes, positions[index]), index


def test_face_found_late_is_followed_back() -> None:
    # The whole search at frame 0 misses the face; it is found at frame 4 and then
    # followed back through frames 3, 2, 1 (where the window search sees it).
    positions: list[np.ndarray | None] = [FACE + np.float32(2 * i) for i in range(8)]
    boxes = _plan(Stub(positions, hidden={0}), 8, every=4)
    for index in (1, 2, 3):
        assert _covers(boxes[index], positions[index]), index  # type: ignore[arg-type]
    # Frame 0 was missed by every search: the last box found, grown, still covers it.
    assert len(boxes[0])


def test_held_mask_expires() -> None:
    positions: list[np.ndarray | None] = [FACE] * 3 + [None] * 9
    boxes = _plan(Stub(positions, hidden=set()), 12, every=1, hold=3)
    assert all(len(b) for b in boxes[:6])  # found on 0-2, held on 3-5
    assert not any(len(b) for b in boxes[7:])


def test_no_faces_no_masks() -> None:
    boxes = _plan(Stub([None] * 10, hidden=set()), 10)
    assert not any(len(b) for b in boxes)
