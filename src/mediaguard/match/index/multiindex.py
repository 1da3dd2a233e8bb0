"""The static PDQ multi-index: sorted chunk tables over a fixed set of rows, searched exactly.

Why separate: this is the search structure alone, immutable once built, with the
arithmetic that makes it exact; :class:`~mediaguard.match.index.pdq.PDQIndex` wraps it
with what changes (additions, removals, rebuilds) and the query API. The structure is
an exact multi-index hash (Norouzi et al., "Fast exact search in Hamming space with
multi-index hashing"), written in numpy:

* The 256 bits are split into 16 chunks of 16 bits. By the pigeonhole principle, two
  hashes within distance ``d`` agree to within ``d // 16`` bits on at least one chunk
  (16 chunks x 2 bits = 32 > 31), so for the PDQ threshold 31 every true neighbour
  shares some chunk with the query up to one flipped bit. Probing 16 x 17 buckets per
  query therefore finds *every* neighbour; each candidate is then verified with a true
  popcount over all 256 bits, so there are no false positives either. Larger radii
  stay exact (more flips are probed); they just cost more.
* Per chunk the index keeps a bucket-offset table (65,537 ints) and a permutation of
  row numbers sorted by that chunk's key; rows themselves are sorted by chunk 0, so
  chunk 0 needs no permutation. The codes sit in one contiguous ``(N, 32)`` array and
  candidates are gathered with ``np.take``, which numpy turns into a tight loop with
  many loads in flight; the popcount is ``np.bitwise_count`` on XOR'd ``uint64`` words.
* Permutation entries take 3 bytes (a ``uint16`` low part plus a ``uint8`` high part)
  while the index has at most 2**24 rows, 4 bytes above that. Steady-state memory is
  32 (code) + 4 or 8 (id) + 15 x 3 (permutations) + 1 (tombstone) = about 82 bytes
  per hash, plus a fixed 4 MiB of offset tables. That misses the project's 64 B goal,
  and no encoding of this layout can meet it while the index holds the ids: codes
  without chunk 0 (30 B), 15 tables and the ids at their information-theoretic floor of
  17.44 bits a row come to 64.9 B. ``docs/hash-lists.md`` gives the arithmetic and what
  the alternatives cost a query (``benchmarks/succinct_tables.py``).
* Why this and not faiss: ``IndexBinaryMultiHash(256, 16, 16)`` (threatexchange's
  ``PDQIndex``) does the same probing but stores every id in per-bucket
  ``std::vector<int64>`` inside ``std::unordered_map`` for each of 16 tables (over
  128 bytes per hash), dedups candidates through an ``unordered_set``, and wraps it in
  Python dictionaries; ``IndexBinaryMultiHash(256, 8, 32)`` with ``nflip=3`` probes
  5,489 keys per table and needs a hash-map node per hash per table; ``IndexBinaryHash``
  is not exact at radius 31; ``IndexBinaryFlat`` is exact but linear. Measured figures
  are in ``docs/hash-lists.md`` (``benchmarks/hash_index.py`` reproduces them).
* Why 16 x 16 and not 8 x 32 (radius 3 per chunk): 32-bit chunk keys cannot be
  resolved with a direct table, and a sorted key array per chunk costs more memory
  and turns 43,912 probes per query into binary searches, which is slower in numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from mediaguard.match.index.codes import Int64Array, UInt8Array
from mediaguard.match.types import IndexFormatError

__all__ = ["BUCKETS", "CHUNKS", "MASK_COUNT", "Segment", "check_structure", "popcount_rows"]

#: Chunks of 16 bits a PDQ hash is split into, and the keys one chunk can take.
CHUNKS: Final = 16
BUCKETS: Final = 1 << 16

# All 16-bit masks ordered by popcount: the first MASK_COUNT[r] are those with <= r bits.
_bits16 = np.bitwise_count(np.arange(BUCKETS, dtype=np.uint16))
FLIP_MASKS: Final = np.argsort(_bits16, kind="stable").astype(np.int64)
MASK_COUNT: Final = np.concatenate(([0], np.cumsum(np.bincount(_bits16, minlength=17))))[1:]
del _bits16


def popcount_rows(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """Hamming weight of each row of an ``(n, 4)`` uint64 array, as uint32.

    ``bitwise_count(...).sum(axis=1)`` reduces along a 4-wide axis, which numpy does
    slowly; summing the four per-word counts as bytes of one uint32 is 3-4x faster.
    """
    pc = np.bitwise_count(x)  # (n, 4) uint8, each <= 64
    v = pc.view(np.uint32).reshape(-1)
    s = (v & 0x00FF00FF) + ((v >> 8) & 0x00FF00FF)
    out: npt.NDArray[np.uint32] = (s & 0xFFFF) + (s >> 16)
    return out


def _compact_ids(ids: Int64Array) -> npt.NDArray[np.int32] | Int64Array:
    """Store ids in 4 bytes when they fit: store ids are small and this saves 4 B/hash."""
    info = np.iinfo(np.int32)
    if ids.size == 0 or (int(ids.min()) >= info.min and int(ids.max()) <= info.max):
        return ids.astype(np.int32)
    return ids


class Segment:
    """The static, sorted multi-index over a set of rows (see the module note)."""

    __slots__ = ("codes", "codes64", "dead", "ids", "n", "n_dead", "offsets", "perm_hi", "perm_lo")

    def __init__(
        self,
        codes: UInt8Array,
        ids: npt.NDArray[np.integer[Any]],
        offsets: npt.NDArray[np.integer[Any]],
        perm_lo: npt.NDArray[np.uint16],
        perm_hi: npt.NDArray[np.unsignedinteger[Any]] | None,
        dead: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.codes = codes
        self.codes64: npt.NDArray[np.uint64] = codes.view(np.uint64)
        self.ids = ids
        self.n = int(codes.shape[0])
        self.offsets = offsets
        self.perm_lo = perm_lo
        self.perm_hi = perm_hi
        self.dead = np.zeros(self.n, dtype=np.bool_) if dead is None else dead
        self.n_dead = int(self.dead.sum())

    @classmethod
    def build(cls, codes: UInt8Array, ids: Int64Array) -> Segment:
        n = int(codes.shape[0])
        order = np.argsort(codes.view("<u2")[:, 0], kind="stable")
        codes = np.take(codes, order, axis=0)
        sorted_ids = _compact_ids(np.take(ids, order))
        del order
        keys = codes.view("<u2")
        off_dtype = np.int32 if n < 2**31 else np.int64
        offsets = np.zeros((CHUNKS, BUCKETS + 1), dtype=off_dtype)
        perm_lo = np.empty((CHUNKS - 1, n), dtype=np.uint16)
        hi_dtype: type[np.unsignedinteger[Any]] | None = (
            None if n <= 1 << 16 else np.uint8 if n <= 1 << 24 else np.uint16
        )
        perm_hi = None if hi_dtype is None else np.empty((CHUNKS - 1, n), dtype=hi_dtype)
        for c in range(CHUNKS):
            col = np.ascontiguousarray(keys[:, c])
            np.cumsum(np.bincount(col, minlength=BUCKETS), out=offsets[c, 1:])
            if c:
                perm = np.argsort(col, kind="stable")
                perm_lo[c - 1] = perm.astype(np.uint16)
                if perm_hi is not None:
                    perm_hi[c - 1] = perm >> 16
        return cls(codes, sorted_ids, offsets, perm_lo, perm_hi)

    @property
    def nbytes(self) -> int:
        hi = 0 if self.perm_hi is None else self.perm_hi.nbytes
        return (
            self.codes.nbytes
            + self.ids.nbytes
            + self.offsets.nbytes
            + self.perm_lo.nbytes
            + hi
            + self.dead.nbytes
        )

    def search(
        self, q64: npt.NDArray[np.uint64], radius: int
    ) -> tuple[Int64Array, Int64Array, Int64Array]:
        """Rows within ``radius`` of each query: (query index, row, distance), unsorted.

        Candidate positions are generated for all (chunk, query, flip) buckets at once
        and read through the permutations; see the module note for why this is exact.
        """
        b = int(q64.shape[0])
        n = self.n
        masks = FLIP_MASKS[: MASK_COUNT[min(radius // CHUNKS, 16)]]
        p = int(masks.shape[0])
        qkeys = q64.view("<u2").astype(np.int64)  # (b, 16)
        probes = qkeys.T[:, :, None] ^ masks[None, None, :]  # (16, b, p)
        chunk = np.arange(CHUNKS)[:, None, None]
        starts = self.offsets[chunk, probes].astype(np.int64)
        lens = (self.offsets[chunk, probes + 1] - starts).reshape(-1)
        ends = np.cumsum(lens)
        total = int(ends[-1])
        if total == 0:
            e = np.empty(0, dtype=np.int64)
            return e, e.copy(), e.copy()
        # Chunk c >= 1 reads its permutation at (c - 1) * n + position.
        starts[1:] += (np.arange(CHUNKS - 1, dtype=np.int64) * n)[:, None, None]
        pos = np.repeat(starts.reshape(-1) - (ends - lens), lens)
        pos += np.arange(total, dtype=np.int64)
        n0 = int(ends[b * p - 1])  # chunk 0's buckets come first; their positions are rows
        rows = np.empty(total, dtype=np.int64)
        rows[:n0] = pos[:n0]
        rest = pos[n0:]
        rows[n0:] = np.take(self.perm_lo.reshape(-1), rest)
        if self.perm_hi is not None:
            rows[n0:] |= np.take(self.perm_hi.reshape(-1), rest).astype(np.int64) << 16
        del pos, rest
        cand = np.take(self.codes64, rows, axis=0)
        # Each candidate is XOR'd with its query's words repeated to the candidates' own
        # shape: broadcasting one 4-word row instead runs numpy's loop 4 words at a time,
        # about 3x slower. Candidates come in (chunk, query) segments.
        segments = lens.reshape(CHUNKS * b, p).sum(axis=1)
        cand ^= np.repeat(np.tile(q64, (CHUNKS, 1)), segments, axis=0)
        dist = popcount_rows(cand)
        keep = np.flatnonzero(dist <= radius)
        hit_rows = rows[keep]
        segment = np.searchsorted(np.cumsum(segments), keep, side="right")
        hit_q = (segment % b).astype(np.int64)
        hit_d = dist[keep].astype(np.int64)
        if self.n_dead and hit_rows.size:
            alive = ~self.dead[hit_rows]
            hit_rows, hit_q, hit_d = hit_rows[alive], hit_q[alive], hit_d[alive]
        return hit_q, hit_rows, hit_d


def check_structure(
    path: Path,
    codes: UInt8Array,
    offsets: npt.NDArray[Any],
    perm_lo: npt.NDArray[Any],
    perm_hi: npt.NDArray[Any] | None,
) -> None:
    n = int(codes.shape[0])
    if offsets.shape != (CHUNKS, BUCKETS + 1) or not np.issubdtype(offsets.dtype, np.integer):
        raise IndexFormatError(f"{path}: offset table has shape {offsets.shape}")
    if (offsets[:, 0] != 0).any() or (offsets[:, -1] != n).any() or (np.diff(offsets) < 0).any():
        raise IndexFormatError(f"{path}: offset table is inconsistent with {n} rows")
    if perm_lo.shape != (CHUNKS - 1, n) or perm_lo.dtype != np.uint16:
        raise IndexFormatError(f"{path}: permutation table has shape {perm_lo.shape}")
    if perm_hi is not None:
        if perm_hi.shape != (CHUNKS - 1, n) or perm_hi.dtype not in (
            np.dtype(np.uint8),
            np.dtype(np.uint16),
        ):
            raise IndexFormatError(f"{path}: permutation table has shape {perm_hi.shape}")
        if int(perm_hi.max()) > (n - 1) >> 16:
            raise IndexFormatError(f"{path}: permutation points past the last row")
    elif n > 1 << 16:
        raise IndexFormatError(f"{path}: permutation high part missing")
    else:
        if int(perm_lo.max()) >= n:
            raise IndexFormatError(f"{path}: permutation points past the last row")
    # Chunk 0 must be sorted, since its positions are used as rows directly.
    k0 = codes.view("<u2")[:, 0]
    if n > 1 and (np.diff(k0.astype(np.int32)) < 0).any():
        raise IndexFormatError(f"{path}: rows are not sorted by their first chunk")
    expected = np.bincount(k0, minlength=BUCKETS)
    if not np.array_equal(np.diff(offsets[0]), expected):
        raise IndexFormatError(f"{path}: offset table does not match the codes")
