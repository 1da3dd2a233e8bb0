"""Box geometry shared by the face search and the tracker: overlap, size, centre, pairing.

Why separate: the detector's window search (:mod:`.faces`) and the mask planner
(:mod:`.tracking`) both pair the boxes where tracked faces are expected with the boxes
found, and both measure boxes the same way. Defined once here, with no model and no
video, either can use them without importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: A found face may continue a track when its centre is within this many face sizes of
#: where the track was expected (:func:`match`).
_MATCH_DISTANCE: Final = 2.0


def iou(box: FloatArray, others: FloatArray) -> FloatArray:
    """Intersection over union of one box with each of (N, 4) others (0 where both are empty)."""
    top_left = np.maximum(box[:2], others[:, :2])
    bottom_right = np.minimum(box[2:], others[:, 2:])
    overlap = np.clip(bottom_right - top_left, 0.0, None).prod(axis=1)
    area = (box[2:] - box[:2]).prod()
    areas = (others[:, 2:] - others[:, :2]).prod(axis=1)
    union = area + areas - overlap
    result: FloatArray = np.divide(
        overlap, union, out=np.zeros_like(overlap), where=union > 0
    ).astype(np.float32)
    return result


def box_size(box: FloatArray) -> float:
    """A face's size: its box's longer side, at least one pixel."""
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def box_centre(boxes: FloatArray) -> FloatArray:
    """Centres (x, y) of one box or of (N, 4) boxes."""
    centre: FloatArray = (boxes[..., :2] + boxes[..., 2:]) / 2.0
    return centre


def grown_box(box: FloatArray, factor: float) -> FloatArray:
    """The box scaled by ``factor`` about its centre."""
    centre, half = box_centre(box), (box[2:] - box[:2]) * (factor / 2.0)
    grown: FloatArray = np.concatenate([centre - half, centre + half]).astype(np.float32)
    return grown


def match(predicted: FloatArray, found: FloatArray) -> list[tuple[int, int]]:
    """Pair predicted track boxes with found boxes, greedily, best pairs first.

    A pair qualifies when the boxes overlap (IoU >= 0.2) or their centres are within
    :data:`_MATCH_DISTANCE` face sizes: small faces move by more than their own width
    from one frame to the next (pedestrians 10 pixels tall in 10 fps surveillance
    footage do), so they often do not overlap at all.

    Returns:
        (track row, found row) pairs.
    """
    if not len(predicted) or not len(found):
        return []
    candidates: list[tuple[float, int, int]] = []
    found_centres = box_centre(found)
    for row, box in enumerate(predicted):
        overlaps = iou(box, found)
        distances = np.linalg.norm(found_centres - box_centre(box), axis=1) / box_size(box)
        for near in np.flatnonzero((overlaps >= 0.2) | (distances <= _MATCH_DISTANCE)):
            candidates.append((float(1.0 - overlaps[near] + distances[near]), row, int(near)))
    pairs: list[tuple[int, int]] = []
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for _, row, col in sorted(candidates):
        if row not in used_rows and col not in used_cols:
            pairs.append((row, col))
            used_rows.add(row)
            used_cols.add(col)
    return pairs


@dataclass(frozen=True, slots=True)
class Located:
    """Faces found while searching for tracked ones.

    Attributes:
        boxes: (T, 4), one row per track searched for: where it was re-found, or NaN.
        others: (K, 4) faces found that continue no track (new faces).
    """

    boxes: FloatArray
    others: FloatArray

    @classmethod
    def pair(cls, predicted: FloatArray, found: FloatArray, *, new_faces: bool = True) -> Located:
        """Assign found boxes to predicted tracks; the unassigned ones are others
        (dropped unless ``new_faces``)."""
        boxes = np.full((len(predicted), 4), np.nan, np.float32)
        pairs = match(predicted, found)
        for row, col in pairs:
            boxes[row] = found[col]
        used = {col for _, col in pairs}
        others = found[[col for col in range(len(found)) if new_faces and col not in used]]
        return cls(boxes, np.asarray(others, np.float32).reshape(-1, 4))
