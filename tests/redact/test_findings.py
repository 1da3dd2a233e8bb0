"""What ``verify`` reports about faces still visible: frame, box, score, contact sheet."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mediaguard.errors import ConfigError
from mediaguard.redaction import FaceDetector, redact
from mediaguard.redaction.findings import MAX_CROPS, Finding, Findings
from mediaguard.redaction.video import DEFAULT_VIDEO_DETECT_SIZE, verify_video

from .conftest import MakeFaceVideo

#: The astronaut's face, hand-checked (x1, y1, x2, y2), in the photo's pixels.
FACE = (181, 58, 269, 177)


def test_a_finding_describes_frame_box_and_score() -> None:
    finding = Finding(frame=12, box=(40, 30, 90, 95), score=0.3412)
    assert finding.describe() == "frame 12: box (40, 30)-(90, 95), score 0.34"


def test_findings_of_an_unhidden_photo_name_the_face(
    face_detector: FaceDetector, photos, tmp_path: Path
) -> None:
    pixels = photos.pixels("astronaut")
    found = face_detector.detect(pixels, threshold=0.5)
    findings = Findings(crops=True)
    findings.add(0, found, list(range(len(found))), pixels, 1.0)

    (finding,) = findings.items
    assert finding.frame == 0
    assert np.abs(np.asarray(finding.box) - np.asarray(FACE)).max() < 12
    assert finding.score > 0.8
    sheet = Image.open(io.BytesIO(findings.contact_sheet() or b""))
    assert sheet.format == "PNG"
    # One cell: the crop (160 px long side at most) and its caption, with margins.
    assert sheet.size[0] <= 160 + 16
    assert np.asarray(sheet.convert("RGB")).std() > 20  # a picture, not a blank


def test_the_contact_sheet_is_private(face_detector: FaceDetector, photos, tmp_path: Path) -> None:
    pixels = photos.pixels("astronaut")
    found = face_detector.detect(pixels, threshold=0.5)
    findings = Findings(crops=True)
    findings.add(0, found, [0], pixels, 1.0)
    path = tmp_path / "sheet.png"
    previous = os.umask(0)
    try:
        assert findings.write_sheet(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with Image.open(path) as written:
        assert written.format == "PNG"
    assert not Findings(crops=True).write_sheet(tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_video_findings_give_each_frame_box_and_score(
    face_detector: FaceDetector, face_video: MakeFaceVideo
) -> None:
    # An unredacted video checked as if nothing had been masked: the real face is
    # reported on every frame, where it is, and pictured on the sheet.
    source = face_video(frames=6)
    findings = Findings(crops=True)
    verify_video(source, face_detector, 0.5, DEFAULT_VIDEO_DETECT_SIZE, [], findings)

    assert [f.frame for f in findings.items] == list(range(6))
    for index, finding in enumerate(findings.items):
        x = min(2 * index, 512 - 320)  # the fixture's window pans 2 px a frame
        expected = np.asarray(FACE) - np.asarray([x, 20, x, 20])
        assert np.abs(np.asarray(finding.box) - expected).max() < 16, finding
        assert finding.score > 0.5
    sheet = Image.open(io.BytesIO(findings.contact_sheet() or b""))
    assert sheet.size[1] > 2 * 160  # two rows of four crops for six findings


def test_crops_are_capped_but_findings_are_not(face_detector: FaceDetector, photos) -> None:
    pixels = photos.pixels("astronaut")
    found = face_detector.detect(pixels, threshold=0.5)
    findings = Findings(crops=True)
    for frame in range(MAX_CROPS + 3):
        findings.add(frame, found, [0], pixels, 1.0)
    assert len(findings.items) == MAX_CROPS + 3
    sheet = Image.open(io.BytesIO(findings.contact_sheet() or b""))
    rows = MAX_CROPS // 4
    assert sheet.size[1] == 8 + rows * (160 + 30 + 8)


def test_a_hidden_face_leaves_no_finding_and_no_sheet(
    face_detector: FaceDetector, photos, tmp_path: Path
) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(photos.pixels("astronaut")).save(source)
    sheet = tmp_path / "sheet.png"
    report = redact(
        source, tmp_path / "out.png", verify=True, contact_sheet=sheet,
        face_detector=face_detector,
    )  # fmt: skip
    assert report.verified
    assert report.findings == ()
    assert report.contact_sheet is None
    assert not sheet.exists()


def test_a_contact_sheet_needs_verify(face_detector: FaceDetector, photos, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(photos.pixels("astronaut")).save(source)
    with pytest.raises(ConfigError, match="needs verify=True"):
        redact(source, tmp_path / "out.png", contact_sheet=tmp_path / "s.png")
    assert not (tmp_path / "out.png").exists()
