"""Decoded video frames as the face search reads them and as the painter paints them.

Why separate: both sides work on PyAV's frames rather than on RGB copies of them. The
search gets an upright RGB picture at detection size only when a whole-frame search
needs one, and converts the small windows around tracked faces straight from the YUV
planes; the painter paints masks onto the decoded 8-bit planes, so frames make no round
trip through RGB. Both rely on the plane layouts and ranges of
:mod:`mediaguard.media.pixfmt`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame

from mediaguard.media.geometry import upright, working_dims
from mediaguard.media.pixfmt import FULL_RANGE, PLANAR
from mediaguard.media.types import RGBArray
from mediaguard.redaction.masks import IntArray, Mode, paint, redact_pixels


class FrameView:
    """One decoded frame as the face tracker sees it: upright RGB at detection size.

    The RGB picture is made only when a whole-frame search needs it. Window searches on
    an unrotated 8-bit YUV frame at full size convert just the window, from the planes.
    """

    def __init__(self, frame: VideoFrame, turns: int, detect_size: int) -> None:
        self.frame = frame
        self.turns = turns
        stored_w, stored_h = working_dims(frame.width, frame.height, detect_size)
        self.scale = frame.width / stored_w
        self.width, self.height = (stored_h, stored_w) if turns % 2 else (stored_w, stored_h)
        self._stored = (stored_w, stored_h)
        self._rgb: RGBArray | None = None
        self._reduced: dict[int, RGBArray] = {}
        self._from_planes = (
            turns == 0 and self._stored == (frame.width, frame.height) and _yuv_layout(frame)
        )

    def rgb(self) -> RGBArray:
        if self._rgb is None:
            width, height = self._stored
            frame = self.frame
            if (width, height) == (frame.width, frame.height):
                rgb = frame.to_ndarray(format="rgb24")
            else:
                rgb = frame.reformat(
                    width, height, format="rgb24", interpolation="AREA"
                ).to_ndarray()
            self._rgb = upright(np.asarray(rgb, np.uint8), self.turns)
        return self._rgb

    def crop(self, window: tuple[int, int, int, int], factor: int = 1) -> RGBArray:
        """RGB of a window (detection-size pixels), from the frame reduced by ``factor``."""
        x1, y1, x2, y2 = window
        if factor > 1:
            return self.reduced(factor)[y1 // factor : y2 // factor, x1 // factor : x2 // factor]
        # Converting a few small windows in numpy beats converting the whole frame;
        # for a large window swscale's whole-frame conversion is faster.
        small = (x2 - x1) * (y2 - y1) * 8 < self.width * self.height
        if self._rgb is None and self._from_planes and small:
            return _yuv_window(self.frame, x1, y1, x2, y2)
        return self.rgb()[y1:y2, x1:x2]

    def reduced(self, factor: int) -> RGBArray:
        """The upright RGB picture at ``1 / factor`` of the detection size, cached."""
        if factor not in self._reduced:
            width, height = self._stored
            small = self.frame.reformat(
                max(1, width // factor),
                max(1, height // factor),
                format="rgb24",
                interpolation="AREA",
            ).to_ndarray()
            self._reduced[factor] = upright(np.asarray(small, np.uint8), self.turns)
        return self._reduced[factor]


def _yuv_layout(frame: VideoFrame) -> bool:
    return frame.format.name in PLANAR and len(frame.planes) in (1, 3)


def _plane(frame: VideoFrame, number: int) -> npt.NDArray[np.uint8]:
    plane = frame.planes[number]
    values = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return values[: plane.height, : plane.width]


def _yuv_window(frame: VideoFrame, x1: int, y1: int, x2: int, y2: int) -> RGBArray:
    """RGB of a window of an 8-bit planar YUV frame, converted in numpy (BT.601).

    Cheaper than converting the whole frame with swscale when only a few small windows
    are searched; the detector does not need colours more exact than BT.601 gives.
    """
    luma = _plane(frame, 0)[y1:y2, x1:x2].astype(np.float32)
    if len(frame.planes) == 1:
        return np.repeat(luma.astype(np.uint8)[:, :, None], 3, axis=2)
    sub_x = max(1, round(frame.width / frame.planes[1].width))
    sub_y = max(1, round(frame.height / frame.planes[1].height))
    rows = (np.arange(y1, y2) // sub_y)[:, None]
    cols = (np.arange(x1, x2) // sub_x)[None, :]
    u = _plane(frame, 1)[rows, cols].astype(np.float32) - 128.0
    v = _plane(frame, 2)[rows, cols].astype(np.float32) - 128.0
    if frame.format.name in FULL_RANGE:
        y, gain = luma, 1.0
    else:
        y, gain = (luma - 16.0) * 1.164, 1.138
    rgb = np.stack(
        [
            y + 1.402 * gain * v,
            y - 0.344 * gain * u - 0.714 * gain * v,
            y + 1.772 * gain * u,
        ],
        axis=2,
    )
    converted: RGBArray = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return converted


def paint_frame(
    frame: VideoFrame, rects: IntArray, *, mode: Mode, turns: int, rgb_path: bool
) -> VideoFrame:
    """The frame to encode: ``frame`` itself, painted in place, or a painted upright copy.

    Args:
        frame: the decoded frame.
        rects: mask rectangles in upright full-size pixels.
        mode: how to paint.
        turns: quarter turns that make the frame upright.
        rgb_path: paint on an RGB copy (rotated, or a pixel format not painted directly).
    """
    if rgb_path:
        rgb = upright(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8), turns)
        new = VideoFrame.from_ndarray(redact_pixels(rgb, rects, mode), format="rgb24")
        new.pts, new.time_base = frame.pts, frame.time_base
        return new
    if not len(rects):
        return frame
    # The decoder may still reference this frame's buffers; make_writable copies them
    # first when it does, so painting cannot corrupt the frames decoded after it.
    frame.make_writable()
    luma_black = 0 if frame.format.name in FULL_RANGE else 16
    for number in range(len(frame.planes)):
        values = _plane(frame, number)
        scale_x = values.shape[1] / frame.width
        scale_y = values.shape[0] / frame.height
        fill = luma_black if number == 0 else 128
        for x1, y1, x2, y2 in rects:
            window = (
                math.floor(x1 * scale_x),
                math.floor(y1 * scale_y),
                math.ceil(x2 * scale_x),
                math.ceil(y2 * scale_y),
            )
            paint(values, window, mode, fill)
    return frame
