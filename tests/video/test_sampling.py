"""Sampling: exact times, variable rates, scene cuts, caps, damage, and flat memory."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mediaguard.errors import CorruptMedia, MediaError
from mediaguard.media.limits import VideoLimits
from mediaguard.media.sampling import Sampling, sample_frames

from .builders import VideoSpec, still, write_video
from .conftest import MakeVideo

NO_CUTS = Sampling(scene_cuts=False)


def test_one_per_second_is_exact(make_video: MakeVideo) -> None:
    path = make_video(frames=100, rate=Fraction(25))
    with sample_frames(path, sampling=NO_CUTS) as stream:
        frames = list(stream)
    assert [f.time for f in frames] == [0, 1, 2, 3]
    assert all(isinstance(f.time, Fraction) for f in frames)
    assert [f.index for f in frames] == [0, 25, 50, 75]
    assert stream.samples == [(Fraction(i), 25 * i) for i in range(4)]
    assert stream.decoded == 100


def test_ntsc_rate_is_exact(make_video: MakeVideo) -> None:
    rate = Fraction(30000, 1001)
    path = make_video(frames=75, rate=rate)
    times = [f.time for f in sample_frames(path, sampling=Sampling(rate=Fraction(1, 2)))]
    # The first frame at or after 0 s and 2 s: frame 0 and frame 60 (60 * 1001/30000 s).
    assert times == [0, Fraction(60 * 1001, 30000)]


def test_higher_rate(make_video: MakeVideo) -> None:
    path = make_video(frames=50, rate=Fraction(10))
    times = [f.time for f in sample_frames(path, sampling=Sampling(rate=2, scene_cuts=False))]
    assert times == [Fraction(i, 2) for i in range(10)]


def test_variable_frame_rate_uses_pts(make_video: MakeVideo) -> None:
    # Irregular gaps: frame times in ms. One sample per second must pick the first frame
    # at or after each whole second, by its own time, never index / fps.
    pts = [0, 40, 80, 700, 1300, 1340, 2950, 3010, 3050, 4990]
    path = make_video(fmt="matroska", frames=len(pts), pts=pts, rate=Fraction(25))
    with sample_frames(path, sampling=NO_CUTS) as stream:
        frames = list(stream)
    assert [f.time for f in frames] == [
        Fraction(0),
        Fraction(1300, 1000),
        Fraction(2950, 1000),
        Fraction(3010, 1000),
        Fraction(4990, 1000),
    ]
    assert [f.index for f in frames] == [0, 4, 6, 7, 9]


def test_scene_cut_between_two_photos(make_video: MakeVideo, photos) -> None:
    first = photos.pixels("astronaut")
    second = photos.pixels("coffee")[:512, :512]

    def picture(index: int) -> np.ndarray:
        return first if index < 25 else second

    # Cut at frame 25 = 2.5 s: halfway between two fixed-rate samples.
    path = make_video(size=(512, 512), frames=50, rate=Fraction(10), picture=picture)
    cut_times = [f.time for f in sample_frames(path)]
    plain_times = [f.time for f in sample_frames(path, sampling=NO_CUTS)]
    assert plain_times == [0, 1, 2, 3, 4]
    assert cut_times == [0, 1, 2, Fraction(5, 2), 3, 4]


def test_no_cut_on_still_footage(make_video: MakeVideo, photos) -> None:
    picture = np.ascontiguousarray(photos.pixels("chelsea")[:256, :256])
    path = make_video(size=(256, 256), frames=40, rate=Fraction(10), picture=still(picture))
    assert [f.time for f in sample_frames(path)] == [0, 1, 2, 3]


def test_cap_thins_the_rate_to_span_the_video(make_video: MakeVideo) -> None:
    path = make_video(frames=200, rate=Fraction(10))  # 20 s
    with sample_frames(path, sampling=Sampling(max_samples=8, scene_cuts=False)) as stream:
        times = [f.time for f in stream]
    assert len(times) <= 8
    assert times[-1] >= 15  # still reaches the end, not just the first 8 s
    assert stream.rate < 1
    assert not stream.incomplete


def test_limit_cap_applies_too(make_video: MakeVideo) -> None:
    path = make_video(frames=100, rate=Fraction(10))
    stream = sample_frames(path, VideoLimits(max_samples=4), Sampling(rate=5))
    assert len(list(stream)) <= 4


def test_keyframes_only(make_video: MakeVideo) -> None:
    path = make_video(frames=60, rate=Fraction(10))  # x264 puts a keyframe at frame 0
    with sample_frames(path, sampling=Sampling(keyframes_only=True)) as stream:
        frames = list(stream)
    assert stream.decoded < 60
    assert frames[0].time == 0


# --- damage -------------------------------------------------------------------------------


def _cut_half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


def test_truncated_mp4_without_index_is_corrupt(make_video: MakeVideo) -> None:
    # PyAV writes the MP4 index (moov) last: half a file has no index at all.
    with pytest.raises(CorruptMedia):
        sample_frames(_cut_half(make_video(frames=50)))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"fmt": "mp4", "faststart": True}, id="mp4-faststart"),
        pytest.param({"fmt": "matroska"}, id="mkv"),
        pytest.param({"fmt": "webm", "codec": "libvpx"}, id="webm"),
        pytest.param({"fmt": "avi", "codec": "mpeg4"}, id="avi"),
    ],
)
def test_truncated_file_is_incomplete(make_video: MakeVideo, options: dict[str, object]) -> None:
    path = make_video(frames=100, rate=Fraction(10), size=(320, 240), **options)
    try:
        stream = sample_frames(_cut_half(path))
    except CorruptMedia:
        pytest.fail("half a streamable file must still yield its first half")
    frames = list(stream)
    assert frames, "the readable half is sampled"
    assert stream.incomplete
    assert stream.reason
    assert frames[-1].time < 9


@pytest.mark.parametrize("fmt", ["mp4", "matroska", "avi"])
def test_garbage_tail(make_video: MakeVideo, fmt: str) -> None:
    codec = "mpeg4" if fmt == "avi" else "libx264"
    path = make_video(fmt=fmt, codec=codec, frames=30, rate=Fraction(10))
    data = path.read_bytes() + np.random.default_rng(1).bytes(20_000)
    try:
        stream = sample_frames(data)
        frames = list(stream)
    except MediaError:
        return  # a typed refusal is acceptable; anything else is not
    assert [f.time for f in frames][:3] == [0, 1, 2]
    assert stream.decoded >= 30 or stream.incomplete


@pytest.mark.parametrize("seed", range(4))
def test_damaged_middle_never_crashes(make_video: MakeVideo, seed: int) -> None:
    data = bytearray(make_video(fmt="matroska", frames=40, rate=Fraction(10)).read_bytes())
    rng = np.random.default_rng(seed)
    start = len(data) // 3
    data[start : start + 2000] = rng.bytes(2000)
    try:
        stream = sample_frames(bytes(data))
        list(stream)
    except MediaError:
        pass
    else:
        assert stream.decoded > 0


# --- memory -------------------------------------------------------------------------------


def _peak_while_sampling(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        samples = 0
        for frame in sample_frames(path, sampling=Sampling(rate=1)):
            samples += frame.pixels.size > 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, samples


@pytest.mark.slow
def test_memory_is_flat_in_video_length(tmp_path: Path) -> None:
    # 10 s and 60 s of the same footage: the sampler holds only the current frame, so
    # its peak Python allocations must not grow with the length.
    spec = {"size": (320, 240), "rate": Fraction(25)}
    short, long_ = tmp_path / "10s.mp4", tmp_path / "60s.mp4"
    write_video(VideoSpec(frames=250, **spec), short)  # type: ignore[arg-type]
    write_video(VideoSpec(frames=1500, **spec), long_)  # type: ignore[arg-type]
    short_peak, short_samples = _peak_while_sampling(short)
    long_peak, long_samples = _peak_while_sampling(long_)
    assert (short_samples, long_samples) == (10, 60)
    frame_bytes = 320 * 240 * 3
    assert long_peak < short_peak + frame_bytes, (short_peak, long_peak)
    assert long_peak < 6 * frame_bytes
