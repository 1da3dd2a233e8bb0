"""Media errors, re-exported where the architecture puts them."""

from mediaguard.errors import (
    CorruptMedia,
    MediaError,
    MediaTooLarge,
    StreamError,
    StreamLost,
    StreamUnavailable,
    UnreadableSource,
    UnsupportedMedia,
)

__all__ = [
    "CorruptMedia",
    "MediaError",
    "MediaTooLarge",
    "StreamError",
    "StreamLost",
    "StreamUnavailable",
    "UnreadableSource",
    "UnsupportedMedia",
]
