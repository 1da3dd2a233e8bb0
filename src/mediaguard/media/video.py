"""Open a video with PyAV and probe it: container, stream, limits, first frame, frame times.

Why separate: this is everything that reads a video without choosing frames from it.
The scanner's sampler (:mod:`.sampling`) and redaction, which re-encodes every frame
rather than sampling, both open, probe and decode through here, so both get the same
safeguards; what to sample is not this module's concern.

The container is recognised from its bytes by :func:`~mediaguard.media.sniff.sniff` and
FFmpeg is then told to use only the matching demuxer, so bytes sniffed as one format are
never parsed by another. Sources are read through Python file objects, never handed to
FFmpeg as a URL, so a file name such as ``concat:...`` or ``http://...`` cannot make
FFmpeg open anything else.

Time is exact: a frame's time is ``Fraction(pts - start_time) * time_base`` of its
stream, never ``index / fps``, so variable-frame-rate footage is timed right and a time
survives any round trip. Rotation is read from the first frame's display matrix.

Damage is reported, not hidden: :class:`FrameDecoder` stops at a demuxer or decoder error
and says where and why, and :func:`ended_early` recognises a stream that stops short of
its declared duration; only a video of which nothing decodes is :class:`CorruptMedia`.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Final, NamedTuple

import av
import av.error
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream as AVVideoStream

from mediaguard.errors import CorruptMedia, MediaTooLarge, UnreadableSource, UnsupportedMedia
from mediaguard.media.digesting import DigestingReader, FileDigests
from mediaguard.media.geometry import upright_turns
from mediaguard.media.limits import VideoLimits, check_video_pixels
from mediaguard.media.sniff import SNIFF_BYTES, sniff
from mediaguard.media.types import FrameTime, MediaFacts, MediaFormat, MediaKind

__all__ = [
    "DEMUXERS",
    "FrameDecoder",
    "Probed",
    "VideoInfo",
    "VideoInput",
    "VideoSource",
    "ended_early",
    "frame_rate",
    "frame_time",
    "open_video",
    "pick_video_stream",
    "probe",
    "recognise",
    "stream_duration",
]

VideoSource = Path | bytes
"""A video as a file path or as its whole encoded bytes."""

# FFmpeg demuxer allowed to read each sniffed container (see the module note).
DEMUXERS: Final[dict[str, str]] = {
    "mp4": "mov",
    "mov": "mov",
    "matroska": "matroska",
    "webm": "matroska",
    "avi": "avi",
    "flv": "flv",
    "mpegts": "mpegts",
    "mpegps": "mpeg",
    "asf": "asf",
    "ogg": "ogg",
}


# A stream whose last frame ends this much before its declared duration was cut short.
_TRUNCATION_SLACK: Final = Fraction(1, 4)
_TRUNCATION_FRAMES: Final = 3


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a video is, read from its headers and its first decoded frame.

    Attributes:
        format: the container recognised from its bytes.
        container: the FFmpeg demuxer that read it.
        codec: the video codec's FFmpeg name.
        width: width of the upright picture, after rotation.
        height: height of the upright picture, after rotation.
        rotation: counter-clockwise degrees (0, 90, 180 or 270) the stored picture is
            turned to display it upright, from the display matrix.
        fps: average frame rate, or None when the container does not say.
        duration: of the video stream (else of the container), seconds, or None.
        frame_count: frames the header declares, or None when it does not say.
        has_audio: whether there is at least one audio stream.
        size_bytes: size of the file.
        pixel_format: the decoder's pixel format, e.g. ``yuv420p``.
    """

    format: MediaFormat
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    fps: Fraction | None
    duration: Fraction | None
    frame_count: int | None
    has_audio: bool
    size_bytes: int
    pixel_format: str | None

    def facts(self, frame_count: int | None = None) -> MediaFacts:
        """The media stage's facts for this video.

        Args:
            frame_count: frames actually decoded, when known; the header's count (or 0
                when the header has none) otherwise.
        """
        count = frame_count if frame_count is not None else (self.frame_count or 0)
        return MediaFacts(
            format=self.format,
            size_bytes=self.size_bytes,
            width=self.width,
            height=self.height,
            frame_count=count,
            animated=True,
            duration=self.duration,
        )


def _describe(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return str(text).strip() or type(err).__name__


def _read_head(source: VideoSource, limits: VideoLimits) -> tuple[bytes, int]:
    """The first bytes and the size of a source, checking the byte limit before reading.

    Raises:
        UnreadableSource: the path is missing, not a regular file, or not readable.
        MediaTooLarge: the source is larger than ``limits.max_bytes``.
    """
    if isinstance(source, bytes):
        size = len(source)
        head = source[:SNIFF_BYTES]
    else:
        try:
            info = os.stat(source)
            if not stat.S_ISREG(info.st_mode):
                raise UnreadableSource(f"{source}: not a regular file")
            size = info.st_size
            with open(source, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
        except OSError as err:
            raise UnreadableSource(f"{source}: {err.strerror or err}") from err
    if size > limits.max_bytes:
        raise MediaTooLarge(
            f"video is {size} bytes, more than video_limits.max_bytes ({limits.max_bytes}); "
            "raise video_limits.max_bytes in the config to accept it"
        )
    return head, size


def recognise(source: VideoSource, limits: VideoLimits) -> tuple[MediaFormat, int]:
    """Sniff the container of a video source and check its size.

    Returns:
        The recognised format and the size in bytes.

    Raises:
        UnsupportedMedia: an empty file, a format that is not video, or not supported.
        MediaTooLarge: more bytes than ``limits.max_bytes``.
        UnreadableSource: the path cannot be read.
    """
    head, size = _read_head(source, limits)
    fmt = sniff(head)
    if fmt.kind is not MediaKind.VIDEO:
        raise UnsupportedMedia(f"not a video: the bytes are a {fmt.name} image")
    return fmt, size


class VideoInput:
    """An open PyAV input container plus the Python file object it reads.

    The container is restricted to the demuxer of the sniffed format. Exposed for the
    redaction action, which must remux every packet rather than sample frames; use it
    as a context manager so the container and the file close together.

    Raises:
        CorruptMedia: FFmpeg cannot read the container.
        UnreadableSource: the path cannot be opened.
    """

    def __init__(self, source: VideoSource, fmt: MediaFormat, *, digest: bool = False) -> None:
        self._stack = ExitStack()
        #: Hashes a file source as FFmpeg reads it, when ``digest`` was asked for.
        self.reader: DigestingReader | None = None
        stream: IO[bytes]
        if isinstance(source, bytes):
            stream = io.BytesIO(source)
        else:
            try:
                stream = self._stack.enter_context(open(source, "rb"))  # noqa: SIM115
            except OSError as err:
                raise UnreadableSource(f"{source}: {err.strerror or err}") from err
            if digest:
                self.reader = self._stack.enter_context(DigestingReader(stream))
                stream = self.reader  # type: ignore[assignment]
        try:
            self.container: InputContainer = av.open(
                stream,
                mode="r",
                format=DEMUXERS[fmt.name],
                # Tags are free text written by whoever made the file; undecodable bytes
                # in them must not make the video unreadable.
                metadata_errors="replace",
            )
        except (av.error.FFmpegError, ValueError, OSError) as err:
            self._stack.close()
            raise CorruptMedia(f"{fmt.name} container cannot be read: {_describe(err)}") from err
        self._stack.callback(self.container.close)

    def __enter__(self) -> VideoInput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the container, then the file; safe to call twice."""
        self._stack.close()

    def digests(self) -> FileDigests | None:
        """MD5 and SHA-256 of the whole file, reading only what FFmpeg has not read in
        order (see :mod:`.digesting`); None for bytes or without ``digest``. Call it
        before :meth:`close`.

        Raises:
            UnreadableSource: the rest of the file cannot be read.
        """
        if self.reader is None:
            return None
        try:
            return self.reader.finish()
        except OSError as err:
            raise UnreadableSource(f"read failed ({err.strerror or err})") from err


def pick_video_stream(container: InputContainer) -> AVVideoStream:
    """The video stream to read: the first that is not an attached picture (cover art).

    Raises:
        UnsupportedMedia: the file has no video stream (an audio-only file, for one).
    """
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    if container.streams.audio:
        raise UnsupportedMedia("no video stream: audio-only file")
    raise UnsupportedMedia("no video stream")


def stream_duration(container: InputContainer, stream: AVVideoStream) -> Fraction | None:
    """Duration of the video stream in seconds, else of the container, else None."""
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        return Fraction(stream.duration) * stream.time_base
    if container.duration is not None and container.duration > 0:
        return Fraction(container.duration, av.time_base)
    return None


def frame_rate(stream: AVVideoStream) -> Fraction | None:
    """The stream's average frame rate, else FFmpeg's guess, else None."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def _check_header(stream: AVVideoStream, duration: Fraction | None, limits: VideoLimits) -> None:
    check_video_pixels(stream.codec_context.width, stream.codec_context.height, limits)
    if duration is not None and duration > limits.max_duration_s:
        raise MediaTooLarge(
            f"video lasts {float(duration):.1f} s, more than video_limits.max_duration_s "
            f"({limits.max_duration_s}); raise video_limits.max_duration_s to accept it"
        )
    if stream.frames > limits.max_frames:
        raise MediaTooLarge(
            f"video declares {stream.frames} frames, more than video_limits.max_frames "
            f"({limits.max_frames}); raise video_limits.max_frames to accept it"
        )


class FrameDecoder:
    """Decodes one video stream packet by packet and remembers why it stopped.

    Iterating yields every decoded frame in presentation order. A demuxer or decoder
    error ends the iteration instead of propagating; :attr:`error` then holds the reason
    and :attr:`packets` how far it got, so the caller decides whether a partial decode
    is acceptable (sampling: yes, and it says so; redaction: no).
    """

    def __init__(self, container: InputContainer, stream: AVVideoStream) -> None:
        self.container = container
        self.stream = stream
        self.error: str | None = None
        self.packets = 0

    def __iter__(self) -> Iterator[VideoFrame]:
        try:
            for packet in self.container.demux(self.stream):
                self.packets += 1
                # PyAV ends demuxing with an empty packet per stream; decoding it flushes
                # the frames the decoder still holds back for reordering.
                yield from self.stream.decode(packet)
        except (av.error.FFmpegError, ValueError) as err:
            self.error = f"decoding stopped after {self.packets} packets: {_describe(err)}"


def frame_time(
    frame: VideoFrame, stream: AVVideoStream, previous: FrameTime | None, fps: Fraction | None
) -> FrameTime:
    """Exact time of a decoded frame in seconds from the start of its stream.

    A frame without a pts (rare; broken muxers) is placed one nominal frame after the
    previous one, so time never runs backwards.
    """
    time_base = stream.time_base or Fraction(1, 1000)
    if frame.pts is not None:
        start = stream.start_time or 0
        return Fraction(frame.pts - start) * time_base
    step = Fraction(1) / fps if fps else Fraction(1, 25)
    return Fraction(0) if previous is None else previous + step


class Probed(NamedTuple):
    """An opened video after :func:`probe`: its facts, and decoding under way.

    Attributes:
        info: what the headers and the first frame say.
        stream: the video stream being decoded.
        decoder: the decoder, which records why it stopped.
        frames: the decoder's iterator, positioned after the first frame.
        first: the first decoded frame, which the caller must not drop.
    """

    info: VideoInfo
    stream: AVVideoStream
    decoder: FrameDecoder
    frames: Iterator[VideoFrame]
    first: VideoFrame


def probe(opened: VideoInput, fmt: MediaFormat, size: int, limits: VideoLimits) -> Probed:
    """Read the headers and decode the first frame, which carries the rotation.

    Raises:
        UnsupportedMedia: no video stream.
        MediaTooLarge: a header limit is exceeded.
        CorruptMedia: no frame decodes.
    """
    container = opened.container
    stream = pick_video_stream(container)
    duration = stream_duration(container, stream)
    _check_header(stream, duration, limits)
    stream.thread_type = "AUTO"
    decoder = FrameDecoder(container, stream)
    frames = iter(decoder)
    first = next(frames, None)
    if first is None:
        why = decoder.error or "no frame decodes"
        raise CorruptMedia(f"{fmt.name} video stream is unreadable: {why}")
    check_video_pixels(first.width, first.height, limits)
    turns = upright_turns(first.rotation)
    width, height = first.width, first.height
    if turns % 2:
        width, height = height, width
    info = VideoInfo(
        format=fmt,
        container=container.format.name,
        codec=stream.codec_context.name,
        width=width,
        height=height,
        rotation=turns * 90,
        fps=frame_rate(stream),
        duration=duration,
        frame_count=stream.frames or None,
        has_audio=bool(container.streams.audio),
        size_bytes=size,
        pixel_format=first.format.name,
    )
    return Probed(info, stream, decoder, frames, first)


def open_video(source: VideoSource, limits: VideoLimits | None = None) -> VideoInfo:
    """Probe a video: container, codec, upright size, rotation, rate, duration, audio.

    Decodes the first frame (the rotation lives in its side data, and a video whose
    first frame does not decode is refused here rather than later).

    Args:
        source: a file path or the whole encoded bytes.
        limits: limits to enforce; the defaults when None.

    Raises:
        UnsupportedMedia: an empty file, not a video, or no video stream (audio-only).
        MediaTooLarge: the bytes, a frame's pixels, the duration or the declared frame
            count exceed a limit.
        CorruptMedia: the container is unreadable or no frame decodes.
        UnreadableSource: the path cannot be read.
    """
    limits = limits or VideoLimits()
    fmt, size = recognise(source, limits)
    opened = VideoInput(source, fmt)
    try:
        info = probe(opened, fmt, size, limits).info
    finally:
        opened.close()
    return info


def ended_early(info: VideoInfo, last_time: FrameTime | None) -> str | None:
    """Why a stream whose last frame is at ``last_time`` looks truncated, or None.

    Demuxers of streamable containers (Matroska, WebM, MPEG-TS, AVI, MP4 with its index
    first) simply stop at the end of a cut file without an error, so the last frame's
    time is compared with the duration the headers declare.
    """
    declared = info.duration
    if declared is None or last_time is None:
        return None
    step = Fraction(1) / info.fps if info.fps else Fraction(0)
    ends = last_time + step
    if ends + _TRUNCATION_SLACK + _TRUNCATION_FRAMES * step < declared:
        return (
            f"the video stream ends at {float(ends):.2f} s but declares "
            f"{float(declared):.2f} s; the file is probably truncated"
        )
    return None
