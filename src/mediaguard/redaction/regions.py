"""Flagged regions (``regions=True``): boxes from the scan's own region detectors, and
the lines of text and codes read (``text=True``, ``codes=True``).

Why separate: region masks are an opt-in beside face masks and come from registered
signals detectors (NudeNet's ``sexual`` and ``suggestive`` boxes), unlike faces, whose
detector is never registered. The registry lookup and the conversion to the detectors'
frames stay here, so the face code has no link to the registry at all. Text and codes
(a phone number or a QR code in a screenshot) are hidden through the same path: the
scanner's own readers are wrapped as one region detector, never registered, so they are
found, tracked through a video and painted exactly as flagged regions are, and a failure
leaves no output in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

import numpy as np
from PIL import Image

from mediaguard.errors import MediaguardError
from mediaguard.media.geometry import working_dims
from mediaguard.media.types import Frame, RGBArray
from mediaguard.redaction.boxes import FloatArray
from mediaguard.redaction.report import RedactionError
from mediaguard.signals.base import Detection, Detector, ModelInfo
from mediaguard.signals.codes import CodeReader

if TYPE_CHECKING:
    from mediaguard.signals.text import TextReader

#: Region detectors used by ``regions=True`` when none are given, and what they hide.
REGION_DETECTORS: Final = ("nudenet",)
REGION_CATEGORIES: Final = frozenset({"sexual", "suggestive"})
#: What :class:`ReadRegions` marks: a line of text, a code.
READ_CATEGORIES: Final = frozenset({"text", "code"})


class ReadRegions(Detector):
    """Lines of text (OCR) and QR codes and barcodes as regions to hide.

    It is not in the detector registry, so no scan configuration can load it; it exists
    for redaction only. Frames are handed to it at up to :attr:`input_size` pixels: codes
    need their modules sharp, and the text reader scales down to its own input size.

    Args:
        text: the text reader, or None to leave text alone.
        codes: the code reader, or None to leave codes alone.
    """

    name: ClassVar[str] = "read-regions"
    input_size: ClassVar[int] = 4096

    def __init__(self, text: TextReader | None, codes: CodeReader | None) -> None:
        if text is None and codes is None:
            raise ValueError("ReadRegions needs a text reader, a code reader, or both")
        self.text, self.codes = text, codes

    @property
    def categories(self) -> frozenset[str]:
        return READ_CATEGORIES

    @property
    def model(self) -> ModelInfo:
        if self.codes is not None:
            return self.codes.model
        assert self.text is not None
        return self.text.models[0]

    def detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        """Boxes of every line and code per frame.

        Raises:
            RedactionError: when a reader fails: what could not be read cannot be hidden,
                so the redaction stops (and leaves no output) instead of going on.
        """
        try:
            return self._detect(frames)
        except MediaguardError:
            raise
        except Exception as err:  # onnxruntime and zxing-cpp raise their own types
            raise RedactionError(f"reading text or codes to hide them failed: {err}") from err

    def _detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        found: list[list[Detection]] = [[] for _ in frames]
        if self.text is not None:
            for out, lines in zip(found, self.text.read(frames), strict=True):
                out += [
                    Detection(detector=self.name, category="text", label="line",
                              score=line.confidence, box=line.box, frame=line.frame)
                    for line in lines
                ]  # fmt: skip
        if self.codes is not None:
            for out, reads in zip(found, self.codes.read(frames), strict=True):
                out += [
                    Detection(detector=self.name, category="code", label=read.symbology,
                              score=1.0, box=read.box, frame=read.frame)
                    for read in reads
                ]  # fmt: skip
        return found


def read_regions_for(text: bool, codes: bool) -> list[Detector]:
    """The reader of text and codes that ``text=True``/``codes=True`` mask with; none when off.

    Raises:
        ConfigError: when ``text`` is asked for and the ``text`` extra is not installed.
    """
    if not (text or codes):
        return []
    reader = None
    if text:
        from mediaguard.signals.text import TextReader

        reader = TextReader()
    return [ReadRegions(reader, CodeReader() if codes else None)]


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
            hidden = REGION_CATEGORIES | READ_CATEGORIES
            if detection.category in hidden and detection.box is not None:
                b = detection.box
                boxes.append([b.x, b.y, b.x + b.width, b.y + b.height])
    return np.asarray(boxes, np.float32).reshape(-1, 4)
