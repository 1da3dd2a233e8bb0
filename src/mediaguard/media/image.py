"""Read a source and decode a still or animated image once, at working size.

Design note: the signals only need a picture whose long side is the working size, so the
image is decoded once at that size and the full-resolution pixels are dropped as soon as
they have been reduced. JPEG goes further: Pillow's draft mode makes libjpeg decode at
1/2, 1/4 or 1/8 scale, so a 24-megapixel photo never exists in memory at full size.

Every limit is checked as early as the format allows: bytes from ``stat`` before
reading, pixels from the header before any pixel is decoded (``Image.open`` is lazy), and
the frame count of an animation from its container structure before any frame is
decoded. Hostile input must end in a typed :class:`~mediaguard.errors.MediaError`; the
exceptions Pillow and pillow-heif raise on bad data are translated here, at the edge.

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
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, UnidentifiedImageError, features

from mediaguard.errors import CorruptMedia, MediaTooLarge, UnreadableSource, UnsupportedMedia
from mediaguard.media.limits import Limits
from mediaguard.media.sniff import SNIFF_BYTES
from mediaguard.media.types import (
    DecodedMedia,
    Frame,
    MediaFacts,
    MediaFormat,
    MediaKind,
    RGBArray,
)

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


def enforce_max_bytes(size: int, limits: Limits, what: str = "input") -> None:
    """Refuse input larger than ``limits.max_bytes``.

    Raises:
        MediaTooLarge: ``size`` exceeds the limit; the message names the setting.
    """
    if size > limits.max_bytes:
        raise MediaTooLarge(
            f"{what} is larger than limits.max_bytes ({limits.max_bytes} bytes); raise "
            "limits.max_bytes in the config to accept larger files"
        )


def _open_regular(path: str) -> tuple[int, int]:
    """Open ``path`` non-blocking and return ``(fd, size)`` once it is known to be a file.

    Opening non-blocking and checking with ``fstat`` means a FIFO or a device can never
    stall a scan; the caller closes the descriptor.

    Raises:
        UnreadableSource: the path is missing, a directory, not a regular file, or not
            readable.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as err:
        raise UnreadableSource(f"{path}: no such file") from err
    except PermissionError as err:
        raise UnreadableSource(f"{path}: permission denied") from err
    except OSError as err:
        raise UnreadableSource(f"{path}: cannot open ({err.strerror or err})") from err
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableSource(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableSource(f"{path}: not a regular file (device, pipe or socket)")
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def peek(source: str | os.PathLike[str] | bytes) -> tuple[bytes, int]:
    """The first :data:`SNIFF_BYTES` of a source and its size, reading nothing more.

    The scanner sniffs first and only then decides how to read: an image whole, a video
    as a stream.

    Raises:
        UnreadableSource: the path cannot be read (see :func:`read_source`).
    """
    if isinstance(source, bytes):
        return source[:SNIFF_BYTES], len(source)
    path = os.fspath(source)
    fd, size = _open_regular(path)
    try:
        with open(fd, "rb", closefd=False) as file:
            return file.read(SNIFF_BYTES), size
    except OSError as err:
        raise UnreadableSource(f"{path}: read failed ({err.strerror or err})") from err
    finally:
        os.close(fd)


def read_source(source: str | os.PathLike[str] | bytes, limits: Limits) -> bytes:
    """Return the bytes of a source, refusing oversized or unreadable ones before reading.

    ``bytes`` are the content itself (never a path). A path is opened non-blocking and
    checked with ``fstat`` before anything is read, so a FIFO or device cannot stall the
    scan and an oversized file is refused without reading it. At most
    ``limits.max_bytes + 1`` bytes are read, which also catches a file that grows while
    it is read.

    Args:
        source: a filesystem path, or the media bytes.
        limits: the limits to enforce; only ``max_bytes`` is used here.

    Raises:
        UnreadableSource: the path is missing, a directory, not a regular file, or not
            readable.
        MediaTooLarge: the content exceeds ``limits.max_bytes``.
        UnsupportedMedia: the content is empty.
    """
    if isinstance(source, bytes):
        enforce_max_bytes(len(source), limits)
        if not source:
            raise UnsupportedMedia("empty file")
        return source
    path = os.fspath(source)
    fd, size = _open_regular(path)
    try:
        enforce_max_bytes(size, limits, what=path)
        with open(fd, "rb", closefd=False) as file:
            # Sized to the file, not to the limit, so a small file never allocates
            # max_bytes; a file that grew since fstat is read on up to the limit.
            data = file.read(size + 1)
            if len(data) > size:
                data += file.read(limits.max_bytes + 1 - len(data))
    except OSError as err:
        raise UnreadableSource(f"{path}: read failed ({err.strerror or err})") from err
    finally:
        os.close(fd)
    enforce_max_bytes(len(data), limits, what=path)
    if not data:
        raise UnsupportedMedia(f"{path}: empty file")
    return data


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


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Frame count and start times of an animation, read before decoding any frame."""

    frame_count: int
    starts: Sequence[Fraction] | None  # None: Pillow reports each frame's time on load
    duration: Fraction | None


_Decoded = list[tuple[int, Fraction | None, RGBArray]]


def _decode(
    img: Image.Image, data: bytes, fmt: MediaFormat, limits: Limits, working_size: int
) -> tuple[MediaFacts, _Decoded]:
    _check_pixels(img.size, limits)
    stored = img.size
    timeline = _timeline(img, data, fmt.name, limits)
    if timeline is None:
        if fmt.name == "jpeg":
            img.draft("RGB", _fit(stored, working_size))
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
    timeline: _Timeline,
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
        _check_pixels(img.size, limits)
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


def _timeline(img: Image.Image, data: bytes, name: str, limits: Limits) -> _Timeline | None:
    """Return the timeline of an animation, or None for a still image.

    Raises:
        MediaTooLarge: more frames than ``limits.max_frames``.
        CorruptMedia: the container's frame table disagrees with Pillow.
    """
    if name == "gif":
        # Pillow's n_frames walks every frame in Python; this stops at the limit.
        durations = _gif_durations(data, limits)
    elif name in ("webp", "png", "avif"):
        # These keep the count in a header, so n_frames is cheap (for TIFF it would walk,
        # and parse, every page).
        declared = int(getattr(img, "n_frames", 1))
        if declared < 2:
            return None
        _check_frame_count(declared, limits)
        if name == "avif":
            return _Timeline(frame_count=declared, starts=None, duration=None)
        if name == "webp":
            durations = _webp_durations(data)
            if len(durations) != declared:
                raise CorruptMedia(
                    f"WebP frame table lists {len(durations)} frames, the decoder {declared}"
                )
        else:
            durations = _apng_durations(data, declared, getattr(img, "default_image", False))
    else:
        return None
    if len(durations) < 2:
        return None
    starts = [Fraction(0)]
    for frame_duration in durations[:-1]:
        starts.append(starts[-1] + frame_duration)
    return _Timeline(frame_count=len(durations), starts=starts, duration=starts[-1] + durations[-1])


def _gif_durations(data: bytes, limits: Limits) -> list[Fraction]:
    """Read each frame's delay from a GIF's block structure, without decoding pixels.

    Mirrors how Pillow walks the blocks (stray bytes between blocks are skipped, a
    missing trailer ends the file) so both count the same frames. A frame without a
    graphic control extension has no delay, as in Pillow.

    Raises:
        MediaTooLarge: more than ``limits.max_frames`` frames, or a frame reaching outside
            a canvas of ``limits.max_pixels`` (Pillow grows the canvas to fit it).
    """
    if len(data) < 13:
        raise CorruptMedia("GIF header is truncated")
    canvas_w, canvas_h = struct.unpack_from("<HH", data, 6)
    pos = 13 + _colour_table_size(data[10])
    end = len(data)
    durations: list[Fraction] = []
    delay = 0
    while pos < end:
        tag = data[pos]
        pos += 1
        if tag == 0x3B:
            break
        if tag == 0x21 and pos < end:
            label = data[pos]
            pos += 1
            if label == 0xF9 and pos + 4 <= end and data[pos] >= 3:
                delay = int.from_bytes(data[pos + 2 : pos + 4], "little")
            pos = _skip_sub_blocks(data, pos)
        elif tag == 0x2C and pos + 9 <= end:
            left, top, width, height, flags = struct.unpack_from("<HHHHB", data, pos)
            canvas_w, canvas_h = max(canvas_w, left + width), max(canvas_h, top + height)
            _check_pixels((canvas_w, canvas_h), limits)
            pos = _skip_sub_blocks(data, pos + 9 + _colour_table_size(flags) + 1)
            durations.append(Fraction(delay, 100))
            delay = 0
            _check_frame_count(len(durations), limits)
    return durations


def _colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _webp_durations(data: bytes) -> list[Fraction]:
    """Read each ANMF frame's duration (milliseconds) from a WebP's RIFF chunks."""
    durations: list[Fraction] = []
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= end:
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc == b"ANMF" and size >= 16:
            milliseconds = int.from_bytes(data[pos + 20 : pos + 23], "little")
            durations.append(Fraction(milliseconds, 1000))
        pos += 8 + size + (size & 1)
    return durations


def _apng_durations(data: bytes, frame_count: int, default_image: bool) -> list[Fraction]:
    """Read each APNG frame's delay from its fcTL chunks.

    Raises:
        CorruptMedia: fewer frame-control chunks than frames declared in acTL.
    """
    delays: list[Fraction] = [Fraction(0)] if default_image else []
    pos = 8
    while pos + 8 <= len(data) and len(delays) < frame_count:
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk = data[pos + 4 : pos + 8]
        if chunk == b"fcTL" and length >= 26:
            numerator, denominator = struct.unpack_from(">HH", data, pos + 8 + 20)
            # The PNG spec reads a zero denominator as 1/100 s.
            delays.append(Fraction(numerator, denominator or 100))
        elif chunk == b"IEND":
            break
        pos += 12 + length
    if len(delays) < frame_count:
        raise CorruptMedia(f"APNG declares {frame_count} frames but describes {len(delays)}")
    return delays


def _check_frame_count(count: int, limits: Limits) -> None:
    if count > limits.max_frames:
        raise MediaTooLarge(
            f"animation has more than limits.max_frames ({limits.max_frames}) frames; raise "
            "limits.max_frames in the config to accept it"
        )


def _check_pixels(size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise CorruptMedia(f"image header declares an empty size {width}x{height}")
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"image is {width}x{height} = {width * height} pixels, more than "
            f"limits.max_pixels ({limits.max_pixels}); raise limits.max_pixels in the "
            "config to accept it"
        )


def _spread(count: int, samples: int) -> list[int]:
    """Pick up to ``samples`` frame indices evenly over ``count``, first and last included."""
    if count <= samples:
        return list(range(count))
    if samples == 1:
        return [0]
    span = samples - 1
    return [(2 * i * (count - 1) + span) // (2 * span) for i in range(samples)]


def _fit(size: tuple[int, int], working_size: int) -> tuple[int, int]:
    """Size whose long side is ``working_size``, keeping the aspect; never larger."""
    width, height = size
    long_side = max(width, height)
    if long_side <= working_size:
        return size
    return (
        max(1, (width * working_size + long_side // 2) // long_side),
        max(1, (height * working_size + long_side // 2) // long_side),
    )


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
    target = _fit(stored, working_size)
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
