"""Re-encode a video frame for frame with its masks painted, and mux it with its audio.

Why separate: this is how FFmpeg is driven, apart from what a redaction decides (which
faces, which checks: :mod:`.video`). Videos are decoded with PyAV and re-encoded frame
for frame: the same frame count, the same timestamps (so the same frame rate and
duration, variable rates included) and the same pixel format where the encoder supports
it. Audio streams are copied packet for packet, without re-encoding; subtitle, data and
attachment streams are dropped (attachments can hold cover pictures with faces). Rotated
videos are written upright, with no rotation metadata.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import av.error
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream as AVVideoStream

from mediaguard.errors import ConfigError
from mediaguard.media.limits import VideoLimits
from mediaguard.media.pixfmt import PLANAR
from mediaguard.media.video import (
    FrameDecoder,
    VideoInfo,
    VideoInput,
    ended_early,
    frame_rate,
    frame_time,
    pick_video_stream,
)
from mediaguard.redaction.boxes import FloatArray
from mediaguard.redaction.frames import FrameView, paint_frame
from mediaguard.redaction.masks import IntArray, Mode, mask_rects
from mediaguard.redaction.output import OutputFile
from mediaguard.redaction.report import ProgressCallback, RedactionError
from mediaguard.redaction.tracking import MaskPlanner

_QP2LAMBDA: Final = 118  # FFmpeg's FF_QP2LAMBDA
# Output muxer and video encoders (first available wins) by output suffix.
_VIDEO_OUTPUTS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    ".mp4": ("mp4", ("libx264", "mpeg4")),
    ".m4v": ("mp4", ("libx264", "mpeg4")),
    ".mov": ("mov", ("libx264", "mpeg4")),
    ".mkv": ("matroska", ("libx264", "mpeg4")),
    ".webm": ("webm", ("libvpx-vp9", "libvpx")),
    ".avi": ("avi", ("mpeg4",)),
}
_ENCODER_OPTIONS: Final[dict[str, dict[str, str]]] = {
    # Visually near-lossless at a speed that keeps the encoder off the critical path.
    "libx264": {"preset": "veryfast", "crf": "18"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "24", "b": "0"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "4M"},
    "mpeg4": {},
}


def video_target(output: Path) -> tuple[str, str]:
    """Muxer and encoder for an output path.

    Raises:
        ConfigError: the suffix is not a supported video container.
    """
    choice = _VIDEO_OUTPUTS.get(output.suffix.lower())
    if choice is None:
        raise ConfigError(
            f"output {output.name}: a redacted video must be written as one of "
            f"{', '.join(sorted(_VIDEO_OUTPUTS))}"
        )
    muxer, encoders = choice
    for name in encoders:
        if name in av.codecs_available:
            return muxer, name
    raise RedactionError(f"none of the encoders {', '.join(encoders)} is in PyAV's FFmpeg")


def _pixel_format(encoder: str, source: str | None, width: int, height: int) -> str:
    supported = {f.name for f in (av.codec.Codec(encoder, "w").video_formats or ())}
    if source in supported and (source == "yuv444p" or (width % 2 == 0 and height % 2 == 0)):
        return source
    if width % 2 or height % 2:
        # 4:2:0 needs even sides; 4:4:4 keeps odd-sized frames whole.
        return "yuv444p" if "yuv444p" in supported else "yuv420p"
    return "yuv420p"


@dataclass(slots=True)
class Counts:
    """What a video redaction counts as it goes: the numbers of its report."""

    faces: int = 0
    regions: int = 0
    masked: int = 0
    frames: int = 0


@dataclass(frozen=True, slots=True)
class VideoJob:
    """What one video redaction writes, beyond the streams themselves."""

    info: VideoInfo
    mode: Mode
    mask_scale: float
    detect_size: int
    keep_metadata: bool
    masks: list[IntArray] | None  # every frame's rectangles, kept only for verify
    progress: ProgressCallback | None


def transcode(
    source: Path,
    target: OutputFile,
    job: VideoJob,
    limits: VideoLimits,
    muxer: str,
    encoder: str,
    planner: MaskPlanner[FrameView],
    counts: Counts,
    notes: list[str],
) -> int:
    """Decode, plan masks, paint and encode every frame; copy the audio.

    Returns:
        The number of audio streams copied.

    Raises:
        RedactionError: the input stops decoding part-way, has no frame, or has more
            frames than the limit.
    """
    info = job.info
    turns = info.rotation // 90
    with VideoInput(source, info.format) as opened:
        container = opened.container
        in_video = pick_video_stream(container)
        in_video.thread_type = "AUTO"
        in_audio = list(container.streams.audio)
        dropped = sorted(
            {s.type for s in container.streams if s is not in_video and s not in in_audio}
        )
        if dropped:
            notes.append(
                f"dropped {', '.join(dropped)} stream(s): only the video and its audio are written"
            )
        with av.open(target.file, mode="w", format=muxer) as out:
            out_video, rgb_path = _add_video_stream(out, in_video, info, encoder, notes)
            out_audio = {s.index: out.add_stream_from_template(s) for s in in_audio}
            if job.keep_metadata:
                out.metadata.update(container.metadata)
                out_video.metadata.update(in_video.metadata)
                for s in in_audio:
                    out_audio[s.index].metadata.update(s.metadata)
            state = _EncodeState(out, out_video)

            def emit(ready: list[tuple[FrameView, FloatArray]]) -> None:
                for view, boxes in ready:
                    rects = mask_rects(boxes * view.scale, job.mask_scale, info.width, info.height)
                    if job.masks is not None:
                        job.masks.append(rects)
                    counts.masked += int(len(rects) > 0)
                    frame = paint_frame(
                        view.frame, rects, mode=job.mode, turns=turns, rgb_path=rgb_path
                    )
                    state.encode(frame)
                if ready and job.progress is not None:
                    job.progress(state.encoded, info.frame_count)

            decoder = FrameDecoder(container, in_video)
            reformatter = VideoReformatter()  # one swscale context for every frame
            last: Fraction | None = None
            for frame in _demux(container, in_video, in_audio, out, out_audio, decoder):
                last = frame_time(frame, in_video, last, info.fps)
                counts.frames += 1
                if counts.frames > limits.max_frames:
                    raise RedactionError(
                        f"video has more than {limits.max_frames} frames (video_limits.max_frames)"
                    )
                emit(planner.push(FrameView(frame, turns, job.detect_size, reformatter)))
            if decoder.error is not None:
                raise RedactionError(
                    f"the input video is damaged ({decoder.error}); nothing was written"
                )
            if counts.frames == 0:
                raise RedactionError("no video frame decodes; nothing was written")
            short = ended_early(info, last)
            if short is not None:
                # A redacted copy of part of a video could pass for all of it.
                raise RedactionError(
                    f"the input video is incomplete ({short}); nothing was written"
                )
            emit(planner.finish())
            state.flush()
    return len(in_audio)


def _demux(
    container: av.container.InputContainer,
    in_video: AVVideoStream,
    in_audio: Sequence[AudioStream],
    out: OutputContainer,
    out_audio: dict[int, AudioStream],
    decoder: FrameDecoder,
) -> Iterator[VideoFrame]:
    """Yield decoded video frames; copy audio packets to the output as they pass.

    A read or decode error ends the iteration with ``decoder.error`` set; errors while
    writing audio propagate, so a damaged input and a failed output stay distinguishable.
    """
    packets = container.demux(in_video, *in_audio)
    while True:
        try:
            packet = next(packets, None)
            if packet is None:
                return
            frames = in_video.decode(packet) if packet.stream.index == in_video.index else None
        except (av.error.FFmpegError, ValueError) as err:
            decoder.error = f"decoding stopped after {decoder.packets} video packets: {err}"
            return
        if frames is not None:
            decoder.packets += 1
            yield from frames
        elif packet.dts is not None and packet.size:
            packet.stream = out_audio[packet.stream.index]
            out.mux(packet)


def _add_video_stream(
    out: OutputContainer,
    in_video: AVVideoStream,
    info: VideoInfo,
    encoder: str,
    notes: list[str],
) -> tuple[AVVideoStream, bool]:
    """Add the output video stream; returns it and whether frames must go through RGB."""
    rate = frame_rate(in_video) or Fraction(25)
    stream = out.add_stream(encoder, rate=rate, options=dict(_ENCODER_OPTIONS[encoder]))
    if not isinstance(stream, AVVideoStream):
        raise RedactionError(f"{encoder} is not a video encoder")
    stream.width, stream.height = info.width, info.height
    pix_fmt = _pixel_format(encoder, info.pixel_format, info.width, info.height)
    stream.pix_fmt = pix_fmt
    if pix_fmt != info.pixel_format:
        notes.append(f"pixel format {info.pixel_format} written as {pix_fmt}")
    if in_video.time_base is not None:
        stream.time_base = in_video.time_base
        stream.codec_context.time_base = in_video.time_base
    stream.thread_type = "AUTO"
    if encoder == "mpeg4":
        # FFmpeg's "-q:v 2": constant quantiser 2, the encoder's near-transparent setting.
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = 2 * _QP2LAMBDA
    rgb_path = info.rotation != 0 or pix_fmt != info.pixel_format or pix_fmt not in PLANAR
    return stream, rgb_path


class _EncodeState:
    """Encodes frames with strictly increasing timestamps and counts them."""

    def __init__(self, out: OutputContainer, stream: AVVideoStream) -> None:
        self.out = out
        self.stream = stream
        self.encoded = 0
        self.last_pts: int | None = None

    def encode(self, frame: VideoFrame) -> None:
        pts = frame.pts
        # Encoders refuse timestamps that do not increase; a broken input's duplicate is
        # nudged forward by one tick rather than dropped, so no frame is lost.
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + 1
            frame.pts = pts
        self.last_pts = pts
        self.out.mux(self.stream.encode(frame))
        self.encoded += 1

    def flush(self) -> None:
        self.out.mux(self.stream.encode(None))
