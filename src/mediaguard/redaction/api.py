"""``redact()``: the one call that redacts a file, image or video.

Why separate: it is the entry point the CLI and the library facade call. It checks the
options, refuses to write over the source, recognises the format from the bytes, loads
the face model and the region detectors once, hands over to :mod:`.image` or
:mod:`.video`, and adds the time the whole call took to the report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mediaguard.errors import ConfigError, UnreadableSource
from mediaguard.media.sniff import SNIFF_BYTES, sniff
from mediaguard.media.types import MediaFormat, MediaKind
from mediaguard.redaction.faces import DEFAULT_THRESHOLD, FaceDetector
from mediaguard.redaction.findings import Findings
from mediaguard.redaction.image import redact_image
from mediaguard.redaction.masks import DEFAULT_MASK_SCALE, Mode, check_options
from mediaguard.redaction.regions import read_regions_for, region_detectors_for
from mediaguard.redaction.report import ProgressCallback, RedactReport
from mediaguard.redaction.video import (
    DEFAULT_DETECT_EVERY,
    DEFAULT_VIDEO_DETECT_SIZE,
    redact_video,
)
from mediaguard.signals.base import Detector


def redact(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    mode: Mode = "blur",
    mask_scale: float = DEFAULT_MASK_SCALE,
    threshold: float = DEFAULT_THRESHOLD,
    regions: bool = False,
    text: bool = False,
    codes: bool = False,
    keep_metadata: bool = False,
    verify: bool = False,
    contact_sheet: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    detect_every: int = DEFAULT_DETECT_EVERY,
    detect_size: int = DEFAULT_VIDEO_DETECT_SIZE,
    face_detector: FaceDetector | None = None,
    region_detectors: Sequence[Detector] | None = None,
) -> RedactReport:
    """Write a copy of an image or video with every face (and optionally region) hidden.

    Args:
        source: the image or video to redact; its format is recognised from its bytes.
        output: where to write the result. Images keep their format (JPEG, PNG, WebP;
            other formats are written as PNG) and the name's suffix must match it;
            videos are written in the container the suffix names (.mp4, .m4v, .mov,
            .mkv, .webm, .avi).
        mode: ``blur`` (only a 3 x 3 grid of averages survives, smoothly interpolated),
            ``mosaic`` (4 cells across each mask) or
            ``solid`` (black).
        mask_scale: each box is enlarged by this factor about its centre (>= 1).
        threshold: face score threshold (0 to 1); low by default so that uncertain faces
            are hidden too, at the cost of some masks over background.
        regions: also hide the boxes of the region detectors (NudeNet's ``sexual`` and
            ``suggestive`` regions when the opt-in extra is installed).
        text: also hide every line of text read (OCR; needs the ``text`` extra), e.g. a
            phone number or a name in a screenshot.
        codes: also hide every QR code and barcode read.
        keep_metadata: keep EXIF (GPS included), ICC, and container/stream tags.
        verify: search the written output again at ``threshold`` and report each face
            still found, with its frame, box and score (``RedactReport.findings``).
        contact_sheet: with ``verify``, where to write a PNG of a crop of each face still
            found, labelled with frame, box and score, readable by its owner only
            (``RedactReport.contact_sheet``); nothing is written when no face is found.
        progress: called as frames are written, with (frames done, total or None).
        detect_every: run the face detector on every n-th video frame (tracking covers
            the others).
        detect_size: long side at which video frames are searched (never enlarged).
        face_detector: a loaded face detector to reuse across calls.
        region_detectors: detectors to use for ``regions`` instead of the defaults.

    Returns:
        Counts of what was done; no box or face data.

    Raises:
        ConfigError: an option is invalid, the output name does not fit the format, the
            output is the source, the shipped face model is missing or fails its
            checksum, a region detector is not installed, or ``text`` is asked for
            without the ``text`` extra.
        UnsupportedMedia, CorruptMedia, MediaTooLarge, UnreadableSource: the input.
        RedactionError: decoding part-way, encoding or writing failed. No output file is
            left behind in any failure.
    """
    started = time.perf_counter()
    source, output = Path(source), Path(output)
    check_options(mode, mask_scale, threshold)
    if contact_sheet is not None and not verify:
        raise ConfigError("a contact sheet shows what verify finds: it needs verify=True")
    if detect_every < 1 or detect_size < 32:
        raise ConfigError("detect_every must be >= 1 and detect_size >= 32")
    try:
        same = output.exists() and output.resolve() == source.resolve()
    except OSError:
        same = False
    if same:
        raise ConfigError(f"output {output} is the input; write the redacted copy elsewhere")
    fmt = _sniff(source)
    detector = face_detector or FaceDetector()
    region_list = region_detectors_for(regions, region_detectors) + read_regions_for(text, codes)
    findings = Findings(crops=contact_sheet is not None) if verify else None
    if fmt.kind is MediaKind.VIDEO:
        report = redact_video(
            source,
            output,
            mode=mode,
            mask_scale=mask_scale,
            threshold=threshold,
            detector=detector,
            regions=region_list,
            keep_metadata=keep_metadata,
            findings=findings,
            detect_every=detect_every,
            detect_size=detect_size,
            progress=progress,
        )
    else:
        report = redact_image(
            source,
            output,
            source.read_bytes(),
            fmt.name,
            mode=mode,
            mask_scale=mask_scale,
            threshold=threshold,
            detector=detector,
            regions=region_list,
            keep_metadata=keep_metadata,
            findings=findings,
        )
        if progress is not None:
            progress(1, 1)
    if findings is not None and contact_sheet is not None:
        report = _with_sheet(report, findings, Path(contact_sheet))
    return _with_time(report, time.perf_counter() - started)


def _with_sheet(report: RedactReport, findings: Findings, path: Path) -> RedactReport:
    """The report with its contact sheet written; a sheet that cannot be written is a note
    (the redacted output itself is complete, so this is no redaction failure)."""
    try:
        written = findings.write_sheet(path)
    except OSError as err:
        note = f"the contact sheet {path} could not be written: {err.strerror or err}"
        return replace(report, notes=(*report.notes, note))
    return replace(report, contact_sheet=path) if written else report


def _sniff(source: Path) -> MediaFormat:
    """The format of a source file, recognised from its first bytes.

    Raises:
        UnreadableSource: the path is missing, a directory, or not readable.
        UnsupportedMedia: the bytes are not a supported format.
    """
    try:
        with open(source, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as err:
        raise UnreadableSource(f"{source}: {err.strerror or err}") from err
    return sniff(head)


def _with_time(report: RedactReport, seconds: float) -> RedactReport:
    return replace(report, seconds=round(seconds, 3))
