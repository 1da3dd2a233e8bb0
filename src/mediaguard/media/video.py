"""Stream a video with PyAV: probe it, enforce limits, and sample frames as they decode.

Design note: a video is never held in memory. :func:`sample_frames` returns a
:class:`VideoStream` whose iteration decodes packet by packet and yields only the sampled
frames, converted to RGB at working size by FFmpeg's swscale; every other frame is
dropped as soon as its pts (and, when scene cuts are on, a 32 x 32 grey thumbnail) has
been read. Memory therefore stays flat however long the video is, and the caller can
hash and score each sample while the next ones decode.

Time is exact: a frame's time is ``Fraction(pts - start_time) * time_base`` of its
stream, never ``index / fps``, so variable-frame-rate footage is sampled at the right
moments and a sample's time survives any round trip. Rotation metadata (the display
matrix) is applied to every sampled frame so detectors always see an upright picture.

The container is recognised from its bytes by :func:`~mediaguard.media.sniff.sniff` and
FFmpeg is then told to use only the matching demuxer, so bytes sniffed as one format are
never parsed by another. Sources are read through Python file objects, never handed to
FFmpeg as a URL, so a file name such as ``concat:...`` or ``http://...`` cannot make
FFmpeg open anything else.

Damage is reported, not hidden: a stream that stops decoding part-way still yields what
decoded, and :attr:`VideoStream.incomplete` and :attr:`VideoStream.reason` say where and
why it stopped. Only a video of which nothing decodes is :class:`CorruptMedia`.
"""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream as AVVideoStream

from mediaguard.errors import (
    ConfigError,
    CorruptMedia,
    MediaTooLarge,
    UnreadableSource,
    UnsupportedMedia,
)
from mediaguard.media.sniff import SNIFF_BYTES, sniff
from mediaguard.media.types import Frame, MediaFacts, MediaFormat, MediaKind, RGBArray

VideoSource = Path | bytes
"""A video as a file path or as its whole encoded bytes."""

# FFmpeg demuxer allowed to read each sniffed container (see the design note).
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

#: Default scene-cut threshold: mean absolute difference, on the 0-255 scale, between the
#: 32 x 32 grey thumbnails of consecutive decoded frames. Measured on real footage
#: (opencv-doc samples): consecutive frames without a cut stayed at or below 3.7 in
#: ``Megamind.avi`` and 3.1 in ``vtest.avi``, and reached 17.3 during fast motion in the
#: 15 fps ``tree.avi``; the cuts in ``Megamind.avi`` measured 35 to 44. 25 sits between.
DEFAULT_SCENE_THRESHOLD: Final = 25.0

_THUMB: Final = 32
# The luma plane is point-sampled on a grid this many times finer than the thumbnail,
# then box-averaged, which is far cheaper than a swscale call per decoded frame.
_THUMB_OVERSAMPLE: Final = 4
# Pixel formats whose first plane is 8-bit luma, so the thumbnail can read it directly.
_LUMA_FORMATS: Final = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "yuva420p",
        "nv12",
        "nv21",
        "gray",
    }
)
# A stream whose last frame ends this much before its declared duration was cut short.
_TRUNCATION_SLACK: Final = Fraction(1, 4)
_TRUNCATION_FRAMES: Final = 3


# --- configuration ------------------------------------------------------------------------


def _positive_int(where: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}.{name}: expected a positive integer, got {value!r}")


def _check_known(where: str, cls: type[Any], data: Mapping[str, Any]) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; expected any of "
            f"{', '.join(sorted(known))}"
        )


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Resource limits for one video.

    Attributes:
        max_bytes: largest file accepted.
        max_duration_s: longest duration accepted, in seconds (header, then while decoding).
        max_pixels: largest width x height of one frame (8K by default).
        max_frames: most frames decoded; guards against a header that lies about the
            duration (or has none) and against absurd frame rates.
        max_samples: most frames handed to the signals. When the sampling rate would
            exceed it, the rate is lowered so the samples still span the whole video.
    """

    max_bytes: int = 4 * 1024 * 1024 * 1024
    max_duration_s: int = 4 * 3600
    max_pixels: int = 7680 * 4320
    max_frames: int = 500_000
    max_samples: int = 3_600

    def __post_init__(self) -> None:
        for f in fields(self):
            _positive_int("video_limits", f.name, getattr(self, f.name))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> VideoLimits:
        """Build limits from a config table, naming any unknown or invalid field.

        Raises:
            ConfigError: on an unknown key or a value that is not a positive integer.
        """
        _check_known("video_limits", cls, data)
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which decoded frames become samples.

    Attributes:
        rate: samples per second at fixed times (the first frame at or after each
            multiple of ``1 / rate``). Anything ``Fraction`` accepts: 1, "1/2", 0.5.
        scene_cuts: also sample a frame whose thumbnail differs from the previous
            decoded frame's by more than ``scene_threshold``, so a short scene between
            two fixed-rate samples is not skipped.
        scene_threshold: mean absolute difference (0-255) of 32 x 32 grey thumbnails;
            see :data:`DEFAULT_SCENE_THRESHOLD` for how the default was chosen.
        max_samples: a cap below ``VideoLimits.max_samples`` for this scan, or None.
        keyframes_only: decode only keyframes (FFmpeg ``skip_frame=NONKEY``). Decoding
            is then several times faster on long-GOP footage, but samples (and scene
            cuts) can only fall on keyframes, and ``Frame.index`` is estimated from
            time and frame rate.
    """

    rate: Fraction = Fraction(1)
    scene_cuts: bool = True
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD
    max_samples: int | None = None
    keyframes_only: bool = False

    def __post_init__(self) -> None:
        try:
            rate = Fraction(str(self.rate)) if isinstance(self.rate, float) else Fraction(self.rate)
        except (TypeError, ValueError, ZeroDivisionError) as err:
            raise ConfigError(f"sampling.rate: expected a number, got {self.rate!r}") from err
        if rate <= 0:
            raise ConfigError(f"sampling.rate: expected a positive rate, got {self.rate!r}")
        object.__setattr__(self, "rate", rate)
        threshold = self.scene_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0.0 < threshold <= 255.0
        ):
            raise ConfigError(
                f"sampling.scene_threshold: expected a number in (0, 255], got {threshold!r}"
            )
        if self.max_samples is not None:
            _positive_int("sampling", "max_samples", self.max_samples)
        for name in ("scene_cuts", "keyframes_only"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"sampling.{name}: expected true or false")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Sampling:
        """Build sampling settings from a config table, naming any unknown field.

        Raises:
            ConfigError: on an unknown key or an invalid value.
        """
        _check_known("sampling", cls, data)
        return cls(**dict(data))


# --- facts --------------------------------------------------------------------------------


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


# --- opening ------------------------------------------------------------------------------


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

    def __init__(self, source: VideoSource, fmt: MediaFormat) -> None:
        self._stack = ExitStack()
        stream: IO[bytes]
        if isinstance(source, bytes):
            stream = io.BytesIO(source)
        else:
            try:
                stream = self._stack.enter_context(open(source, "rb"))  # noqa: SIM115
            except OSError as err:
                raise UnreadableSource(f"{source}: {err.strerror or err}") from err
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


def upright_turns(rotation: float) -> int:
    """Quarter turns counter-clockwise (0-3) that make a frame with this rotation upright.

    ``VideoFrame.rotation`` is the display matrix's counter-clockwise angle; angles
    that are not multiples of 90 degrees are rounded to the nearest quarter turn.
    """
    return round(rotation / 90) % 4


def upright(pixels: npt.NDArray[np.uint8], turns: int) -> npt.NDArray[np.uint8]:
    """A contiguous copy of ``pixels`` turned ``turns`` quarter turns counter-clockwise."""
    if turns == 0:
        return pixels
    return np.ascontiguousarray(np.rot90(pixels, turns))


def _check_pixels(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"video frame is {width}x{height} = {width * height} pixels, more than "
            f"video_limits.max_pixels ({limits.max_pixels}); raise video_limits.max_pixels "
            "in the config to accept it"
        )


def _check_header(stream: AVVideoStream, duration: Fraction | None, limits: VideoLimits) -> None:
    _check_pixels(stream.codec_context.width, stream.codec_context.height, limits)
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
    frame: VideoFrame, stream: AVVideoStream, previous: Fraction | None, fps: Fraction | None
) -> Fraction:
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


def _probe(
    opened: VideoInput, fmt: MediaFormat, size: int, limits: VideoLimits
) -> tuple[VideoInfo, AVVideoStream, FrameDecoder, Iterator[VideoFrame], VideoFrame]:
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
    _check_pixels(first.width, first.height, limits)
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
    return info, stream, decoder, frames, first


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
        info, *_ = _probe(opened, fmt, size, limits)
    finally:
        opened.close()
    return info


# --- sampling -----------------------------------------------------------------------------


def _thumbnail(frame: VideoFrame) -> npt.NDArray[np.float32]:
    """A 32 x 32 grey thumbnail of a decoded frame, for scene-cut detection."""
    width, height = frame.width, frame.height
    if frame.format.name in _LUMA_FORMATS and width >= _THUMB and height >= _THUMB:
        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        grid = _THUMB * _THUMB_OVERSAMPLE
        rows = (np.arange(grid) * height) // grid
        cols = (np.arange(grid) * width) // grid
        points = luma[rows[:, None], cols[None, :]].astype(np.float32)
        blocks = points.reshape(_THUMB, _THUMB_OVERSAMPLE, _THUMB, _THUMB_OVERSAMPLE)
        thumb: npt.NDArray[np.float32] = blocks.mean(axis=(1, 3), dtype=np.float32)
        return thumb
    grey = frame.reformat(_THUMB, _THUMB, format="gray", interpolation="AREA").to_ndarray()
    return np.asarray(grey, dtype=np.float32)


def working_dims(width: int, height: int, working_size: int) -> tuple[int, int]:
    """Size whose long side is ``working_size``, keeping the aspect; never larger."""
    long_side = max(width, height)
    if long_side <= working_size:
        return width, height
    return (
        max(1, (width * working_size + long_side // 2) // long_side),
        max(1, (height * working_size + long_side // 2) // long_side),
    )


def to_working(frame: VideoFrame, turns: int, working_size: int) -> tuple[RGBArray, float]:
    """RGB pixels of a decoded frame at working size, upright, plus its scale.

    The reduction is FFmpeg's swscale with area averaging, done in the same call as the
    YUV to RGB conversion, so the full-size RGB picture never exists.
    """
    width, height = working_dims(frame.width, frame.height, working_size)
    if (width, height) == (frame.width, frame.height):
        rgb = frame.to_ndarray(format="rgb24")
    else:
        rgb = frame.reformat(width, height, format="rgb24", interpolation="AREA").to_ndarray()
    pixels = upright(np.asarray(rgb, dtype=np.uint8), turns)
    scale = max(frame.width, frame.height) / max(width, height)
    return pixels, scale


@dataclass(slots=True)
class _Budget:
    """How many samples of each kind may still be taken."""

    cap: int
    rate: Fraction
    taken: int = 0
    cuts: int = 0
    cut_cap: int = 0


def _plan(info: VideoInfo, limits: VideoLimits, sampling: Sampling) -> _Budget:
    """Share ``max_samples`` between fixed-rate samples and scene cuts.

    Fixed-rate samples must span the whole video, so when the duration is known and
    ``duration x rate`` would not fit, the rate is lowered; scene cuts keep a quarter of
    the cap for themselves (or whatever the fixed rate leaves, if more).
    """
    cap = limits.max_samples
    if sampling.max_samples is not None:
        cap = min(cap, sampling.max_samples)
    rate = Fraction(sampling.rate)
    reserve = cap // 4 if sampling.scene_cuts else 0
    fixed_cap = max(1, cap - reserve)
    if info.duration is not None and info.duration > 0:
        planned = math.floor(info.duration * rate) + 1
        if planned > fixed_cap:
            rate = Fraction(max(1, fixed_cap - 1)) / info.duration
            planned = math.floor(info.duration * rate) + 1
        cut_cap = cap - min(planned, cap) if sampling.scene_cuts else 0
    else:
        cut_cap = reserve
    return _Budget(cap=cap, rate=rate, cut_cap=cut_cap)


class VideoStream:
    """The sampled frames of one video, decoded as they are iterated.

    Iterate it once; each item is a :class:`Frame` at working size with its exact
    time. After the iteration, :attr:`incomplete` and :attr:`reason` say whether the
    stream ended early (damage, truncation, or the sample cap on a video of unknown
    length), :attr:`decoded` how many frames were decoded, and :attr:`samples` the
    ``(time, frame index)`` of every sample, for building a timeline.

    Use it as a context manager, or call :meth:`close`, when stopping early.
    """

    def __init__(
        self,
        source: VideoSource,
        limits: VideoLimits,
        sampling: Sampling,
        working_size: int,
    ) -> None:
        if working_size < 1:
            raise ConfigError(f"working_size: expected a positive integer, got {working_size}")
        fmt, size = recognise(source, limits)
        self._opened = VideoInput(source, fmt)
        try:
            probed = _probe(self._opened, fmt, size, limits)
        except BaseException:
            self._opened.close()
            raise
        self.info, self._stream, self._decoder, self._frames, self._first = probed
        self.limits = limits
        self.sampling = sampling
        self.working_size = working_size
        budget = _plan(self.info, limits, sampling)
        self._budget = budget
        #: Fixed sampling rate in effect: ``sampling.rate``, or lower to fit the cap.
        self.rate: Fraction = budget.rate
        self.incomplete = False
        self.reason: str | None = None
        self.decoded = 0
        self.samples: list[tuple[Fraction, int]] = []
        self._iterated = False
        if sampling.keyframes_only:
            self._stream.codec_context.skip_frame = "NONKEY"

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the container and the file; safe to call twice."""
        self._opened.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated:
            raise RuntimeError("a VideoStream can be iterated only once")
        self._iterated = True
        try:
            yield from self._sample()
        finally:
            self.close()

    def _stop(self, reason: str) -> None:
        self.incomplete = True
        self.reason = reason

    def _sample(self) -> Iterator[Frame]:
        info, limits, budget = self.info, self.limits, self._budget
        threshold = self.sampling.scene_threshold
        scene_cuts = self.sampling.scene_cuts
        turns = info.rotation // 90
        next_due = Fraction(0)
        previous_thumb: npt.NDArray[np.float32] | None = None
        previous_time: Fraction | None = None
        size = (self._first.width, self._first.height)
        frames: Iterator[VideoFrame] = _chain(self._first, self._frames)
        for frame in frames:
            index = self.decoded
            self.decoded += 1
            if self.decoded > limits.max_frames:
                raise MediaTooLarge(
                    f"video has more than video_limits.max_frames ({limits.max_frames}) "
                    "frames; raise video_limits.max_frames to accept it"
                )
            if (frame.width, frame.height) != size:
                _check_pixels(frame.width, frame.height, limits)
                size = (frame.width, frame.height)
            time = frame_time(frame, self._stream, previous_time, info.fps)
            if time > limits.max_duration_s:
                raise MediaTooLarge(
                    f"video runs past video_limits.max_duration_s ({limits.max_duration_s} "
                    "s); raise video_limits.max_duration_s to accept it"
                )
            if self.sampling.keyframes_only and info.fps:
                index = round(time * info.fps)
            due = previous_time is None or time >= next_due
            cut = False
            if scene_cuts:
                thumb = _thumbnail(frame)
                if not due and previous_thumb is not None and budget.cuts < budget.cut_cap:
                    cut = float(np.abs(thumb - previous_thumb).mean()) > threshold
                previous_thumb = thumb
            previous_time = time
            if not (due or cut):
                continue
            if due:
                next_due = Fraction(math.floor(time * budget.rate) + 1) / budget.rate
            if budget.taken >= budget.cap:
                self._stop(
                    f"video_limits.max_samples ({budget.cap}) reached at {float(time):.2f} s; "
                    "the rest was not sampled"
                )
                return
            budget.taken += 1
            budget.cuts += int(cut and not due)
            pixels, scale = to_working(frame, turns, self.working_size)
            self.samples.append((time, index))
            yield Frame(index=index, time=time, pixels=pixels, scale=scale)
        self._finish(previous_time)

    def _finish(self, last_time: Fraction | None) -> None:
        if self._decoder.error is not None:
            self._stop(self._decoder.error)
            return
        short = ended_early(self.info, last_time)
        if short is not None:
            self._stop(short)


def ended_early(info: VideoInfo, last_time: Fraction | None) -> str | None:
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


def _chain(first: VideoFrame, rest: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
    yield first
    yield from rest


def sample_frames(
    source: VideoSource,
    limits: VideoLimits | None = None,
    sampling: Sampling | None = None,
    working_size: int = 512,
) -> VideoStream:
    """Open a video for sampling; iterate the result to decode and receive the samples.

    Opening probes the video (headers and first frame), so a file that cannot be read
    fails here, before any work is queued for it.

    Args:
        source: a file path or the whole encoded bytes.
        limits: limits to enforce; the defaults when None.
        sampling: which frames to sample; one per second plus scene cuts when None.
        working_size: long side, in pixels, of the sampled frames.

    Returns:
        A single-use stream of sampled frames; see :class:`VideoStream`.

    Raises:
        UnsupportedMedia: an empty file, not a video, or no video stream (audio-only).
        MediaTooLarge: a limit is exceeded (also raised during iteration when a limit
            is only found out while decoding).
        CorruptMedia: the container is unreadable or no frame decodes.
        UnreadableSource: the path cannot be read.
        ConfigError: ``working_size`` is not positive.
    """
    return VideoStream(source, limits or VideoLimits(), sampling or Sampling(), working_size)


__all__ = [
    "DEFAULT_SCENE_THRESHOLD",
    "DEMUXERS",
    "FrameDecoder",
    "Sampling",
    "VideoInfo",
    "VideoInput",
    "VideoLimits",
    "VideoSource",
    "VideoStream",
    "ended_early",
    "frame_rate",
    "frame_time",
    "open_video",
    "pick_video_stream",
    "recognise",
    "sample_frames",
    "stream_duration",
    "to_working",
    "upright",
    "upright_turns",
    "working_dims",
]
