"""A deterministic corpus of malformed images, mutated from real photos.

Nothing binary is committed: every run encodes small crops of the shipped photos into
each still-image format mediaguard reads, then derives mutants from them with a seeded
``random.Random`` per (seed file, mutation), so the corpus is the same on every run
for the same Pillow and libheif, and a failing file can be rebuilt from its name.

Mutations aim where decoders are fragile: random bit flips (half of them in the header
region, because flips in entropy-coded data mostly just change pixels), deleted and
duplicated byte ranges, truncation at many points, format-aware corruption of the
fields a decoder trusts to size its work (width, height, bit depth, chunk, segment and
box lengths, strip offsets), and splices of two files.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

FORMATS = ("jpeg", "png", "gif", "webp", "tiff", "bmp", "heif", "avif")
BIG = (0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


class PhotoSource(Protocol):
    """What the top-level ``photos`` fixture offers (tests/conftest.py)."""

    def pixels(self, name: str) -> npt.NDArray[np.uint8]: ...

    def encode(
        self, pixels: npt.NDArray[np.uint8] | Image.Image, fmt: str, **options: object
    ) -> bytes: ...


@dataclass(frozen=True)
class Sample:
    """One corpus file: ``name`` says how it was made, e.g. ``png-1/ihdr-width=0``."""

    name: str
    data: bytes


def seeds(photos: PhotoSource) -> dict[str, bytes]:
    """Two small real files per format, encoded with different options."""
    a = Image.fromarray(photos.pixels("chelsea")).resize((96, 64))
    b = Image.fromarray(photos.pixels("astronaut")).resize((64, 80))
    variants: dict[str, list[tuple[Image.Image, dict[str, object]]]] = {
        "jpeg": [(a, {"quality": 85}), (b, {"progressive": True, "quality": 70})],
        "png": [(a, {}), (b.convert("RGBA"), {"optimize": True})],
        "gif": [(a, {}), (b.convert("L"), {"interlace": True})],
        "webp": [(a, {"quality": 80}), (b.convert("RGBA"), {"lossless": True})],
        "tiff": [(a, {}), (b, {"compression": "tiff_lzw"})],
        "bmp": [(a, {}), (b.convert("P"), {})],
        "heif": [(a, {"quality": 80}), (b, {"quality": 50})],
        "avif": [(a, {"quality": 80}), (b, {"quality": 50})],
    }
    return {
        f"{fmt}-{i}": photos.encode(img, fmt, **options)
        for fmt, pairs in variants.items()
        for i, (img, options) in enumerate(pairs)
    }


def build(photos: PhotoSource) -> list[Sample]:
    """The whole corpus, in a fixed order."""
    originals = seeds(photos)
    names = sorted(originals)
    corpus: list[Sample] = []
    for seed_name in names:
        data = originals[seed_name]
        fmt = seed_name.split("-")[0]
        made = [
            *_random_mutants(seed_name, data),
            *_truncations(data),
            *HEADERS[fmt](data),
            *_splices(seed_name, data, originals, names),
        ]
        corpus += [Sample(f"{seed_name}/{label}", mutant) for label, mutant in made]
    return corpus


def _rng(*parts: object) -> random.Random:
    return random.Random("/".join(map(str, parts)))


def _random_mutants(seed_name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    for i in range(16):
        rng = _rng(seed_name, "flip", i)
        out = bytearray(data)
        span = min(len(out), 256) if i % 2 == 0 else len(out)  # header region, or anywhere
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(span)
            out[pos] ^= 1 << rng.randrange(8)
        yield f"flip-{i}", bytes(out)
    for i in range(6):
        rng = _rng(seed_name, "delete", i)
        start = rng.randrange(len(data))
        yield f"delete-{i}", data[:start] + data[start + rng.randint(1, 64) :]
    for i in range(6):
        rng = _rng(seed_name, "duplicate", i)
        start = rng.randrange(len(data))
        piece = data[start : start + rng.randint(1, 256)]
        yield f"duplicate-{i}", data[: start + len(piece)] + piece + data[start + len(piece) :]


def _truncations(data: bytes) -> Iterator[tuple[str, bytes]]:
    points = {8, 16, 32, 64, 128, 512}
    points |= {len(data) * k // 20 for k in range(1, 20)}
    points |= {len(data) - 1, len(data) - 2, len(data) - 16}
    for cut in sorted(p for p in points if 0 < p < len(data)):
        yield f"truncate-{cut}", data[:cut]


def _splices(
    seed_name: str, data: bytes, originals: dict[str, bytes], names: list[str]
) -> Iterator[tuple[str, bytes]]:
    for i in range(6):
        rng = _rng(seed_name, "splice", i)
        other_name = rng.choice([n for n in names if n != seed_name])
        other = originals[other_name]
        head = rng.randrange(1, len(data))
        tail = rng.randrange(len(other))
        yield f"splice-{i}-{other_name}", data[:head] + other[tail:]


# --------------------------------------------------------------------- header fields


def _put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(data):
        return data
    limit = 1 << (8 * size)
    if fmt[-1].islower():  # signed
        value = (value + limit // 2) % limit - limit // 2
    else:
        value %= limit
    return data[:offset] + struct.pack(fmt, value) + data[offset + size :]


def _png(data: bytes) -> Iterator[tuple[str, bytes]]:
    def with_crc(out: bytes, chunk_at: int) -> bytes:
        length = struct.unpack(">I", out[chunk_at : chunk_at + 4])[0]
        body = out[chunk_at + 4 : chunk_at + 8 + length]
        return _put(out, chunk_at + 8 + length, ">I", zlib.crc32(body))

    ihdr = 8
    for field, off, fmt in [("width", 16, ">I"), ("height", 20, ">I")]:
        for value in BIG:
            yield f"ihdr-{field}={value}", with_crc(_put(data, off, fmt, value), ihdr)
    for field, off, values in [
        ("depth", 24, (0, 3, 255)),
        ("colour", 25, (1, 5, 255)),
        ("interlace", 28, (2, 255)),
    ]:
        for value in values:
            yield f"ihdr-{field}={value}", with_crc(_put(data, off, ">B", value), ihdr)
    pos, chunk = 8, 0
    while pos + 8 <= len(data) and chunk < 4:
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        for value in (0, length + 1, 0x7FFFFFFF):
            yield f"chunk{chunk}-length={value}", _put(data, pos, ">I", value)
        pos += 12 + length
        chunk += 1


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset of the marker) for each segment before the scan data."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        yield marker, pos
        if marker == 0xDA:
            return
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]


def _jpeg(data: bytes) -> Iterator[tuple[str, bytes]]:
    for i, (marker, pos) in enumerate(_jpeg_segments(data)):
        for value in (0, 1, 2, 0xFFFF):
            yield f"segment{i}-{marker:02x}-length={value}", _put(data, pos + 2, ">H", value)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            for value in (0, 1, 0xFFFF):
                yield f"sof-height={value}", _put(data, pos + 5, ">H", value)
                yield f"sof-width={value}", _put(data, pos + 7, ">H", value)
            for value in (0, 4, 255):
                yield f"sof-components={value}", _put(data, pos + 9, ">B", value)
            yield "sof-precision=12", _put(data, pos + 4, ">B", 12)
        if marker == 0xDA:
            for value in (0, 4, 255):
                yield f"sos-components={value}", _put(data, pos + 4, ">B", value)


def _gif(data: bytes) -> Iterator[tuple[str, bytes]]:
    for field, off in [("screen-width", 6), ("screen-height", 8)]:
        for value in (0, 1, 0xFFFF):
            yield f"{field}={value}", _put(data, off, "<H", value)
    yield "packed=0xff", _put(data, 10, "<B", 0xFF)
    yield "packed=0x00", _put(data, 10, "<B", 0x00)
    packed = data[10]
    start = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    at = data.find(b"\x2c", start)
    if at > 0:
        for field, off in [("width", 5), ("height", 7)]:
            for value in (0, 1, 0xFFFF):
                yield f"frame-{field}={value}", _put(data, at + off, "<H", value)
        code_at = at + 10
        if data[at + 9] & 0x80:
            code_at += 3 << ((data[at + 9] & 7) + 1)
        for value in (0, 1, 12, 255):
            yield f"lzw-min-code={value}", _put(data, code_at, "<B", value)


def _bmp(data: bytes) -> Iterator[tuple[str, bytes]]:
    fields: list[tuple[str, int, str, tuple[int, ...]]] = [
        ("file-size", 2, "<I", (0, 0xFFFFFFFF)),
        ("pixel-offset", 10, "<I", (0, 14, 0xFFFFFFFF, len(data))),
        ("header-size", 14, "<I", (0, 12, 64, 0xFFFF)),
        ("width", 18, "<i", (0, -1, 1 << 20, 0x7FFFFFFF)),
        ("height", 22, "<i", (0, -1, -(1 << 20), 0x7FFFFFFF)),
        ("planes", 26, "<H", (0, 2)),
        ("bpp", 28, "<H", (0, 3, 64, 0xFFFF)),
        ("compression", 30, "<I", (1, 2, 3, 99)),
        ("colours-used", 46, "<I", (0xFFFF, 0xFFFFFFFF)),
    ]
    for name, off, fmt, values in fields:
        for value in values:
            yield f"{name}={value}", _put(data, off, fmt, value)


def _tiff(data: bytes) -> Iterator[tuple[str, bytes]]:
    little = data[:2] == b"II"
    e = "<" if little else ">"
    ifd = struct.unpack(e + "I", data[4:8])[0]
    for value in (0, 8, 0xFFFFFFFF):
        yield f"ifd-offset={value}", _put(data, 4, e + "I", value)
    if ifd + 2 > len(data):
        return
    count = struct.unpack(e + "H", data[ifd : ifd + 2])[0]
    for value in (0, 0xFFFF):
        yield f"ifd-count={value}", _put(data, ifd, e + "H", value)
    interesting = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317}
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(data):
            return
        tag, kind = struct.unpack(e + "HH", data[at : at + 4])
        if tag not in interesting:
            continue
        value_fmt = e + ("H" if kind == 3 else "I")
        for value in (0, 0xFFFF, 0xFFFFFFFF):
            yield f"tag{tag}-value={value}", _put(data, at + 8, value_fmt, value)
        yield f"tag{tag}-count=0xffffffff", _put(data, at + 4, e + "I", 0xFFFFFFFF)
        yield f"tag{tag}-type=99", _put(data, at + 2, e + "H", 99)


def _webp(data: bytes) -> Iterator[tuple[str, bytes]]:
    for value in (0, 4, 0xFFFFFFFF, len(data)):
        yield f"riff-size={value}", _put(data, 4, "<I", value)
    pos, chunk = 12, 0
    while pos + 8 <= len(data) and chunk < 3:
        fourcc = data[pos : pos + 4].decode("latin-1").strip()
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        for value in (0, 1, size + 1, 0xFFFFFFFF):
            yield f"{fourcc}-size={value}", _put(data, pos + 4, "<I", value)
        body = pos + 8
        if fourcc == "VP8":
            for value in (0, 0x3FFF, 0xFFFF):
                yield f"vp8-width={value}", _put(data, body + 6, "<H", value)
                yield f"vp8-height={value}", _put(data, body + 8, "<H", value)
        elif fourcc == "VP8L":
            for value in (0, 0x3FFF << 14, 0xFFFFFFFF):
                yield f"vp8l-size-bits={value:#x}", _put(data, body + 1, "<I", value)
        elif fourcc == "VP8X":
            for value in (0, 0xFFFFFF):
                packed = value.to_bytes(3, "little")
                yield f"vp8x-canvas={value}", data[: body + 4] + packed + data[body + 7 :]
        pos = body + size + (size & 1)
        chunk += 1


_BOXES: tuple[bytes, ...] = (
    b"ftyp",
    b"meta",
    b"hdlr",
    b"pitm",
    b"iloc",
    b"iinf",
    b"infe",
    b"iprp",
    b"ipco",
)
_BOXES += (b"ispe", b"ipma", b"hvcC", b"av1C", b"pixi", b"colr", b"mdat", b"iref", b"auxC")


def _isobmff(data: bytes) -> Iterator[tuple[str, bytes]]:
    for box in _BOXES:
        at = data.find(box)
        if at < 4:
            continue
        name = box.decode()
        size = struct.unpack(">I", data[at - 4 : at])[0]
        for value in (0, 1, 7, size + 8, 0xFFFFFFFF):
            yield f"{name}-size={value}", _put(data, at - 4, ">I", value)
        if box == b"ispe":
            for value in (0, 1 << 16, 0xFFFFFFFF):
                yield f"ispe-width={value}", _put(data, at + 8, ">I", value)
                yield f"ispe-height={value}", _put(data, at + 12, ">I", value)
        if box == b"ftyp":
            for brand in (b"mp42", b"qt  ", b"avis", b"heic", b"avif", b"\0\0\0\0"):
                out = data[: at + 4] + brand + data[at + 8 :]
                yield f"ftyp-brand={brand.decode('latin-1').strip() or 'zero'}", out
        if box in (b"iloc", b"ipma", b"infe"):
            body = at + 4
            for off in range(4, 20, 4):
                for value in (0, 0xFFFFFFFF):
                    yield f"{name}+{off}={value}", _put(data, body + off, ">I", value)


HEADERS: dict[str, Callable[[bytes], Iterator[tuple[str, bytes]]]] = {
    "jpeg": _jpeg,
    "png": _png,
    "gif": _gif,
    "bmp": _bmp,
    "tiff": _tiff,
    "webp": _webp,
    "heif": _isobmff,
    "avif": _isobmff,
}
