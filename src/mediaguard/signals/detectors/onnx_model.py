"""Helpers shared by the detectors that run an ONNX model on frames.

Design note: the custom "bring your own ONNX model" detector and the NudeNet region
detector both turn a working frame into a tensor, run it in batches, decode YOLO boxes,
suppress overlaps and map boxes back to the upright original image. That pipeline lives
here once, in numpy, so the two detectors differ only in configuration and label mapping.
Preprocessing is numpy rather than OpenCV or Pillow because the core must not import cv2,
and because the bilinear resize below matches the one YOLO-family models are trained with
(OpenCV ``INTER_LINEAR``, no antialiasing), which keeps scores close to the reference
implementations. Sessions come from :mod:`mediaguard.signals.runtime`, which owns threads.
The module is public because face redaction (:mod:`mediaguard.redaction.faces`) decodes
its boxes with the same resize and overlap suppression.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from mediaguard.errors import ConfigError
from mediaguard.media.types import Frame, RGBArray
from mediaguard.signals.base import Box, Detection

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]

ResizeMode = Literal["stretch", "letterbox", "center_crop"]
Align = Literal["center", "top_left"]
Layout = Literal["NCHW", "NHWC"]
ChannelOrder = Literal["RGB", "BGR"]
YoloFormat = Literal["v8", "v5"]

# Frames per session.run: enough to amortise the call, small enough that a long video's
# sampled frames do not allocate one huge tensor.
MAX_BATCH = 16

_T = TypeVar("_T")


# --- options ------------------------------------------------------------------------------


class OptionReader:
    """Reads a detector's option table, with errors that name the offending field.

    Every accessor removes its key, so :meth:`finish` can refuse the keys nobody read:
    a misspelt option must fail loudly rather than silently keep its default.
    """

    def __init__(self, options: Mapping[str, Any], where: str) -> None:
        self._options = dict(options)
        self.where = where

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError prefixed with the field's full name."""
        return ConfigError(f"{self.where}.{key}: {message}")

    def _take(self, key: str, default: object, required: bool) -> object:
        if key not in self._options:
            if required:
                raise self.error(key, "missing required field")
            return default
        return self._options.pop(key)

    def string(self, key: str, default: str | None = None) -> str:
        """A non-empty string; required when ``default`` is None."""
        value = self._take(key, default, default is None)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[_T, ...], default: _T | None = None) -> _T:
        """One of ``choices``; required when ``default`` is None."""
        value = self._take(key, default, default is None)
        for choice in choices:
            if value == choice:
                return choice
        expected = " or ".join(repr(c) for c in choices)
        raise self.error(key, f"expected {expected}, got {value!r}")

    def boolean(self, key: str, default: bool) -> bool:
        value = self._take(key, default, False)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float:
        """A finite number within ``[low, high]`` (``(low, high]`` when ``low_open``)."""
        value = self._take(key, default, default is None)
        if not is_number(value):
            raise self.error(key, f"expected a number, got {value!r}")
        number = float(value)
        too_low = low is not None and (number <= low if low_open else number < low)
        too_high = high is not None and number > high
        if too_low or too_high:
            if high is None:
                wanted = f"greater than {low}" if low_open else f"at least {low}"
            else:
                wanted = f"in {'(' if low_open else '['}{low}, {high}]"
            raise self.error(key, f"expected a number {wanted}, got {value!r}")
        return number

    def triple(self, key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
        """One number per channel: a list of 3, or 1 number (bare or listed) for all three."""
        value = self._take(key, default, False)
        items = [value] if is_number(value) else value
        if (
            not isinstance(items, list | tuple)
            or len(items) not in (1, 3)
            or not all(is_number(item) for item in items)
        ):
            raise self.error(key, f"expected 1 or 3 numbers, got {value!r}")
        numbers = [float(item) for item in items]
        if len(numbers) == 1:
            return (numbers[0], numbers[0], numbers[0])
        return (numbers[0], numbers[1], numbers[2])

    def take(self, key: str) -> object:
        """The raw value, or None when absent, for fields with their own validation."""
        return self._take(key, None, False)

    def finish(self) -> None:
        """Refuse every key no accessor read.

        Raises:
            ConfigError: naming the unknown keys.
        """
        if self._options:
            names = ", ".join(sorted(self._options))
            raise ConfigError(f"{self.where}: unknown or inapplicable option(s): {names}")


def is_number(value: object) -> TypeGuard[int | float]:
    """True for a finite int or float; TOML booleans are ints in Python and do not count."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- preprocessing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Geometry:
    """How model-input pixels map back to working-frame pixels.

    ``frame_x = (model_x - offset_x) / scale_x``, and likewise for y.
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float


def _axis(source: int, target: int) -> tuple[IntArray, IntArray, FloatArray]:
    # Half-pixel centres, clamped at the borders: OpenCV's INTER_LINEAR sampling grid.
    position = (np.arange(target, dtype=np.float64) + 0.5) * (source / target) - 0.5
    position = np.clip(position, 0.0, source - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, source - 1)
    return low, high, (position - low).astype(np.float32)


def resize_bilinear(pixels: RGBArray, width: int, height: int) -> FloatArray:
    """Resize an H x W x 3 image bilinearly to ``height`` x ``width``, as float32 0..255."""
    image = pixels.astype(np.float32)
    if pixels.shape[0] == height and pixels.shape[1] == width:
        return image
    y0, y1, fy = _axis(pixels.shape[0], height)
    x0, x1, fx = _axis(pixels.shape[1], width)
    fy = fy[:, None, None]
    rows = image[y0] * (1.0 - fy) + image[y1] * fy
    fx = fx[None, :, None]
    resized: FloatArray = rows[:, x0] * (1.0 - fx) + rows[:, x1] * fx
    return resized


@dataclass(frozen=True, slots=True)
class Preprocess:
    """Turns an RGB working frame into one model input tensor (without the batch axis).

    Attributes:
        width: model input width, pixels.
        height: model input height, pixels.
        resize: ``stretch`` ignores aspect; ``letterbox`` fits the whole frame and pads;
            ``center_crop`` fills the input and crops the overflow.
        align: where a letterboxed frame sits: centred (Ultralytics) or top-left (NudeNet).
        pad_value: letterbox padding, RGB, 0..255.
        channels: channel order the model expects.
        scale: multiplies pixel values 0..255.
        mean: subtracted per channel after ``scale``, in the model's channel order.
        std: divides per channel after ``mean``, in the model's channel order.
        layout: ``NCHW`` or ``NHWC``.
    """

    width: int
    height: int
    resize: ResizeMode = "stretch"
    align: Align = "center"
    pad_value: tuple[float, float, float] = (114.0, 114.0, 114.0)
    channels: ChannelOrder = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: Layout = "NCHW"

    def __call__(self, pixels: RGBArray) -> tuple[FloatArray, Geometry]:
        """The model input for ``pixels`` and the geometry to map boxes back."""
        image, geometry = self._fit(pixels)
        if self.channels == "BGR":
            image = image[:, :, ::-1]
        image = np.multiply(image, np.float32(self.scale), dtype=np.float32)
        image = np.subtract(image, np.asarray(self.mean, np.float32), dtype=np.float32)
        image = np.divide(image, np.asarray(self.std, np.float32), dtype=np.float32)
        if self.layout == "NCHW":
            image = image.transpose(2, 0, 1)
        return np.ascontiguousarray(image, dtype=np.float32), geometry

    def _fit(self, pixels: RGBArray) -> tuple[FloatArray, Geometry]:
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        if self.resize == "stretch":
            resized = resize_bilinear(pixels, self.width, self.height)
            return resized, Geometry(self.width / width, self.height / height, 0.0, 0.0)
        if self.resize == "letterbox":
            ratio = min(self.width / width, self.height / height)
            new_w = min(self.width, max(1, round(width * ratio)))
            new_h = min(self.height, max(1, round(height * ratio)))
            if self.align == "center":
                left, top = (self.width - new_w) // 2, (self.height - new_h) // 2
            else:
                left, top = 0, 0
            canvas = np.empty((self.height, self.width, 3), np.float32)
            canvas[:] = np.asarray(self.pad_value, np.float32)
            canvas[top : top + new_h, left : left + new_w] = resize_bilinear(pixels, new_w, new_h)
            return canvas, Geometry(new_w / width, new_h / height, float(left), float(top))
        ratio = max(self.width / width, self.height / height)
        new_w = max(self.width, round(width * ratio))
        new_h = max(self.height, round(height * ratio))
        left, top = (new_w - self.width) // 2, (new_h - self.height) // 2
        resized = resize_bilinear(pixels, new_w, new_h)
        cropped = resized[top : top + self.height, left : left + self.width]
        return cropped, Geometry(new_w / width, new_h / height, float(-left), float(-top))


# --- model inputs and outputs -------------------------------------------------------------

Shape = tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class ModelIO:
    """What a loaded model declares about its single image input and its first output.

    Dimensions the model leaves symbolic (``"batch"``, ``"height"``) are None.
    """

    input_name: str
    input_shape: Shape | None
    output_shape: Shape | None

    @property
    def dynamic_batch(self) -> bool:
        return self.input_shape is None or self.input_shape[0] is None


def _shape(declared: object) -> Shape | None:
    if not isinstance(declared, list | tuple):
        return None
    return tuple(dim if isinstance(dim, int) and dim > 0 else None for dim in declared)


def inspect_io(session: Any, where: str) -> ModelIO:
    """Read and check the model's declared input and first output.

    Raises:
        ConfigError: when the model does not take exactly one float32 input, or its batch
            dimension is fixed at more than one.
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise ConfigError(
            f"{where}.model: the model has {len(inputs)} inputs ({names}); "
            "mediaguard feeds exactly one image batch"
        )
    if inputs[0].type != "tensor(float)":
        raise ConfigError(
            f"{where}.model: the model's input is {inputs[0].type}; "
            "mediaguard feeds tensor(float) (float32), so export the model with a float32 input"
        )
    io = ModelIO(inputs[0].name, _shape(inputs[0].shape), _shape(session.get_outputs()[0].shape))
    if io.input_shape is not None and io.input_shape[0] not in (None, 1):
        raise ConfigError(
            f"{where}.model: the model's batch dimension is fixed at {io.input_shape[0]}; "
            "mediaguard needs it dynamic or 1"
        )
    return io


def check_yolo_output(io: ModelIO, yolo_format: YoloFormat, classes: int, where: str) -> None:
    """Check the declared YOLO output layout against the number of classes.

    Raises:
        ConfigError: when the model declares a shape that cannot hold ``classes`` classes
            in ``yolo_format``.
    """
    shape = io.output_shape
    if shape is None:
        return
    axis, width = (1, 4 + classes) if yolo_format == "v8" else (2, 5 + classes)
    layout = (
        "(batch, 4 + classes, anchors)" if yolo_format == "v8" else "(batch, anchors, 5 + classes)"
    )
    if len(shape) != 3 or shape[axis] not in (None, width):
        raise ConfigError(
            f"{where}: the model's output shape is {show_shape(shape)}, but yolo_format "
            f"{yolo_format!r} with {classes} labels needs {layout} with {width} at axis {axis}; "
            "check labels and yolo_format"
        )


def show_shape(shape: Shape) -> str:
    """A declared shape as text, symbolic dimensions shown as ``?``."""
    return "(" + ", ".join("?" if dim is None else str(dim) for dim in shape) + ")"


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_batched(session: Any, io: ModelIO, tensors: Sequence[FloatArray]) -> list[FloatArray]:
    """Run the model on each tensor and return its first output per tensor, batch axis removed.

    Tensors run together, up to :data:`MAX_BATCH` at a time, when the model's batch
    dimension is dynamic (they all have the same shape because the preprocessing size is
    fixed), and one at a time when the model was exported with a batch of one.
    """
    size = MAX_BATCH if io.dynamic_batch else 1
    results: list[FloatArray] = []
    for chunk in _chunks(tensors, size):
        output = session.run(None, {io.input_name: np.stack(chunk)})[0]
        results.extend(np.asarray(output, dtype=np.float32))
    return results


# --- classifier outputs -------------------------------------------------------------------


def softmax(values: FloatArray) -> FloatArray:
    """Softmax over the last axis, shifted by the maximum so large logits cannot overflow."""
    exp = np.exp(values - values.max(axis=-1, keepdims=True))
    result: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return result


def sigmoid(values: FloatArray) -> FloatArray:
    """Element-wise logistic function, via tanh so large negative logits cannot overflow."""
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * values))
    return result


# --- YOLO outputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Boxes:
    """Boxes found in one frame: corners (x1, y1, x2, y2), score and class index per row."""

    xyxy: FloatArray
    scores: FloatArray
    class_ids: IntArray

    def __post_init__(self) -> None:
        rows = self.xyxy.shape[0]
        if self.xyxy.shape != (rows, 4) or self.scores.shape != (rows,):
            raise ValueError(
                f"Boxes: xyxy must be (K, 4) and scores (K,), got {self.xyxy.shape} and "
                f"{self.scores.shape}"
            )
        if self.class_ids.shape != (rows,):
            raise ValueError(f"Boxes: class_ids must be ({rows},), got {self.class_ids.shape}")

    def take(self, index: IntArray | npt.NDArray[np.bool_]) -> Boxes:
        return Boxes(self.xyxy[index], self.scores[index], self.class_ids[index])


def decode_yolo(
    raw: FloatArray, yolo_format: YoloFormat, classes: int, score_threshold: float, where: str
) -> Boxes:
    """Candidate boxes of one frame, in model-input pixels, best class per anchor.

    v8 output is ``(4 + classes, anchors)``: centre x, centre y, width, height, then class
    scores. v5 output is ``(anchors, 5 + classes)`` with an objectness column that
    multiplies the class scores.

    Raises:
        ConfigError: when the output has the wrong number of columns for ``classes``.
    """
    expected = (4 + classes) if yolo_format == "v8" else (5 + classes)
    actual = raw.shape[0] if yolo_format == "v8" else raw.shape[-1]
    if raw.ndim != 2 or actual != expected:
        raise ConfigError(
            f"{where}: the model returned an output of shape {raw.shape} per frame; "
            f"yolo_format {yolo_format!r} with {classes} labels needs {expected} values per anchor"
        )
    if yolo_format == "v8":
        rows = raw.T
        class_scores = rows[:, 4:]
    else:
        rows = raw
        class_scores = rows[:, 5:] * rows[:, 4:5]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(rows.shape[0]), class_ids]
    keep = scores >= score_threshold
    centre, size = rows[keep, 0:2], rows[keep, 2:4]
    xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    return Boxes(xyxy.astype(np.float32), scores[keep].astype(np.float32), class_ids[keep])


def nms(boxes: Boxes, iou_threshold: float) -> Boxes:
    """Greedy non-maximum suppression within each class.

    Boxes of different classes never suppress each other: a region flagged for one reason
    must not hide a region flagged for another. Classes are kept apart by shifting each
    class's boxes into its own coordinate range, then one pass runs over all of them.
    """
    if boxes.scores.size == 0:
        return boxes
    span = float(np.abs(boxes.xyxy).max()) + 1.0
    shifted = boxes.xyxy + (boxes.class_ids.astype(np.float32) * span)[:, None]
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    order = np.argsort(-boxes.scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        keep.append(best)
        top_left = np.maximum(shifted[best, :2], shifted[rest, :2])
        bottom_right = np.minimum(shifted[best, 2:], shifted[rest, 2:])
        overlap = np.clip(bottom_right - top_left, 0.0, None).prod(axis=1)
        union = areas[best] + areas[rest] - overlap
        iou = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        order = rest[iou <= iou_threshold]
    return boxes.take(np.asarray(keep, dtype=np.intp))


def to_original(boxes: Boxes, geometry: Geometry, frame: Frame) -> Boxes:
    """Map boxes from model-input pixels to the upright original image, clipped to it.

    Boxes left with no area after clipping lay wholly outside the image and are dropped.
    """
    scale = np.asarray([geometry.scale_x, geometry.scale_y] * 2, np.float32)
    offset = np.asarray([geometry.offset_x, geometry.offset_y] * 2, np.float32)
    xyxy = (boxes.xyxy - offset) / scale * np.float32(frame.scale)
    # The original's size is only known as working size x scale; rounding recovers the
    # integer size, so a box is never clipped a fraction of a pixel beyond the image.
    size = [round(frame.width * frame.scale), round(frame.height * frame.scale)]
    limit = np.asarray(size * 2, np.float32)
    xyxy = np.clip(xyxy, 0.0, limit)
    inside = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    return Boxes(xyxy[inside], boxes.scores[inside], boxes.class_ids[inside])


def to_box(xyxy: FloatArray) -> Box:
    """Integer box that covers the float corners, rounded outwards.

    Rounding outwards means a redaction mask drawn from it never leaves a sliver uncovered.
    """
    left, top = math.floor(xyxy[0]), math.floor(xyxy[1])
    right, bottom = math.ceil(xyxy[2]), math.ceil(xyxy[3])
    return Box(x=left, y=top, width=right - left, height=bottom - top)


class YoloModel:
    """A YOLO box model run on frames: preprocess, batch, decode, suppress, map back."""

    def __init__(
        self,
        session: Any,
        io: ModelIO,
        preprocess: Preprocess,
        *,
        yolo_format: YoloFormat,
        classes: int,
        score_threshold: float,
        iou_threshold: float,
        where: str,
    ) -> None:
        check_yolo_output(io, yolo_format, classes, where)
        self._session = session
        self._io = io
        self._preprocess = preprocess
        self._format: YoloFormat = yolo_format
        self._classes = classes
        self._score_threshold = score_threshold
        self._iou_threshold = iou_threshold
        self._where = where

    def run(self, frames: Sequence[Frame]) -> list[Boxes]:
        """Boxes per frame, in the upright original image's pixels, every class included."""
        prepared = [self._preprocess(frame.pixels) for frame in frames]
        outputs = run_batched(self._session, self._io, [tensor for tensor, _ in prepared])
        found = []
        for frame, (_, geometry), raw in zip(frames, prepared, outputs, strict=True):
            candidates = decode_yolo(
                raw, self._format, self._classes, self._score_threshold, self._where
            )
            kept = nms(candidates, self._iou_threshold)
            found.append(to_original(kept, geometry, frame))
        return found


LabelTable = Sequence[tuple[str, str] | None]
"""Per class index: the (label, category) to emit, or None for a class never emitted."""


def box_detections(boxes: Boxes, frame: Frame, detector: str, table: LabelTable) -> list[Detection]:
    """Detections for the boxes whose class the table maps; the others are dropped here."""
    detections = []
    for xyxy, score, class_id in zip(boxes.xyxy, boxes.scores, boxes.class_ids, strict=True):
        mapped = table[int(class_id)]
        if mapped is None:
            continue
        label, category = mapped
        detections.append(
            Detection(
                detector=detector,
                category=category,
                label=label,
                score=float(np.clip(score, 0.0, 1.0)),
                box=to_box(xyxy),
                frame=frame.index,
            )
        )
    return detections
