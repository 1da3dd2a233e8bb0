"""Scene cuts: a 32 x 32 grey thumbnail per decoded frame and how far two of them differ.

Why separate: the sampler needs one number per decoded frame, computed on every frame
(not only the sampled ones) and so the hot path of a long video; how it is computed, and
the threshold measured for it, are apart from which frames the sampler keeps. Reading
the luma plane directly is far cheaper than a swscale call per frame.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame

from mediaguard.media.pixfmt import LUMA_FIRST

__all__ = ["DEFAULT_SCENE_THRESHOLD", "Thumbnail", "thumbnail", "thumbnail_difference"]


#: Default scene-cut threshold: mean absolute difference, on the 0-255 scale, between the
#: 32 x 32 grey thumbnails of consecutive decoded frames. Measured on real footage
#: (opencv-doc samples): consecutive frames without a cut stayed at or below 3.7 in
#: ``Megamind.avi`` and 3.1 in ``vtest.avi``, and reached 17.3 during fast motion in the
#: 15 fps ``tree.avi``; the cuts in ``Megamind.avi`` measured 35 to 44. 25 sits between.
DEFAULT_SCENE_THRESHOLD: Final = 25.0

_THUMB: Final = 32
# The luma plane is point-sampled on a grid this many times finer than the thumbnail,
# then box-averaged, which is far cheaper than a swscale call per decoded frame.
_THUMB_OVERSAMPLE: Final = 4

Thumbnail = npt.NDArray[np.float32]
"""A 32 x 32 grey thumbnail, on the 0-255 scale."""


def thumbnail(frame: VideoFrame) -> Thumbnail:
    """A 32 x 32 grey thumbnail of a decoded frame, for scene-cut detection."""
    width, height = frame.width, frame.height
    if frame.format.name in LUMA_FIRST and width >= _THUMB and height >= _THUMB:
        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        grid = _THUMB * _THUMB_OVERSAMPLE
        rows = (np.arange(grid) * height) // grid
        cols = (np.arange(grid) * width) // grid
        points = luma[rows[:, None], cols[None, :]].astype(np.float32)
        blocks = points.reshape(_THUMB, _THUMB_OVERSAMPLE, _THUMB, _THUMB_OVERSAMPLE)
        thumb: Thumbnail = blocks.mean(axis=(1, 3), dtype=np.float32)
        return thumb
    grey = frame.reformat(_THUMB, _THUMB, format="gray", interpolation="AREA").to_ndarray()
    return np.asarray(grey, dtype=np.float32)


def thumbnail_difference(thumb: Thumbnail, previous: Thumbnail) -> float:
    """Mean absolute difference of two thumbnails (0-255): above the threshold is a cut."""
    return float(np.abs(thumb - previous).mean())
