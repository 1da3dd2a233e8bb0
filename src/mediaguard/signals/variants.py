"""Edited-copy variants of a frame: the regions a repost may have wrapped a listed image in.

Reposted media is routinely framed (a uniform border or letterbox), captioned (a meme bar
of text on a plain ground above or below) or pasted into a larger canvas (a collage, a
screenshot). PDQ hashes the whole frame, so each of these moves the hash 60-150 bits
away from the listed original, far past any threshold. Hashing the region the original
most likely occupies brings it back.

Design note: one rule finds borders and caption bars alike. Walking in from an edge, a
*plain* line is one whose pixels nearly all match the colour of the outermost line. A
border is a run of plain lines; a caption bar is plain lines with lines of text between
them, no gap longer than a text line. So a side's band is the run of plain lines from the
edge whose gaps never exceed ``_TEXT_GAP`` of the frame; a side whose outermost line is
not plain has none. Most photos have no plain lines (noise and texture break them), so
they give no trimmed variant and cost nothing beyond this scan; a flat sky can give
one, which only adds a hash of the photo's own content.

Sub-regions are a fixed set rather than a search: the two parts either side of the
strongest seam along the longer axis, or its halves when there is none (a collage of
two), the picture left once nested bands are peeled off (a screenshot's status bar,
app bar and buttons), and the centre (a screenshot's picture between chrome that is not
plain). A fixed set bounds the work at ``MAX_VARIANTS`` hashes per frame whatever the
input, and keeps the false-match rate an easy function of how many hashes are queried.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

#: Largest colour difference (per channel, 0-255) a pixel of a plain line may have from
#: the band's colour: JPEG noise and ringing next to text stay within it.
_TOLERANCE: Final = 24
#: Share of a line's pixels that must be within tolerance for it to count as plain.
_PLAIN_SHARE: Final = 0.97
#: Longest run of non-plain lines (a line of caption text) inside a band, as a share of
#: the frame's extent across the band.
_TEXT_GAP: Final = 0.12
#: A band must be at least this share of the frame to be trimmed (one JPEG block at 512).
_MIN_BAND: Final = 0.015
#: What must be left after trimming, as a share of each side: less is not a picture.
_MIN_CONTENT: Final = 0.35
#: Centre region of the sub-region set, as a share of each side.
_CENTRE: Final = 0.7
#: How many times the typical step between neighbouring lines a seam must be.
_SEAM_STRENGTH: Final = 4.0
#: Frames smaller than this on a side are not split: their PDQ is already coarse.
_MIN_SIDE: Final = 32
#: Long side, in pixels, at which regions are found and hashed.
WORKING_SIDE: Final = 256
#: At most this many variants per frame, whatever the input.
MAX_VARIANTS: Final = 12
#: At most this many stacked bands are peeled off a side: a screenshot's status bar,
#: then its app bar. A third would mostly be the picture's own sky.
_PEELS: Final = 2
#: Lines of mixed colour stepped over between two stacked bands.
_BLEND: Final = 2


#: A region as shares of its frame: top, bottom, left, right, each 0 to 1.
Box = tuple[float, float, float, float]


class Level(IntEnum):
    """How far a list lets matching go beyond the frame as it is (policy ``match_variants``).

    ``exact`` matches the frame only; ``trimmed`` also matches it with borders and
    caption bars removed; ``all`` also matches the fixed sub-regions.
    """

    EXACT = 0
    TRIMMED = 1
    ALL = 2


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the frame to hash, and the edit it undoes, as a user reads it."""

    name: str
    level: Level
    top: int
    bottom: int
    left: int
    right: int

    def shares(self, height: int, width: int) -> Box:
        """The region as shares of a ``height`` x ``width`` frame, whatever it is resized to."""
        return (self.top / height, self.bottom / height, self.left / width, self.right / width)


def _plain(lines: npt.NDArray[np.uint8], ground: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """Which of ``lines`` are plain: nearly all pixels within tolerance of ``ground``.

    Each channel is compared on its own and the three are and-ed: numpy reduces over a
    3-wide colour axis one pixel at a time, which made this the costliest step of
    finding regions.
    """
    near = np.ones(lines.shape[:2], dtype=np.bool_)
    for channel in range(lines.shape[2]):
        values = lines[..., channel]
        low, high = int(ground[channel]) - _TOLERANCE, int(ground[channel]) + _TOLERANCE
        near &= (values >= max(low, 0)) & (values <= min(high, 255))
    return np.asarray(np.count_nonzero(near, axis=1) / lines.shape[1] >= _PLAIN_SHARE)


def _median_colour(line: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    """The per-channel median of one line's pixels, rounded down (``np.median`` then
    truncated, computed on integers: this runs for every band looked for)."""
    ordered = np.sort(line, axis=0).astype(np.int16)
    middle = int(ordered.shape[0]) // 2
    low = ordered[middle if ordered.shape[0] % 2 else middle - 1]
    return np.asarray((low + ordered[middle]) // 2, dtype=np.int16)


def _line_steps(lines: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
    """Mean absolute difference between each pair of neighbouring lines.

    The line's pixels are flattened to one axis first: a sum of integers is exact in
    float64, so this equals the mean over both axes, which numpy reduces more slowly.
    """
    flat = lines.reshape(lines.shape[0], -1)
    return np.asarray(np.abs(np.diff(flat, axis=0)).mean(axis=1))


def _band(lines: npt.NDArray[np.uint8], extent: int, *, gaps: bool) -> int:
    """Depth of the border (``gaps=False``) or caption band from the first line inward.

    Args:
        lines: the lines from the edge inward (rows, or columns transposed).
        extent: the frame's full extent across the band, which scales a text line.
    """
    n = int(lines.shape[0])
    ground = _median_colour(lines[0])
    # The outermost line alone decides whether there is a band; most photos have none,
    # so the other lines are compared only when it is plain.
    if not _plain(lines[:1], ground)[0]:
        return 0
    plain = _plain(lines, ground)
    if not gaps:
        stops = np.flatnonzero(~plain)
        return int(stops[0]) if stops.size else n
    longest = max(1, int(extent * _TEXT_GAP))
    last = 0
    for index in np.flatnonzero(plain):
        if index - last > longest + 1:
            break
        last = int(index)
    # Text set tight against the picture leaves no plain line below it: the picture then
    # starts at the sharpest step within one text line of the last plain line.
    window = lines[last : min(n, last + longest + 1)].astype(np.int16)
    if window.shape[0] > 2:
        steps = _line_steps(window)
        best = int(np.argmax(steps))
        if steps[best] > _SEAM_STRENGTH * (float(np.median(steps)) + 1.0):
            return last + best + 1
    return last + 1


def _bands(pixels: npt.NDArray[np.uint8], *, gaps: bool) -> tuple[int, int, int, int]:
    """Band depth at the top, bottom, left and right; 0 where a band is too thin to trim."""
    height, width = pixels.shape[:2]
    across = pixels.transpose(1, 0, 2)
    depths = (
        (_band(pixels[: height // 2], height, gaps=gaps), height),
        (_band(pixels[::-1][: height // 2], height, gaps=gaps), height),
        (_band(across[: width // 2], width, gaps=gaps), width),
        (_band(across[::-1][: width // 2], width, gaps=gaps), width),
    )
    t, b, lft, r = (d if d >= max(1, extent * _MIN_BAND) else 0 for d, extent in depths)
    return t, b, lft, r


def _peel(lines: npt.NDArray[np.uint8], extent: int) -> tuple[int, int]:
    """Depth of the bands peeled off one side one after another, and how many there were.

    Between two bands, a resampled edge leaves a line or two of their mixed colour, which
    is plain to neither; up to ``_BLEND`` such lines are stepped over.
    """
    depth = passes = 0
    for _ in range(_PEELS):
        for skip in range(_BLEND + 1):
            rest = lines[depth + skip :]
            if rest.shape[0] < _MIN_SIDE:
                return depth, passes
            band = _band(rest, extent, gaps=True)
            if band >= max(1, extent * _MIN_BAND):
                break
        else:
            break
        depth += skip + band
        passes += 1
    return depth, passes


def _chrome(pixels: npt.NDArray[np.uint8], left: int, right: int) -> tuple[int, int] | None:
    """Top and bottom of the picture once stacked bands are peeled off both ends.

    A screenshot stacks bands of different colours (a dark status bar, then a light app
    bar with a name on it; a strip of buttons below), and one pass of :func:`_bands`
    trims only the outermost of each. None unless some side had two, since one pass is
    the caption-bar variant already.
    """
    height = int(pixels.shape[0])
    if right - left < _MIN_SIDE:
        return None
    half = pixels[:, left:right]
    top, top_passes = _peel(half[: height // 2], height)
    cut, bottom_passes = _peel(half[::-1][: height // 2], height)
    return (top, height - cut) if max(top_passes, bottom_passes) >= 2 else None


def _seam(lines: npt.NDArray[np.uint8]) -> int:
    """Where two pictures meet across ``lines`` (rows, or columns transposed), else the middle.

    Inside a picture neighbouring lines differ little; at the edge between two pasted
    pictures they differ along the whole line. The strongest such step in the middle
    60% is taken when it stands well clear of the typical step.
    """
    n = int(lines.shape[0])
    steps = _line_steps(lines.astype(np.int16))
    low, high = int(n * 0.2), int(n * 0.8)
    window = steps[low:high]
    if window.size == 0:
        return n // 2
    best = int(np.argmax(window))
    typical = float(np.median(steps)) + 1.0
    return low + best + 1 if float(window[best]) > _SEAM_STRENGTH * typical else n // 2


def reduced(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The frame at most ``WORKING_SIDE`` pixels on its long side, for finding and hashing
    regions: PDQ keeps only a 64 x 64 reduction, so a larger input buys nothing but time."""
    height, width = pixels.shape[:2]
    long_side = max(height, width)
    if long_side <= WORKING_SIDE:
        return pixels
    size = (
        max(1, round(width * WORKING_SIDE / long_side)),
        max(1, round(height * WORKING_SIDE / long_side)),
    )
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX))


def regions(pixels: npt.NDArray[np.uint8], level: Level) -> list[Region]:
    """The regions of ``pixels`` worth hashing besides the whole frame, at most MAX_VARIANTS.

    Args:
        pixels: H x W x 3 RGB of the working frame.
        level: how far to go; ``EXACT`` gives none.
    """
    height, width = pixels.shape[:2]
    if level is Level.EXACT or min(height, width) < _MIN_SIDE:
        return []
    found: list[Region] = []
    seen: set[tuple[int, int, int, int]] = {(0, height, 0, width)}

    def add(name: str, lvl: Level, top: int, bottom: int, left: int, right: int) -> None:
        box = (top, bottom, left, right)
        tall, wide = bottom - top, right - left
        if box in seen or tall < height * _MIN_CONTENT or wide < width * _MIN_CONTENT:
            return
        if min(tall, wide) < _MIN_SIDE or len(found) >= MAX_VARIANTS:
            return
        seen.add(box)
        found.append(Region(name, lvl, *box))

    t, b, lft, r = _bands(pixels, gaps=False)
    if t or b or lft or r:
        add("border removed", Level.TRIMMED, t, height - b, lft, width - r)
    # A caption bar of the border's own colour starts at the frame's edge, one of another
    # colour inside the border; the bar's far side may keep the border or not (a flat sky
    # can pass for one). Each combination is tried, within MAX_VARIANTS.
    for top0, bottom0 in ((0, height), (t, height - b)):
        inner = pixels[top0:bottom0, lft : width - r]
        if min(inner.shape[:2]) < _MIN_SIDE:
            continue
        ct, cb, _, _ = _bands(inner, gaps=True)
        top, bottom = top0 + ct, bottom0 - cb
        for far_bottom in (height - b, height):
            if ct:
                add("caption bar removed (top)", Level.TRIMMED, top, far_bottom, lft, width - r)
        for far_top in (t, 0):
            if cb:
                add("caption bar removed (bottom)", Level.TRIMMED, far_top, bottom, lft, width - r)
        if ct and cb:
            add("caption bars removed", Level.TRIMMED, top, bottom, lft, width - r)
    if level is Level.ALL:
        peeled = _chrome(pixels, lft, width - r)
        if peeled is not None:
            add("screen chrome removed", Level.ALL, *peeled, lft, width - r)
        if width >= height:
            cut = _seam(pixels.transpose(1, 0, 2))
            add("left part", Level.ALL, 0, height, 0, cut)
            add("right part", Level.ALL, 0, height, cut, width)
        else:
            cut = _seam(pixels)
            add("top part", Level.ALL, 0, cut, 0, width)
            add("bottom part", Level.ALL, cut, height, 0, width)
        margin_y, margin_x = int(height * (1 - _CENTRE) / 2), int(width * (1 - _CENTRE) / 2)
        add("centre", Level.ALL, margin_y, height - margin_y, margin_x, width - margin_x)
    return found


#: Shares cut from every side by the centre crops stored with a listed picture.
CROP_SHARES: Final = (0.025, 0.05, 0.10, 0.15, 0.20)
#: Share cut from one side only by the off-centre crops.
SIDE_SHARE: Final = 0.10
#: Width-to-height ratios of the aspect crops (a square, 4:5 portrait, 16:9 landscape).
ASPECTS: Final = ((1.0, "1:1"), (0.8, "4:5"), (16 / 9, "16:9"))


def standard_crops(height: int, width: int) -> list[Region]:
    """The crops stored with a listed picture, so that a cropped repost matches it.

    A crop cannot be undone from the scanned copy (what was cut is gone), so the list
    side keeps the hashes of the crops people make: the centre at 2.5, 5, 10, 15 and 20 %
    per side, 10 % off one side, and centred aspect crops to 1:1, 4:5 and 16:9 where
    the picture is not already of that shape. At most 12 regions, each at least
    ``_MIN_SIDE`` on a side.
    """
    found: list[Region] = []

    def add(name: str, top: int, bottom: int, left: int, right: int) -> None:
        if min(bottom - top, right - left) >= _MIN_SIDE:
            found.append(Region(name, Level.TRIMMED, top, bottom, left, right))

    for share in CROP_SHARES:
        dy, dx = round(height * share), round(width * share)
        add(
            f"centre crop {share:.1%} per side".replace(".0%", "%"), dy, height - dy, dx, width - dx
        )
    dy, dx = round(height * SIDE_SHARE), round(width * SIDE_SHARE)
    add(f"{SIDE_SHARE:.0%} cut from the top", dy, height, 0, width)
    add(f"{SIDE_SHARE:.0%} cut from the bottom", 0, height - dy, 0, width)
    add(f"{SIDE_SHARE:.0%} cut from the left", 0, height, dx, width)
    add(f"{SIDE_SHARE:.0%} cut from the right", 0, height, 0, width - dx)
    for ratio, label in ASPECTS:
        if abs(width / height - ratio) < 0.05:
            continue
        if width / height > ratio:
            new_width = round(height * ratio)
            left = (width - new_width) // 2
            add(f"aspect crop to {label}", 0, height, left, left + new_width)
        else:
            new_height = round(width / ratio)
            top = (height - new_height) // 2
            add(f"aspect crop to {label}", top, top + new_height, 0, width)
    return found
