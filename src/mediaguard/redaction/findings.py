"""The faces ``verify`` still sees in a written output: where, how sure, and a contact sheet.

Why separate: a count alone ("4 faces still visible") cannot be judged. The detector
also fires on a head turned away or on a blurred face, so a person has to look. Image
and video verification both collect their findings here, with a small crop of each, and
the contact sheet (one image of every crop, labelled with frame, box and score) is drawn
here. This is the only place redaction keeps a box or a picture of a face, and only for
the faces the output failed to hide, for the person who ran the redaction: the sheet is
written only where they ask (or next to the output) and readable by its owner only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

from mediaguard.media.types import RGBArray
from mediaguard.paths import write_private
from mediaguard.redaction.faces import FaceBoxes

#: Crops kept for the sheet; past this the findings are still reported, not pictured.
MAX_CROPS: Final = 64
#: Long side of a crop on the sheet, pixels.
CROP_SIDE: Final = 160
#: A crop shows this much more than the box on each side, so the face is seen in context.
_CONTEXT: Final = 0.25
_COLUMNS: Final = 4
_CAPTION: Final = 30  # pixels under each crop for its two caption lines
_GAP: Final = 8


@dataclass(frozen=True, slots=True)
class Finding:
    """A face ``verify`` found still visible in the output.

    Attributes:
        frame: index of the frame in the output (0 for an image).
        box: x1, y1, x2, y2 in the output's (upright) pixels.
        score: the detector's score, 0 to 1.
    """

    frame: int
    box: tuple[int, int, int, int]
    score: float

    def describe(self) -> str:
        """One line for a person: ``frame 12: box (40, 30)-(90, 95), score 0.34``."""
        x1, y1, x2, y2 = self.box
        return f"frame {self.frame}: box ({x1}, {y1})-({x2}, {y2}), score {self.score:.2f}"


class Findings:
    """Collects findings and, when a sheet is wanted, a crop of each (up to MAX_CROPS)."""

    def __init__(self, *, crops: bool) -> None:
        self.items: list[Finding] = []
        self._keep_crops = crops
        self._crops: list[RGBArray] = []

    def add(
        self, frame: int, found: FaceBoxes, rows: Sequence[int], pixels: RGBArray, scale: float
    ) -> None:
        """Record the faces ``rows`` of ``found`` (boxes in output pixels) on one frame.

        Args:
            frame: the frame's index.
            found: every face the check found on it.
            rows: which of them are still visible.
            pixels: the frame as the check saw it, upright RGB.
            scale: output pixels per pixel of ``pixels``.
        """
        for row in rows:
            x1, y1, x2, y2 = (float(v) for v in found.xyxy[row])
            box = (round(x1), round(y1), round(x2), round(y2))
            self.items.append(Finding(frame, box, float(found.scores[row])))
            if self._keep_crops and len(self._crops) < MAX_CROPS:
                self._crops.append(_crop(pixels, (x1, y1, x2, y2), scale))

    def contact_sheet(self) -> bytes | None:
        """A PNG of every kept crop with its frame, box and score; None when none."""
        if not self._crops:
            return None
        rows = -(-len(self._crops) // _COLUMNS)
        columns = min(_COLUMNS, len(self._crops))
        cell_w, cell_h = CROP_SIDE + _GAP, CROP_SIDE + _CAPTION + _GAP
        sheet = Image.new("RGB", (columns * cell_w + _GAP, rows * cell_h + _GAP), "white")
        draw = ImageDraw.Draw(sheet)
        for index, (crop, finding) in enumerate(zip(self._crops, self.items, strict=False)):
            left = _GAP + (index % _COLUMNS) * cell_w
            top = _GAP + (index // _COLUMNS) * cell_h
            picture = Image.fromarray(crop)
            picture.thumbnail((CROP_SIDE, CROP_SIDE))
            sheet.paste(picture, (left, top))
            x1, y1, x2, y2 = finding.box
            caption = f"frame {finding.frame}  score {finding.score:.2f}\n({x1},{y1})-({x2},{y2})"
            draw.multiline_text((left, top + CROP_SIDE + 2), caption, fill="black", spacing=2)
        buffer = io.BytesIO()
        sheet.save(buffer, format="PNG")
        return buffer.getvalue()

    def write_sheet(self, path: Path) -> bool:
        """Write the contact sheet to ``path`` (owner-only); False when there is none.

        Raises:
            OSError: when the file cannot be written.
        """
        data = self.contact_sheet()
        if data is None:
            return False
        write_private(path, data)
        return True


def _crop(pixels: RGBArray, box: tuple[float, float, float, float], scale: float) -> RGBArray:
    """The box, widened by :data:`_CONTEXT`, cut from ``pixels`` (output pixels / scale)."""
    x1, y1, x2, y2 = (v / scale for v in box)
    pad_x, pad_y = (x2 - x1) * _CONTEXT, (y2 - y1) * _CONTEXT
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(width, int(x2 + pad_x) + 1), min(height, int(y2 + pad_y) + 1)
    return np.ascontiguousarray(pixels[top : max(bottom, top + 1), left : max(right, left + 1)])
