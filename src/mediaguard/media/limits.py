"""Resource limits enforced before and while decoding, and the checks that enforce them.

Why separate: the limits are configuration that the image path, the video path and the
config loader all read, so they live apart from any decoder; the checks that compare a
declared size with a limit sit beside the limits so every refusal names the setting to
raise the same way. Every limit is checked as early as the format allows (bytes from the
file size, pixels from the header, frames while seeking) so a hostile file is refused
before it costs memory or time. Defaults are safe for an upload path; a platform raises
them deliberately in its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mediaguard.errors import ConfigError, CorruptMedia, MediaTooLarge

__all__ = [
    "Limits",
    "VideoLimits",
    "check_image_pixels",
    "check_known_fields",
    "check_positive_int",
    "check_video_pixels",
]


def check_positive_int(where: str, name: str, value: object) -> None:
    """Refuse a config value that is not a positive integer, naming ``where.name``.

    Raises:
        ConfigError: ``value`` is a bool, not an int, or below 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}.{name}: expected a positive integer, got {value!r}")


def check_known_fields(where: str, cls: type[Any], data: Mapping[str, Any]) -> None:
    """Refuse a config table with keys that are not fields of the dataclass ``cls``.

    Raises:
        ConfigError: naming the unknown keys and the known ones.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; expected any of "
            f"{', '.join(sorted(known))}"
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits for one scan.

    Attributes:
        max_bytes: largest file accepted.
        max_pixels: largest width x height of one frame, read from the header.
        max_frames: most frames an animated image may have.
        max_sampled_frames: most frames of an animation that are decoded and scanned.
        working_size: long side, in pixels, of the frames handed to signals. Detectors
            may ask for more; the scanner takes the largest request.
    """

    max_bytes: int = 200 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_frames: int = 2_000
    max_sampled_frames: int = 16
    working_size: int = 512

    def __post_init__(self) -> None:
        for f in fields(self):
            check_positive_int("limits", f.name, getattr(self, f.name))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        """Build limits from a config table, naming any unknown or invalid field.

        Raises:
            ConfigError: on an unknown key or a value that is not a positive integer.
        """
        check_known_fields("limits", cls, data)
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Resource limits for one video.

    Attributes:
        max_bytes: largest file accepted.
        max_duration_s: longest duration accepted, in seconds (header, then while decoding).
        max_pixels: largest width x height of one frame (8K by default).
        max_frames: most frames decoded; guards against a header that lies about the
            duration (or has none) and against absurd frame rates.
        max_samples: most frames handed to the signals. When the sampling rate would
            exceed it, the rate is lowered so the samples still span the whole video.
    """

    max_bytes: int = 4 * 1024 * 1024 * 1024
    max_duration_s: int = 4 * 3600
    max_pixels: int = 7680 * 4320
    max_frames: int = 500_000
    max_samples: int = 3_600

    def __post_init__(self) -> None:
        for f in fields(self):
            check_positive_int("video_limits", f.name, getattr(self, f.name))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> VideoLimits:
        """Build limits from a config table, naming any unknown or invalid field.

        Raises:
            ConfigError: on an unknown key or a value that is not a positive integer.
        """
        check_known_fields("video_limits", cls, data)
        return cls(**dict(data))


def check_image_pixels(size: tuple[int, int], limits: Limits) -> None:
    """Refuse an image whose declared size is empty or more than ``limits.max_pixels``.

    Raises:
        CorruptMedia: a side is zero.
        MediaTooLarge: the pixel count exceeds the limit; the message names the setting.
    """
    width, height = size
    if width < 1 or height < 1:
        raise CorruptMedia(f"image header declares an empty size {width}x{height}")
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"image is {width}x{height} = {width * height} pixels, more than "
            f"limits.max_pixels ({limits.max_pixels}); raise limits.max_pixels in the "
            "config to accept it"
        )


def check_video_pixels(width: int, height: int, limits: VideoLimits) -> None:
    """Refuse a video frame of more than ``video_limits.max_pixels`` pixels.

    Raises:
        MediaTooLarge: the message names the setting to raise.
    """
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"video frame is {width}x{height} = {width * height} pixels, more than "
            f"video_limits.max_pixels ({limits.max_pixels}); raise video_limits.max_pixels "
            "in the config to accept it"
        )
