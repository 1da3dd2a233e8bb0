"""What a redaction tells its caller: progress, a report in counts only, and its error.

Why separate: the image and the video paths both build a :class:`RedactReport` and raise
:class:`RedactionError`, and :func:`mediaguard.redaction.redact` returns them; a module
of their own lets all three use them without importing each other. The report holds
counts, frame numbers and the options used, and one kind of box: the faces ``verify``
still found in the output (:class:`~mediaguard.redaction.findings.Finding`), which a
person needs in order to judge them. Faces that were hidden are never described.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mediaguard.errors import MediaguardError
from mediaguard.redaction.findings import Finding, Findings
from mediaguard.redaction.masks import Mode

ProgressCallback = Callable[[int, int | None], None]
"""Called with (frames done, total frames or None when unknown)."""


class RedactionError(MediaguardError):
    """Redaction failed (face model, encoder, or writing the output); no output was left."""


@dataclass(frozen=True, slots=True)
class RedactReport:
    """What a redaction did: counts, and where ``verify`` still sees a face.

    No landmark or face crop is kept, and no box of a face that was hidden.

    Attributes:
        source: the input file.
        output: the file written.
        kind: ``"image"`` or ``"video"``.
        mode: how masks were painted.
        mask_scale: box enlargement used.
        threshold: face score threshold used.
        frames: frames written (1 for an image).
        frames_masked: frames on which at least one mask was painted.
        faces: face detections, summed over the frames the detector ran on.
        regions: region detections (``regions=True``), summed likewise.
        audio_streams: audio streams copied.
        metadata_kept: whether ``keep_metadata`` was set.
        verified: whether the output was checked again for faces.
        findings: each face the check still found: frame, box and score.
        contact_sheet: the image of their crops, when one was asked for and written.
        seconds: wall time.
        notes: anything the caller should know (streams dropped, pixel format changed).
    """

    source: Path
    output: Path
    kind: Literal["image", "video"]
    mode: Mode
    mask_scale: float
    threshold: float
    frames: int
    frames_masked: int
    faces: int
    regions: int
    audio_streams: int = 0
    metadata_kept: bool = False
    verified: bool = False
    findings: tuple[Finding, ...] = ()
    contact_sheet: Path | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def visible_faces(self) -> int:
        """Faces the check still found (0 unless ``verified``)."""
        return len(self.findings)

    @property
    def visible_frames(self) -> tuple[int, ...]:
        """Frames on which the check found them, in order."""
        return tuple(sorted({finding.frame for finding in self.findings}))


def verified_fields(findings: Findings | None) -> tuple[bool, tuple[Finding, ...]]:
    """``verified`` and ``findings`` of a report, from what the check collected (None: no
    check)."""
    return findings is not None, tuple(findings.items) if findings is not None else ()
