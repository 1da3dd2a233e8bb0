"""Videos built with PyAV for the tests: every container, codec and oddity they need.

Nothing binary is committed: each test writes the footage it needs into ``tmp_path`` (or
memory) from synthetic patterns or from the real photos that scikit-image and matplotlib
ship. Timestamps are set explicitly, so variable frame rates are exact.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
Picture = Callable[[int], Pixels]

#: Muxer names and a file suffix for each container the tests write.
SUFFIX = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}


def pattern(width: int, height: int) -> Picture:
    """Frames of a moving gradient plus a block whose position encodes the frame index."""
    ys, xs = np.mgrid[0:height, 0:width]

    def draw(index: int) -> Pixels:
        frame = np.empty((height, width, 3), np.uint8)
        frame[..., 0] = (xs * 255 // max(1, width - 1) + index * 3) % 256
        frame[..., 1] = (ys * 255 // max(1, height - 1)) % 256
        frame[..., 2] = 96
        return frame

    return draw


def still(picture: Pixels) -> Picture:
    """The same picture on every frame."""
    return lambda index: picture


@dataclass
class VideoSpec:
    """What to write.

    Attributes:
        fmt: muxer (``mp4``, ``mov``, ``matroska``, ``webm``, ``avi``).
        codec: video encoder (``libx264``, ``mpeg4``, ``libvpx``, ``libvpx-vp9``, ``mjpeg``).
        size: width, height.
        frames: number of frames.
        rate: nominal frame rate.
        pts: explicit presentation times in ``time_base`` units (variable rate), or None
            for ``index``.
        time_base: stream time base when ``pts`` is given.
        picture: the frame generator; a moving pattern when None.
        audio: audio encoder (``aac``, ``libopus``, ``pcm_s16le``) or None.
        rotation: display rotation in degrees (counter-clockwise), or None.
        faststart: for MP4/MOV, put the index (moov) first.
        metadata: container tags.
        pix_fmt: pixel format of the encoded video.
    """

    fmt: str = "mp4"
    codec: str = "libx264"
    size: tuple[int, int] = (160, 120)
    frames: int = 25
    rate: Fraction = Fraction(25)
    pts: Sequence[int] | None = None
    time_base: Fraction = Fraction(1, 1000)
    picture: Picture | None = None
    audio: str | None = None
    rotation: int | None = None
    faststart: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    pix_fmt: str = "yuv420p"


def _audio_frames(stream: av.audio.stream.AudioStream, seconds: float) -> list[av.AudioFrame]:
    context = stream.codec_context
    size = context.frame_size or 1024
    sample_format = context.format.name
    rate = context.sample_rate
    frames = []
    for start in range(0, int(seconds * rate), size):
        wave = np.sin(np.arange(start, start + size) * 2 * np.pi * 440 / rate) * 0.2
        if sample_format.startswith("s16"):
            samples = (wave * 32767).astype(np.int16)
        else:
            samples = wave.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples[None], format=sample_format, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


def write_video(spec: VideoSpec, target: Path | None = None) -> bytes:
    """Encode ``spec`` and return the file's bytes (also written to ``target`` if given)."""
    if spec.faststart and target is None:
        raise ValueError("faststart rewrites the file in a second pass: give a target path")
    buffer = io.BytesIO()
    width, height = spec.size
    draw = spec.picture or pattern(width, height)
    options = {"movflags": "faststart"} if spec.faststart else {}
    sink = str(target) if spec.faststart else buffer
    with av.open(sink, "w", format=spec.fmt, options=options) as container:
        container.metadata.update(spec.metadata)
        codec_options = {"preset": "ultrafast"} if spec.codec == "libx264" else {}
        if spec.codec.startswith("libvpx"):
            codec_options = {"deadline": "realtime", "cpu-used": "8"}
        video = container.add_stream(spec.codec, rate=spec.rate, options=codec_options)
        video.width, video.height, video.pix_fmt = width, height, spec.pix_fmt
        if spec.pts is not None:
            video.time_base = spec.time_base
            video.codec_context.time_base = spec.time_base
        if spec.rotation is not None:
            video.set_display_rotation(spec.rotation)
        audio = None
        if spec.audio is not None:
            audio = container.add_stream(spec.audio, rate=48000, layout="mono")
        duration = float(spec.frames / spec.rate)
        if spec.pts is not None and spec.pts:
            duration = float(spec.pts[-1] * spec.time_base) + 0.1
        pending_audio = _audio_frames(audio, duration) if audio is not None else []
        for index in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(draw(index)), format="rgb24")
            if spec.pts is not None:
                frame.pts = spec.pts[index]
                frame.time_base = spec.time_base
            else:
                frame.pts = index
                frame.time_base = Fraction(1) / spec.rate
            container.mux(video.encode(frame))
            # Interleave about one video frame's worth of audio at a time.
            time = float(frame.pts * frame.time_base)
            while (
                audio is not None
                and pending_audio
                and float(pending_audio[0].pts * pending_audio[0].time_base) <= time
            ):
                container.mux(audio.encode(pending_audio.pop(0)))
        container.mux(video.encode(None))
        if audio is not None:
            for audio_frame in pending_audio:
                container.mux(audio.encode(audio_frame))
            container.mux(audio.encode(None))
    if spec.faststart and target is not None:
        return target.read_bytes()
    data = buffer.getvalue()
    if target is not None:
        target.write_bytes(data)
    return data


def write_audio(fmt: str, codec: str, seconds: float = 1.0) -> bytes:
    """An audio-only file (no video stream)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        audio = container.add_stream(codec, rate=48000, layout="mono")
        for frame in _audio_frames(audio, seconds):
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return buffer.getvalue()


def decode_all(source: Path | bytes) -> list[tuple[Fraction, Pixels]]:
    """Every frame's exact time and RGB pixels, decoded plainly with PyAV (as stored)."""
    stream_source = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    out = []
    with av.open(stream_source) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        for frame in container.decode(stream):
            assert frame.pts is not None
            assert stream.time_base is not None
            out.append(
                (Fraction(frame.pts - start) * stream.time_base, frame.to_ndarray(format="rgb24"))
            )
    return out
