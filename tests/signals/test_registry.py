"""The detector registry: unique names, built-ins, and plug-ins from real entry points."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from mediaguard.errors import ConfigError, ProtectedTraitError
from mediaguard.signals.base import Detector
from mediaguard.signals.detectors import registry
from mediaguard.signals.detectors.onnx_custom import CustomOnnxDetector

PLUGIN_SOURCE = """
from typing import ClassVar

from mediaguard.signals.base import Detector, ModelInfo


class Plugin(Detector):
    name: ClassVar[str] = {name!r}

    @property
    def categories(self):
        return frozenset({{{category!r}}})

    @property
    def model(self):
        return ModelInfo({name!r}, "1.0", "MIT", "test-plugin", None)

    def detect(self, frames):
        return [[] for _ in frames]


NOT_A_DETECTOR = object()
"""


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[Detector]]:
    """A copy of the registry holding the built-ins, reloaded on next use, restored after."""
    builtins = registry.available()
    monkeypatch.setattr(registry, "_registry", dict(builtins))
    monkeypatch.setattr(registry, "_loaded", False)
    return builtins


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: dict[str, type[Detector]]
) -> Iterator[Callable[..., None]]:
    """Installs a distribution with a ``mediaguard.detectors`` entry point on sys.path.

    It is a real ``*.dist-info`` directory, so discovery goes through
    ``importlib.metadata.entry_points`` exactly as for a pip-installed plug-in.
    """
    modules: list[str] = []

    def install(*, name: str, category: str = "weapon", target: str = "Plugin") -> None:
        module = f"mg_test_plugin_{name}"
        (tmp_path / f"{module}.py").write_text(
            textwrap.dedent(PLUGIN_SOURCE.format(name=name, category=category))
        )
        dist = tmp_path / f"{module}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(
            f"[{registry.ENTRY_POINT_GROUP}]\n{name} = {module}:{target}\n"
        )
        modules.append(module)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_builtins_are_registered_under_their_names() -> None:
    classes = registry.available()

    assert {"onnx", "nudenet", "open_nsfw"} <= set(classes)
    assert all(cls.name == name for name, cls in classes.items())


def test_a_taken_name_is_refused(fresh_registry: dict[str, type[Detector]]) -> None:
    class Impostor(CustomOnnxDetector):
        name: ClassVar[str] = "onnx"

    with pytest.raises(ConfigError, match=r"'onnx' is registered twice.*must be unique"):
        registry.register(Impostor)


def test_registering_the_same_class_again_is_harmless(
    fresh_registry: dict[str, type[Detector]],
) -> None:
    cls = fresh_registry["onnx"]

    assert registry.register(cls) is cls


def test_a_class_without_a_name_is_refused(fresh_registry: dict[str, type[Detector]]) -> None:
    class Nameless(Detector):
        pass

    with pytest.raises(ConfigError, match="has no 'name' class attribute"):
        registry.register(Nameless)  # type: ignore[type-abstract]


def test_an_unknown_name_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown detector 'nope'; available: .*nudenet, onnx"):
        registry.create("nope", base_dir=tmp_path)


def test_an_entry_point_plugin_is_loaded(
    install_plugin: Callable[..., None], tmp_path: Path
) -> None:
    install_plugin(name="plugged")

    detector = registry.create("plugged", base_dir=tmp_path)

    assert detector.categories == frozenset({"weapon"})
    assert type(detector).__module__ == "mg_test_plugin_plugged"
    assert {"onnx", "nudenet"} <= set(registry.available())


def test_a_plugin_with_a_protected_category_is_refused(
    install_plugin: Callable[..., None], tmp_path: Path
) -> None:
    install_plugin(name="profiler", category="ethnicity")

    with pytest.raises(ProtectedTraitError, match="protected trait"):
        registry.create("profiler", base_dir=tmp_path)


def test_a_plugin_taking_a_builtin_name_is_refused(install_plugin: Callable[..., None]) -> None:
    install_plugin(name="nudenet")

    with pytest.raises(ConfigError, match="'nudenet' is registered twice"):
        registry.available()


def test_an_entry_point_that_is_not_a_detector_is_refused(
    install_plugin: Callable[..., None],
) -> None:
    install_plugin(name="bogus", target="NOT_A_DETECTOR")

    with pytest.raises(ConfigError, match=r"'bogus'.*is not a mediaguard\.signals\.base\.Detector"):
        registry.available()


def test_a_plugin_that_fails_to_import_is_skipped_with_a_warning(
    install_plugin: Callable[..., None], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_plugin(name="broken")
    (tmp_path / "mg_test_plugin_broken.py").write_text("raise ImportError('no GPU here')\n")

    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        classes = registry.available()

    assert "broken" not in classes
    assert "onnx" in classes
    assert "'broken' failed to load: no GPU here" in caplog.text
