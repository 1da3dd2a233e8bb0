"""The PDQ index: exact Hamming-radius search over PDQ hashes that can change.

Why separate: this is what callers hold and query. It keeps the static
:class:`~mediaguard.match.index.multiindex.Segment` plus a small delta and tombstones so
lists can change without a rebuild per edit, answers single, batched and dihedral
queries, and saves and loads itself through :mod:`.container`.

* Incremental updates: the sorted structure is static. ``add`` appends to a small
  unsorted *delta* that is searched by brute force; once it exceeds
  ``delta_limit`` rows (or on ``compact()``/``save``) everything is rebuilt, which is
  a few radix sorts (about 5 s at 10M hashes on two cores). ``remove`` sets
  tombstones, dropped at the next rebuild.
* Not safe for concurrent writers. Readers may share an index that nobody mutates;
  to update a serving index, build or load a new one and swap the reference.

**Quality**: PDQ hashes with quality below :data:`MIN_PDQ_QUALITY` (50) are noise on
flat or tiny images and match unrelated content; callers must not match them
perceptually (see :func:`pdq_quality_ok`). Their exact hashes still match.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from mediaguard.match.index.codes import (
    PDQ_BYTES,
    HashLike,
    Int64Array,
    UInt8Array,
    as_ids,
    pdq_codes,
)
from mediaguard.match.index.container import read_container, write_container
from mediaguard.match.index.multiindex import (
    BUCKETS,
    CHUNKS,
    MASK_COUNT,
    Segment,
    check_structure,
    popcount_rows,
)
from mediaguard.match.types import IndexFormatError
from mediaguard.signals.hashes import MIN_PDQ_QUALITY

__all__ = ["DEFAULT_PDQ_DISTANCE", "DihedralHit", "PDQHits", "PDQIndex", "pdq_quality_ok"]

#: Hamming distance at or below which two PDQ hashes are the same picture (Meta's value).
DEFAULT_PDQ_DISTANCE: Final = 31
_DELTA_LIMIT: Final = 16384
# Query blocks are sized so that the candidate arrays stay around this many entries.
_CANDIDATE_BLOCK: Final = 1 << 16


def pdq_quality_ok(quality: int, min_quality: int = MIN_PDQ_QUALITY) -> bool:
    """Whether a PDQ hash of this quality may be matched perceptually.

    PDQ's quality (0-100) measures how much gradient the image has. Below 50 the hash
    of a flat, dark or tiny image is dominated by noise and lands within distance 31 of
    unrelated hashes, so Meta's tools, and mediaguard, do not match it by distance.
    """
    return quality >= min_quality


def _check_distance(max_distance: int) -> int:
    if isinstance(max_distance, bool) or not isinstance(max_distance, int | np.integer):
        raise TypeError(f"max_distance must be an int, got {type(max_distance).__name__}")
    d = int(max_distance)
    if not 0 <= d <= 256:
        raise ValueError(f"max_distance must be between 0 and 256, got {d}")
    return d


@dataclass(frozen=True, slots=True)
class PDQHits:
    """Flat, vectorised result of a batch query, sorted by (query, distance, id).

    Attributes:
        query: position of the query hash in the batch, per hit.
        ids: entry id, per hit; each (query, id) pair appears once, at its minimum
            distance.
        distances: Hamming distance, per hit.
    """

    query: Int64Array
    ids: Int64Array
    distances: Int64Array

    def __post_init__(self) -> None:
        n = self.query.shape[0]
        if self.ids.shape != (n,) or self.distances.shape != (n,) or self.query.ndim != 1:
            raise ValueError(
                f"PDQHits arrays must be 1-D of equal length, got {self.query.shape}, "
                f"{self.ids.shape}, {self.distances.shape}"
            )

    def per_query(self, n_queries: int) -> list[list[tuple[int, int]]]:
        """Split into one ``[(id, distance), ...]`` list per query."""
        out: list[list[tuple[int, int]]] = [[] for _ in range(n_queries)]
        for q, i, d in zip(
            self.query.tolist(), self.ids.tolist(), self.distances.tolist(), strict=True
        ):
            out[q].append((i, d))
        return out


@dataclass(frozen=True, slots=True)
class DihedralHit:
    """An entry matched by one of an image's dihedral variants.

    Attributes:
        entry_id: the matched id.
        distance: the smallest distance over all variants.
        transform: the variant that gave it (see
            :data:`~mediaguard.signals.hashes.DIHEDRAL_TRANSFORMS`); ties go to the
            earliest variant given, so the original wins.
    """

    entry_id: int
    distance: int
    transform: str | None


def _empty_hits() -> PDQHits:
    e = np.empty(0, dtype=np.int64)
    return PDQHits(e, e.copy(), e.copy())


class PDQIndex:
    """Exact Hamming-radius search over PDQ hashes (see :mod:`.multiindex` for the design).

    Ids are opaque integers chosen by the caller (list-entry ids, or frame numbers for
    video); the same id may be added with several hashes, and a query reports each
    id once, at its smallest distance.

    Example::

        index = PDQIndex.build([1, 2], [hex1, hex2])
        index.query(hex_of_scanned_image)            # [(1, 12)]
    """

    kind: ClassVar[str] = "pdq"

    def __init__(self, *, delta_limit: int = _DELTA_LIMIT) -> None:
        """Create an empty index.

        Args:
            delta_limit: how many rows ``add`` may append before the sorted structure
                is rebuilt. Larger values make bulk ``add`` cheaper and every query
                slower (the delta is searched by brute force).
        """
        if delta_limit < 0:
            raise ValueError(f"delta_limit must be >= 0, got {delta_limit}")
        self._delta_limit = delta_limit
        self._main: Segment | None = None
        self._dcodes = np.empty((0, PDQ_BYTES), dtype=np.uint8)
        self._dids = np.empty(0, dtype=np.int64)
        self._ddead = np.empty(0, dtype=np.bool_)

    # ----------------------------------------------------------------- building

    @classmethod
    def build(
        cls,
        ids: Iterable[int] | npt.NDArray[np.integer[Any]],
        hashes: Iterable[HashLike] | UInt8Array,
        *,
        delta_limit: int = _DELTA_LIMIT,
    ) -> PDQIndex:
        """Build an index from parallel sequences of ids and PDQ hashes.

        Raises:
            HashFormatError: naming the first malformed hash.
            ValueError: when ids and hashes differ in length.
        """
        codes = pdq_codes(hashes)
        id_arr = as_ids(ids, codes.shape[0])
        index = cls(delta_limit=delta_limit)
        index._rebuild(codes, id_arr)
        return index

    def _rebuild(self, codes: UInt8Array, ids: Int64Array) -> None:
        self._main = Segment.build(codes, ids) if codes.shape[0] else None
        self._dcodes = np.empty((0, PDQ_BYTES), dtype=np.uint8)
        self._dids = np.empty(0, dtype=np.int64)
        self._ddead = np.empty(0, dtype=np.bool_)

    def _live(self) -> tuple[UInt8Array, Int64Array]:
        parts_c: list[UInt8Array] = []
        parts_i: list[Int64Array] = []
        if self._main is not None:
            alive = ~self._main.dead
            parts_c.append(self._main.codes[alive])
            parts_i.append(self._main.ids[alive].astype(np.int64))
        alive_d = ~self._ddead
        parts_c.append(self._dcodes[alive_d])
        parts_i.append(self._dids[alive_d])
        return np.concatenate(parts_c), np.concatenate(parts_i)

    def add(
        self,
        ids: Iterable[int] | npt.NDArray[np.integer[Any]],
        hashes: Iterable[HashLike] | UInt8Array,
    ) -> None:
        """Add hashes under the given ids.

        Small additions go to the brute-force delta; once it exceeds ``delta_limit``
        rows the whole index is rebuilt (O(n), seconds at 10M hashes).

        Raises:
            HashFormatError: naming the first malformed hash (nothing is added then).
            ValueError: when ids and hashes differ in length.
        """
        codes = pdq_codes(hashes)
        id_arr = as_ids(ids, codes.shape[0])
        if codes.shape[0] == 0:
            return
        self._dcodes = np.concatenate([self._dcodes, codes])
        self._dids = np.concatenate([self._dids, id_arr])
        self._ddead = np.concatenate([self._ddead, np.zeros(codes.shape[0], dtype=np.bool_)])
        if self._dcodes.shape[0] > self._delta_limit:
            self.compact()

    def remove(self, ids: Iterable[int] | npt.NDArray[np.integer[Any]]) -> int:
        """Tombstone every hash stored under the given ids; returns how many rows went.

        Removal scans the id array (O(n), tens of milliseconds at 10M). Tombstoned
        rows are skipped by queries and dropped at the next rebuild, which happens
        automatically once a quarter of the rows are dead.
        """
        drop = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids))
        if drop.size == 0:
            return 0
        removed = 0
        if self._main is not None:
            hit = np.isin(self._main.ids, drop) & ~self._main.dead
            removed += int(hit.sum())
            self._main.dead |= hit
            self._main.n_dead += int(hit.sum())
        hit_d = np.isin(self._dids, drop) & ~self._ddead
        removed += int(hit_d.sum())
        self._ddead |= hit_d
        main = self._main
        if main is not None and main.n_dead * 4 > main.n:
            self.compact()
        return removed

    def compact(self) -> None:
        """Fold the delta into the sorted structure and drop tombstoned rows."""
        if self._main is None and self._dcodes.shape[0] == 0:
            return
        if self._main is not None and self._main.n_dead == 0 and self._dcodes.shape[0] == 0:
            return
        codes, ids = self._live()
        self._rebuild(codes, ids)

    def __len__(self) -> int:
        main = 0 if self._main is None else self._main.n - self._main.n_dead
        return main + int((~self._ddead).sum())

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (codes, ids, tables, tombstones, delta)."""
        main = 0 if self._main is None else self._main.nbytes
        return main + self._dcodes.nbytes + self._dids.nbytes + self._ddead.nbytes

    # ----------------------------------------------------------------- querying

    def query(
        self, hash: HashLike, max_distance: int = DEFAULT_PDQ_DISTANCE
    ) -> list[tuple[int, int]]:
        """Ids within ``max_distance`` of one hash, as ``(id, distance)`` by distance then id.

        Raises:
            HashFormatError: when ``hash`` is not a PDQ hash.
            ValueError: when ``max_distance`` is outside 0..256.
        """
        codes = pdq_codes([hash])
        return self.query_arrays(codes, max_distance).per_query(1)[0]

    def query_batch(
        self, hashes: Iterable[HashLike] | UInt8Array, max_distance: int = DEFAULT_PDQ_DISTANCE
    ) -> list[list[tuple[int, int]]]:
        """:meth:`query` for many hashes at once (vectorised); one list per hash."""
        codes = pdq_codes(hashes)
        return self.query_arrays(codes, max_distance).per_query(codes.shape[0])

    def query_arrays(self, codes: UInt8Array, max_distance: int = DEFAULT_PDQ_DISTANCE) -> PDQHits:
        """The vectorised core: all hits for an ``(n, 32)`` uint8 array of query codes.

        Queries are processed in blocks sized so that the candidate arrays stay
        around 64k entries: that bounds memory for large batches and keeps the
        working set in cache (larger blocks measured slower).

        Raises:
            ValueError: when ``max_distance`` is outside 0..256.
            HashFormatError: when ``codes`` is not an ``(n, 32)`` uint8 array.
        """
        radius = _check_distance(max_distance)
        codes = pdq_codes(codes)
        nq = int(codes.shape[0])
        if nq == 0:
            return _empty_hits()
        q64 = codes.view(np.uint64)
        parts: list[tuple[Int64Array, Int64Array, Int64Array]] = []
        main = self._main
        if main is not None:
            flips = int(MASK_COUNT[min(radius // CHUNKS, 16)])
            per_query = max(1, CHUNKS * flips * main.n // BUCKETS)
            block = max(1, _CANDIDATE_BLOCK // per_query)
            for lo in range(0, nq, block):
                q, rows, d = main.search(q64[lo : lo + block], radius)
                parts.append((q + lo, np.take(main.ids, rows).astype(np.int64), d))
        if self._dcodes.shape[0]:
            parts.append(self._search_delta(q64, radius))
        return _merge_hits(parts)

    def _search_delta(
        self, q64: npt.NDArray[np.uint64], radius: int
    ) -> tuple[Int64Array, Int64Array, Int64Array]:
        d64 = self._dcodes.view(np.uint64)
        m = int(d64.shape[0])
        block = max(1, _CANDIDATE_BLOCK // max(m, 1))
        qs: list[Int64Array] = []
        rows: list[Int64Array] = []
        ds: list[Int64Array] = []
        for lo in range(0, q64.shape[0], block):
            x = d64[None, :, :] ^ q64[lo : lo + block, None, :]
            dist = popcount_rows(x.reshape(-1, 4)).reshape(x.shape[0], m)
            qi, ri = np.nonzero((dist <= radius) & ~self._ddead[None, :])
            qs.append(qi.astype(np.int64) + lo)
            rows.append(ri.astype(np.int64))
            ds.append(dist[qi, ri].astype(np.int64))
        r = np.concatenate(rows)
        return np.concatenate(qs), self._dids[r], np.concatenate(ds)

    def query_dihedral(
        self,
        variants: Sequence[tuple[str | None, HashLike]],
        max_distance: int = DEFAULT_PDQ_DISTANCE,
    ) -> list[DihedralHit]:
        """Match several variants of one image (e.g. its 8 dihedral hashes) at once.

        Args:
            variants: ``(transform name, hash)`` pairs, e.g. from
                :func:`dihedral_queries`; put the untransformed hash first so it wins
                ties.
            max_distance: the Hamming radius.

        Returns:
            One hit per matched id, at its minimum distance over all variants, with
            the name of the variant that achieved it; sorted by distance then id.
        """
        if not variants:
            return []
        names = [name for name, _ in variants]
        hits = self.query_arrays(pdq_codes([h for _, h in variants]), max_distance)
        # query_arrays sorts by (query, distance, id); re-sort by (id, distance, query)
        # so the first row per id is its best variant, earliest on ties.
        order = np.lexsort((hits.query, hits.distances, hits.ids))
        ids, dist, q = hits.ids[order], hits.distances[order], hits.query[order]
        first = np.ones(ids.shape[0], dtype=np.bool_)
        first[1:] = ids[1:] != ids[:-1]
        out = [
            DihedralHit(int(i), int(d), names[int(k)])
            for i, d, k in zip(ids[first], dist[first], q[first], strict=True)
        ]
        out.sort(key=lambda h: (h.distance, h.entry_id))
        return out

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Compact, then write the index atomically in the versioned container format."""
        self.compact()
        main = self._main
        if main is None:
            arrays: dict[str, npt.NDArray[Any]] = {
                "codes": np.empty((0, PDQ_BYTES), dtype=np.uint8),
                "ids": np.empty(0, dtype=np.int64),
            }
        else:
            arrays = {
                "codes": main.codes,
                "ids": main.ids,
                "offsets": main.offsets,
                "perm_lo": main.perm_lo,
            }
            if main.perm_hi is not None:
                arrays["perm_hi"] = main.perm_hi
        meta = {
            "counts": {"hashes": len(self)},
            "chunks": CHUNKS,
            "chunk_bits": 16,
            "byte_order": "little",
            "delta_limit": self._delta_limit,
        }
        write_container(Path(path), self.kind, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PDQIndex:
        """Read an index written by :meth:`save`, without rebuilding it.

        Structural invariants (shapes, offset monotonicity, permutation ranges) are
        checked, so a file that passes its checksums but was built wrongly is refused
        rather than giving silently wrong answers.

        Raises:
            IndexFormatError: when the file is not a readable PDQ index of this version.
        """
        p = Path(path)
        header, arrays = read_container(
            p, cls.kind, ("codes", "ids"), optional=("offsets", "perm_lo", "perm_hi")
        )
        if header.get("chunks") != CHUNKS or header.get("chunk_bits") != 16:
            raise IndexFormatError(f"{p}: unsupported index layout")
        codes, ids = arrays["codes"], arrays["ids"]
        n = int(codes.shape[0])
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != PDQ_BYTES:
            raise IndexFormatError(f"{p}: codes have shape {codes.shape}")
        if ids.shape != (n,) or ids.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise IndexFormatError(f"{p}: ids do not match codes")
        delta_limit = header.get("delta_limit", _DELTA_LIMIT)
        if not isinstance(delta_limit, int) or delta_limit < 0:
            raise IndexFormatError(f"{p}: bad delta_limit")
        index = cls(delta_limit=delta_limit)
        if n == 0:
            return index
        if "offsets" not in arrays or "perm_lo" not in arrays:
            raise IndexFormatError(f"{p}: lookup tables are missing")
        offsets, perm_lo = arrays["offsets"], arrays["perm_lo"]
        perm_hi = arrays.get("perm_hi")
        check_structure(p, codes, offsets, perm_lo, perm_hi)
        index._main = Segment(codes, ids, offsets, perm_lo, perm_hi)
        return index


def _merge_hits(parts: list[tuple[Int64Array, Int64Array, Int64Array]]) -> PDQHits:
    """Concatenate hit parts, keep each (query, id) once at its minimum distance, sort."""
    parts = [p for p in parts if p[0].size]
    if not parts:
        return _empty_hits()
    q = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    d = np.concatenate([p[2] for p in parts])
    order = np.lexsort((d, ids, q))
    q, ids, d = q[order], ids[order], d[order]
    first = np.ones(q.shape[0], dtype=np.bool_)
    first[1:] = (q[1:] != q[:-1]) | (ids[1:] != ids[:-1])
    q, ids, d = q[first], ids[first], d[first]
    order = np.lexsort((ids, d, q))
    return PDQHits(q[order], ids[order], d[order])
