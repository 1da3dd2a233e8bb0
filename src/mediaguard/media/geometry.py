"""Frame geometry shared by images, video and redaction: working size and upright turns.

Why separate: a box found on a working frame is mapped back to the original through the
size the frame was reduced to and the quarter turns that made it upright, so images,
sampled video frames and redaction's search frames must compute both the same way. This
is pure arithmetic on numpy arrays, so the image path does not load PyAV to use it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["upright", "upright_turns", "working_dims"]


def working_dims(width: int, height: int, working_size: int) -> tuple[int, int]:
    """Size whose long side is ``working_size``, keeping the aspect; never larger."""
    long_side = max(width, height)
    if long_side <= working_size:
        return width, height
    return (
        max(1, (width * working_size + long_side // 2) // long_side),
        max(1, (height * working_size + long_side // 2) // long_side),
    )


def upright_turns(rotation: float) -> int:
    """Quarter turns counter-clockwise (0-3) that make a frame with this rotation upright.

    ``VideoFrame.rotation`` is the display matrix's counter-clockwise angle; angles
    that are not multiples of 90 degrees are rounded to the nearest quarter turn.
    """
    return round(rotation / 90) % 4


def upright(pixels: npt.NDArray[np.uint8], turns: int) -> npt.NDArray[np.uint8]:
    """A contiguous copy of ``pixels`` turned ``turns`` quarter turns counter-clockwise."""
    if turns == 0:
        return pixels
    return np.ascontiguousarray(np.rot90(pixels, turns))
