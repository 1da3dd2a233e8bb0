"""What every hasher promises the lists, checked on each hash type.

A scanned item's hashes are looked up in lists, exported to HMA and added to lists
from review, so each hasher's output must already be its type's normalised list value,
be the same on every run, tell different media apart, and (for the perceptual ones)
survive a re-encode within the matching threshold.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mediaguard.match.types import SignalType, parse_value
from mediaguard.match.video import FrameHash, format_vpdq, parse_vpdq
from mediaguard.media.types import Frame
from mediaguard.signals.hashes import digests, pdq, pdq_dihedral

PDQ_THRESHOLD = 31


def _frame(jpeg: bytes, index: int = 0, time: Fraction | None = None) -> Frame:
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    return Frame(index=index, time=time, pixels=pixels, scale=1.0)


def _vpdq(jpegs: list[bytes]) -> str:
    frames = []
    for i, jpeg in enumerate(jpegs):
        h = pdq(_frame(jpeg, i, Fraction(i, 2)))
        frames.append(FrameHash(i, Fraction(i, 2), h.hex, h.quality))
    return format_vpdq(frames)


@dataclass(frozen=True)
class Hasher:
    signal: SignalType
    run: Callable[[list[bytes]], str]
    perceptual: bool


HASHERS = [
    pytest.param(Hasher(SignalType.MD5, lambda b: digests(b[0]).md5, False), id="md5"),
    pytest.param(Hasher(SignalType.SHA256, lambda b: digests(b[0]).sha256, False), id="sha256"),
    pytest.param(Hasher(SignalType.PDQ, lambda b: pdq(_frame(b[0])).hex, True), id="pdq"),
    pytest.param(
        Hasher(SignalType.PDQ, lambda b: pdq_dihedral(_frame(b[0]))[None], True),
        id="pdq-dihedral-original",
    ),
    pytest.param(Hasher(SignalType.VPDQ, _vpdq, True), id="vpdq"),
]


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _distance(signal: SignalType, a: str, b: str) -> int:
    """Largest per-frame PDQ distance between two values of a perceptual type."""
    if signal is SignalType.VPDQ:
        pairs = zip(parse_vpdq(a), parse_vpdq(b), strict=True)
        return max(_distance(SignalType.PDQ, x.pdq, y.pdq) for x, y in pairs)
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def media(photos: Any) -> dict[str, list[bytes]]:
    """Per name, the same two real photos encoded at quality 90 and, re-encoded, at 60."""
    first, second = photos.pixels("astronaut"), photos.pixels("coffee")
    other = photos.pixels("chelsea")
    return {
        "original": [_jpeg(first, 90), _jpeg(second, 90)],
        "reencoded": [_jpeg(first, 60), _jpeg(second, 60)],
        "different": [_jpeg(other, 90), _jpeg(photos.pixels("rocket"), 90)],
    }


@pytest.mark.parametrize("hasher", HASHERS)
def test_output_is_the_normalised_list_value(hasher: Hasher, media: dict[str, list[bytes]]) -> None:
    value = hasher.run(media["original"])

    assert parse_value(hasher.signal, value) == value


@pytest.mark.parametrize("hasher", HASHERS)
def test_same_media_same_hash_and_different_media_apart(
    hasher: Hasher, media: dict[str, list[bytes]]
) -> None:
    value = hasher.run(media["original"])

    assert hasher.run(list(media["original"])) == value
    different = hasher.run(media["different"])
    assert different != value
    if hasher.perceptual:
        assert _distance(hasher.signal, value, different) > PDQ_THRESHOLD


@pytest.mark.parametrize("hasher", HASHERS)
def test_a_reencoded_copy(hasher: Hasher, media: dict[str, list[bytes]]) -> None:
    value, copy = hasher.run(media["original"]), hasher.run(media["reencoded"])

    if hasher.perceptual:
        assert _distance(hasher.signal, value, copy) <= PDQ_THRESHOLD
    else:
        assert copy != value  # a cryptographic hash matches the exact bytes only
