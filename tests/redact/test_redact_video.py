"""Redacting videos: frame for frame, audio copied, faces hidden, failures leave nothing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mediaguard.errors import ConfigError, CorruptMedia
from mediaguard.media.video import open_video
from mediaguard.redaction import FaceDetector, RedactionError, mask_rectangles, redact

from .conftest import MakeFaceVideo


def _streams(path: Path) -> dict[str, object]:
    """Frame times, audio codec and audio packet count of a file, read plainly with PyAV."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.time_base is not None
        start = video.start_time or 0
        times = [
            Fraction(f.pts - start) * video.time_base
            for f in container.decode(video)
            if f.pts is not None
        ]
    with av.open(str(path)) as container:
        audio = container.streams.audio
        packets = (
            sum(1 for p in container.demux(audio[0]) if p.size and p.dts is not None)
            if audio
            else 0
        )
        codec = audio[0].codec_context.name if audio else None
    return {"times": times, "audio_codec": codec, "audio_packets": packets}


def test_video_keeps_frames_timing_and_audio(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    source = face_video(audio="aac")
    output = tmp_path / "out.mp4"
    report = redact(source, output, verify=True, face_detector=face_detector)
    before, after = _streams(source), _streams(output)
    assert report.kind == "video"
    assert report.frames == 20
    assert after["times"] == before["times"]
    assert after["audio_codec"] == before["audio_codec"] == "aac"
    assert after["audio_packets"] == before["audio_packets"]
    assert report.audio_streams == 1
    info_in, info_out = open_video(source), open_video(output)
    assert info_out.fps == info_in.fps
    assert info_out.frame_count == info_in.frame_count == 20
    assert info_in.duration is not None
    assert info_out.duration is not None
    assert abs(info_out.duration - info_in.duration) <= Fraction(1, 10)
    assert report.faces >= 20
    assert report.frames_masked == 20
    assert report.verified
    assert report.visible_faces == 0
    # And the face really is gone from every frame.
    with av.open(str(output)) as container:
        for frame in container.decode(video=0):
            found = face_detector.detect(frame.to_ndarray(format="rgb24"), threshold=0.5)
            assert len(found) == 0


@pytest.mark.parametrize(
    ("fmt", "codec", "audio", "suffix"),
    [
        pytest.param("matroska", "libx264", "aac", ".mkv", id="mkv"),
        pytest.param("webm", "libvpx", "libopus", ".webm", id="webm-opus"),
        pytest.param("avi", "mjpeg", "pcm_s16le", ".avi", id="avi-mjpeg-pcm"),
        pytest.param("mov", "libx264", None, ".mov", id="mov"),
    ],
)
def test_containers(
    tmp_path: Path,
    face_video: MakeFaceVideo,
    face_detector: FaceDetector,
    fmt: str,
    codec: str,
    audio: str | None,
    suffix: str,
) -> None:
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    source = face_video(fmt=fmt, codec=codec, audio=audio, frames=8, pix_fmt=pix_fmt)
    output = tmp_path / f"out{suffix}"
    report = redact(source, output, face_detector=face_detector)
    before, after = _streams(source), _streams(output)
    assert len(after["times"]) == len(before["times"]) == 8  # type: ignore[arg-type]
    assert after["audio_codec"] == before["audio_codec"]
    assert after["audio_packets"] == before["audio_packets"]
    assert report.faces > 0


def test_variable_frame_rate_is_kept(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    pts = [0, 40, 80, 400, 440, 1000, 1040, 1700]
    source = face_video(fmt="matroska", frames=len(pts), pts=pts)
    output = tmp_path / "out.mkv"
    redact(source, output, face_detector=face_detector)
    assert _streams(output)["times"] == [Fraction(p, 1000) for p in pts]


def test_rotated_video_is_written_upright(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector, photos
) -> None:
    # Stored turned a quarter clockwise, with a display matrix that turns it back.
    upright = np.ascontiguousarray(photos.pixels("astronaut")[20:260, 96:416])
    stored = np.ascontiguousarray(np.rot90(upright, -1))
    source = face_video(size=(240, 320), picture=lambda i: stored, rotation=90, frames=6)
    assert open_video(source).rotation == 90
    output = tmp_path / "out.mp4"
    report = redact(source, output, verify=True, face_detector=face_detector)
    info = open_video(output)
    assert (info.rotation, info.width, info.height) == (0, 320, 240)
    assert report.faces >= 6
    assert report.visible_faces == 0


def test_metadata_stripped_unless_kept(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    source = face_video(frames=4, metadata={"title": "secret", "location": "+52.5+013.4/"})
    stripped, kept = tmp_path / "stripped.mp4", tmp_path / "kept.mp4"
    redact(source, stripped, face_detector=face_detector)
    redact(source, kept, keep_metadata=True, face_detector=face_detector)
    with av.open(str(stripped)) as container:
        assert "title" not in container.metadata
        assert "location" not in container.metadata
    with av.open(str(kept)) as container:
        assert container.metadata.get("title") == "secret"


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_damaged_input_leaves_nothing(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    source = face_video(fmt="matroska", frames=30)
    damaged = tmp_path / "damaged.mkv"
    data = source.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises((RedactionError, CorruptMedia)):
        redact(damaged, tmp_path / "out.mp4", face_detector=face_detector)
    assert _leftovers(tmp_path, {source.name, damaged.name}) == []


def test_unreadable_mp4_leaves_nothing(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    source = face_video(frames=10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(source.read_bytes()[:3000])  # index (moov) missing
    with pytest.raises(CorruptMedia):
        redact(cut, tmp_path / "out.mp4", face_detector=face_detector)
    assert _leftovers(tmp_path, {source.name, cut.name}) == []


def test_unwritable_output_leaves_nothing(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    source = face_video(frames=4)
    with pytest.raises(RedactionError, match="cannot write"):
        redact(source, tmp_path / "missing" / "out.mp4", face_detector=face_detector)
    assert _leftovers(tmp_path, {source.name}) == []


def test_encoder_failure_leaves_nothing(
    tmp_path: Path,
    face_video: MakeFaceVideo,
    face_detector: FaceDetector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An encoder that fails part-way: the half-written file must not survive.
    from mediaguard.redaction import encode as module

    source = face_video(frames=12)
    original = module._EncodeState.encode
    calls = {"n": 0}

    def failing(self: object, frame: av.VideoFrame) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            raise av.error.ExternalError(-1, "encoder exploded")
        original(self, frame)  # type: ignore[arg-type]

    monkeypatch.setattr(module._EncodeState, "encode", failing)
    with pytest.raises(RedactionError, match="encoder exploded"):
        redact(source, tmp_path / "out.mp4", face_detector=face_detector)
    assert _leftovers(tmp_path, {source.name}) == []


def test_unsupported_output_container(
    tmp_path: Path, face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    with pytest.raises(ConfigError, match="must be written as"):
        redact(face_video(frames=2), tmp_path / "out.gif", face_detector=face_detector)


def test_mask_rectangles_match_redaction(
    face_video: MakeFaceVideo, face_detector: FaceDetector
) -> None:
    source = face_video(frames=10)
    rects = list(mask_rectangles(source, face_detector=face_detector))
    assert len(rects) == 10
    assert all(len(r) for r in rects)
    for frame_rects in rects:
        x1, y1, x2, y2 = frame_rects[0]
        assert 0 <= x1 < x2 <= 320
        assert 0 <= y1 < y2 <= 240
