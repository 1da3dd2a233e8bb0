"""Redacting still images: every mode hides the face, nothing else changes, metadata goes."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import ExifTags, Image

from mediaguard.errors import ConfigError, CorruptMedia, UnreadableSource
from mediaguard.media.types import Frame
from mediaguard.redaction import (
    MODES,
    FaceDetector,
    RedactionError,
    mask_rects,
    redact,
    redact_pixels,
)
from mediaguard.redaction.image import _image_faces
from mediaguard.signals.base import Box, Detection, Detector, ModelInfo

GPS_LATITUDE = ExifTags.GPS.GPSLatitude


def _write(photos, name: str, path: Path, fmt: str, **options: Any) -> Path:
    Image.fromarray(photos.pixels(name)).save(path, fmt, **options)
    return path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_each_mode_hides_the_face(
    tmp_path: Path,
    photos,
    face_detector: FaceDetector,
    mode: str,
    photo: str,
) -> None:
    source = _write(photos, photo, tmp_path / "in.png", "PNG")
    output = tmp_path / "out.png"
    report = redact(source, output, mode=mode, verify=True, face_detector=face_detector)  # type: ignore[arg-type]
    assert report.faces >= 1
    assert report.verified
    assert report.visible_faces == 0
    assert report.visible_frames == ()
    original = photos.pixels(photo)
    with Image.open(output) as img:
        redacted = np.asarray(img.convert("RGB"))
    # No face left at the default threshold, inside or outside the masks.
    assert len(face_detector.detect(redacted, threshold=0.5)) == 0
    # Pixels outside the enlarged face boxes are untouched (PNG is lossless).
    faces = _image_faces(face_detector, original, 0.2)
    rects = mask_rects(faces.xyxy, 1.3, original.shape[1], original.shape[0])
    outside = np.ones(original.shape[:2], bool)
    for x1, y1, x2, y2 in rects:
        outside[y1:y2, x1:x2] = False
    assert np.array_equal(redacted[outside], original[outside])
    assert not np.array_equal(redacted[~outside], original[~outside])


def test_solid_is_black_and_mask_scale_enlarges(tmp_path: Path, photos, face_detector) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.png", "PNG")
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    redact(source, small, mode="solid", mask_scale=1.0, face_detector=face_detector)
    redact(source, large, mode="solid", mask_scale=1.6, face_detector=face_detector)
    original = photos.pixels("astronaut")
    changed = []
    for path in (small, large):
        painted = np.asarray(Image.open(path).convert("RGB"))
        differs = (painted != original).any(axis=2)
        assert (painted[differs] == 0).all(), "solid masks are black"
        changed.append(int(differs.sum()))
    assert changed[0] > 80 * 100  # at least the face box (about 88 x 119)
    assert changed[1] > 2.2 * changed[0]  # 1.6 x 1.6 = 2.56 times the area


def test_caller_pixels_are_never_changed(photos) -> None:
    pixels = photos.pixels("astronaut")  # read-only
    before = pixels.copy()
    rects = np.asarray([[10, 10, 60, 60]], np.int64)
    for mode in MODES:
        painted = redact_pixels(pixels, rects, mode)
        assert painted is not pixels
        assert not np.array_equal(painted[10:60, 10:60], before[10:60, 10:60])
    assert np.array_equal(pixels, before)


def _gps_jpeg(photos, path: Path, orientation: int | None = None) -> Path:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Artist] = "someone"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {ExifTags.GPS.GPSLatitudeRef: "N", GPS_LATITUDE: (52.0, 31.0, 12.0)}
    )
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.MakerNote] = b"preview-bytes"
    Image.fromarray(photos.pixels("grace_hopper")).save(
        path, "JPEG", exif=exif.tobytes(), icc_profile=b"\0" * 128, quality=90
    )
    return path


def test_metadata_is_stripped(tmp_path: Path, photos, face_detector) -> None:
    source = _gps_jpeg(photos, tmp_path / "in.jpg")
    with Image.open(source) as img:
        assert img.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    output = tmp_path / "out.jpg"
    redact(source, output, face_detector=face_detector)
    with Image.open(output) as img:
        assert img.format == "JPEG"
        assert len(img.getexif()) == 0
        assert "exif" not in img.info
        assert "icc_profile" not in img.info
        assert "xmp" not in img.info


def test_keep_metadata_keeps_gps_but_not_previews(
    tmp_path: Path,
    photos,
    face_detector,
) -> None:
    source = _gps_jpeg(photos, tmp_path / "in.jpg", orientation=1)
    output = tmp_path / "out.jpg"
    report = redact(source, output, keep_metadata=True, face_detector=face_detector)
    assert report.metadata_kept
    with Image.open(output) as img:
        exif = img.getexif()
        assert exif[ExifTags.Base.Make] == "TestCam"
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[GPS_LATITUDE] == (52.0, 31.0, 12.0)
        assert ExifTags.Base.Orientation not in exif
        assert ExifTags.Base.MakerNote not in exif.get_ifd(ExifTags.IFD.Exif)
        assert img.info.get("icc_profile") == b"\0" * 128


def test_exif_orientation_is_applied(tmp_path: Path, photos, face_detector) -> None:
    # Orientation 6: stored sideways, displayed turned 90 degrees clockwise. The face
    # is only found upright, and the output is written upright with no orientation tag.
    sideways = np.ascontiguousarray(np.rot90(photos.pixels("grace_hopper"), 1))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    source = tmp_path / "in.jpg"
    Image.fromarray(sideways).save(source, "JPEG", exif=exif.tobytes(), quality=92)
    output = tmp_path / "out.jpg"
    report = redact(source, output, verify=True, face_detector=face_detector)
    assert report.faces >= 1
    assert report.visible_faces == 0
    with Image.open(output) as img:
        assert img.size == (512, 600)
        assert ExifTags.Base.Orientation not in img.getexif()


def test_jpeg_keeps_its_quality_tables(tmp_path: Path, photos, face_detector) -> None:
    source = _write(photos, "grace_hopper", tmp_path / "in.jpg", "JPEG", quality=60)
    output = tmp_path / "out.jpg"
    redact(source, output, face_detector=face_detector)
    with Image.open(source) as before, Image.open(output) as after:
        assert after.quantization == before.quantization  # type: ignore[attr-defined]


def test_webp_round_trip(tmp_path: Path, photos, face_detector) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.webp", "WEBP", quality=90)
    report = redact(source, tmp_path / "out.webp", verify=True, face_detector=face_detector)
    assert report.faces == 1
    assert report.visible_faces == 0
    with Image.open(tmp_path / "out.webp") as img:
        assert img.format == "WEBP"


def test_png_text_is_stripped(tmp_path: Path, photos, face_detector) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "someone")
    source = _write(photos, "astronaut", tmp_path / "in.png", "PNG", pnginfo=info)
    redact(source, tmp_path / "out.png", face_detector=face_detector)
    with Image.open(tmp_path / "out.png") as img:
        assert "Author" not in img.info


def test_other_formats_are_written_as_png(tmp_path: Path, photos, face_detector) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.bmp", "BMP")
    with pytest.raises(ConfigError, match=r"\.png"):
        redact(source, tmp_path / "out.bmp", face_detector=face_detector)
    assert not (tmp_path / "out.bmp").exists()
    redact(source, tmp_path / "out.png", face_detector=face_detector)
    with Image.open(tmp_path / "out.png") as img:
        assert img.format == "PNG"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"mode": "pixelate"}, "mode", id="mode"),
        pytest.param({"mask_scale": 0.9}, "mask_scale", id="mask-scale"),
        pytest.param({"threshold": 1.0}, "threshold", id="threshold"),
    ],
)
def test_bad_options(tmp_path: Path, photos, options: dict[str, Any], match: str) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.png", "PNG")
    with pytest.raises(ConfigError, match=match):
        redact(source, tmp_path / "out.png", **options)


def test_output_must_not_be_the_input(tmp_path: Path, photos, face_detector) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.png", "PNG")
    with pytest.raises(ConfigError, match="is the input"):
        redact(source, source, face_detector=face_detector)


def _leftovers(folder: Path, keep: Sequence[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("where", ["missing-folder", "file-as-folder"])
def test_unwritable_output_leaves_nothing(
    tmp_path: Path,
    photos,
    face_detector,
    where: str,
) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.png", "PNG")
    (tmp_path / "plain-file").write_bytes(b"x")
    folder = tmp_path / ("missing" if where == "missing-folder" else "plain-file")
    with pytest.raises(RedactionError, match="cannot write"):
        redact(source, folder / "out.png", face_detector=face_detector)
    assert _leftovers(tmp_path, ["in.png", "plain-file"]) == []


def test_corrupt_input_leaves_nothing(tmp_path: Path, photos, face_detector) -> None:
    data = io.BytesIO()
    Image.fromarray(photos.pixels("astronaut")).save(data, "PNG")
    source = tmp_path / "in.png"
    source.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(CorruptMedia):
        redact(source, tmp_path / "out.png", face_detector=face_detector)
    assert _leftovers(tmp_path, ["in.png"]) == []


def test_missing_input(tmp_path: Path, face_detector) -> None:
    with pytest.raises(UnreadableSource):
        redact(tmp_path / "nope.png", tmp_path / "out.png", face_detector=face_detector)


class _RegionStub(Detector):
    """Emits one fixed box per frame: a flagged category and an unflagged one."""

    name: ClassVar[str] = "region_stub"
    input_size: ClassVar[int] = 320

    @property
    def categories(self) -> frozenset[str]:
        return frozenset({"sexual", "other"})

    @property
    def model(self) -> ModelInfo:
        return ModelInfo("stub", "0", "none", "none", None)

    def detect(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        def box(x: int) -> Box:
            return Box(x=x, y=400, width=60, height=60)

        return [
            [
                Detection(
                    detector=self.name,
                    category="sexual",
                    label="r",
                    score=0.9,
                    box=box(20),
                    frame=f.index,
                ),
                Detection(
                    detector=self.name,
                    category="other",
                    label="r",
                    score=0.9,
                    box=box(400),
                    frame=f.index,
                ),
            ]
            for f in frames
        ]

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, base_dir: Path) -> Detector:
        return cls()


def test_regions_are_redacted_too(tmp_path: Path, photos, face_detector) -> None:
    source = _write(photos, "astronaut", tmp_path / "in.png", "PNG")
    output = tmp_path / "out.png"
    report = redact(
        source,
        output,
        mode="solid",
        regions=True,
        region_detectors=[_RegionStub()],
        face_detector=face_detector,
    )
    assert report.regions == 1
    painted = np.asarray(Image.open(output).convert("RGB"))
    assert (painted[410:450, 30:70] == 0).all()  # the sexual region
    original = photos.pixels("astronaut")
    assert np.array_equal(painted[400:460, 400:460], original[400:460, 400:460])
