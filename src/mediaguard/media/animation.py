"""An animation's frame count and timing, read from its container before any pixel decodes.

Why separate: this is byte-level parsing of GIF blocks, WebP RIFF chunks and APNG
chunks, apart from decoding. Pillow's own ``n_frames`` walks (and, for GIF, decodes)
every frame in Python, so a hostile file with a huge frame count would cost its whole
decode before the frame limit could refuse it; reading the structure here stops at
``limits.max_frames`` and gives each frame's exact start time.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image

from mediaguard.errors import CorruptMedia, MediaTooLarge
from mediaguard.media.limits import Limits, check_image_pixels
from mediaguard.media.types import FrameTime

__all__ = ["Timeline", "read_timeline"]


@dataclass(frozen=True, slots=True)
class Timeline:
    """Frame count and start times of an animation, read before decoding any frame."""

    frame_count: int
    starts: Sequence[FrameTime] | None  # None: Pillow reports each frame's time on load
    duration: Fraction | None


def read_timeline(img: Image.Image, data: bytes, name: str, limits: Limits) -> Timeline | None:
    """Return the timeline of an animation, or None for a still image.

    Raises:
        MediaTooLarge: more frames than ``limits.max_frames``.
        CorruptMedia: the container's frame table disagrees with Pillow.
    """
    if name == "gif":
        # Pillow's n_frames walks every frame in Python; this stops at the limit.
        durations = _gif_durations(data, limits)
    elif name in ("webp", "png", "avif"):
        # These keep the count in a header, so n_frames is cheap (for TIFF it would walk,
        # and parse, every page).
        declared = int(getattr(img, "n_frames", 1))
        if declared < 2:
            return None
        _check_frame_count(declared, limits)
        if name == "avif":
            return Timeline(frame_count=declared, starts=None, duration=None)
        if name == "webp":
            durations = _webp_durations(data)
            if len(durations) != declared:
                raise CorruptMedia(
                    f"WebP frame table lists {len(durations)} frames, the decoder {declared}"
                )
        else:
            durations = _apng_durations(data, declared, getattr(img, "default_image", False))
    else:
        return None
    if len(durations) < 2:
        return None
    starts = [Fraction(0)]
    for frame_duration in durations[:-1]:
        starts.append(starts[-1] + frame_duration)
    return Timeline(frame_count=len(durations), starts=starts, duration=starts[-1] + durations[-1])


def _gif_durations(data: bytes, limits: Limits) -> list[Fraction]:
    """Read each frame's delay from a GIF's block structure, without decoding pixels.

    Mirrors how Pillow walks the blocks (stray bytes between blocks are skipped, a
    missing trailer ends the file) so both count the same frames. A frame without a
    graphic control extension has no delay, as in Pillow.

    Raises:
        MediaTooLarge: more than ``limits.max_frames`` frames, or a frame reaching outside
            a canvas of ``limits.max_pixels`` (Pillow grows the canvas to fit it).
    """
    if len(data) < 13:
        raise CorruptMedia("GIF header is truncated")
    canvas_w, canvas_h = struct.unpack_from("<HH", data, 6)
    pos = 13 + _colour_table_size(data[10])
    end = len(data)
    durations: list[Fraction] = []
    delay = 0
    while pos < end:
        tag = data[pos]
        pos += 1
        if tag == 0x3B:
            break
        if tag == 0x21 and pos < end:
            label = data[pos]
            pos += 1
            if label == 0xF9 and pos + 4 <= end and data[pos] >= 3:
                delay = int.from_bytes(data[pos + 2 : pos + 4], "little")
            pos = _skip_sub_blocks(data, pos)
        elif tag == 0x2C and pos + 9 <= end:
            left, top, width, height, flags = struct.unpack_from("<HHHHB", data, pos)
            canvas_w, canvas_h = max(canvas_w, left + width), max(canvas_h, top + height)
            check_image_pixels((canvas_w, canvas_h), limits)
            pos = _skip_sub_blocks(data, pos + 9 + _colour_table_size(flags) + 1)
            durations.append(Fraction(delay, 100))
            delay = 0
            _check_frame_count(len(durations), limits)
    return durations


def _colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _webp_durations(data: bytes) -> list[Fraction]:
    """Read each ANMF frame's duration (milliseconds) from a WebP's RIFF chunks."""
    durations: list[Fraction] = []
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= end:
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc == b"ANMF" and size >= 16:
            milliseconds = int.from_bytes(data[pos + 20 : pos + 23], "little")
            durations.append(Fraction(milliseconds, 1000))
        pos += 8 + size + (size & 1)
    return durations


def _apng_durations(data: bytes, frame_count: int, default_image: bool) -> list[Fraction]:
    """Read each APNG frame's delay from its fcTL chunks.

    Raises:
        CorruptMedia: fewer frame-control chunks than frames declared in acTL.
    """
    delays: list[Fraction] = [Fraction(0)] if default_image else []
    pos = 8
    while pos + 8 <= len(data) and len(delays) < frame_count:
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk = data[pos + 4 : pos + 8]
        if chunk == b"fcTL" and length >= 26:
            numerator, denominator = struct.unpack_from(">HH", data, pos + 8 + 20)
            # The PNG spec reads a zero denominator as 1/100 s.
            delays.append(Fraction(numerator, denominator or 100))
        elif chunk == b"IEND":
            break
        pos += 12 + length
    if len(delays) < frame_count:
        raise CorruptMedia(f"APNG declares {frame_count} frames but describes {len(delays)}")
    return delays


def _check_frame_count(count: int, limits: Limits) -> None:
    if count > limits.max_frames:
        raise MediaTooLarge(
            f"animation has more than limits.max_frames ({limits.max_frames}) frames; raise "
            "limits.max_frames in the config to accept it"
        )
