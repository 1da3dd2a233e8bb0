"""Nudity regions (boxes) from NudeNet's YOLOv8 model, run by our own session.

Design note: only the weights come from the ``nudenet`` package. Its Python module imports
OpenCV, so mediaguard locates ``320n.onnx`` without importing it and reproduces NudeNet's
input pipeline (pad to a square at the bottom and right, resize to 320, RGB, 0..1, NCHW)
and its YOLOv8 decoding in numpy, shared with the custom ONNX detector. The weights are an
Ultralytics export licensed AGPL-3.0, so this detector is an opt-in extra.

NudeNet's classes name the sex of the person in them (FACE_FEMALE, MALE_BREAST_EXPOSED,
...). mediaguard never infers a trait of a person, so the table below maps each class to
a neutral label, or drops it inside the detector, before anything leaves :meth:`detect`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

from mediaguard.errors import ConfigError
from mediaguard.media.types import Frame
from mediaguard.signals.base import Detection, Detector, ModelInfo
from mediaguard.signals.detectors import onnx_model
from mediaguard.signals.detectors.registry import register
from mediaguard.signals.runtime import package_file, session

_WHERE = "detectors[nudenet]"
_SIZE = 320
_IOU_THRESHOLD = 0.45  # NudeNet's own
# MODELS_AND_DATA: a benign photo (OpenCV's apple.jpg) scored BUTTOCKS_EXPOSED 0.32.
DEFAULT_SCORE_THRESHOLD = 0.5

# NudeNet 3.4.2's classes in the model's output order, each with what mediaguard emits for
# it: a (label, category) pair, or None to drop the class inside the detector.
# - FACE_FEMALE / FACE_MALE are dropped: faces are only ever detected to be hidden (by the
#   face detector used for redaction), and these two labels infer a person's sex.
# - Emitted labels name the body region and its exposure, never a sex: NudeNet's female
#   and male genitalia classes both become "genitalia_exposed".
# - MALE_BREAST_EXPOSED, feet, belly and armpits are not moderated content, and keeping
#   MALE_BREAST_EXPOSED would again tell the sexes apart.
# The order is checked against the model's own metadata at load, so a reordered model can
# never emit a face class under another class's label.
CLASSES: tuple[tuple[str, tuple[str, str] | None], ...] = (
    ("FEMALE_GENITALIA_COVERED", ("genitalia_covered", "suggestive")),
    ("FACE_FEMALE", None),
    ("BUTTOCKS_EXPOSED", ("buttocks_exposed", "sexual")),
    ("FEMALE_BREAST_EXPOSED", ("breast_exposed", "sexual")),
    ("FEMALE_GENITALIA_EXPOSED", ("genitalia_exposed", "sexual")),
    ("MALE_BREAST_EXPOSED", None),
    ("ANUS_EXPOSED", ("anus_exposed", "sexual")),
    ("FEET_EXPOSED", None),
    ("BELLY_COVERED", None),
    ("FEET_COVERED", None),
    ("ARMPITS_COVERED", None),
    ("ARMPITS_EXPOSED", None),
    ("FACE_MALE", None),
    ("BELLY_EXPOSED", None),
    ("MALE_GENITALIA_EXPOSED", ("genitalia_exposed", "sexual")),
    ("ANUS_COVERED", ("anus_covered", "suggestive")),
    ("FEMALE_BREAST_COVERED", ("breast_covered", "suggestive")),
    ("BUTTOCKS_COVERED", ("buttocks_covered", "suggestive")),
)

_TABLE: onnx_model.LabelTable = [mapped for _, mapped in CLASSES]

_PREPROCESS = onnx_model.Preprocess(
    width=_SIZE,
    height=_SIZE,
    resize="letterbox",
    align="top_left",
    pad_value=(0.0, 0.0, 0.0),
    channels="RGB",
    scale=1.0 / 255.0,
    layout="NCHW",
)

_INSTALL = (
    "install the opt-in extra with `pip install 'mediaguard[nudenet]'`; note that NudeNet's "
    "weights are licensed AGPL-3.0 (an Ultralytics YOLOv8 export)"
)


def weights_path() -> Path:
    """Where the installed ``nudenet`` package keeps ``320n.onnx``, found without importing it.

    Raises:
        ConfigError: when the package or its weights file is missing.
    """
    missing = f"{_WHERE}: the nudenet package or its 320n.onnx is missing; {_INSTALL}"
    return package_file("nudenet", "320n.onnx", missing=missing)


def _check_classes(model_session: Any) -> None:
    names = model_session.get_modelmeta().custom_metadata_map.get("names", "")
    try:
        declared = ast.literal_eval(names)
    except (ValueError, SyntaxError):
        declared = None
    expected = {index: name for index, (name, _) in enumerate(CLASSES)}
    if declared != expected:
        raise ConfigError(
            f"{_WHERE}: the model's class list (ONNX metadata 'names') is not the one "
            "mediaguard maps (nudenet 3.4.2); refusing to guess which output is which"
        )


@register
class NudeNetDetector(Detector):
    """Boxes around exposed (``sexual``) and covered (``suggestive``) intimate body regions."""

    name: ClassVar[str] = "nudenet"
    input_size: ClassVar[int] = _SIZE

    def __init__(
        self,
        weights: Path,
        *,
        package_version: str,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ) -> None:
        """Open the weights and check their class list.

        Args:
            weights: path of NudeNet's ``320n.onnx``.
            package_version: installed nudenet version, for provenance.
            score_threshold: lowest score emitted.

        Raises:
            ConfigError: when the model cannot be loaded or its classes differ from
                :data:`CLASSES`.
        """
        model_session = session(weights)
        _check_classes(model_session)
        self._yolo = onnx_model.YoloModel(
            model_session,
            onnx_model.inspect_io(model_session, _WHERE),
            _PREPROCESS,
            yolo_format="v8",
            classes=len(CLASSES),
            score_threshold=score_threshold,
            iou_threshold=_IOU_THRESHOLD,
            where=_WHERE,
        )
        self._model = ModelInfo(
            name="nudenet-320n",
            version=package_version,
            licence="AGPL-3.0 (weights, Ultralytics YOLOv8 export); MIT (code)",
            package="nudenet",
            path=weights,
            opt_in=True,
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, base_dir: Path) -> NudeNetDetector:
        """Build the detector from its table; ``score_threshold`` (0..1) is the only option.

        Raises:
            ConfigError: when the nudenet extra is not installed or an option is invalid.
        """
        del base_dir
        reader = onnx_model.OptionReader(options, _WHERE)
        score_threshold = reader.number(
            "score_threshold", DEFAULT_SCORE_THRESHOLD, low=0.0, high=1.0, low_open=True
        )
        reader.finish()
        weights = weights_path()
        try:
            package_version = version("nudenet")
        except PackageNotFoundError as err:
            raise ConfigError(
                f"{_WHERE}: the nudenet package is not installed; {_INSTALL}"
            ) from err
        return cls(weights, package_version=package_version, score_threshold=score_threshold)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(mapped[1] for mapped in _TABLE if mapped is not None)

    @property
    def model(self) -> ModelInfo:
        return self._model

    def detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        if not frames:
            return []
        return [
            onnx_model.box_detections(found, frame, self.name, _TABLE)
            for frame, found in zip(frames, self._yolo.run(frames), strict=True)
        ]
