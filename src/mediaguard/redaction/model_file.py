"""The CenterFace file rewritten so that onnxruntime runs it at any size and fast.

Why separate, and why not with the ``onnx`` package: the shipped file declares a fixed
10 x 3 x 32 x 32 input and lists its 194 weights among the graph's inputs. onnxruntime
then refuses any other picture size, and, since a graph input may be overridden at run
time, cannot fold the batch norms into the convolutions (which makes it 2 to 2.5x
slower). The rewrite needed is small: drop the inputs that are weights and make the
batch and spatial sizes of the input and outputs symbolic. Importing ``onnx`` for it
costs about half a second of CPU at every start (its numpy extension types), a tenth of
redacting a 270-frame clip; this module edits the protobuf encoding directly instead,
touching only the graph's input and output descriptions and copying every other byte
(nodes, weights) unchanged. The field numbers are those of ONNX's ``onnx.proto``, which
are fixed by its compatibility rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final

# onnx.proto field numbers (stable across ONNX versions).
_MODEL_GRAPH: Final = 7
_GRAPH_INITIALIZER: Final = 5
_GRAPH_INPUT: Final = 11
_GRAPH_OUTPUT: Final = 12
_TENSOR_NAME: Final = 8
_VALUE_NAME: Final = 1
_VALUE_TYPE: Final = 2
_TYPE_TENSOR: Final = 1
_TENSOR_TYPE_SHAPE: Final = 2
_SHAPE_DIM: Final = 1
_DIM_PARAM: Final = 2

_VARINT: Final = 0
_FIXED64: Final = 1
_BYTES: Final = 2
_FIXED32: Final = 5


class ModelFileError(ValueError):
    """The bytes are not an ONNX model of the expected shape."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ModelFileError("truncated or malformed protobuf varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, the field's whole encoding, its payload) in order.

    For length-delimited fields the payload is the content; for others it is the value's
    encoding. Deprecated group wire types do not occur in ONNX files and are refused.
    """
    at = 0
    while at < len(data):
        start = at
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, end = _varint(data, at)
            payload_start = at
        elif wire == _FIXED64:
            payload_start, end = at, at + 8
        elif wire == _FIXED32:
            payload_start, end = at, at + 4
        elif wire == _BYTES:
            length, payload_start = _varint(data, at)
            end = payload_start + length
        else:
            raise ModelFileError(f"unsupported protobuf wire type {wire}")
        if end > len(data):
            raise ModelFileError("truncated protobuf field")
        yield number, wire, data[start:end], data[payload_start:end]
        at = end


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _BYTES) + _encode_varint(len(payload)) + payload


def _edit(data: bytes, number: int, change: Callable[[bytes], bytes | None]) -> bytes:
    """``data`` with each length-delimited field ``number`` replaced by ``change`` of its
    payload (dropped when it returns None); every other field is copied as it is."""
    out = bytearray()
    for field, wire, whole, payload in _fields(data):
        if field == number and wire == _BYTES:
            new = change(payload)
            if new is not None:
                out += _field(number, new)
        else:
            out += whole
    return bytes(out)


def _string(data: bytes, number: int) -> str:
    for field, wire, _, payload in _fields(data):
        if field == number and wire == _BYTES:
            return payload.decode("utf-8")
    return ""


def _symbolic_dims(value: bytes, names: Sequence[str | None]) -> bytes:
    """A ValueInfoProto whose shape's i-th dimension is named ``names[i]`` (kept if None)."""
    position = 0

    def dim(payload: bytes) -> bytes:
        nonlocal position
        name = names[position] if position < len(names) else None
        position += 1
        if name is None:
            return payload
        return _field(_DIM_PARAM, name.encode("utf-8"))

    def shape(payload: bytes) -> bytes:
        return _edit(payload, _SHAPE_DIM, dim)

    def tensor(payload: bytes) -> bytes:
        return _edit(payload, _TENSOR_TYPE_SHAPE, shape)

    def value_type(payload: bytes) -> bytes:
        return _edit(payload, _TYPE_TENSOR, tensor)

    return _edit(value, _VALUE_TYPE, value_type)


def dynamic_model(
    model: bytes,
    *,
    inputs: Sequence[str],
    outputs: Sequence[str],
    input_dims: Sequence[str | None],
    output_dims: Sequence[str | None],
) -> bytes:
    """The model with its weights out of the graph inputs and symbolic sizes.

    Args:
        model: a serialized ONNX ModelProto.
        inputs: the graph's inputs once the weights are removed, exactly (checked).
        outputs: outputs the graph must have (checked).
        input_dims: per dimension of the input shapes, a symbolic name or None to keep.
        output_dims: the same for every output.

    Raises:
        ModelFileError: when the bytes are not a model with those inputs and outputs.
    """
    graphs = [payload for field, wire, _, payload in _fields(model) if field == _MODEL_GRAPH]
    if len(graphs) != 1:
        raise ModelFileError("not an ONNX model: no single graph")
    graph = graphs[0]
    weights: set[str] = set()
    kept: list[str] = []
    found: set[str] = set()
    for field, wire, _, payload in _fields(graph):
        if wire != _BYTES:
            continue
        if field == _GRAPH_INITIALIZER:
            weights.add(_string(payload, _TENSOR_NAME))
    for field, wire, _, payload in _fields(graph):
        if wire == _BYTES and field == _GRAPH_INPUT:
            name = _string(payload, _VALUE_NAME)
            if name not in weights:
                kept.append(name)
        elif wire == _BYTES and field == _GRAPH_OUTPUT:
            found.add(_string(payload, _VALUE_NAME))
    if kept != list(inputs) or not set(outputs) <= found:
        raise ModelFileError("unexpected input or output names")

    def graph_input(payload: bytes) -> bytes | None:
        if _string(payload, _VALUE_NAME) in weights:
            return None
        return _symbolic_dims(payload, input_dims)

    def graph_output(payload: bytes) -> bytes:
        return _symbolic_dims(payload, output_dims)

    graph = _edit(_edit(graph, _GRAPH_INPUT, graph_input), _GRAPH_OUTPUT, graph_output)
    return _edit(model, _MODEL_GRAPH, lambda _: graph)
