"""Byte-level builders for media the tests need and no package ships.

Everything here is built in memory: headers of video containers, and hostile files
(decompression bombs, frame bombs, polyglots) that no library would write on purpose.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from mediaguard.media import MediaError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class HostileCase:
    """One file of the hostile corpus and what loading it must give (None: an image)."""

    name: str
    data: bytes
    expected: type[MediaError] | None


class PhotoSource(Protocol):
    """What the top-level ``photos`` fixture offers (tests/conftest.py)."""

    def file(self, name: str) -> bytes: ...

    def pixels(self, name: str) -> npt.NDArray[np.uint8]: ...

    def encode(
        self, pixels: npt.NDArray[np.uint8] | Image.Image, fmt: str, **options: object
    ) -> bytes: ...


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC, so only the content is hostile."""
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking RGB PNG header declaring ``width`` x ``height``, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def patch_actl(apng: bytes, frame_count: int) -> bytes:
    """Rewrite an APNG's acTL chunk to declare ``frame_count`` frames (CRC fixed)."""
    pos = apng.index(b"acTL") - 4
    num_plays = apng[pos + 12 : pos + 16]
    chunk = png_chunk(b"acTL", struct.pack(">I", frame_count) + num_plays)
    return apng[:pos] + chunk + apng[pos + 8 + 8 + 4 :]


GIF_FRAME_DELAY = Fraction(10, 100)
_GIF_ONE_PIXEL_FRAME = (
    b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: delay 10/100 s
    b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # image descriptor: 1 x 1 at 0,0
    b"\x02\x02\x44\x01\x00"  # LZW: min code size 2, clear, index 0, end
)


def gif_frames(count: int, *, last_frame_size: tuple[int, int] | None = None) -> bytes:
    """A 1 x 1 GIF with ``count`` frames of 10/100 s each, about 20 bytes per frame.

    With ``last_frame_size``, the final frame's descriptor claims that size, which makes
    Pillow grow the canvas to it: a bomb that is only visible deep in the file.
    """
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frames = [_GIF_ONE_PIXEL_FRAME] * count
    if last_frame_size is not None:
        width, height = last_frame_size
        frames[-1] = _GIF_ONE_PIXEL_FRAME.replace(
            b"\x01\x00\x01\x00\x00\x02", struct.pack("<HHB", width, height, 0) + b"\x02"
        )
    return header + b"".join(frames) + b"\x3b"


def gif_with_comment(gif: bytes, comment: bytes) -> bytes:
    """Insert a comment extension holding ``comment`` right after the GIF's colour table."""
    flags = gif[10]
    table = 3 << ((flags & 7) + 1) if flags & 0x80 else 0
    pos = 13 + table
    blocks = b"".join(
        bytes([len(comment[i : i + 255])]) + comment[i : i + 255]
        for i in range(0, len(comment), 255)
    )
    return gif[:pos] + b"\x21\xfe" + blocks + b"\x00" + gif[pos:]


def animation(fmt: str, frames: Sequence[Image.Image], durations_ms: Sequence[int]) -> bytes:
    """Encode ``frames`` as an animated GIF, WebP or PNG with per-frame durations."""
    out = io.BytesIO()
    options: dict[str, object] = {}
    if fmt == "WEBP":
        options["lossless"] = True
    frames[0].save(
        out,
        fmt,
        save_all=True,
        append_images=list(frames[1:]),
        duration=list(durations_ms),
        loop=0,
        disposal=1 if fmt == "GIF" else 0,
        **options,
    )
    return out.getvalue()


def ftyp(major: bytes, *compatible: bytes, box_size: int | None = None) -> bytes:
    """An ISO-BMFF ``ftyp`` box followed by an empty ``mdat``."""
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    size = box_size if box_size is not None else 8 + len(body)
    return struct.pack(">I", size) + b"ftyp" + body + b"\x00\x00\x00\x08mdat"


def ebml(doctype: bytes | None) -> bytes:
    """A Matroska/WebM EBML header, optionally with a DocType element."""
    children = b"\x42\x86\x81\x01"  # EBMLVersion 1
    if doctype is not None:
        children += b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    children += b"\x42\x87\x81\x04"  # DocTypeVersion 4
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(children)]) + children + b"\x18\x53\x80\x67"


def mpegts(packet_size: int = 188, packets: int = 3) -> bytes:
    """MPEG transport stream packets (null PID), optionally with M2TS 4-byte prefixes."""
    packet = b"\x47\x1f\xff\x10" + b"\xff" * 184
    prefix = b"\x00" * (packet_size - 188)
    return (prefix + packet) * packets


def riff(form: bytes, payload: bytes = b"") -> bytes:
    """A RIFF container of the given form type (``AVI ``, ``WAVE``...)."""
    body = form + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body
