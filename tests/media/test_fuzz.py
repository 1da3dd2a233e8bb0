"""A short fuzz: mutated real files and random bytes never escape as anything but MediaError.

The seeds are small real photos in every image format plus animations, so mutations
land in real headers, chunk tables and entropy-coded data rather than in noise that the
sniffer refuses at the first byte. The limits are small so a mutated size field cannot
turn one example into a long decode.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mediaguard.media import DecodedMedia, Limits, MediaError, UnsupportedMedia, load, sniff

from . import builders
from .builders import PhotoSource

FUZZ_LIMITS = Limits(
    max_bytes=1_000_000,
    max_pixels=1_000_000,
    max_frames=64,
    max_sampled_frames=4,
    working_size=64,
)
STILL_FORMATS = ("jpeg", "png", "webp", "gif", "bmp", "tiff", "heif", "avif")
ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")
SEEDS = (*STILL_FORMATS, *(f"animated-{name.lower()}" for name in ANIMATED_FORMATS))
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


_SEED_CACHE: dict[str, bytes] = {}


def _seed(photos: PhotoSource, name: str) -> bytes:
    """A small real file to mutate, encoded once per run."""
    if name not in _SEED_CACHE:
        _SEED_CACHE[name] = _encode_seed(photos, name)
    return _SEED_CACHE[name]


def _encode_seed(photos: PhotoSource, name: str) -> bytes:
    small = [
        Image.fromarray(photos.pixels(photo)).resize((48, 32))
        for photo in ("chelsea", "rocket", "coffee")
    ]
    if name.startswith("animated-"):
        return builders.animation(name.removeprefix("animated-").upper(), small, [40, 60, 80])
    return photos.encode(small[0], name)


@st.composite
def _mutated(draw: st.DrawFn, photos: PhotoSource) -> bytes:
    data = bytearray(_seed(photos, draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@pytest.mark.slow
def test_mutated_real_files_decode_or_raise_media_error(photos: PhotoSource) -> None:
    @FUZZ
    @given(data=_mutated(photos))
    def check(data: bytes) -> None:
        try:
            result = load(data, FUZZ_LIMITS)
        except MediaError:
            return
        assert isinstance(result, DecodedMedia)

    check()


@FUZZ
@given(head=st.binary(max_size=600))
def test_sniff_returns_a_format_or_refuses(head: bytes) -> None:
    try:
        found = sniff(head)
    except UnsupportedMedia:
        return
    assert found.name
