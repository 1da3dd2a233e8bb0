"""Flagged regions (``regions=True``): boxes from the scan's own region detectors.

Why separate: region masks are an opt-in beside face masks and come from registered
signals detectors (NudeNet's ``sexual`` and ``suggestive`` boxes), unlike faces, whose
detector is never registered. The registry lookup and the conversion to the detectors'
frames stay here, so the face code has no link to the registry at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from mediaguard.media.geometry import working_dims
from mediaguard.media.types import Frame, RGBArray
from mediaguard.redaction.boxes import FloatArray
from mediaguard.signals.base import Detector

#: Region detectors used by ``regions=True`` when none are given, and what they hide.
REGION_DETECTORS: Final = ("nudenet",)
REGION_CATEGORIES: Final = frozenset({"sexual", "suggestive"})


def region_detectors_for(regions: bool, given: Sequence[Detector] | None) -> list[Detector]:
    """The detectors ``regions=True`` masks with: ``given``, or the defaults; none when off."""
    if not regions:
        return []
    if given is not None:
        return list(given)
    from mediaguard.signals.detectors import registry

    return [registry.create(name, {}, base_dir=Path.cwd()) for name in REGION_DETECTORS]


def flagged_boxes(detectors: Sequence[Detector], pixels: RGBArray, index: int) -> FloatArray:
    """Boxes of flagged regions on an upright RGB picture, in its own pixels."""
    boxes: list[list[float]] = []
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    for detector in detectors:
        new_w, new_h = working_dims(width, height, detector.input_size)
        small = pixels
        if (new_w, new_h) != (width, height):
            small = np.asarray(
                Image.fromarray(pixels).resize((new_w, new_h), Image.Resampling.BILINEAR)
            )
        frame = Frame(
            index=index,
            time=None,
            pixels=np.array(small, copy=True),
            scale=max(width, height) / max(new_w, new_h),
        )
        for detection in detector.detect([frame])[0]:
            if detection.category in REGION_CATEGORIES and detection.box is not None:
                b = detection.box
                boxes.append([b.x, b.y, b.x + b.width, b.y + b.height])
    return np.asarray(boxes, np.float32).reshape(-1, 4)
