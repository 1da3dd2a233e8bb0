"""Decode a still or animated image once, at working size, upright, as RGB.

Why separate: this is the Pillow side of the media stage, the only place that decodes an
image's pixels; reading the bytes (:mod:`.source`) and an animation's timing
(:mod:`.animation`) happen before it and never decode. The signals only need a picture
whose long side is the working size, so the image is decoded once at that size and the
full-resolution pixels are dropped as soon as they have been reduced. JPEG goes further:
Pillow's draft mode makes libjpeg decode at 1/2, 1/4 or 1/8 scale, so a 24-megapixel
photo never exists in memory at full size.

Every limit is checked as early as the format allows: pixels from the header before any
pixel is decoded (``Image.open`` is lazy), and the frame count of an animation from its
container structure before any frame is decoded. Hostile input must end in a typed
:class:`~mediaguard.errors.MediaError`; the exceptions Pillow and pillow-heif raise on
bad data are translated here, at the edge.

Two pieces of Pillow's global state are deliberately left alone:
``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False, so a truncated file is an error rather
than a half-grey picture that might hide what was cut off, and ``Image.MAX_IMAGE_PIXELS``
is not changed, so Pillow's own bomb ceiling (about 179 megapixels) still applies on top
of ``limits.max_pixels``. Pillow's warnings are filtered inside ``warnings.catch_warnings``
around each decode; before Python 3.14 that context is process-wide, which is why the
engines decode in worker processes rather than threads.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from fractions import Fraction
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, UnidentifiedImageError, features

from mediaguard.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from mediaguard.media.animation import Timeline, read_timeline
from mediaguard.media.geometry import working_dims
from mediaguard.media.limits import Limits, check_image_pixels
from mediaguard.media.types import (
    DecodedMedia,
    Frame,
    FrameTime,
    MediaFacts,
    MediaFormat,
    MediaKind,
    RGBArray,
)

__all__ = ["decode_image"]

# Pillow plugins allowed to open each sniffed format. Passing only these to Image.open
# keeps a file sniffed as one format from being parsed by another plugin.
_PLUGINS: Final[dict[str, tuple[str, ...]]] = {
    "jpeg": ("JPEG",),
    "png": ("PNG",),
    "webp": ("WEBP",),
    "gif": ("GIF",),
    "bmp": ("BMP",),
    "tiff": ("TIFF",),
    "heif": ("HEIF",),
    "avif": ("AVIF",),
}
# What ``Image.format`` may then report: the JPEG plugin returns an MPO image for the
# multi-picture JPEGs that many cameras write.
_REPORTED: Final[dict[str, frozenset[str]]] = {
    name: frozenset(plugins) | ({"MPO"} if name == "jpeg" else frozenset())
    for name, plugins in _PLUGINS.items()
}

# What Pillow, its plugins and pillow-heif raise on malformed data. IndexError and
# KeyError are here because several plugins index into headers without bounds checks
# (GIF reads ``fp.read(1)[0]``); TypeError because the TIFF plugin raises it for missing
# dimensions (Image.open itself reads it as "not this format"); ArithmeticError because
# the AVIF plugin divides by the container's timescale, which a file can set to zero;
# RuntimeError is how pillow-heif reports libheif errors.
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ArithmeticError,
    RuntimeError,
    struct.error,
    zlib.error,
)

_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES: Final = frozenset({5, 6, 7, 8})
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_BIT_DEPTH_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_WHITE: Final = (255, 255, 255)


def decode_image(data: bytes, fmt: MediaFormat, limits: Limits, working_size: int) -> DecodedMedia:
    """Decode an image once, at working size, upright, as RGB on white.

        Still images give one frame. Animated GIF, WebP, PNG (APNG) and AVIF give up to
        ``limits.max_sampled_frames`` frames spread over the animation, always including the
        first, each with its start time as an exact fraction of seconds (AVIF's times come
        from Pillow and are exact to the millisecond only; an AVIF's duration is known only
    when its last frame is sampled, i.e. unless ``max_sampled_frames`` is 1). An APNG's
    default image, shown by
        viewers that do not animate, is frame 0 with start time 0. Multi-page TIFF,
        multi-picture JPEG (MPO) and multi-image HEIF give their first (primary) image only;
        the other pages are not scanned.

        Args:
            data: the whole file.
            fmt: the format :func:`~mediaguard.media.sniff.sniff` recognised in ``data``.
            limits: pixel and frame limits to enforce.
            working_size: long side, in pixels, of the returned frames. Smaller images are
                never upscaled.

        Returns:
            The decoded frames and the facts of the upright original.

        Raises:
            MediaTooLarge: the header declares more than ``limits.max_pixels`` pixels, or the
                animation has more than ``limits.max_frames`` frames.
            CorruptMedia: the data is truncated or malformed, or Pillow does not read it as
                the sniffed format.
            UnsupportedMedia: ``fmt`` is not an image format this build can decode.
    """
    if working_size < 1:
        raise ValueError(f"working_size must be positive, got {working_size}")
    if fmt.kind is not MediaKind.IMAGE or fmt.name not in _PLUGINS:
        raise UnsupportedMedia(f"{fmt.name}: not an image format mediaguard decodes")
    _enable_plugin(fmt.name)
    label = fmt.name.upper()
    try:
        with warnings.catch_warnings():
            # limits.max_pixels, checked right after open, is the configured pixel limit;
            # Pillow's lower default warning threshold would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Pillow warns about damaged metadata (EXIF, MPO index, palettes) that does
            # not stop the pixels from decoding; corrupt pixel data raises instead.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            with Image.open(io.BytesIO(data), formats=_PLUGINS[fmt.name]) as img:
                if img.format not in _REPORTED[fmt.name]:
                    raise CorruptMedia(f"the bytes look like {label} but decode as {img.format}")
                facts, decoded = _decode(img, data, fmt, limits, working_size)
    except Image.DecompressionBombError as err:
        # Raised inside Image.open, before limits.max_pixels can be checked: Pillow's
        # ceiling is twice PIL.Image.MAX_IMAGE_PIXELS, and the config cannot raise it.
        raise MediaTooLarge(
            f"image is too large to decode: {err} (limits.max_pixels is {limits.max_pixels}; "
            "Pillow refuses more than twice PIL.Image.MAX_IMAGE_PIXELS whatever it says)"
        ) from err
    except UnidentifiedImageError as err:
        raise CorruptMedia(f"the bytes start like {label} but are not a readable {label}") from err
    except _DECODE_ERRORS as err:
        raise CorruptMedia(f"{label} data is corrupt or truncated: {err}") from err
    frames = tuple(
        Frame(index=index, time=time, pixels=pixels, scale=_scale(facts, pixels))
        for index, time, pixels in decoded
    )
    return DecodedMedia(facts=facts, frames=frames)


_Decoded = list[tuple[int, FrameTime | None, RGBArray]]


def _decode(
    img: Image.Image, data: bytes, fmt: MediaFormat, limits: Limits, working_size: int
) -> tuple[MediaFacts, _Decoded]:
    check_image_pixels(img.size, limits)
    stored = img.size
    timeline = read_timeline(img, data, fmt.name, limits)
    if timeline is None:
        if fmt.name == "jpeg":
            img.draft("RGB", working_dims(*stored, working_size))
        img.load()
        orientation = _orientation(img)
        decoded: _Decoded = [(0, None, _to_working(img, stored, working_size, orientation))]
        frame_count, duration = 1, None
    else:
        decoded, duration, orientation = _sample(img, timeline, stored, limits, working_size)
        frame_count = timeline.frame_count
    width, height = stored
    if orientation in _SWAPS_AXES:
        width, height = height, width
    facts = MediaFacts(
        format=fmt,
        size_bytes=len(data),
        width=width,
        height=height,
        frame_count=frame_count,
        animated=frame_count > 1,
        duration=duration,
    )
    return facts, decoded


def _sample(
    img: Image.Image,
    timeline: Timeline,
    stored: tuple[int, int],
    limits: Limits,
    working_size: int,
) -> tuple[_Decoded, Fraction | None, int]:
    """Decode the sampled frames of an animation, in order.

    Frames are visited in increasing order because GIF, WebP and APNG frames are deltas
    composited onto the previous ones: Pillow decodes each intermediate frame once on
    the way, and no frame is decoded twice.

    Returns:
        The sampled frames, the duration, and the EXIF orientation applied to them.
    """
    decoded: _Decoded = []
    duration = timeline.duration
    orientation = 1
    for index in _spread(timeline.frame_count, limits.max_sampled_frames):
        img.seek(index)
        check_image_pixels(img.size, limits)
        img.load()
        if index == 0:
            # The orientation tag is file-level; read it once the first frame is loaded.
            orientation = _orientation(img)
        if timeline.starts is not None:
            time = timeline.starts[index]
        else:
            time = Fraction(int(img.info.get("timestamp", 0)), 1000)
            if index == timeline.frame_count - 1:
                duration = time + Fraction(int(img.info.get("duration", 0)), 1000)
        decoded.append((index, time, _to_working(img, stored, working_size, orientation)))
    return decoded, duration, orientation


def _spread(count: int, samples: int) -> list[int]:
    """Pick up to ``samples`` frame indices evenly over ``count``, first and last included."""
    if count <= samples:
        return list(range(count))
    if samples == 1:
        return [0]
    span = samples - 1
    return [(2 * i * (count - 1) + span) // (2 * span) for i in range(samples)]


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1 to 8), or 1 when absent or unreadable.

    Damaged EXIF is metadata damage, not pixel damage: the picture is still scanned,
    as stored, rather than refused.
    """
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _to_working(
    img: Image.Image, stored: tuple[int, int], working_size: int, orientation: int
) -> RGBArray:
    """Convert the loaded frame to upright RGB at working size, flattened onto white."""
    frame = _as_rgb_or_rgba(img)
    target = working_dims(*stored, working_size)
    if frame.size != target:
        # After JPEG draft the frame is already within 2x of the target, so this is a
        # small resample; otherwise reducing_gap lets Pillow box-reduce first, cheaply.
        frame = frame.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    if frame.mode == "RGBA":
        # Resampled before flattening so edges blend with alpha already premultiplied.
        background = Image.new("RGB", frame.size, _WHITE)
        background.paste(frame, mask=frame.getchannel("A"))
        frame = background
    if orientation in _TRANSPOSE:
        frame = frame.transpose(_TRANSPOSE[orientation])
    return np.asarray(frame, dtype=np.uint8)


def _as_rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Map any Pillow mode to 8-bit RGB, or RGBA when the image has transparency."""
    mode = img.mode
    if mode in _ALPHA_MODES or "transparency" in img.info:
        return img.convert("RGBA")
    if mode in _HIGH_BIT_DEPTH_MODES:
        return Image.fromarray(_to_uint8(np.asarray(img), mode)).convert("RGB")
    if mode == "RGB":
        return img
    try:
        return img.convert("RGB")
    except ValueError as err:
        raise UnsupportedMedia(f"colour mode {mode} cannot be converted to RGB") from err


def _to_uint8(values: npt.NDArray[np.generic], mode: str) -> npt.NDArray[np.uint8]:
    """Scale a 16-bit, 32-bit or float greyscale plane to 8 bits.

    Converting with Pillow would clip values above 255 to white instead of scaling.
    """
    if mode.startswith("I;16"):
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    plane = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(plane.min()), float(plane.max())
    if mode == "F" and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    elif mode == "I" and low >= 0.0 and high <= 65535.0:
        # 32-bit integer planes mostly carry 16-bit samples (older Pillow read 16-bit
        # PNGs as mode I); an 8-bit range is kept as it is.
        low, high = 0.0, (255.0 if high <= 255.0 else 65535.0)
    if high <= low:
        return np.zeros(plane.shape, dtype=np.uint8)
    return np.rint((plane - low) * (255.0 / (high - low))).astype(np.uint8)


def _scale(facts: MediaFacts, pixels: RGBArray) -> float:
    return max(facts.width, facts.height) / int(max(pixels.shape[0], pixels.shape[1]))


def _enable_plugin(name: str) -> None:
    if name == "heif":
        _register_heif()
    elif name == "avif" and not _native_avif():
        _register_heif_avif()


@cache
def _native_avif() -> bool:
    return bool(features.check("avif"))


@cache
def _register_heif() -> None:
    """Register pillow-heif's HEIF opener, once, on first use rather than at import."""
    # Imported here so that only HEIF input pays for loading libheif.
    import pillow_heif

    pillow_heif.register_heif_opener()


@cache
def _register_heif_avif() -> None:
    """Fall back to pillow-heif for AVIF where Pillow was built without it.

    Raises:
        UnsupportedMedia: neither Pillow nor pillow-heif can decode AVIF.
    """
    import pillow_heif

    register = getattr(pillow_heif, "register_avif_opener", None)
    if register is None:
        raise UnsupportedMedia(
            "AVIF decoding is not available: install Pillow 11.3 or newer built with AVIF"
        )
    register()
