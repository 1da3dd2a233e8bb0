"""The 8-bit pixel formats of decoded video frames whose planes mediaguard reads directly.

Why separate: the scene-cut thumbnail reads the luma plane of a decoded frame, and
redaction converts windows from, and paints masks onto, the planes of decoded frames,
both without a swscale conversion. Both depend on the same facts about a format (its
planes and its range), so the facts are written once, in :data:`PIXEL_FORMATS`, and each
use takes the set it needs from it. A format not in the table is converted by FFmpeg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["FULL_RANGE", "LUMA_FIRST", "PIXEL_FORMATS", "PLANAR", "Chroma", "PixelFormat"]

Chroma = Literal["planar", "interleaved", "none"]
"""Where a format keeps its chroma: a plane per component, one plane of pairs, or none."""


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """How a decoded 8-bit frame of one format lays out its samples.

    Every format here has 8-bit luma in its first plane, at the frame's size.

    Attributes:
        chroma: ``"planar"`` (one plane each for U and V), ``"interleaved"`` (one plane
            of UV pairs: NV12, NV21) or ``"none"`` (grey).
        alpha: whether a further plane holds alpha.
        full_range: whether samples span 0-255 (JPEG range) rather than 16-235, so that
            black luma is 0 rather than 16.
    """

    chroma: Chroma
    alpha: bool = False
    full_range: bool = False


#: FFmpeg's name of each format to its layout.
PIXEL_FORMATS: Final[Mapping[str, PixelFormat]] = {
    "yuv420p": PixelFormat("planar"),
    "yuvj420p": PixelFormat("planar", full_range=True),
    "yuv422p": PixelFormat("planar"),
    "yuvj422p": PixelFormat("planar", full_range=True),
    "yuv444p": PixelFormat("planar"),
    "yuvj444p": PixelFormat("planar", full_range=True),
    "yuv440p": PixelFormat("planar"),
    "yuvj440p": PixelFormat("planar", full_range=True),
    "yuv411p": PixelFormat("planar"),
    "yuv410p": PixelFormat("planar"),
    "yuva420p": PixelFormat("planar", alpha=True),
    "nv12": PixelFormat("interleaved"),
    "nv21": PixelFormat("interleaved"),
    "gray": PixelFormat("none", full_range=True),
}

#: Formats whose first plane is 8-bit luma at the frame's size: every format in the table.
LUMA_FIRST: Final = frozenset(PIXEL_FORMATS)
#: Formats whose every plane is one 8-bit component, luma first, and nothing else, so each
#: plane can be painted with its own fill value (no interleaved chroma, no alpha plane).
PLANAR: Final = frozenset(
    name for name, fmt in PIXEL_FORMATS.items() if fmt.chroma != "interleaved" and not fmt.alpha
)
#: Formats whose samples span 0-255.
FULL_RANGE: Final = frozenset(name for name, fmt in PIXEL_FORMATS.items() if fmt.full_range)
