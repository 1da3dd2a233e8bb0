"""Cryptographic and perceptual hashes of media.

Design note: hashes are signals like any detector score, but they need no model and feed
the hash-list matchers rather than the policy thresholds. Cryptographic digests are taken
over the exact bytes received; PDQ is taken over the decoded, upright working frame, which
is what makes it survive recompression, resizing and re-encoding. PDQ hex follows Meta's
ThreatExchange convention (the 256 bits, most significant first, as 64 hex digits) so
hashes exchange with HMA and GIFCT lists unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pdqhash

from mediaguard.media.types import Frame
from mediaguard.signals.variants import Box, Level, Region, reduced, regions

# PDQ's authors advise against matching hashes of quality below 50: such images are too
# flat (blank, near-uniform) for the hash to mean anything.
MIN_PDQ_QUALITY = 50

# How the scanned image relates to the listed one when the i-th hash of
# ``pdqhash.compute_dihedral(scanned)`` matches: the scanned image is the listed image
# transformed this way (rotations clockwise; ``mirror_x`` flips left-right, ``mirror_y``
# top-bottom, ``transpose`` swaps x and y, ``transverse`` is the anti-diagonal flip).
# None is the untransformed image. Verified against real rotated and mirrored photos.
DIHEDRAL_TRANSFORMS: tuple[str | None, ...] = (
    None,
    "rot90",
    "rot180",
    "rot270",
    "mirror_y",
    "mirror_x",
    "transpose",
    "transverse",
)


@dataclass(frozen=True, slots=True)
class Digests:
    """MD5 and SHA-256 of the exact bytes received."""

    md5: str
    sha256: str


@dataclass(frozen=True, slots=True)
class PDQHash:
    """A PDQ hash of one frame, with its quality (0-100)."""

    frame: int
    hex: str
    quality: int
    time: Fraction | None = None

    @property
    def usable(self) -> bool:
        """Whether the hash is good enough to match perceptually."""
        return self.quality >= MIN_PDQ_QUALITY


def digests(data: bytes) -> Digests:
    """MD5 and SHA-256 of ``data``; MD5 is kept because shared lists still carry it."""
    return digests_of([data])


def digests_of(chunks: Iterable[bytes]) -> Digests:
    """MD5 and SHA-256 of a stream of chunks, so a long video is never held in memory."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    for chunk in chunks:
        md5.update(chunk)
        sha256.update(chunk)
    return Digests(md5=md5.hexdigest(), sha256=sha256.hexdigest())


def bits_to_hex(bits: npt.ArrayLike) -> str:
    """Pack a 256-element 0/1 vector into ThreatExchange's 64-digit hex."""
    return np.packbits(np.asarray(bits).astype(np.uint8)).tobytes().hex()


def pdq(frame: Frame) -> PDQHash:
    """PDQ hash of one frame."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(frame.pixels))
    return PDQHash(frame.index, bits_to_hex(bits), int(quality), frame.time)


def pdq_regions(frame: Frame, level: Level) -> list[tuple[Region, Box, PDQHash]]:
    """PDQ hashes of a frame's edited-copy regions (see :mod:`mediaguard.signals.variants`).

    Regions are found and hashed on one reduced copy of the frame, which keeps the extra
    hashes to a few milliseconds a frame; each comes with its box as shares of the frame,
    so that a verification at another size can crop the same region.
    """
    small = reduced(frame.pixels)
    height, width = small.shape[:2]
    out = []
    for region in regions(small, level):
        crop = small[region.top : region.bottom, region.left : region.right]
        bits, quality = pdqhash.compute(np.ascontiguousarray(crop))
        found = PDQHash(frame.index, bits_to_hex(bits), int(quality), frame.time)
        out.append((region, region.shares(height, width), found))
    return out


def pdq_dihedral(frame: Frame) -> dict[str | None, str]:
    """The eight dihedral PDQ hashes of a frame, keyed by transform name (None: original).

    Matching against all eight finds mirrored and rotated copies of listed media at the
    cost of eight index queries instead of one, so it is opt-in per scan.
    """
    hashes, _quality = pdqhash.compute_dihedral(np.ascontiguousarray(frame.pixels))
    return {name: bits_to_hex(bits) for name, bits in zip(DIHEDRAL_TRANSFORMS, hashes, strict=True)}
