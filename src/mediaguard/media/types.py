"""Values that leave the media stage.

Design note: the media stage decodes once, at the working size the signals need, and hands
the rest of the pipeline immutable values. Pixel arrays are made read-only so no later
stage can change what another stage sees. Time is an exact ``Fraction`` of seconds, never
a float, so frame positions survive round trips.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

RGBArray = npt.NDArray[np.uint8]


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """A container format recognised from its leading bytes."""

    name: str
    mime: str
    kind: MediaKind


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture at working resolution.

    Attributes:
        index: position of the frame in the source (0 for a still image).
        time: seconds from the start as an exact fraction, or None for a still.
        pixels: H x W x 3 RGB uint8, read-only.
        scale: original pixels per working pixel, so boxes found on ``pixels`` can be
            reported in the coordinates of the upright original.
    """

    index: int
    time: Fraction | None
    pixels: RGBArray
    scale: float

    def __post_init__(self) -> None:
        if self.pixels.ndim != 3 or self.pixels.shape[2] != 3:
            raise ValueError(f"Frame.pixels must be H x W x 3, got shape {self.pixels.shape}")
        if self.pixels.dtype != np.uint8:
            raise ValueError(f"Frame.pixels must be uint8, got {self.pixels.dtype}")
        if self.scale <= 0:
            raise ValueError(f"Frame.scale must be positive, got {self.scale}")
        self.pixels.setflags(write=False)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What the file is, independent of how it was decoded.

    ``width`` and ``height`` are those of the upright image, after EXIF orientation.
    """

    format: MediaFormat
    size_bytes: int
    width: int
    height: int
    frame_count: int
    animated: bool
    duration: Fraction | None = None


@dataclass(frozen=True, slots=True)
class DecodedMedia:
    """The output of the media stage: facts plus the sampled frames."""

    facts: MediaFacts
    frames: tuple[Frame, ...]

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("DecodedMedia needs at least one frame")
