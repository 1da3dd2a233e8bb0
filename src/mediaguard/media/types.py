"""Values that leave the media stage.

Design note: the media stage decodes once, at the working size the signals need, and hands
the rest of the pipeline immutable values. Pixel arrays are made read-only so no later
stage can change what another stage sees. Time is a :data:`FrameTime`, an exact
``Fraction`` of seconds, never a float, so frame positions survive round trips.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

RGBArray = npt.NDArray[np.uint8]

FrameTime: TypeAlias = Fraction
"""Seconds from the start of a video or animation to a frame, as an exact fraction.

PyAV places a frame at an integer pts in its stream's time base (1/90000 in MPEG-TS,
1/1000 in Matroska, the track's timescale in MP4), so ``pts * time_base`` is a rational
number that a float would round. Kept exact, a frame's time is the one its stream gives:
times from different time bases compare and sort correctly, a sample is never placed
on the wrong side of a sampling boundary, and a time written out and read back (a vPDQ
frame, a timeline segment) still names the same frame.
"""


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
    time: FrameTime | None
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
