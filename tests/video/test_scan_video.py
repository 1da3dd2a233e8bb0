"""Videos through the whole pipeline: Scanner and CLI, with real photos as scenes."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mediaguard.cli import EXIT_FLAGGED, EXIT_OK, EXIT_UNREADABLE, main
from mediaguard.config import ScanConfig
from mediaguard.errors import CorruptMedia, UnsupportedMedia
from mediaguard.media.limits import VideoLimits
from mediaguard.media.types import Frame
from mediaguard.media.video import FrameDecoder, VideoInput, pick_video_stream, recognise
from mediaguard.policy.model import Decision, Policy
from mediaguard.scanner import Scanner
from mediaguard.signals.base import Detection, Detector, ModelInfo

from .builders import VideoSpec, write_audio, write_video
from .conftest import MakeVideo

FLAG_ALL = 'name = "all"\nversion = "1"\n[categories.sexual]\nreview = 0.0\n'


@pytest.fixture(scope="module")
def scenes() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data
    from skimage.transform import resize

    def fit(img: np.ndarray) -> np.ndarray:
        return (resize(img, (240, 320), anti_aliasing=True) * 255).astype(np.uint8)

    return fit(data.astronaut()), fit(data.coffee())


@pytest.fixture(scope="module")
def two_scene_video(
    tmp_path_factory: pytest.TempPathFactory, scenes: tuple[np.ndarray, np.ndarray]
) -> Path:
    """Six seconds at 10 fps: astronaut for 3 s, then coffee, with an audio track."""
    first, second = scenes
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    spec = VideoSpec(
        fmt="mp4", codec="mpeg4", size=(320, 240), frames=60, rate=Fraction(10),
        picture=lambda i: first if i < 30 else second, audio="aac",
    )  # fmt: skip
    write_video(spec, path)
    return path


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner()


def test_video_verdict(scanner: Scanner, two_scene_video: Path) -> None:
    verdict = scanner.scan(two_scene_video)
    assert verdict.media.kind == "video"
    assert verdict.media.format == "mp4"
    assert verdict.media.duration_s == pytest.approx(6.0, abs=0.2)
    assert verdict.media.frame_count == 60
    times = [p.time_s for p in verdict.hashes.pdq]
    # One sample per second, plus the scene cut at 3 s (which is also a 1/s sample).
    assert times[:6] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], abs=0.11)
    assert verdict.media.sampled_frames == len(times)
    assert {p.hash for p in verdict.hashes.pdq[:3]} != {p.hash for p in verdict.hashes.pdq[3:]}
    assert verdict.decision is Decision.ALLOW
    assert not verdict.incomplete
    assert verdict.timeline == []
    assert verdict.timings.decode_ms > 0


def test_bytes_and_path_agree(scanner: Scanner, two_scene_video: Path) -> None:
    a = scanner.scan(two_scene_video)
    b = scanner.scan(two_scene_video.read_bytes())
    assert a.hashes == b.hashes


def test_timeline_follows_policy_threshold(two_scene_video: Path) -> None:
    verdict = Scanner(policy=Policy.from_toml(FLAG_ALL)).scan(two_scene_video)
    assert verdict.decision is Decision.REVIEW
    (segment,) = verdict.timeline
    assert segment.category == "sexual"
    assert segment.start_s == pytest.approx(0.0, abs=0.11)
    assert segment.end_s == pytest.approx(6.0, abs=0.2)
    assert Fraction(segment.end) - Fraction(segment.start) > 5
    assert segment.peak_score == pytest.approx(verdict.scores["sexual"])


def test_progress_is_reported(scanner: Scanner, two_scene_video: Path) -> None:
    seen: list[float] = []
    scanner.scan(two_scene_video, progress=seen.append)
    assert seen
    assert seen == sorted(seen)
    assert 0.5 < seen[-1] <= 1.0


def test_truncated_video_is_incomplete_not_lost(scanner: Scanner, two_scene_video: Path) -> None:
    data = two_scene_video.read_bytes()
    # The mdat (frames) precedes the index in a plain MP4; keep the index by cutting the
    # tail of a faststart-free stream into a Matroska copy instead.
    mkv = write_video(VideoSpec(fmt="matroska", codec="mpeg4", size=(320, 240), frames=60))
    cut = mkv[: len(mkv) * 2 // 3]
    verdict = scanner.scan(cut)
    assert verdict.incomplete
    assert verdict.incomplete_reason
    assert any(note.startswith("incomplete:") for note in verdict.notes)
    assert 0 < verdict.media.sampled_frames < 6
    with pytest.raises((CorruptMedia, UnsupportedMedia)):
        scanner.scan(data[:200])


def test_zero_byte_and_audio_only(scanner: Scanner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="empty"):
        scanner.scan(empty)
    with pytest.raises(UnsupportedMedia, match="audio"):
        scanner.scan(write_audio("mp4", "aac"))


def test_video_matches_image_list(two_scene_video: Path, tmp_path: Path) -> None:
    """A frame of a video matches a PDQ hash of a photo on an image list."""
    frame_hash = Scanner(ScanConfig(detectors=())).scan(two_scene_video).hashes.pdq[4].hash
    hashes_file = tmp_path / "list.txt"
    hashes_file.write_text(f"pdq {frame_hash}\n")
    assert main(["hashlist", "create", "frames", "--category", "terrorism", "--action",
                 "block"]) == EXIT_OK  # fmt: skip
    assert main(["hashlist", "import", "frames", str(hashes_file)]) == EXIT_OK
    out = tmp_path / "v.jsonl"
    code = main(["scan", str(two_scene_video), "-f", "jsonl", "-o", str(out), "-w", "1"])
    assert code == EXIT_FLAGGED
    verdict = json.loads(out.read_text())
    frames = {m["frame"] for m in verdict["matches"]}
    assert frames
    assert all(f is not None for f in frames)


def test_cli_scans_video_and_lists_bad_ones(two_scene_video: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(two_scene_video.read_bytes())
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "voice.m4a").write_bytes(write_audio("mp4", "aac"))
    out = tmp_path / "out.jsonl"
    code = main(["scan", str(folder), "-f", "jsonl", "-o", str(out), "-w", "2"])
    assert code == EXIT_UNREADABLE
    records = {Path(r["source"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["clip.mp4"]["media"]["kind"] == "video"
    assert records["empty.mp4"]["error"] == "UnsupportedMedia"
    assert records["voice.m4a"]["error"] == "UnsupportedMedia"


@pytest.mark.parametrize(
    "spec",
    [
        {"fmt": "mp4"},  # index (moov) after the media: FFmpeg seeks to it and back
        {"fmt": "mp4", "faststart": True},
        {"fmt": "matroska"},
        {"fmt": "avi", "codec": "mpeg4", "audio": "pcm_s16le"},
    ],
    ids=["mp4-moov-last", "mp4-faststart", "matroska", "avi-audio"],
)
def test_video_digests_come_from_the_bytes_ffmpeg_read(
    make_video: MakeVideo, spec: dict[str, object]
) -> None:
    path = make_video(frames=60, **spec)
    raw = path.read_bytes()
    fmt, _ = recognise(path, VideoLimits())
    with VideoInput(path, fmt, digest=True) as opened:
        stream = pick_video_stream(opened.container)
        decoded = sum(1 for _ in FrameDecoder(opened.container, stream))
        assert opened.reader is not None
        read_in_order = opened.reader.hashed
        digests = opened.digests()
    assert decoded == 60
    assert digests is not None
    assert digests.md5 == hashlib.md5(raw).hexdigest()
    assert digests.sha256 == hashlib.sha256(raw).hexdigest()
    if spec.get("fmt") != "mp4" or spec.get("faststart"):
        # Read front to back: nothing was left for a second read.
        assert read_in_order == len(raw)
    verdict = Scanner(ScanConfig(hashlists=False)).scan(path)
    assert (verdict.hashes.md5, verdict.hashes.sha256) == (digests.md5, digests.sha256)


class _Recording(Detector):
    """Scores every frame 0.5 and notes which frames it saw, on which thread."""

    name = "recording"

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.fail_on_call = fail_on_call

    @property
    def categories(self) -> frozenset[str]:
        return frozenset({"sexual"})

    @property
    def model(self) -> ModelInfo:
        return ModelInfo(name="recording", version="1", licence="MIT", package="tests")

    def detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        self.calls.append((threading.current_thread().name, [f.index for f in frames]))
        if self.fail_on_call == len(self.calls):
            raise RuntimeError("the detector broke on this batch")
        return [
            [
                Detection(
                    detector="recording",
                    category="sexual",
                    label="explicit",
                    score=0.5,
                    frame=f.index,
                )
            ]
            for f in frames
        ]


def test_a_video_is_scored_in_order_beside_its_decoding(make_video: MakeVideo) -> None:
    path = make_video(frames=250, rate=Fraction(10))  # 25 samples: four batches
    scanner = Scanner(ScanConfig())
    recording = _Recording()
    scanner.detectors = (recording,)
    verdict = scanner.scan(path)
    seen = [index for _, indexes in recording.calls for index in indexes]
    hashed = [p.frame for p in verdict.hashes.pdq]
    assert len(recording.calls) >= 3
    assert seen == sorted(set(seen)) == hashed, "every sample is scored once, in order"
    assert [d.frame for d in verdict.detections] == seen
    assert {thread for thread, _ in recording.calls} == {"detect_0"}


def test_a_detector_failing_mid_video_fails_the_scan(make_video: MakeVideo) -> None:
    path = make_video(frames=250, rate=Fraction(10))
    scanner = Scanner(ScanConfig())
    scanner.detectors = (_Recording(fail_on_call=2),)
    with pytest.raises(RuntimeError, match="broke on this batch"):
        scanner.scan(path)
