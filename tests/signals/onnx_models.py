"""Small ONNX models built in a test's temporary directory, never committed.

Every model is a few ONNX nodes whose output is a known function of the input, so the
tests can compute the expected answer in numpy: the per-channel mean of the preprocessed
image goes through one matrix product. Classifiers return those values as logits (or
probabilities); YOLO models return fixed boxes with class scores taken from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mediaguard.media.types import Frame

OPSET = 17
IR_VERSION = 8  # opset 17 needs IR 8; older than what onnxruntime accepts at most

Dim = int | str


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(value, name=f"{name}_value")
    )


def _save(
    path: Path,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    output: onnx.ValueInfoProto,
    metadata: Mapping[str, str] | None,
) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, [output])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def _channel_means(
    layout: str, batch: Dim, width: Dim, height: Dim
) -> tuple[onnx.ValueInfoProto, list[onnx.NodeProto]]:
    """Input value info and the nodes computing ``means`` (batch, 3) from it."""
    if layout == "NCHW":
        shape, axes = [batch, 3, height, width], [2, 3]
    else:
        shape, axes = [batch, height, width, 3], [1, 2]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)
    node = helper.make_node("ReduceMean", ["image"], ["means"], axes=axes, keepdims=0)
    return image, [node]


@dataclass
class ModelFactory:
    """Writes small ONNX models into a test's temporary directory."""

    directory: Path

    def classifier(
        self,
        weights: np.ndarray,
        *,
        bias: np.ndarray | None = None,
        activation: Literal["Softmax", "Sigmoid"] | None = None,
        layout: str = "NCHW",
        size: tuple[Dim, Dim] = (32, 32),
        batch: Dim = "batch",
        name: str = "classifier",
    ) -> Path:
        """Output = activation(channel_means @ weights + bias), shape (batch, classes).

        Args:
            weights: (3, classes) matrix from channel means (model channel order) to logits.
        """
        classes = weights.shape[1]
        bias = np.zeros(classes, np.float32) if bias is None else bias
        image, nodes = _channel_means(layout, batch, *size)
        nodes += [
            _const("weights", weights.astype(np.float32)),
            _const("bias", bias.astype(np.float32)),
            helper.make_node("MatMul", ["means", "weights"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["logits"]),
        ]
        last = "logits"
        if activation is not None:
            node = helper.make_node(activation, ["logits"], ["scores"])
            if activation == "Softmax":
                node = helper.make_node("Softmax", ["logits"], ["scores"], axis=-1)
            nodes.append(node)
            last = "scores"
        nodes.append(helper.make_node("Identity", [last], ["output"]))
        output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, classes])
        return _save(self.directory / f"{name}.onnx", nodes, [image], output, None)

    def column_means(self, height: int = 32) -> Path:
        """Output (batch, width): one value per pixel column of a dynamic-width input.

        How many values it returns is only known once it runs, which is what a model that
        leaves its output shape undeclared looks like.
        """
        image = helper.make_tensor_value_info(
            "image", TensorProto.FLOAT, ["batch", 3, height, "width"]
        )
        nodes = [helper.make_node("ReduceMean", ["image"], ["output"], axes=[1, 2], keepdims=0)]
        output = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "width"])
        return _save(self.directory / "columns.onnx", nodes, [image], output, None)

    def yolo(
        self,
        boxes: Sequence[Sequence[float]],
        scores: np.ndarray,
        *,
        gain: np.ndarray | None = None,
        yolo_format: Literal["v8", "v5"] = "v8",
        objectness: Sequence[float] | None = None,
        size: tuple[Dim, Dim] = (64, 64),
        batch: Dim = "batch",
        metadata: Mapping[str, str] | None = None,
        name: str = "yolo",
    ) -> Path:
        """A YOLO head with fixed boxes and class scores that may depend on the image.

        Args:
            boxes: (anchors, 4) centre x, centre y, width, height in model-input pixels.
            scores: (classes, anchors) class scores for an all-black image.
            gain: optional (classes, anchors) added per unit of the image's channel-0 mean,
                so that different images give different scores.
            objectness: v5 only, per anchor; multiplies the class scores.
        """
        classes, anchors = scores.shape
        box_rows = np.asarray(boxes, np.float32).T.reshape(1, 4, anchors)
        gain = np.zeros_like(scores) if gain is None else gain
        weights = np.zeros((3, classes * anchors), np.float32)
        weights[0] = gain.reshape(-1)
        image, nodes = _channel_means("NCHW", batch, *size)
        nodes += [
            _const("weights", weights),
            _const("base", scores.astype(np.float32).reshape(-1)),
            _const("score_shape", np.asarray([-1, classes, anchors], np.int64)),
            _const("box_rows", box_rows),
            _const("zero", np.zeros(1, np.float32)),
            _const("column_shape", np.asarray([-1, 1, 1], np.int64)),
            helper.make_node("MatMul", ["means", "weights"], ["product"]),
            helper.make_node("Add", ["product", "base"], ["flat_scores"]),
            helper.make_node("Reshape", ["flat_scores", "score_shape"], ["class_scores"]),
            # A zero per batch item, broadcast so the constant boxes get a batch axis.
            helper.make_node("ReduceMean", ["means"], ["mean_of_means"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["mean_of_means", "zero"], ["zeros"]),
            helper.make_node("Reshape", ["zeros", "column_shape"], ["zero_column"]),
            helper.make_node("Add", ["zero_column", "box_rows"], ["batched_boxes"]),
        ]
        parts = ["batched_boxes"]
        if yolo_format == "v5":
            objectness = [1.0] * anchors if objectness is None else objectness
            nodes += [
                _const("objectness", np.asarray(objectness, np.float32).reshape(1, 1, anchors)),
                helper.make_node("Add", ["zero_column", "objectness"], ["batched_objectness"]),
            ]
            parts.append("batched_objectness")
        parts.append("class_scores")
        nodes.append(helper.make_node("Concat", parts, ["rows"], axis=1))
        if yolo_format == "v8":
            nodes.append(helper.make_node("Identity", ["rows"], ["output"]))
            shape: list[Dim] = [batch, 4 + classes, anchors]
        else:
            nodes.append(helper.make_node("Transpose", ["rows"], ["output"], perm=[0, 2, 1]))
            shape = [batch, anchors, 5 + classes]
        output = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
        return _save(self.directory / f"{name}.onnx", nodes, [image], output, metadata)


def solid_frame(
    rgb: tuple[int, int, int],
    width: int = 48,
    height: int = 32,
    *,
    scale: float = 1.0,
    index: int = 0,
) -> Frame:
    """A frame of one colour: its preprocessed channel means are known exactly."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = rgb
    return Frame(index=index, time=None, pixels=pixels, scale=scale)
