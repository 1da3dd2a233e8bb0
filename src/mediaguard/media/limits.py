"""Resource limits enforced before and while decoding.

Design note: every limit is checked as early as the format allows (bytes from the file
size, pixels from the header, frames while seeking) so a hostile file is refused before
it costs memory or time. Defaults are safe for an upload path; a platform raises them
deliberately in its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mediaguard.errors import ConfigError


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
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"limits.{f.name}: expected a positive integer, got {value!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        """Build limits from a config table, naming any unknown or invalid field.

        Raises:
            ConfigError: on an unknown key or a value that is not a positive integer.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"limits: unknown field(s) {', '.join(unknown)}; expected any of "
                f"{', '.join(sorted(known))}"
            )
        return cls(**dict(data))
