"""What a redaction tells its caller: progress, a report in counts only, and its error.

Why separate: the image and the video paths both build a :class:`RedactReport` and raise
:class:`RedactionError`, and :func:`mediaguard.redaction.redact` returns them; a module
of their own lets all three use them without importing each other. Nothing here can
hold a box or a face: the report's fields are counts, frame numbers and the options used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mediaguard.errors import MediaguardError
from mediaguard.redaction.masks import Mode

ProgressCallback = Callable[[int, int | None], None]
"""Called with (frames done, total frames or None when unknown)."""


class RedactionError(MediaguardError):
    """Redaction failed (face model, encoder, or writing the output); no output was left."""


@dataclass(frozen=True, slots=True)
class RedactReport:
    """What a redaction did, in counts only: no box, landmark or face crop is kept.

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
        visible_faces: faces the check still found (0 unless ``verified``).
        visible_frames: frames on which the check found them.
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
    visible_faces: int = 0
    visible_frames: tuple[int, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
