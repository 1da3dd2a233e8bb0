"""Redact a still image: search it for faces at one or two sizes, paint, write it again.

Why separate: images go through Pillow, not PyAV, and have their own format and metadata
rules. Images are decoded at full resolution, upright (EXIF orientation applied), and
written in the same format for JPEG (reusing the source's quantisation tables), PNG and
WebP; any other still format is written as PNG, so the output's name must end in
``.png``. The caller's pixels are never changed: painting happens on a new array.
Metadata (EXIF, GPS, XMP, ICC, text chunks) is stripped unless ``keep_metadata`` is set;
even then XMP, IPTC, the EXIF thumbnail and maker notes are dropped: XMP can name the
people in face regions, and thumbnails and maker notes can carry an unredacted copy of
the picture.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin

from mediaguard.errors import ConfigError, CorruptMedia, UnsupportedMedia
from mediaguard.media.types import RGBArray
from mediaguard.redaction.coverage import visible_rows
from mediaguard.redaction.faces import FaceBoxes, FaceDetector
from mediaguard.redaction.findings import Findings
from mediaguard.redaction.masks import Mode, mask_rects, redact_pixels
from mediaguard.redaction.output import OutputFile
from mediaguard.redaction.regions import flagged_boxes
from mediaguard.redaction.report import RedactionError, RedactReport, verified_fields
from mediaguard.signals.base import Detector

#: Longest side, in pixels, at which a still image is searched; larger ones are reduced.
MAX_IMAGE_DETECT_SIZE: Final = 2048
#: Smaller still images are also searched enlarged to this long side, which finds faces
#: of a few pixels (a crowd behind a football player) that the native size misses.
SMALL_IMAGE_DETECT_SIZE: Final = 1024
_SAME_FORMAT: Final = frozenset({"jpeg", "png", "webp"})
_IMAGE_SUFFIXES: Final[dict[str, frozenset[str]]] = {
    "jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "png": frozenset({".png"}),
    "webp": frozenset({".webp"}),
}
_PILLOW_FORMATS: Final[dict[str, str]] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
}
_EXIF_DROPPED: Final = (
    ExifTags.Base.Orientation,  # the pixels are written upright
    ExifTags.Base.JpegIFOffset,  # thumbnail pointers
    ExifTags.Base.JpegIFByteCount,
    ExifTags.Base.XMLPacket,  # XMP stored inside EXIF
    ExifTags.Base.IPTCNAA,
)


def _image_sizes(width: int, height: int) -> list[int]:
    long_side = max(width, height)
    sizes = [min(long_side, MAX_IMAGE_DETECT_SIZE)]
    if long_side < SMALL_IMAGE_DETECT_SIZE:
        sizes.append(SMALL_IMAGE_DETECT_SIZE)
    return sizes


def _image_faces(detector: FaceDetector, pixels: RGBArray, threshold: float) -> FaceBoxes:
    found = FaceBoxes.empty()
    for size in _image_sizes(int(pixels.shape[1]), int(pixels.shape[0])):
        found = found.merged(detector.detect(pixels, threshold=threshold, size=size))
    return found


def _open_image(data: bytes, name: str) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=(_PILLOW_FORMATS[name],))
            img.load()
        except Image.DecompressionBombError as err:
            raise UnsupportedMedia(f"image is too large to redact: {err}") from err
        except (OSError, ValueError, SyntaxError) as err:
            raise CorruptMedia(f"{name} image cannot be decoded: {err}") from err
    if getattr(img, "n_frames", 1) > 1:
        raise UnsupportedMedia(
            f"animated {name} images cannot be redacted yet; convert the animation to a video"
        )
    return img


def _kept_exif(img: Image.Image) -> bytes | None:
    exif = img.getexif()
    for tag in _EXIF_DROPPED:
        exif.pop(tag, None)
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub.pop(ExifTags.Base.MakerNote, None)  # may hold a full-size preview
    return exif.tobytes() if len(exif) else None


def redact_image(
    source: Path,
    output: Path,
    data: bytes,
    fmt_name: str,
    *,
    mode: Mode,
    mask_scale: float,
    threshold: float,
    detector: FaceDetector,
    regions: Sequence[Detector],
    keep_metadata: bool,
    findings: Findings | None,
) -> RedactReport:
    """The image half of :func:`~mediaguard.redaction.redact`, its options already checked.

    ``findings`` collects what verification still sees in the output; None: no check.
    """
    if fmt_name not in _PILLOW_FORMATS:
        raise UnsupportedMedia(
            f"redaction of {fmt_name} images is not supported yet; convert to PNG or JPEG"
        )
    out_fmt = fmt_name if fmt_name in _SAME_FORMAT else "png"
    if output.suffix.lower() not in _IMAGE_SUFFIXES[out_fmt]:
        wanted = ", ".join(sorted(_IMAGE_SUFFIXES[out_fmt]))
        raise ConfigError(
            f"output {output.name}: a redacted {fmt_name} image is written as {out_fmt}, "
            f"so its name must end in {wanted}"
        )
    with _open_image(data, fmt_name) as img:
        exif = _kept_exif(img) if keep_metadata else None
        icc = img.info.get("icc_profile") if keep_metadata else None
        quantization = getattr(img, "quantization", None) if out_fmt == "jpeg" else None
        sampling = JpegImagePlugin.get_sampling(img) if quantization else -1
        upright_img = _upright(img)
    alpha: npt.NDArray[np.uint8] | None = None
    grey = upright_img.mode in ("L", "1", "I;16", "I")
    if upright_img.mode in ("RGBA", "LA", "PA") or "transparency" in upright_img.info:
        rgba = np.asarray(upright_img.convert("RGBA"))
        rgb, alpha = np.ascontiguousarray(rgba[:, :, :3]), rgba[:, :, 3]
    else:
        rgb = np.asarray(upright_img.convert("RGB"))
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    faces = _image_faces(detector, rgb, threshold)
    region_boxes = flagged_boxes(regions, rgb, 0) if regions else np.zeros((0, 4), np.float32)
    boxes = np.concatenate([faces.xyxy, region_boxes]).astype(np.float32)
    rects = mask_rects(boxes, mask_scale, width, height)
    painted = redact_pixels(rgb, rects, mode)
    if alpha is not None:
        result = Image.fromarray(np.dstack([painted, alpha]), "RGBA")
    else:
        result = Image.fromarray(painted, "RGB")
        if grey:
            result = result.convert("L")
    options: dict[str, object] = {}
    if exif:
        options["exif"] = exif
    if icc:
        options["icc_profile"] = icc
    if out_fmt == "jpeg":
        if result.mode not in ("RGB", "L"):
            result = result.convert("RGB")
        if quantization:
            options.update(qtables=quantization, subsampling=sampling)
        else:
            options["quality"] = 95
    elif out_fmt == "webp":
        options["quality"] = 95
    target = OutputFile(output)
    try:
        result.save(target.file, format=out_fmt.upper(), **options)
    except (OSError, ValueError) as err:
        target.discard()
        raise RedactionError(f"cannot encode {out_fmt}: {err}") from err
    except BaseException:
        target.discard()
        raise
    target.commit()
    if findings is not None:
        with Image.open(output) as written:
            check = np.asarray(written.convert("RGB"))
        found = _image_faces(detector, check, threshold)
        findings.add(0, found, visible_rows(found, rects), check, 1.0)
    verified, found_faces = verified_fields(findings)
    return RedactReport(
        source=source,
        output=output,
        kind="image",
        mode=mode,
        mask_scale=mask_scale,
        threshold=threshold,
        frames=1,
        frames_masked=int(len(rects) > 0),
        faces=len(faces),
        regions=int(region_boxes.shape[0]),
        metadata_kept=keep_metadata,
        verified=verified,
        findings=found_faces,
    )


def _upright(img: Image.Image) -> Image.Image:
    transposed = ImageOps.exif_transpose(img)
    return transposed if transposed is not None else img
