"""How much of a face the masks cover: the rule behind ``verify`` and the coverage benchmark.

Why separate: ``verify`` searches the written output again, and a face found there is not
always visible (a blurred head still looks like a head to the detector, at low scores).
Image verification, video verification and ``benchmarks/redact_video.py`` all judge
"still visible" by this one rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np

from mediaguard.redaction.faces import FaceBoxes
from mediaguard.redaction.masks import IntArray


def covered_fraction(box: Sequence[float], rects: IntArray) -> float:
    """Fraction of a box's area inside the union of mask rectangles (0 to 1).

    Used by ``verify`` and by the coverage benchmark; the box is rasterised on its own
    pixel grid, so overlapping masks are not counted twice.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    left, top = math.floor(x1), math.floor(y1)
    width, height = max(1, math.ceil(x2) - left), max(1, math.ceil(y2) - top)
    inside = np.zeros((height, width), dtype=bool)
    for rx1, ry1, rx2, ry2 in rects:
        inside[
            max(0, int(ry1) - top) : max(0, int(ry2) - top),
            max(0, int(rx1) - left) : max(0, int(rx2) - left),
        ] = True
    return float(inside.mean())


#: ``verify`` counts a face found in the output as still visible unless at least this
#: fraction of its box lies inside a painted mask...
VISIBLE_OUTSIDE: Final = 0.5
#: ...and, inside a mask, unless it scores below this: the detector still sees a face
#: shape in a blurred or mosaicked head at low scores, but a confident face inside a
#: mask means the painting did not hide it.
VISIBLE_INSIDE_SCORE: Final = 0.5


def visible_rows(found: FaceBoxes, rects: IntArray) -> list[int]:
    """Which of the faces found in a written output are still visible, by the rule above."""
    return [
        row
        for row, (box, score) in enumerate(zip(found.xyxy, found.scores, strict=True))
        if score >= VISIBLE_INSIDE_SCORE or covered_fraction(box, rects) < VISIBLE_OUTSIDE
    ]
