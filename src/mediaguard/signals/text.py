"""Text in images (OCR): PP-OCRv6 detection and recognition on mediaguard's own sessions.

Design note: only the weights come from the ``rapidocr`` package (its wheel bundles
PP-OCRv6 det/rec small and the PP-OCR text-direction classifier, Apache-2.0). mediaguard
locates the ``.onnx`` files without importing rapidocr, opens them with
:mod:`mediaguard.signals.runtime` (one thread setting per process, no spinning) and runs
the steps itself on the frame the media stage already decoded, so an image is decoded
once, at the working size, never again from its path. The steps follow PaddleOCR's:

* detection: the frame, BGR, scaled to (-1, 1) and padded (not resized) to a multiple of
  32, gives a text-probability map; its connected regions become rotated rectangles,
  grown by PaddleOCR's "unclip" (for a rectangle that is every side pushed out by
  ``area * 1.6 / perimeter``, computed here exactly without a polygon library);
* recognition: each rectangle is straightened to a crop 48 pixels high; crops are sorted
  by width and recognised in batches (CTC over the character list stored in the model's
  metadata);
* optionally the classifier turns crops that are upside down.

OpenCV (from the ``text`` extra) finds the regions and straightens the crops; the core
never imports it. Lines come out in reading order (top to bottom, then left to right
within a line) with their confidence and box in the coordinates of the upright original.
Work is bounded: at most :data:`MAX_LINES` regions per frame, and a crop wider than
:data:`MAX_ASPECT` times its height is squeezed rather than recognised at full width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mediaguard.errors import ConfigError
from mediaguard.media.types import Frame, RGBArray
from mediaguard.signals.base import Box, ModelInfo
from mediaguard.signals.runtime import package_file, session

FloatArray = npt.NDArray[np.float32]

INSTALL = "install the text extra with `pip install 'mediaguard[text]'`"
DETECTOR_FILE = "PP-OCRv6_det_small.onnx"
RECOGNISER_FILE = "PP-OCRv6_rec_small.onnx"
CLASSIFIER_FILE = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
_LICENCE = "Apache-2.0 (PaddleOCR weights, converted by RapidOCR)"

# PaddleOCR's detection post-processing (rapidocr's config.yaml defaults).
_PIXEL_THRESHOLD = 0.3
_BOX_THRESHOLD = 0.5
_UNCLIP_RATIO = 1.6
_MIN_SIDE = 3
# Regions kept per frame: a screenshot of dense text has a few hundred lines; a noise
# pattern that breaks into thousands of specks must not cost thousands of crops.
MAX_LINES = 300
_REC_HEIGHT = 48
_REC_MIN_WIDTH = 320
# Crops wider than this many heights are squeezed to it (a 10,000-character banner
# must not make one 480,000-pixel-wide tensor).
MAX_ASPECT = 40.0
_REC_BATCH = 16
_CLS_SHAPE = (48, 192)
_CLS_THRESHOLD = 0.9
DEFAULT_MIN_CONFIDENCE = 0.5
# Long side, pixels, of the frames OCR wants: 512 (the default working size) loses
# text under about 14 pixels high in a full-HD screenshot. Lines are found on a smaller
# copy (the detector's cost grows with its area; its map is coarse anyway) and read
# from crops of the full working frame.
DEFAULT_INPUT_SIZE = 1024
DEFAULT_DETECT_SIZE = 736


@dataclass(frozen=True, slots=True)
class TextLine:
    """One recognised line of text in one frame.

    Attributes:
        text: the recognised characters.
        confidence: the recogniser's mean per-character probability, 0 to 1.
        box: axis-aligned bounds in pixels of the upright original image.
        frame: index of the frame in the source.
    """

    text: str
    confidence: float
    box: Box
    frame: int


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as err:
        raise ConfigError(f"text: OpenCV is not installed; {INSTALL}") from err
    return cv2


def model_files() -> tuple[Path, Path, Path]:
    """The detector, recogniser and classifier weights in the installed rapidocr package.

    Raises:
        ConfigError: when rapidocr (the ``text`` extra) or a bundled model is missing.
    """
    paths = [
        package_file(
            "rapidocr",
            f"models/{name}",
            missing=f"text: rapidocr's bundled {name} is missing; {INSTALL}",
        )
        for name in (DETECTOR_FILE, RECOGNISER_FILE, CLASSIFIER_FILE)
    ]
    return paths[0], paths[1], paths[2]


def model_infos() -> list[ModelInfo]:
    """Provenance of the OCR models, for ``mediaguard models`` and the verdict.

    Raises:
        ConfigError: when the ``text`` extra is not installed.
    """
    try:
        package_version = version("rapidocr")
    except PackageNotFoundError as err:
        raise ConfigError(f"text: the rapidocr package is not installed; {INSTALL}") from err
    names = ("ppocr-v6-det-small", "ppocr-v6-rec-small", "ppocr-mobile-v2-cls")
    return [
        ModelInfo(
            name=name,
            version=package_version,
            licence=_LICENCE,
            package="rapidocr",
            path=path,
            opt_in=True,
        )
        for name, path in zip(names, model_files(), strict=True)
    ]


class TextReader:
    """Finds and reads lines of text in frames; build once, reuse for every item.

    Args:
        min_confidence: lines recognised with a lower confidence are dropped.
        upright: also run the direction classifier and turn upside-down lines.
        input_size: long side, pixels, of the frames text is read on; larger frames are
            scaled down to it.
        detect_size: long side, pixels, of the copy lines are found on.

    Raises:
        ConfigError: when the ``text`` extra is not installed or a model cannot load.
    """

    def __init__(
        self,
        *,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        upright: bool = False,
        input_size: int = DEFAULT_INPUT_SIZE,
        detect_size: int = DEFAULT_DETECT_SIZE,
    ) -> None:
        self._cv2 = _cv2()
        det, rec, cls = model_files()
        self.models = model_infos() if upright else model_infos()[:2]
        self._det = session(det)
        self._rec = session(rec)
        self._cls = session(cls) if upright else None
        characters = self._rec.get_modelmeta().custom_metadata_map.get("character")
        if not characters:
            raise ConfigError(f"text: {rec.name} carries no character list in its metadata")
        # CTC: index 0 is the blank; PaddleOCR appends the space last.
        self._characters = ["", *characters.splitlines(), " "]
        self.min_confidence = min_confidence
        self.input_size = input_size
        self.detect_size = min(detect_size, input_size)

    def read(self, frames: Sequence[Frame]) -> list[list[TextLine]]:
        """Lines of text per frame, in reading order, in input order."""
        return [self._frame(frame) for frame in frames]

    def _frame(self, frame: Frame) -> list[TextLine]:
        bgr, shrink = self._at_most(np.ascontiguousarray(frame.pixels[:, :, ::-1]), self.input_size)
        small, factor = self._at_most(bgr, self.detect_size)
        quads = [quad / np.float32(factor) for quad in self._detect(small)]
        if not quads:
            return []
        crops = [self._crop(bgr, quad) for quad in quads]
        if self._cls is not None:
            crops = self._upright(crops)
        scale = frame.scale / shrink
        lines = []
        for quad, (text, confidence) in zip(quads, self._recognise(crops), strict=True):
            if confidence < self.min_confidence or not text.strip():
                continue
            lines.append(TextLine(text, confidence, _box(quad, scale), frame.index))
        return lines

    def _at_most(self, bgr: RGBArray, long_side: int) -> tuple[RGBArray, float]:
        """``bgr`` scaled down so its long side is at most ``long_side``, and the factor."""
        height, width = bgr.shape[:2]
        if max(width, height) <= long_side:
            return bgr, 1.0
        factor = long_side / max(width, height)
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        resized: RGBArray = self._cv2.resize(bgr, size, interpolation=self._cv2.INTER_AREA)
        return resized, factor

    def _detect(self, bgr: RGBArray) -> list[FloatArray]:
        cv2 = self._cv2
        height, width = bgr.shape[:2]
        padded_h, padded_w = (max(32, math.ceil(n / 32) * 32) for n in (height, width))
        tensor = np.zeros((1, 3, padded_h, padded_w), np.float32)
        tensor[0, :, :height, :width] = _normalise(bgr).transpose(2, 0, 1)
        (probability,) = self._det.run(None, {"x": tensor})
        pred = probability[0, 0, :height, :width]
        mask = cv2.dilate((pred > _PIXEL_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        found: list[tuple[float, FloatArray]] = []
        for contour in contours:
            (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
            if min(w, h) < _MIN_SIDE:
                continue
            quad = cv2.boxPoints(((cx, cy), (w, h), angle))
            score = _mean_inside(cv2, pred, quad)
            if score < _BOX_THRESHOLD:
                continue
            grow = w * h * _UNCLIP_RATIO / (2.0 * (w + h))
            if min(w, h) + 2 * grow < _MIN_SIDE + 2:
                continue
            quad = cv2.boxPoints(((cx, cy), (w + 2 * grow, h + 2 * grow), angle))
            quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
            quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
            found.append((score, _clockwise(quad)))
        found.sort(key=lambda item: -item[0])
        return reading_order([quad for _, quad in found[:MAX_LINES]])

    def _crop(self, bgr: RGBArray, quad: FloatArray) -> RGBArray:
        cv2 = self._cv2

        def side(a: int, b: int, c: int, d: int) -> int:
            longer = max(np.linalg.norm(quad[a] - quad[b]), np.linalg.norm(quad[c] - quad[d]))
            return max(1, round(float(longer)))

        width, height = side(0, 1, 2, 3), side(0, 3, 1, 2)
        target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        matrix = cv2.getPerspectiveTransform(quad, target)
        crop: RGBArray = cv2.warpPerspective(
            bgr,
            matrix,
            (width, height),
            borderMode=cv2.BORDER_REPLICATE,
            flags=cv2.INTER_CUBIC,
        )
        if height >= 1.5 * width:  # a vertical line: read it turned
            crop = np.ascontiguousarray(np.rot90(crop))
        return crop

    def _upright(self, crops: list[RGBArray]) -> list[RGBArray]:
        assert self._cls is not None
        cls_h, cls_w = _CLS_SHAPE
        turned = list(crops)
        for start in range(0, len(crops), _REC_BATCH):
            chunk = crops[start : start + _REC_BATCH]
            batch = np.zeros((len(chunk), 3, cls_h, cls_w), np.float32)
            for i, crop in enumerate(chunk):
                resized = self._fit_height(crop, cls_h, cls_w)
                batch[i, :, :, : resized.shape[1]] = _normalise(resized).transpose(2, 0, 1)
            (probabilities,) = self._cls.run(None, {self._cls.get_inputs()[0].name: batch})
            for i, row in enumerate(probabilities):
                if int(np.argmax(row)) == 1 and float(row[1]) > _CLS_THRESHOLD:
                    turned[start + i] = np.ascontiguousarray(chunk[i][::-1, ::-1])
        return turned

    def _fit_height(self, crop: RGBArray, height: int, max_width: int) -> RGBArray:
        ratio = crop.shape[1] / max(1, crop.shape[0])
        width = max(1, min(max_width, math.ceil(height * ratio)))
        resized: RGBArray = self._cv2.resize(
            crop, (width, height), interpolation=self._cv2.INTER_LINEAR
        )
        return resized

    def _recognise(self, crops: list[RGBArray]) -> list[tuple[str, float]]:
        ratios = [min(MAX_ASPECT, c.shape[1] / max(1, c.shape[0])) for c in crops]
        order = sorted(range(len(crops)), key=ratios.__getitem__)
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for start in range(0, len(order), _REC_BATCH):
            chunk = order[start : start + _REC_BATCH]
            width = max(_REC_MIN_WIDTH, math.ceil(_REC_HEIGHT * max(ratios[i] for i in chunk)))
            batch = np.zeros((len(chunk), 3, _REC_HEIGHT, width), np.float32)
            for row, index in enumerate(chunk):
                resized = self._fit_height(crops[index], _REC_HEIGHT, width)
                batch[row, :, :, : resized.shape[1]] = _normalise(resized).transpose(2, 0, 1)
            (probabilities,) = self._rec.run(None, {"x": batch})
            for row, index in enumerate(chunk):
                results[index] = self._decode(probabilities[row])
        return results

    def _decode(self, probabilities: FloatArray) -> tuple[str, float]:
        """Greedy CTC: best class per step, repeats merged, blanks dropped."""
        best = probabilities.argmax(axis=1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        if not keep.any():
            return "", 0.0
        text = "".join(self._characters[i] for i in best[keep] if i < len(self._characters))
        confidence = float(probabilities.max(axis=1)[keep].mean())
        return text, round(min(1.0, max(0.0, confidence)), 5)


def _normalise(bgr: RGBArray) -> FloatArray:
    scaled: FloatArray = bgr.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return scaled


def _mean_inside(cv2: Any, pred: FloatArray, quad: FloatArray) -> float:
    """Mean probability inside ``quad`` (PaddleOCR's "fast" box score)."""
    height, width = pred.shape
    x0, y0 = (max(0, int(np.floor(quad[:, k].min()))) for k in (0, 1))
    x1 = min(width - 1, int(np.ceil(quad[:, 0].max())))
    y1 = min(height - 1, int(np.ceil(quad[:, 1].max())))
    if x1 < x0 or y1 < y0:
        return 0.0
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    shifted = (quad - np.array([x0, y0], np.float32)).astype(np.int32)
    cv2.fillPoly(mask, shifted.reshape(1, -1, 2), 1)
    return float(cv2.mean(pred[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _clockwise(quad: FloatArray) -> FloatArray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    by_x = quad[np.argsort(quad[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def reading_order(quads: list[FloatArray]) -> list[FloatArray]:
    """Top to bottom, then left to right among boxes on the same line.

    Two boxes are on one line when their vertical centres are closer than half the
    smaller box's height, so the rule scales with the text instead of using a fixed
    pixel distance.
    """
    by_top = sorted(quads, key=lambda q: float(q[:, 1].mean()))
    lines: list[list[FloatArray]] = []
    for quad in by_top:
        centre = float(quad[:, 1].mean())
        height = float(quad[:, 1].max() - quad[:, 1].min())
        if lines:
            last = lines[-1][-1]
            last_height = float(last[:, 1].max() - last[:, 1].min())
            if abs(centre - float(last[:, 1].mean())) < 0.5 * min(height, last_height):
                lines[-1].append(quad)
                continue
        lines.append([quad])
    return [q for line in lines for q in sorted(line, key=lambda q: float(q[:, 0].min()))]


def _box(quad: FloatArray, scale: float) -> Box:
    x0, y0 = (max(0.0, float(quad[:, k].min()) * scale) for k in (0, 1))
    x1, y1 = (float(quad[:, k].max()) * scale for k in (0, 1))
    return Box(
        x=round(x0),
        y=round(y0),
        width=max(1, round(x1 - x0)),
        height=max(1, round(y1 - y0)),
    )
