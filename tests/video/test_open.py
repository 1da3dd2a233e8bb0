"""Probing videos: containers, codecs, audio, rotation, limits and refusals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from mediaguard.errors import ConfigError, CorruptMedia, MediaTooLarge, UnsupportedMedia
from mediaguard.media.limits import VideoLimits
from mediaguard.media.sampling import Sampling, sample_frames
from mediaguard.media.video import open_video

from .builders import VideoSpec, write_audio, write_video
from .conftest import MakeVideo


@pytest.mark.parametrize(
    ("fmt", "codec", "audio", "container", "codec_name"),
    [
        pytest.param("mp4", "libx264", "aac", "mov", "h264", id="mp4-h264-aac"),
        pytest.param("mp4", "mpeg4", None, "mov", "mpeg4", id="mp4-mpeg4"),
        pytest.param("webm", "libvpx", "libopus", "matroska", "vp8", id="webm-vp8-opus"),
        pytest.param("webm", "libvpx-vp9", None, "matroska", "vp9", id="webm-vp9"),
        pytest.param("matroska", "libx264", "aac", "matroska", "h264", id="mkv-h264-aac"),
        pytest.param("avi", "mjpeg", "pcm_s16le", "avi", "mjpeg", id="avi-mjpeg-pcm"),
        pytest.param("mov", "libx264", None, "mov", "h264", id="mov-h264"),
    ],
)
def test_containers_and_codecs(
    make_video: MakeVideo, fmt: str, codec: str, audio: str | None, container: str, codec_name: str
) -> None:
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    path = make_video(fmt=fmt, codec=codec, audio=audio, frames=20, pix_fmt=pix_fmt)
    info = open_video(path)
    assert info.container.split(",")[0] == container or container in info.container
    assert info.codec == codec_name
    assert (info.width, info.height) == (160, 120)
    assert info.rotation == 0
    assert info.fps == 25
    assert info.has_audio is (audio is not None)
    assert info.duration is not None
    assert abs(info.duration - Fraction(20, 25)) <= Fraction(1, 10)
    with sample_frames(path, sampling=Sampling(scene_cuts=False)) as stream:
        frames = list(stream)
    assert stream.decoded == 20
    assert not stream.incomplete
    assert [f.time for f in frames] == [0]


def test_bytes_and_path_agree(make_video: MakeVideo) -> None:
    path = make_video(frames=30)
    assert open_video(path.read_bytes()) == open_video(path)
    from_path = [f.time for f in sample_frames(path)]
    from_bytes = [f.time for f in sample_frames(path.read_bytes())]
    assert from_path == from_bytes == [0, 1]


def test_rotation_is_applied(make_video: MakeVideo) -> None:
    # The left half is white in storage; rotated 90 degrees counter-clockwise for display,
    # the white half must end up at the bottom of the upright picture.
    def picture(index: int):
        import numpy as np

        pixels = np.zeros((120, 160, 3), np.uint8)
        pixels[:, :80] = 255
        return pixels

    path = make_video(rotation=90, picture=picture, frames=5)
    info = open_video(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (120, 160)
    frame = next(iter(sample_frames(path, working_size=160)))
    assert frame.pixels.shape == (160, 120, 3)
    assert frame.pixels[:70].mean() < 30
    assert frame.pixels[90:].mean() > 225


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="empty file"):
        open_video(empty)
    with pytest.raises(UnsupportedMedia, match="empty file"):
        sample_frames(b"")


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [
        pytest.param("mp4", "aac", id="aac-in-mp4"),
        pytest.param("ogg", "libopus", id="opus-in-ogg"),
        pytest.param("matroska", "pcm_s16le", id="pcm-in-mkv"),
    ],
)
def test_audio_only_file(fmt: str, codec: str) -> None:
    with pytest.raises(UnsupportedMedia, match="no video stream: audio-only file"):
        open_video(write_audio(fmt, codec))


def test_wav_is_refused_as_audio() -> None:
    with pytest.raises(UnsupportedMedia, match="WAV"):
        open_video(write_audio("wav", "pcm_s16le"))


def test_image_is_not_a_video(photos) -> None:
    with pytest.raises(UnsupportedMedia, match="not a video"):
        open_video(photos.file("grace_hopper"))


def test_unreadable_container() -> None:
    # A valid ftyp box followed by garbage: sniffed as MP4, unreadable by FFmpeg.
    data = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 8
    with pytest.raises(CorruptMedia):
        open_video(data)


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        pytest.param(VideoLimits(max_bytes=1000), "max_bytes", id="bytes"),
        pytest.param(VideoLimits(max_pixels=100 * 100), "max_pixels", id="pixels"),
        pytest.param(VideoLimits(max_duration_s=1), "max_duration_s", id="duration"),
        pytest.param(VideoLimits(max_frames=40), "max_frames", id="declared-frames"),
    ],
)
def test_limits(make_video: MakeVideo, limits: VideoLimits, match: str) -> None:
    path = make_video(frames=50)
    with pytest.raises(MediaTooLarge, match=match):
        open_video(path, limits)


def test_frame_limit_while_decoding(make_video: MakeVideo) -> None:
    # WebM headers declare no frame count, so the limit bites while decoding.
    path = make_video(fmt="webm", codec="libvpx", frames=30)
    stream = sample_frames(path, VideoLimits(max_frames=10))
    with pytest.raises(MediaTooLarge, match="max_frames"):
        list(stream)


def test_limits_from_mapping() -> None:
    limits = VideoLimits.from_mapping({"max_duration_s": 60, "max_samples": 10})
    assert limits.max_duration_s == 60
    assert limits.max_samples == 10
    with pytest.raises(ConfigError, match=r"unknown field.*max_secs"):
        VideoLimits.from_mapping({"max_secs": 1})
    with pytest.raises(ConfigError, match=r"video_limits\.max_frames"):
        VideoLimits.from_mapping({"max_frames": 0})
    with pytest.raises(ConfigError, match=r"video_limits\.max_bytes"):
        VideoLimits(max_bytes=True)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        pytest.param(1, Fraction(1), id="int"),
        pytest.param("1/2", Fraction(1, 2), id="fraction-text"),
        pytest.param(0.2, Fraction(1, 5), id="float"),
        pytest.param(Fraction(3, 2), Fraction(3, 2), id="fraction"),
    ],
)
def test_sampling_rate_forms(rate: object, expected: Fraction) -> None:
    assert Sampling(rate=rate).rate == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"rate": 0}, id="zero-rate"),
        pytest.param({"rate": "fast"}, id="text-rate"),
        pytest.param({"scene_threshold": 0}, id="zero-threshold"),
        pytest.param({"max_samples": -1}, id="negative-cap"),
        pytest.param({"scene_cuts": "yes"}, id="not-bool"),
        pytest.param({"every": 2}, id="unknown"),
    ],
)
def test_sampling_refuses(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="sampling"):
        Sampling.from_mapping(options)


def test_working_size_and_scale(make_video: MakeVideo) -> None:
    path = make_video(size=(640, 360), frames=2)
    frame = next(iter(sample_frames(path, working_size=320)))
    assert frame.pixels.shape == (180, 320, 3)
    assert frame.scale == pytest.approx(2.0)
    assert not frame.pixels.flags.writeable


def test_stream_is_single_use(make_video: MakeVideo) -> None:
    stream = sample_frames(make_video(frames=5))
    list(stream)
    with pytest.raises(RuntimeError, match="once"):
        list(stream)


def test_facts(make_video: MakeVideo) -> None:
    info = open_video(make_video(frames=10))
    facts = info.facts(frame_count=10)
    assert facts.format.kind == "video"
    assert (facts.width, facts.height, facts.frame_count, facts.animated) == (160, 120, 10, True)


def test_spec_is_used_by_builders() -> None:
    # The builder itself: a variable-rate spec must keep its exact timestamps.
    data = write_video(VideoSpec(frames=3, pts=[0, 40, 1000], time_base=Fraction(1, 1000)))
    assert open_video(data).frame_count == 3
