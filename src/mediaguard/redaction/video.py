"""Redact a video: plan masks from face search and tracking, re-encode, verify.

Why separate: this is the video path's control, apart from the codec work
(:mod:`.encode`): the two searches the planner runs on frames and the counts they add
up, how long a lost face stays masked, the output file's life, the verification pass
over the written video, and :func:`mask_rectangles`, which runs the same planning
without encoding, for the coverage benchmark. Faces are detected on every
``detect_every``-th frame and tracked across the frames between
(:mod:`.tracking`), so every frame is covered and the masks do not flicker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Final

import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from mediaguard.errors import MediaguardError
from mediaguard.media.limits import VideoLimits
from mediaguard.media.video import (
    FrameDecoder,
    VideoInfo,
    VideoInput,
    open_video,
    pick_video_stream,
)
from mediaguard.redaction.boxes import FloatArray, Located
from mediaguard.redaction.coverage import visible_rows
from mediaguard.redaction.encode import Counts, VideoJob, transcode, video_target
from mediaguard.redaction.faces import DEFAULT_THRESHOLD, FaceDetector
from mediaguard.redaction.findings import Findings
from mediaguard.redaction.frames import FrameView
from mediaguard.redaction.masks import (
    DEFAULT_MASK_SCALE,
    IntArray,
    Mode,
    check_options,
    mask_rects,
)
from mediaguard.redaction.output import OutputFile
from mediaguard.redaction.regions import flagged_boxes
from mediaguard.redaction.report import (
    ProgressCallback,
    RedactionError,
    RedactReport,
    verified_fields,
)
from mediaguard.redaction.tracking import MaskPlanner
from mediaguard.signals.base import Detector

#: Long side at which video frames are searched for faces. Frames up to this size are
#: searched at full resolution: CenterFace's smallest faces are about 10 pixels, and the
#: pedestrians in real surveillance footage (opencv-doc ``vtest.avi``, 768 x 576) are
#: that small, so downscaling such footage loses faces.
DEFAULT_VIDEO_DETECT_SIZE: Final = 1280
#: Run the face detector on every n-th video frame; tracking covers the frames between.
DEFAULT_DETECT_EVERY: Final = 8


class _VideoFaces:
    """The tracker's two searches, on :class:`FrameView` frames, counting what they find."""

    def __init__(
        self,
        detector: FaceDetector,
        regions: Sequence[Detector],
        *,
        threshold: float,
        counts: Counts,
    ) -> None:
        self.detector = detector
        self.regions = regions
        self.threshold = threshold
        self.counts = counts

    def detect(self, view: FrameView) -> FloatArray:
        pixels = view.rgb()
        faces = self.detector.detect(pixels, threshold=self.threshold)
        self.counts.faces += len(faces)
        if not self.regions:
            return faces.xyxy
        found = flagged_boxes(self.regions, pixels, self.counts.frames)
        self.counts.regions += int(found.shape[0])
        return np.concatenate([faces.xyxy, found]).astype(np.float32)

    def search(self, view: FrameView, predicted: FloatArray) -> Located:
        located = self.detector.search(
            view.crop, view.width, view.height, predicted, threshold=self.threshold
        )
        found = int(np.isfinite(located.boxes).all(axis=1).sum()) + len(located.others)
        self.counts.faces += found
        return located


def redact_video(
    source: Path,
    output: Path,
    *,
    mode: Mode,
    mask_scale: float,
    threshold: float,
    detector: FaceDetector,
    regions: Sequence[Detector],
    keep_metadata: bool,
    findings: Findings | None,
    detect_every: int,
    detect_size: int,
    progress: ProgressCallback | None,
) -> RedactReport:
    """The video half of :func:`~mediaguard.redaction.redact`, its options already checked.

    ``findings`` collects what verification still sees in the output; None: no check.
    """
    muxer, encoder = video_target(output)
    limits = VideoLimits()
    info = open_video(source, limits)
    counts = Counts()
    notes: list[str] = []
    masks: list[IntArray] | None = [] if findings is not None else None
    planner: MaskPlanner[FrameView]
    faces = _VideoFaces(detector, regions, threshold=threshold, counts=counts)
    planner = MaskPlanner(
        faces.detect,
        faces.search,
        every=detect_every,
        hold=_hold_frames(info, detect_every),
        lookback=detect_every + 2,
    )
    job = VideoJob(info, mode, mask_scale, detect_size, keep_metadata, masks, progress)
    target = OutputFile(output)
    try:
        audio_count = transcode(source, target, job, limits, muxer, encoder, planner, counts, notes)
    except MediaguardError:
        target.discard()
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        target.discard()
        raise RedactionError(f"video redaction failed: {err}") from err
    except BaseException:
        target.discard()
        raise
    target.commit()
    if findings is not None and masks is not None:
        verify_video(output, detector, threshold, detect_size, masks, findings)
    verified, found_faces = verified_fields(findings)
    return RedactReport(
        source=source,
        output=output,
        kind="video",
        mode=mode,
        mask_scale=mask_scale,
        threshold=threshold,
        frames=counts.frames,
        frames_masked=counts.masked,
        faces=counts.faces,
        regions=counts.regions,
        audio_streams=audio_count,
        metadata_kept=keep_metadata,
        notes=tuple(notes),
        verified=verified,
        findings=found_faces,
    )


def _hold_frames(info: VideoInfo, every: int) -> int:
    """Frames a lost face stays masked: half a second, and at least two whole searches."""
    fps = info.fps or Fraction(25)
    return max(2 * every, round(fps / 2))


def verify_video(
    output: Path,
    detector: FaceDetector,
    threshold: float,
    detect_size: int,
    masks: Sequence[IntArray],
    findings: Findings,
) -> None:
    """Add to ``findings`` the faces still visible in a written video.

    A face counts as visible by the rule of :mod:`mediaguard.redaction.coverage`.
    Every frame is searched whole, at the redaction's threshold and detection size.
    """
    info = open_video(output, VideoLimits())
    no_masks = np.zeros((0, 4), np.int64)
    reformatter = VideoReformatter()
    with VideoInput(output, info.format) as opened:
        stream = pick_video_stream(opened.container)
        stream.thread_type = "AUTO"
        for index, frame in enumerate(FrameDecoder(opened.container, stream)):
            view = FrameView(frame, info.rotation // 90, detect_size, reformatter)
            pixels = view.rgb()
            found = detector.detect(pixels, threshold=threshold).scaled(view.scale)
            rects = masks[index] if index < len(masks) else no_masks
            rows = visible_rows(found, rects)
            if rows:
                findings.add(index, found, rows, pixels, view.scale)


def mask_rectangles(
    source: str | os.PathLike[str],
    *,
    mask_scale: float = DEFAULT_MASK_SCALE,
    threshold: float = DEFAULT_THRESHOLD,
    detect_every: int = DEFAULT_DETECT_EVERY,
    detect_size: int = DEFAULT_VIDEO_DETECT_SIZE,
    face_detector: FaceDetector | None = None,
) -> Iterator[IntArray]:
    """The mask rectangles :func:`~mediaguard.redaction.redact` paints on each frame of a
    video, in order.

    Runs the same decoding, detection and tracking as a redaction without encoding
    anything, for measuring coverage (``benchmarks/redact_video.py``). The rectangles
    are yielded one frame at a time and never stored.

    Raises:
        The media errors of :func:`mediaguard.media.video.open_video`, and
        RedactionError when the video stops decoding part-way.
    """
    path = Path(source)
    check_options("blur", mask_scale, threshold)
    info = open_video(path, VideoLimits())
    turns = info.rotation // 90
    faces = _VideoFaces(face_detector or FaceDetector(), (), threshold=threshold, counts=Counts())
    planner: MaskPlanner[FrameView] = MaskPlanner(
        faces.detect,
        faces.search,
        every=detect_every,
        hold=_hold_frames(info, detect_every),
        lookback=detect_every + 2,
    )

    def rects(ready: list[tuple[FrameView, FloatArray]]) -> Iterator[IntArray]:
        for view, boxes in ready:
            yield mask_rects(boxes * view.scale, mask_scale, info.width, info.height)

    with VideoInput(path, info.format) as opened:
        stream = pick_video_stream(opened.container)
        stream.thread_type = "AUTO"
        decoder = FrameDecoder(opened.container, stream)
        reformatter = VideoReformatter()
        for frame in decoder:
            yield from rects(planner.push(FrameView(frame, turns, detect_size, reformatter)))
        if decoder.error is not None:
            raise RedactionError(f"the input video is damaged ({decoder.error})")
        yield from rects(planner.finish())
