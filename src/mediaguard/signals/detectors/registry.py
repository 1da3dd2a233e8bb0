"""Detectors registered by name, with third-party ones loaded from entry points.

Design note: the registry is keyed by each class's explicit ``name``, checked for
uniqueness once, when the registry is first used. Built-ins register themselves when
their module imports; a third-party package exposes its detector class under the
``mediaguard.detectors`` entry-point group. Every category a detector declares passes
the protected-trait check before the detector can be used, so a plug-in cannot make
mediaguard infer a trait of a person.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from mediaguard.errors import ConfigError
from mediaguard.signals.base import Detector
from mediaguard.signals.protected import check_name

ENTRY_POINT_GROUP = "mediaguard.detectors"

_log = logging.getLogger(__name__)

# Modules of the built-in detectors; importing one registers its class.
_BUILTIN_MODULES = (
    "mediaguard.signals.detectors.sexual",
    "mediaguard.signals.detectors.nudenet",
    "mediaguard.signals.detectors.onnx_custom",
)

_registry: dict[str, type[Detector]] = {}
_loaded = False


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: add ``cls`` to the registry under ``cls.name``.

    Raises:
        ConfigError: when the name is missing or already taken by another class.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"detector class {cls.__qualname__} has no 'name' class attribute")
    existing = _registry.get(name)
    if existing is not None and existing is not cls:
        raise ConfigError(
            f"detector name {name!r} is registered twice: by {existing.__module__} and "
            f"{cls.__module__}; detector names must be unique"
        )
    _registry[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as err:  # a broken plug-in must not stop the built-ins
            _log.warning("detector plug-in %r failed to load: %s", ep.name, err)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise ConfigError(
                f"entry point {ep.name!r} in group {ENTRY_POINT_GROUP!r} is not a "
                "mediaguard.signals.base.Detector subclass"
            )
        register(cls)


def available() -> dict[str, type[Detector]]:
    """All registered detector classes by name, loading plug-ins on first use."""
    _load()
    return dict(_registry)


def create(name: str, options: Mapping[str, Any] | None = None, *, base_dir: Path) -> Detector:
    """Instantiate the detector registered as ``name`` and vet its categories.

    Raises:
        ConfigError: on an unknown name or invalid options.
        ProtectedTraitError: when the detector can emit a category naming a protected trait.
    """
    classes = available()
    cls = classes.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown detector {name!r}; available: {', '.join(sorted(classes)) or 'none'}"
        )
    detector = cls.from_options(options or {}, base_dir=base_dir)
    for category in sorted(detector.categories):
        check_name(f"category of detector {name!r}", category)
    return detector
