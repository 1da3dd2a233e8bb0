"""Helpers shared by the match tests: bit flips and brute-force neighbours."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def flip_bits(
    code: npt.NDArray[np.uint8], n: int, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """A copy of a 32-byte code with exactly ``n`` distinct bits flipped."""
    out = code.copy()
    for b in rng.choice(256, size=n, replace=False):
        out[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def brute(codes: npt.NDArray[np.uint8], q: npt.NDArray[np.uint8], radius: int) -> dict[int, int]:
    """Row -> distance for every row within ``radius`` of ``q``, by brute force."""
    d = np.bitwise_count(codes.view(np.uint64) ^ q.view(np.uint64)).sum(axis=1)
    rows = np.flatnonzero(d <= radius)
    return {int(r): int(d[r]) for r in rows}
