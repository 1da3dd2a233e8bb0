"""The media stage: recognise, limit and decode what is about to be scanned.

Design note: :func:`load` is the one entry point the pipeline calls with bytes in hand;
:func:`read_source` gets those bytes from a path without reading an oversized or special
file. The format is decided from content by :func:`sniff`, never from a file name, and
every refusal is a typed :class:`MediaError` so callers can map it to an exit code or an
HTTP status.
"""

from __future__ import annotations

from mediaguard.media.errors import (
    CorruptMedia,
    MediaError,
    MediaTooLarge,
    UnreadableSource,
    UnsupportedMedia,
)
from mediaguard.media.image import decode_image
from mediaguard.media.limits import Limits
from mediaguard.media.sniff import SNIFF_BYTES, sniff
from mediaguard.media.source import enforce_max_bytes, read_source
from mediaguard.media.types import (
    DecodedMedia,
    Frame,
    FrameTime,
    MediaFacts,
    MediaFormat,
    MediaKind,
    RGBArray,
)

__all__ = [
    "SNIFF_BYTES",
    "CorruptMedia",
    "DecodedMedia",
    "Frame",
    "FrameTime",
    "Limits",
    "MediaError",
    "MediaFacts",
    "MediaFormat",
    "MediaKind",
    "MediaTooLarge",
    "RGBArray",
    "UnreadableSource",
    "UnsupportedMedia",
    "decode_image",
    "load",
    "read_source",
    "sniff",
]


def load(data: bytes, limits: Limits, working_size: int | None = None) -> DecodedMedia:
    """Recognise and decode media bytes, enforcing every limit on the way.

    Args:
        data: the whole file.
        limits: the limits to enforce.
        working_size: long side of the decoded frames; ``limits.working_size`` if None.

    Returns:
        The facts of the media and its frames at working size.

    Raises:
        MediaTooLarge: a byte, pixel or frame limit is exceeded.
        UnsupportedMedia: the bytes are not a supported format, or are a video (video
            decoding is not implemented yet).
        CorruptMedia: the bytes claim a supported format but do not decode.
    """
    enforce_max_bytes(len(data), limits)
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt.kind is MediaKind.VIDEO:
        raise UnsupportedMedia("video: not yet supported")
    size = limits.working_size if working_size is None else working_size
    return decode_image(data, fmt, limits, size)
