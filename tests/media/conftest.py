"""Fixtures of the media suite: limits and the hostile corpus.

The corpus is built in memory on every run, so no hostile binary is committed, and one
table (:data:`HOSTILE`) feeds both the "typed error, never a crash" test and the test
that expects a particular outcome for each file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from mediaguard.media import CorruptMedia, Limits, MediaError, MediaTooLarge, UnsupportedMedia

from . import builders
from .builders import HostileCase, PhotoSource

Builder = Callable[[PhotoSource], bytes]


def _cut(name: str, fraction: float) -> Builder:
    def build(photos: PhotoSource) -> bytes:
        data = photos.file(name)
        return data[: int(len(data) * fraction)]

    return build


def _random_bytes(_: PhotoSource) -> bytes:
    return np.random.default_rng(1234).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def _png_then_jpeg(photos: PhotoSource) -> bytes:
    # A PNG signature in front of a JPEG body: sniffed as PNG, unreadable as PNG.
    return builders.PNG_SIGNATURE + photos.file("rocket")


def _jpeg_with_zip(photos: PhotoSource) -> bytes:
    return photos.file("rocket") + b"PK\x03\x04" + bytes(26) + b"payload.html<script>"


def _gif_with_html_comment(photos: PhotoSource) -> bytes:
    gif = photos.encode(photos.pixels("chelsea"), "gif")
    return builders.gif_with_comment(gif, b"<html><script>alert(1)</script></html>")


def _png_zeroed_middle(photos: PhotoSource) -> bytes:
    data = photos.file("chelsea")
    middle = len(data) // 2
    return data[:middle] + bytes(256) + data[middle + 256 :]


def _constant(data: bytes) -> Builder:
    return lambda _: data


#: id -> (builder, expected outcome: an error class, or None for "decodes as an image").
HOSTILE: dict[str, tuple[Builder, type[MediaError] | None]] = {
    "zero-bytes": (_constant(b""), UnsupportedMedia),
    "random-bytes": (_random_bytes, UnsupportedMedia),
    "html-disguised-as-jpg": (
        _constant(b"<!DOCTYPE html><html><body>hi</body></html>"),
        UnsupportedMedia,
    ),
    "svg-disguised-as-jpg": (
        _constant(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
        UnsupportedMedia,
    ),
    "text-disguised-as-jpg": (_constant(b"just some words\n" * 20), UnsupportedMedia),
    "jpeg-cut-in-header": (_cut("rocket", 0.002), CorruptMedia),
    "jpeg-cut-10%": (_cut("rocket", 0.1), CorruptMedia),
    "jpeg-cut-50%": (_cut("rocket", 0.5), CorruptMedia),
    "jpeg-cut-90%": (_cut("rocket", 0.9), CorruptMedia),
    "jpeg-missing-end-marker": (lambda photos: photos.file("rocket")[:-2], CorruptMedia),
    "png-signature-only": (_constant(builders.PNG_SIGNATURE), CorruptMedia),
    "png-cut-in-ihdr": (_cut("chelsea", 0.0001), CorruptMedia),
    "png-cut-10%": (_cut("chelsea", 0.1), CorruptMedia),
    "png-cut-50%": (_cut("chelsea", 0.5), CorruptMedia),
    "png-cut-90%": (_cut("chelsea", 0.9), CorruptMedia),
    "png-zeroed-middle": (_png_zeroed_middle, CorruptMedia),
    "png-bomb-60000x60000": (_constant(builders.png_bomb(60_000, 60_000)), MediaTooLarge),
    "gif-10k-frames": (_constant(builders.gif_frames(10_000)), MediaTooLarge),
    "gif-canvas-bomb-in-last-frame": (
        _constant(builders.gif_frames(3, last_frame_size=(60_000, 60_000))),
        MediaTooLarge,
    ),
    "gif-without-frames": (_constant(builders.gif_frames(0)), CorruptMedia),
    "png-signature-then-jpeg": (_png_then_jpeg, CorruptMedia),
    "polyglot-jpeg-plus-zip": (_jpeg_with_zip, None),
    "polyglot-gif-html-comment": (_gif_with_html_comment, None),
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest, photos: PhotoSource) -> HostileCase:
    """Each file of the hostile corpus, built in memory."""
    build, expected = HOSTILE[request.param]
    return HostileCase(request.param, build(photos), expected)


@pytest.fixture
def limits() -> Limits:
    """The shipped default limits."""
    return Limits()


@pytest.fixture
def checkerboard() -> Image.Image:
    """An 8 x 8 black and white board, for exact-pixel checks a photo cannot give."""
    board = np.indices((8, 8)).sum(axis=0) % 2
    return Image.fromarray((board * 255).astype(np.uint8))
