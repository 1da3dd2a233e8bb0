"""Sample a video as it decodes: which frames become samples, at working size, upright.

Why separate: this is the scanner's policy for choosing frames (a fixed rate, plus scene
cuts, within a sample budget) and the conversion of each chosen frame, on top of the
opening and decoding in :mod:`.video`, which redaction shares without sampling.

A video is never held in memory. :func:`sample_frames` returns a :class:`VideoStream`
whose iteration decodes packet by packet and yields only the sampled frames, converted
to RGB at working size by FFmpeg's swscale; every other frame is dropped as soon as its
pts (and, when scene cuts are on, a 32 x 32 grey thumbnail: :mod:`.scenes`) has been
read. Memory therefore stays flat however long the video is, and the caller can hash and
score each sample while the next ones decode. Rotation metadata is applied to every
sampled frame so detectors always see an upright picture.

A stream that stops decoding part-way still yields what decoded, and
:attr:`VideoStream.incomplete` and :attr:`VideoStream.reason` say where and why it
stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Any

import numpy as np
from av.video.frame import VideoFrame

from mediaguard.errors import ConfigError, MediaTooLarge
from mediaguard.media.digesting import FileDigests
from mediaguard.media.geometry import upright, working_dims
from mediaguard.media.limits import (
    VideoLimits,
    check_known_fields,
    check_positive_int,
    check_video_pixels,
)
from mediaguard.media.scenes import (
    DEFAULT_SCENE_THRESHOLD,
    Thumbnail,
    thumbnail,
    thumbnail_difference,
)
from mediaguard.media.types import Frame, FrameTime, RGBArray
from mediaguard.media.video import (
    VideoInfo,
    VideoInput,
    VideoSource,
    ended_early,
    frame_time,
    probe,
    recognise,
)

__all__ = ["Sampling", "VideoStream", "sample_frames", "to_working"]


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
            check_positive_int("sampling", "max_samples", self.max_samples)
        for name in ("scene_cuts", "keyframes_only"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"sampling.{name}: expected true or false")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Sampling:
        """Build sampling settings from a config table, naming any unknown field.

        Raises:
            ConfigError: on an unknown key or an invalid value.
        """
        check_known_fields("sampling", cls, data)
        return cls(**dict(data))


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
        *,
        digest: bool = False,
    ) -> None:
        if working_size < 1:
            raise ConfigError(f"working_size: expected a positive integer, got {working_size}")
        fmt, size = recognise(source, limits)
        self._opened = VideoInput(source, fmt, digest=digest)
        try:
            probed = probe(self._opened, fmt, size, limits)
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
        self.samples: list[tuple[FrameTime, int]] = []
        #: The file's MD5 and SHA-256 once the iteration has ended without an error,
        #: when ``digest`` was asked for and the source is a path; else None.
        self.digests: FileDigests | None = None
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
            # While the file is still open: the digests read only what FFmpeg did not.
            self.digests = self._opened.digests()
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
        next_due: FrameTime = Fraction(0)
        previous_thumb: Thumbnail | None = None
        previous_time: FrameTime | None = None
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
                check_video_pixels(frame.width, frame.height, limits)
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
                thumb = thumbnail(frame)
                if not due and previous_thumb is not None and budget.cuts < budget.cut_cap:
                    cut = thumbnail_difference(thumb, previous_thumb) > threshold
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

    def _finish(self, last_time: FrameTime | None) -> None:
        if self._decoder.error is not None:
            self._stop(self._decoder.error)
            return
        short = ended_early(self.info, last_time)
        if short is not None:
            self._stop(short)


def _chain(first: VideoFrame, rest: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
    yield first
    yield from rest


def sample_frames(
    source: VideoSource,
    limits: VideoLimits | None = None,
    sampling: Sampling | None = None,
    working_size: int = 512,
    *,
    digest: bool = False,
) -> VideoStream:
    """Open a video for sampling; iterate the result to decode and receive the samples.

    Opening probes the video (headers and first frame), so a file that cannot be read
    fails here, before any work is queued for it.

    Args:
        source: a file path or the whole encoded bytes.
        limits: limits to enforce; the defaults when None.
        sampling: which frames to sample; one per second plus scene cuts when None.
        working_size: long side, in pixels, of the sampled frames.
        digest: also compute a file's MD5 and SHA-256 from the bytes FFmpeg reads
            (:attr:`VideoStream.digests`), so the file is not read a second time.

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
    return VideoStream(
        source, limits or VideoLimits(), sampling or Sampling(), working_size, digest=digest
    )
