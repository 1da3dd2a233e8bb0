"""A platform's own ONNX model, described in TOML, as a detector.

Design note: no offline model for violence, weapons or drugs ships in a package, so those
categories come from models the platform trains itself. Rather than a plug-in per model,
one detector takes a declarative description: how to feed the model (size, layout,
channel order, normalisation, resize) and how to read it (softmax or sigmoid classifier,
or YOLO boxes), plus a label-to-category table. Everything is checked at load, against
the model's declared shapes too, so a wrong config fails at start-up with the field's
name rather than producing plausible nonsense scores. Every label, category and the
instance id pass the protected-trait check before the model is even opened: a platform
model that classifies people by a trait is refused, not run.

Example::

    [[detectors]]
    name = "onnx"
    id = "weapons"
    model = "models/weapons.onnx"
    version = "2026.03"
    licence = "proprietary"
    input_size = [224, 224]
    output = "softmax"
    labels = ["safe", "knife", "gun"]
    [detectors.categories]
    knife = "weapon"
    gun = "weapon"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mediaguard.errors import ConfigError
from mediaguard.media.types import Frame
from mediaguard.signals.base import Detection, Detector, ModelInfo
from mediaguard.signals.detectors import onnx_model
from mediaguard.signals.detectors.registry import register
from mediaguard.signals.protected import check_name
from mediaguard.signals.runtime import session

OutputKind = Literal["softmax", "sigmoid", "yolo"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MAX_SIDE = 4096
# Scores an already-activated model returns may stray from 0..1 by float rounding.
_ACTIVATED_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class CustomModelConfig:
    """A validated ``[[detectors]]`` table for the ``onnx`` detector.

    ``categories`` maps a label to its category; labels it leaves out are never emitted.
    ``score_threshold``, ``iou_threshold`` and ``yolo_format`` apply to ``output = "yolo"``
    only, ``already_activated`` to the classifiers only.
    """

    id: str
    model: Path
    version: str
    licence: str
    preprocess: onnx_model.Preprocess
    output: OutputKind
    labels: tuple[str, ...]
    categories: Mapping[str, str]
    already_activated: bool = False
    yolo_format: onnx_model.YoloFormat = "v8"
    score_threshold: float = 0.25
    iou_threshold: float = 0.45

    @property
    def where(self) -> str:
        return f"detectors[{self.id}]"

    @classmethod
    def parse(cls, options: Mapping[str, Any], *, base_dir: Path) -> CustomModelConfig:
        """Validate the options table; relative paths resolve against ``base_dir``.

        Raises:
            ProtectedTraitError: when the id, a label or a category names a protected
                trait; checked before anything else is read, the model file included.
            ConfigError: naming the first invalid field and what was expected.
        """
        raw_id = options.get("id")
        where = f"detectors[{raw_id}]" if isinstance(raw_id, str) else "detectors[onnx]"
        reader = onnx_model.OptionReader(options, where)
        detector_id = reader.string("id")
        if not _ID.fullmatch(detector_id):
            raise reader.error(
                "id", f"expected letters, digits, '_', '.' or '-', got {detector_id!r}"
            )
        check_name(f"{where}.id", detector_id)
        labels = _labels(reader)
        for label in labels:
            check_name(f"{where}.labels: label", label)
        categories = _categories(reader, labels)

        model = Path(reader.string("model")).expanduser()
        version = reader.string("version")
        licence = reader.string("licence")
        preprocess = _preprocess(reader)
        output: OutputKind = reader.choice("output", ("softmax", "sigmoid", "yolo"))
        config = cls(
            detector_id,
            (base_dir / model).resolve(),
            version,
            licence,
            preprocess,
            output,
            labels,
            categories,
        )
        if output == "yolo":
            config = replace(
                config,
                yolo_format=reader.choice("yolo_format", ("v8", "v5"), "v8"),
                score_threshold=reader.number(
                    "score_threshold", 0.25, low=0.0, high=1.0, low_open=True
                ),
                iou_threshold=reader.number(
                    "iou_threshold", 0.45, low=0.0, high=1.0, low_open=True
                ),
            )
        else:
            config = replace(config, already_activated=reader.boolean("already_activated", False))
        reader.finish()
        return config


def _labels(reader: onnx_model.OptionReader) -> tuple[str, ...]:
    value = reader.take("labels")
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(label, str) and label.strip() for label in value)
    ):
        raise reader.error(
            "labels", f"expected a non-empty list of non-empty strings, got {value!r}"
        )
    duplicates = sorted({label for label in value if value.count(label) > 1})
    if duplicates:
        raise reader.error("labels", f"labels must be unique; repeated: {', '.join(duplicates)}")
    return tuple(value)


def _categories(reader: onnx_model.OptionReader, labels: tuple[str, ...]) -> dict[str, str]:
    value = reader.take("categories")
    if not isinstance(value, Mapping) or not value:
        raise reader.error(
            "categories",
            f"expected a table mapping labels to categories, got {value!r}; "
            "a model with no mapped label can never flag anything",
        )
    for label, category in value.items():
        if not isinstance(category, str) or not category.strip():
            raise reader.error(
                f"categories.{label}", f"expected a non-empty category name, got {category!r}"
            )
        check_name(f"{reader.where}.categories: label", label)
        check_name(f"{reader.where}.categories.{label}: category", category)
        if label not in labels:
            raise reader.error(
                f"categories.{label}", f"{label!r} is not one of labels {list(labels)}"
            )
    return dict(value)


def _preprocess(reader: onnx_model.OptionReader) -> onnx_model.Preprocess:
    size = reader.take("input_size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(
            isinstance(side, int) and not isinstance(side, bool) and 0 < side <= _MAX_SIDE
            for side in size
        )
    ):
        raise reader.error(
            "input_size",
            f"expected [width, height], two integers from 1 to {_MAX_SIDE}, got {size!r}",
        )
    resize: onnx_model.ResizeMode = reader.choice(
        "resize", ("stretch", "letterbox", "center_crop"), "stretch"
    )
    pad_value = (114.0, 114.0, 114.0)
    if resize == "letterbox":
        pad_value = reader.triple("pad_value", pad_value)
        if not all(0.0 <= channel <= 255.0 for channel in pad_value):
            raise reader.error("pad_value", f"expected values from 0 to 255, got {pad_value}")
    std = reader.triple("std", (1.0, 1.0, 1.0))
    if 0.0 in std:
        raise reader.error("std", f"expected non-zero numbers (they divide), got {list(std)}")
    return onnx_model.Preprocess(
        width=size[0],
        height=size[1],
        resize=resize,
        pad_value=pad_value,
        channels=reader.choice("channels", ("RGB", "BGR"), "RGB"),
        scale=reader.number("scale", 1.0 / 255.0, low=0.0, low_open=True),
        mean=reader.triple("mean", (0.0, 0.0, 0.0)),
        std=std,
        layout=reader.choice("layout", ("NCHW", "NHWC"), "NCHW"),
    )


def _check_input(io: onnx_model.ModelIO, config: CustomModelConfig) -> None:
    shape = io.input_shape
    if shape is None:
        return
    where, prep = config.where, config.preprocess
    shown = onnx_model.show_shape(shape)
    if len(shape) != 4:
        raise ConfigError(
            f"{where}.model: the model's input shape is {shown}; mediaguard feeds a 4-D "
            "image batch (NCHW or NHWC)"
        )
    channel, height, width = (1, 2, 3) if prep.layout == "NCHW" else (3, 1, 2)
    if shape[channel] not in (None, 3):
        other = "NHWC" if prep.layout == "NCHW" else "NCHW"
        raise ConfigError(
            f"{where}.layout: the model's input shape is {shown}, which under layout "
            f"{prep.layout!r} has {shape[channel]} channels, not 3; is it {other!r}?"
        )
    if shape[height] not in (None, prep.height) or shape[width] not in (None, prep.width):
        raise ConfigError(
            f"{where}.input_size: the model's input shape is {shown} ({prep.layout}), but "
            f"input_size is [{prep.width}, {prep.height}] (width, height)"
        )


@register
class CustomOnnxDetector(Detector):
    """Runs a platform's ONNX classifier or YOLO box model and maps its labels to categories.

    ``Detection.detector`` is the configured ``id``, so two custom models stay apart in
    verdicts and policies even though both are registered as ``onnx``.
    """

    name: ClassVar[str] = "onnx"

    def __init__(self, config: CustomModelConfig) -> None:
        """Open the model and check it against ``config``.

        Raises:
            ConfigError: when the model file is missing or not ONNX, or its declared
                shapes contradict the config.
        """
        if not config.model.is_file():
            raise ConfigError(f"{config.where}.model: file not found: {config.model}")
        self._config = config
        self._session = session(config.model)
        self._io = onnx_model.inspect_io(self._session, config.where)
        _check_input(self._io, config)
        self._table: onnx_model.LabelTable = [
            (label, config.categories[label]) if label in config.categories else None
            for label in config.labels
        ]
        self._yolo: onnx_model.YoloModel | None = None
        if config.output == "yolo":
            self._yolo = onnx_model.YoloModel(
                self._session,
                self._io,
                config.preprocess,
                yolo_format=config.yolo_format,
                classes=len(config.labels),
                score_threshold=config.score_threshold,
                iou_threshold=config.iou_threshold,
                where=config.where,
            )
        else:
            self._check_classifier_output()
        self._model = ModelInfo(
            name=config.id,
            version=config.version,
            licence=config.licence,
            package="(platform model)",
            path=config.model,
            opt_in=False,
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, base_dir: Path) -> CustomOnnxDetector:
        """Build the detector from its ``[[detectors]]`` table (see the module docstring).

        Raises:
            ProtectedTraitError: when the id, a label or a category names a protected trait.
            ConfigError: naming the invalid field, the missing model file, or the model
                shape that contradicts the config.
        """
        return cls(CustomModelConfig.parse(options, base_dir=base_dir))

    # The base class declares input_size as a class-level default; a custom model's need is
    # only known per instance, from its config.
    @property
    def input_size(self) -> int:  # type: ignore[override]
        """Long side, in pixels, of the model input: the working size this model needs."""
        return max(self._config.preprocess.width, self._config.preprocess.height)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(self._config.categories.values())

    @property
    def model(self) -> ModelInfo:
        return self._model

    def detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        """Run the model over ``frames``, batched when the model allows it.

        Raises:
            ConfigError: when the model's output contradicts the config at run time (for
                a model whose shapes are not declared).
        """
        if not frames:
            return []
        if self._yolo is not None:
            return [
                onnx_model.box_detections(found, frame, self._config.id, self._table)
                for frame, found in zip(frames, self._yolo.run(frames), strict=True)
            ]
        tensors = [self._config.preprocess(frame.pixels)[0] for frame in frames]
        outputs = onnx_model.run_batched(self._session, self._io, tensors)
        return [self._classify(frame, raw) for frame, raw in zip(frames, outputs, strict=True)]

    def _check_classifier_output(self) -> None:
        shape, labels = self._io.output_shape, len(self._config.labels)
        if shape is not None and (len(shape) != 2 or shape[1] not in (None, labels)):
            shown = onnx_model.show_shape(shape)
            raise ConfigError(
                f"{self._config.where}.labels: the model's output shape is {shown}, but a "
                f"{self._config.output} classifier with {labels} labels needs (batch, {labels})"
            )

    def _classify(self, frame: Frame, raw: onnx_model.FloatArray) -> list[Detection]:
        config = self._config
        values = raw.reshape(-1)
        if values.size != len(config.labels):
            raise ConfigError(
                f"{config.where}.labels: the model returned {values.size} scores per frame "
                f"but {len(config.labels)} labels are configured"
            )
        if config.already_activated:
            scores = values
            in_range = bool(np.isfinite(scores).all()) and bool(
                (scores >= -_ACTIVATED_TOLERANCE).all()
                and (scores <= 1 + _ACTIVATED_TOLERANCE).all()
            )
            if not in_range:
                raise ConfigError(
                    f"{config.where}.already_activated: is true, but the model returned scores "
                    f"outside 0..1 ({scores.min()} to {scores.max()}); set it to false if the "
                    "model returns logits"
                )
        else:
            activate = onnx_model.softmax if config.output == "softmax" else onnx_model.sigmoid
            scores = activate(values)
            if not np.isfinite(scores).all():
                raise ConfigError(f"{config.where}.model: the model returned non-finite scores")
        detections = []
        for mapped, score in zip(self._table, scores, strict=True):
            if mapped is None:
                continue
            label, category = mapped
            detections.append(
                Detection(
                    detector=config.id,
                    category=category,
                    label=label,
                    score=float(np.clip(score, 0.0, 1.0)),
                    frame=frame.index,
                )
            )
        return detections
