"""The custom ONNX detector against models whose answers are known in advance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediaguard.errors import ConfigError, ProtectedTraitError
from mediaguard.media.types import Frame
from mediaguard.signals.base import Box, Detection
from mediaguard.signals.detectors import onnx_custom, onnx_model, registry
from mediaguard.signals.detectors.onnx_custom import CustomOnnxDetector

LABELS = ["safe", "knife", "gun"]
CATEGORIES = {"knife": "weapon", "gun": "weapon"}

# A weight matrix whose logits depend on which channel is which: channel 0 (red for an RGB
# model) raises "knife", channel 2 raises "gun", channel 1 raises "safe".
ROUTING = np.array([[0.0, 4.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 4.0]], np.float32)


def config(model: Path, /, **overrides: Any) -> dict[str, Any]:
    """A valid classifier table for ``model`` (given relative to its directory)."""
    table: dict[str, Any] = {
        "id": "weapons",
        "model": model.name,
        "version": "2026.03",
        "licence": "proprietary",
        "input_size": [32, 32],
        "output": "softmax",
        "labels": list(LABELS),
        "categories": dict(CATEGORIES),
    }
    table.update(overrides)
    return table


def build(model: Path, **overrides: Any) -> CustomOnnxDetector:
    return CustomOnnxDetector.from_options(config(model, **overrides), base_dir=model.parent)


def channel_means(
    rgb: tuple[int, int, int],
    *,
    channels: str = "RGB",
    scale: float = 1 / 255,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Reference: what the model sees, per channel, for a one-colour frame."""
    pixels = np.asarray(rgb if channels == "RGB" else rgb[::-1], np.float64)
    return (pixels * scale - np.asarray(mean)) / np.asarray(std)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def scores_by_label(detections: list[Detection]) -> dict[str, float]:
    return {d.label: d.score for d in detections}


# --- classifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "output", "already_activated", "reference"),
    [
        pytest.param(None, "softmax", False, softmax, id="softmax-of-logits"),
        pytest.param("Softmax", "softmax", True, softmax, id="softmax-in-model"),
        pytest.param(None, "sigmoid", False, sigmoid, id="sigmoid-of-logits"),
        pytest.param("Sigmoid", "sigmoid", True, sigmoid, id="sigmoid-in-model"),
    ],
)
def test_classifier_scores_match_the_reference(
    models: Any,
    solid: Callable[..., Frame],
    activation: str | None,
    output: str,
    already_activated: bool,
    reference: Callable[[np.ndarray], np.ndarray],
) -> None:
    bias = np.array([0.5, -0.25, 0.1], np.float32)
    path = models.classifier(ROUTING, bias=bias, activation=activation)
    detector = build(path, output=output, already_activated=already_activated)

    [found] = detector.detect([solid((200, 40, 90), index=7)])

    expected = reference(channel_means((200, 40, 90)) @ ROUTING + bias)
    assert scores_by_label(found) == pytest.approx(
        {"knife": expected[1], "gun": expected[2]}, abs=1e-5
    )
    assert {(d.detector, d.category, d.box, d.frame) for d in found} == {
        ("weapons", "weapon", None, 7)
    }


@pytest.mark.parametrize(
    ("channels", "top"),
    [
        pytest.param("RGB", "knife", id="rgb-model-sees-red-as-channel-0"),
        pytest.param("BGR", "gun", id="bgr-model-sees-red-as-channel-2"),
    ],
)
def test_channel_order_reaches_the_model(
    models: Any, solid: Callable[..., Frame], channels: str, top: str
) -> None:
    detector = build(models.classifier(ROUTING), channels=channels)

    [found] = detector.detect([solid((255, 0, 0))])

    assert max(found, key=lambda d: d.score).label == top


@pytest.mark.parametrize(
    ("options", "normalise"),
    [
        pytest.param({}, {}, id="defaults"),
        pytest.param(
            {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
            id="imagenet",
        ),
        pytest.param(
            {"scale": 1.0, "mean": 127.5, "std": [127.5]},
            {"scale": 1.0, "mean": (127.5,) * 3, "std": (127.5,) * 3},
            id="single-number-mean-std",
        ),
        pytest.param(
            {"channels": "BGR", "mean": [0.1, 0.2, 0.3]},
            {"channels": "BGR", "mean": (0.1, 0.2, 0.3)},
            id="bgr-mean-in-model-order",
        ),
    ],
)
def test_normalisation(
    models: Any, solid: Callable[..., Frame], options: dict[str, Any], normalise: dict[str, Any]
) -> None:
    weights = np.array([[1.0, 0.3, -0.2], [0.0, 1.0, 0.5], [0.2, -0.7, 1.0]], np.float32)
    detector = build(models.classifier(weights), output="sigmoid", **options)

    [found] = detector.detect([solid((100, 150, 200))])

    expected = sigmoid(channel_means((100, 150, 200), **normalise) @ weights)
    assert scores_by_label(found) == pytest.approx(
        {"knife": expected[1], "gun": expected[2]}, abs=1e-5
    )


def test_nhwc_model_matches_its_nchw_twin(models: Any) -> None:
    rng = np.random.default_rng(3)
    frame = Frame(0, None, rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), 1.0)
    nchw = build(models.classifier(ROUTING, name="nchw"))
    nhwc = build(models.classifier(ROUTING, layout="NHWC", name="nhwc"), layout="NHWC")

    [want] = nchw.detect([frame])
    [got] = nhwc.detect([frame])

    assert scores_by_label(got) == pytest.approx(scores_by_label(want), abs=1e-6)


def test_unmapped_labels_are_never_emitted(models: Any, solid: Callable[..., Frame]) -> None:
    detector = build(models.classifier(ROUTING), categories={"gun": "weapon"})

    [found] = detector.detect([solid((0, 255, 0))])  # "safe" scores highest

    assert [d.label for d in found] == ["gun"]
    assert detector.categories == frozenset({"weapon"})


def test_logits_declared_as_activated_are_refused(models: Any, solid: Callable[..., Frame]) -> None:
    detector = build(models.classifier(ROUTING * 3), already_activated=True)

    with pytest.raises(ConfigError, match=r"detectors\[weapons\]\.already_activated"):
        detector.detect([solid((255, 0, 0))])


def test_model_info_and_input_size(models: Any) -> None:
    path = models.classifier(ROUTING, size=(48, 24))
    detector = build(path, input_size=[48, 24])

    info = detector.model
    assert (info.name, info.version, info.licence, info.package, info.opt_in) == (
        "weapons",
        "2026.03",
        "proprietary",
        "(platform model)",
        False,
    )
    assert info.path == path.resolve()
    assert detector.input_size == 48
    assert detector.detect([]) == []


def test_created_through_the_registry(models: Any, solid: Callable[..., Frame]) -> None:
    path = models.classifier(ROUTING)

    detector = registry.create("onnx", config(path), base_dir=path.parent)

    assert isinstance(detector, CustomOnnxDetector)
    assert len(detector.detect([solid((1, 2, 3))])[0]) == 2


# --- YOLO -----------------------------------------------------------------------------------

# Anchors in a 64 x 64 model input: centre x, centre y, width, height.
ANCHORS = [
    (32, 32, 16, 16),  # 0: knife 0.9 -> corners (24, 24, 40, 40)
    (34, 32, 16, 16),  # 1: knife 0.8, IoU 0.78 with anchor 0 -> suppressed
    (34, 32, 16, 16),  # 2: gun 0.7, same place, other class -> kept
    (10, 10, 4, 4),  # 3: knife 0.1, below the threshold
    (32, 32, 16, 16),  # 4: person 0.95, a label mapped to no category -> dropped
    (60, 32, 16, 16),  # 5: knife 0.6, corners (52, 24, 68, 40): sticks out on the right
]
YOLO_LABELS = ["knife", "gun", "person"]
YOLO_SCORES = np.zeros((3, 6), np.float32)
for _anchor, _class, _score in [(0, 0, 0.9), (1, 0, 0.8), (2, 1, 0.7), (3, 0, 0.1), (4, 2, 0.95)]:
    YOLO_SCORES[_class, _anchor] = _score
YOLO_SCORES[0, 5] = 0.6


def yolo_config(model: Path, **overrides: Any) -> dict[str, Any]:
    return config(
        model,
        **{
            "input_size": [64, 64],
            "output": "yolo",
            "labels": list(YOLO_LABELS),
            **overrides,
        },
    )


def build_yolo(model: Path, **overrides: Any) -> CustomOnnxDetector:
    options = yolo_config(model, **overrides)
    return CustomOnnxDetector.from_options(options, base_dir=model.parent)


def found_boxes(detections: list[Detection]) -> list[tuple[str, float, Box | None]]:
    ordered = sorted(detections, key=lambda d: -d.score)
    return [(d.label, round(d.score, 4), d.box) for d in ordered]


@pytest.mark.parametrize(
    ("yolo_format", "objectness", "expected"),
    [
        pytest.param(
            "v8",
            None,
            [
                ("knife", 0.9, Box(x=24, y=24, width=16, height=16)),
                ("gun", 0.7, Box(x=26, y=24, width=16, height=16)),
                ("knife", 0.6, Box(x=52, y=24, width=12, height=16)),
            ],
            id="v8",
        ),
        pytest.param(
            "v5",
            [0.5] * 6,
            [
                ("knife", 0.45, Box(x=24, y=24, width=16, height=16)),
                ("gun", 0.35, Box(x=26, y=24, width=16, height=16)),
                ("knife", 0.3, Box(x=52, y=24, width=12, height=16)),
            ],
            id="v5-objectness-multiplies",
        ),
    ],
)
def test_yolo_decode_nms_and_clipping(
    models: Any,
    solid: Callable[..., Frame],
    yolo_format: str,
    objectness: list[float] | None,
    expected: list[tuple[str, float, Box]],
) -> None:
    path = models.yolo(ANCHORS, YOLO_SCORES, yolo_format=yolo_format, objectness=objectness)
    detector = build_yolo(path, yolo_format=yolo_format)

    [found] = detector.detect([solid((0, 0, 0), 64, 64)])

    assert found_boxes(found) == expected
    assert {d.category for d in found} == {"weapon"}


@pytest.mark.parametrize(
    ("resize", "width", "height", "scale", "expected"),
    [
        pytest.param(
            "stretch",
            128,
            64,
            2.0,
            [(96, 48, 64, 32), (104, 48, 64, 32), (208, 48, 48, 32)],
            id="stretch-landscape",
        ),
        pytest.param(
            "letterbox",
            128,
            64,
            2.0,
            [(96, 32, 64, 64), (104, 32, 64, 64), (208, 32, 48, 64)],
            id="letterbox-landscape",
        ),
        pytest.param(
            "letterbox",
            64,
            128,
            1.0,
            # anchor 5 maps wholly right of the image and is dropped
            [(16, 48, 32, 32), (20, 48, 32, 32)],
            id="letterbox-portrait",
        ),
        pytest.param(
            "center_crop",
            128,
            64,
            2.0,
            [(112, 48, 32, 32), (116, 48, 32, 32), (168, 48, 32, 32)],
            id="center-crop-landscape",
        ),
    ],
)
def test_boxes_map_back_to_the_original_image(
    models: Any,
    solid: Callable[..., Frame],
    resize: str,
    width: int,
    height: int,
    scale: float,
    expected: list[tuple[int, int, int, int]],
) -> None:
    detector = build_yolo(models.yolo(ANCHORS, YOLO_SCORES), resize=resize)

    [found] = detector.detect([solid((0, 0, 0), width, height, scale=scale)])

    assert [box for _, _, box in found_boxes(found)] == [
        Box(x=x, y=y, width=w, height=h) for x, y, w, h in expected
    ]


# --- batching -------------------------------------------------------------------------------


class CountingSession:
    """Wraps a real session and counts how many batches it ran."""

    def __init__(self, real: Any, calls: list[int]) -> None:
        self._real = real
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self._calls.append(next(iter(feeds.values())).shape[0])
        return self._real.run(names, feeds)


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch sizes of every session.run of custom detectors built in the test."""
    calls: list[int] = []
    real = onnx_custom.session
    monkeypatch.setattr(onnx_custom, "session", lambda path: CountingSession(real(path), calls))
    return calls


def varied_frames(count: int) -> list[Frame]:
    rng = np.random.default_rng(11)
    frames = []
    for index in range(count):
        width, height = rng.integers(20, 90, size=2)
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frames.append(Frame(index=index, time=None, pixels=pixels, scale=1.5))
    return frames


def same_detections(left: list[list[Detection]], right: list[list[Detection]]) -> None:
    assert len(left) == len(right)
    for got, want in zip(left, right, strict=True):
        assert [(d.label, d.box, d.frame) for d in got] == [(d.label, d.box, d.frame) for d in want]
        assert [d.score for d in got] == pytest.approx([d.score for d in want], abs=1e-5)


@pytest.mark.parametrize(
    ("batch", "frames", "expected_batches"),
    [
        pytest.param("batch", 5, [5], id="dynamic-one-batch"),
        pytest.param("batch", 20, [16, 4], id="dynamic-capped-at-16"),
        pytest.param(1, 3, [1, 1, 1], id="fixed-batch-of-one"),
    ],
)
@pytest.mark.parametrize("kind", ["classifier", "yolo"])
def test_batching_gives_the_same_results_as_one_by_one(
    models: Any,
    batches: list[int],
    kind: str,
    batch: int | str,
    frames: int,
    expected_batches: list[int],
) -> None:
    if kind == "classifier":
        detector = build(models.classifier(ROUTING, batch=batch), output="sigmoid")
    else:
        gain = np.linspace(-0.5, 0.5, YOLO_SCORES.size, dtype=np.float32).reshape(3, 6)
        path = models.yolo(ANCHORS, YOLO_SCORES, gain=gain, batch=batch)
        detector = build_yolo(path, resize="letterbox")
    inputs = varied_frames(frames)

    together = detector.detect(inputs)
    assert batches == expected_batches
    one_by_one = [detector.detect([frame])[0] for frame in inputs]

    same_detections(together, one_by_one)
    assert [d.frame for found in together for d in found] == sorted(
        d.frame for found in together for d in found
    )


# --- refused configurations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"id": None}, r"detectors\[onnx\]\.id: missing", id="id-missing"),
        pytest.param({"id": 3}, r"detectors\[onnx\]\.id: expected a non-empty string", id="id-int"),
        pytest.param({"id": "a b"}, r"detectors\[a b\]\.id: expected letters", id="id-space"),
        pytest.param({"model": None}, r"detectors\[weapons\]\.model: missing", id="model-missing"),
        pytest.param({"model": ""}, r"\.model: expected a non-empty string", id="model-empty"),
        pytest.param({"version": None}, r"\.version: missing", id="version-missing"),
        pytest.param({"licence": 1.0}, r"\.licence: expected a non-empty string", id="licence"),
        pytest.param(
            {"input_size": None}, r"\.input_size: expected \[width, height\]", id="size-0"
        ),
        pytest.param({"input_size": [224]}, r"\.input_size: expected \[width", id="size-1"),
        pytest.param({"input_size": [0, 32]}, r"\.input_size: .*from 1 to", id="size-zero"),
        pytest.param({"input_size": [True, 32]}, r"\.input_size:", id="size-bool"),
        pytest.param({"input_size": "32x32"}, r"\.input_size:", id="size-string"),
        pytest.param({"layout": "CHW"}, r"\.layout: expected 'NCHW' or 'NHWC'", id="layout"),
        pytest.param({"channels": "RGBA"}, r"\.channels: expected 'RGB' or 'BGR'", id="channels"),
        pytest.param({"scale": 0}, r"\.scale: expected a number greater than 0", id="scale-zero"),
        pytest.param({"scale": "1/255"}, r"\.scale: expected a number", id="scale-string"),
        pytest.param({"mean": [0.5, 0.5]}, r"\.mean: expected 1 or 3 numbers", id="mean-two"),
        pytest.param({"mean": ["a"]}, r"\.mean: expected 1 or 3 numbers", id="mean-string"),
        pytest.param({"std": [1, 0, 1]}, r"\.std: expected non-zero", id="std-zero"),
        pytest.param({"std": float("nan")}, r"\.std: expected 1 or 3 numbers", id="std-nan"),
        pytest.param({"resize": "crop"}, r"\.resize: expected 'stretch'", id="resize"),
        pytest.param(
            {"pad_value": 0}, r"inapplicable option\(s\): pad_value", id="pad-no-letterbox"
        ),
        pytest.param(
            {"resize": "letterbox", "pad_value": 300}, r"\.pad_value: expected values", id="pad"
        ),
        pytest.param({"output": "logits"}, r"\.output: expected 'softmax'", id="output"),
        pytest.param({"output": None}, r"\.output: missing", id="output-missing"),
        pytest.param({"already_activated": "yes"}, r"\.already_activated: expected true", id="act"),
        pytest.param({"labels": []}, r"\.labels: expected a non-empty list", id="labels-empty"),
        pytest.param({"labels": ["a", 1]}, r"\.labels: expected a non-empty list", id="labels-int"),
        pytest.param(
            {"labels": ["knife", "gun", "gun"]}, r"\.labels: .*repeated: gun", id="labels-dup"
        ),
        pytest.param({"categories": {}}, r"\.categories: expected a table", id="categories-empty"),
        pytest.param({"categories": "weapon"}, r"\.categories: expected a table", id="cats-str"),
        pytest.param(
            {"categories": {"sword": "weapon"}},
            r"\.categories\.sword: 'sword' is not one of",
            id="category-of-unknown-label",
        ),
        pytest.param(
            {"categories": {"knife": ""}},
            r"\.categories\.knife: expected a non-empty",
            id="category-empty",
        ),
        pytest.param(
            {"score_threshold": 0.5},
            r"inapplicable option\(s\): score_threshold",
            id="threshold-on-classifier",
        ),
        pytest.param({"thresholds": 0.5}, r"unknown or inapplicable.*thresholds", id="unknown"),
        pytest.param({"name": "onnx"}, r"unknown or inapplicable.*name", id="name-not-stripped"),
    ],
)
def test_bad_fields_are_named(models: Any, overrides: dict[str, Any], message: str) -> None:
    path = models.classifier(ROUTING)
    options = {k: v for k, v in config(path, **overrides).items() if v is not None}

    with pytest.raises(ConfigError, match=message):
        CustomOnnxDetector.from_options(options, base_dir=path.parent)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"score_threshold": 1.5}, r"\.score_threshold: expected a number in \(0", id="score"
        ),
        pytest.param(
            {"score_threshold": 0}, r"\.score_threshold: expected a number in \(0", id="zero"
        ),
        pytest.param({"iou_threshold": 0}, r"\.iou_threshold: expected a number in \(0", id="iou"),
        pytest.param({"yolo_format": "v9"}, r"\.yolo_format: expected 'v8' or 'v5'", id="format"),
        pytest.param(
            {"already_activated": True}, r"inapplicable option\(s\): already_activated", id="act"
        ),
    ],
)
def test_bad_yolo_fields_are_named(models: Any, overrides: dict[str, Any], message: str) -> None:
    path = models.yolo(ANCHORS, YOLO_SCORES)

    with pytest.raises(ConfigError, match=message):
        build_yolo(path, **overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            {"labels": ["safe", "hijab"], "categories": {"hijab": "religious_dress"}},
            id="religious-dress",
        ),
        pytest.param({"labels": ["safe", "female", "gun"]}, id="label-female"),
        pytest.param({"categories": {"knife": "ethnicity"}}, id="category-ethnicity"),
        pytest.param({"categories": {"gun": "ageGroup"}}, id="category-camel-case-age"),
        pytest.param({"id": "gender-classifier"}, id="instance-id"),
    ],
)
def test_protected_traits_are_refused_before_the_model_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any]
) -> None:
    def never(path: Path) -> None:
        raise AssertionError("the session must not be created")

    monkeypatch.setattr(onnx_custom, "session", never)
    # The model file does not exist either: the protected check comes first.
    options = config(tmp_path / "absent.onnx", **overrides)

    with pytest.raises(ProtectedTraitError, match="protected trait"):
        CustomOnnxDetector.from_options(options, base_dir=tmp_path)


def test_missing_model_names_the_resolved_path(tmp_path: Path) -> None:
    options = config(tmp_path / "models" / "weapons.onnx", model="models/../models/weapons.onnx")
    resolved = tmp_path.resolve() / "models" / "weapons.onnx"

    with pytest.raises(ConfigError, match=r"detectors\[weapons\]\.model: file not found") as err:
        CustomOnnxDetector.from_options(options, base_dir=tmp_path)
    assert str(resolved) in str(err.value)


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weapons.onnx"
    path.write_bytes(b"not a model")

    with pytest.raises(ConfigError, match="cannot load ONNX model"):
        build(path)


@pytest.mark.parametrize(
    ("make", "overrides", "message"),
    [
        pytest.param(
            lambda m: m.classifier(ROUTING, size=(224, 224)),
            {},
            r"\.input_size: the model's input shape is \(\?, 3, 224, 224\).*\[32, 32\]",
            id="input-size",
        ),
        pytest.param(
            lambda m: m.classifier(ROUTING, size=(48, 32)),
            {"input_size": [32, 48]},
            r"\.input_size: .*\(width, height\)",
            id="width-height-swapped",
        ),
        pytest.param(
            lambda m: m.classifier(ROUTING, layout="NHWC"),
            {},
            r"\.layout: .*has 32 channels, not 3; is it 'NHWC'",
            id="nhwc-model-nchw-config",
        ),
        pytest.param(
            lambda m: m.classifier(ROUTING[:, :2]),
            {},
            r"\.labels: the model's output shape is \(\?, 2\).*3 labels",
            id="classifier-label-count",
        ),
        pytest.param(
            lambda m: m.classifier(ROUTING, batch=4),
            {},
            r"\.model: the model's batch dimension is fixed at 4",
            id="fixed-batch-of-four",
        ),
        pytest.param(
            lambda m: m.yolo(ANCHORS, YOLO_SCORES),
            {"output": "yolo", "input_size": [64, 64], "labels": ["knife", "gun"]},
            r"needs \(batch, 4 \+ classes, anchors\) with 6 at axis 1; check labels",
            id="yolo-label-count",
        ),
        pytest.param(
            lambda m: m.yolo(ANCHORS, YOLO_SCORES),
            {"output": "yolo", "input_size": [64, 64], "labels": YOLO_LABELS, "yolo_format": "v5"},
            r"yolo_format 'v5' with 3 labels needs \(batch, anchors, 5 \+ classes\)",
            id="v8-model-v5-config",
        ),
    ],
)
def test_model_shape_contradicting_the_config_is_refused(
    models: Any, make: Callable[[Any], Path], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build(make(models), **overrides)


def test_undeclared_output_width_is_checked_when_run(
    models: Any, solid: Callable[..., Frame]
) -> None:
    detector = build(models.column_means(), input_size=[2, 32])

    with pytest.raises(ConfigError, match=r"returned 2 scores per frame but 3 labels"):
        detector.detect([solid((1, 2, 3))])


# --- shared numpy helpers -------------------------------------------------------------------


def test_resize_matches_opencv_inter_linear() -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for width, height in [(20, 15), (53, 37), (100, 80), (53, 12)]:
        want = cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        got = onnx_model.resize_bilinear(image, width, height)
        np.testing.assert_allclose(got, want, atol=1e-3)


def test_nms_keeps_classes_apart_and_drops_overlaps() -> None:
    boxes = onnx_model.Boxes(
        xyxy=np.array(
            [[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32
        ),
        scores=np.array([0.9, 0.8, 0.7, 0.6], np.float32),
        class_ids=np.array([0, 0, 1, 0], np.intp),
    )

    kept = onnx_model.nms(boxes, 0.45)

    assert kept.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert kept.class_ids.tolist() == [0, 1, 0]
