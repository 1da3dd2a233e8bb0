"""Interfaces and result types of the signals stage.

Design note: a detector is one small interface with one required method, ``detect``,
batched over frames, and a class-level ``name`` that keys the registry (a class name is
never a storage key). What a detector emits is a :class:`Detection`: a content category,
the model's own label, a score and an optional box in the coordinates of the upright
original image. Results are frozen pydantic models because they cross into the verdict's
JSON unchanged.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mediaguard.errors import ConfigError
from mediaguard.media.types import Frame


class Box(BaseModel):
    """An axis-aligned box in pixels of the upright original image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: int = Field(ge=0, description="Left edge, pixels.")
    y: int = Field(ge=0, description="Top edge, pixels.")
    width: int = Field(ge=0, description="Width, pixels.")
    height: int = Field(ge=0, description="Height, pixels.")


class Detection(BaseModel):
    """One thing a detector found in one frame."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detector: str = Field(description="Registry name of the detector that emitted it.")
    category: str = Field(description="Content category the policy thresholds apply to.")
    label: str = Field(description="The model's own label, mapped to the category.")
    score: float = Field(ge=0.0, le=1.0, description="Model confidence, 0 to 1.")
    box: Box | None = Field(default=None, description="Region, when the model gives one.")
    frame: int = Field(default=0, ge=0, description="Index of the frame in the source.")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Provenance of a model's weights, as ``mediaguard models`` shows it.

    The weights' SHA-256 is computed on first use and cached, because hashing a 24 MB
    file costs more than a scan and most runs never ask for it.
    """

    name: str
    version: str
    licence: str
    package: str
    path: Path | None
    opt_in: bool = False
    _digest: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the weights file, or ``""`` for a model without one."""
        if self.path is None:
            return ""
        if not self._digest:
            digest = hashlib.sha256()
            with self.path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            self._digest.append(digest.hexdigest())
        return self._digest[0]


class Detector(ABC):
    """A model that turns frames into detections.

    Subclasses set ``name`` and implement :meth:`detect`. ``categories`` lists every
    category the detector can emit, so a policy can be checked against it at start-up.
    ``input_size`` is the long side, in pixels, that the detector wants its frames at;
    the media stage decodes once at the largest size any detector wants.
    """

    name: ClassVar[str]
    input_size: ClassVar[int] = 512

    @property
    @abstractmethod
    def categories(self) -> frozenset[str]:
        """Every category this detector can emit."""

    @property
    @abstractmethod
    def model(self) -> ModelInfo:
        """Provenance of the weights this detector runs."""

    @abstractmethod
    def detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        """Run the model over a batch of frames.

        Returns:
            One list of detections per input frame, in input order.
        """

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, base_dir: Path) -> Detector:
        """Build the detector from its config table.

        Args:
            options: the detector's TOML table, less its ``name``/``kind`` keys.
            base_dir: directory relative paths in ``options`` are resolved against.

        Raises:
            ConfigError: when an option is unknown or invalid.
        """
        del base_dir
        if options:
            raise ConfigError(
                f"detector {cls.name!r} takes no options, got {', '.join(sorted(options))}"
            )
        return cls()
