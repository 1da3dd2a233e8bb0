"""In-memory indexes over hash lists: exact (MD5, SHA-256) and PDQ (Hamming radius).

Design note: the index is separate from the hash type. Each index only knows integer
ids and fixed-length codes; which list an id belongs to, its category and its
per-list distance live with the caller (the store and the matcher), so one index can
serve many lists: query once at the largest distance any list allows, then filter per
list. Every index has ``build``/``add``/``remove``/``query``/``save``/``load``.

**PDQIndex** is an exact multi-index hash (Norouzi et al., "Fast exact search in
Hamming space with multi-index hashing"), written in numpy:

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
  per hash, plus a fixed 4 MiB of offset tables. That misses the project's 64 B goal:
  any exact sub-linear layout needs >= 8 chunk tables with a row pointer of >= 24 bits
  each at 10M rows, which leaves no room to locate 32-bit keys; only a linear scan fits
  (see ``docs/hash-lists.md``).
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

**Persistence** is a single zip file (stored, not compressed) with ``header.json``
(format, kind, version, counts, per-array dtype, shape and SHA-256) and one ``.npy``
member per array, read with ``allow_pickle=False``. Writes go to a temporary file in
the same directory, are fsynced and renamed over the target, so a crash never leaves a
half-written index. Unknown versions, missing members, mismatched shapes and checksum
failures raise :class:`IndexFormatError`. Never pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from mediaguard.match.types import HEX_LENGTHS, HashFormatError, IndexFormatError, SignalType
from mediaguard.signals.hashes import DIHEDRAL_TRANSFORMS, MIN_PDQ_QUALITY, bits_to_hex

__all__ = [
    "DEFAULT_PDQ_DISTANCE",
    "DIHEDRAL_TRANSFORMS",
    "INDEX_FORMAT",
    "INDEX_VERSION",
    "MIN_PDQ_QUALITY",
    "DihedralHit",
    "ExactIndex",
    "PDQHits",
    "PDQIndex",
    "codes_to_hex",
    "dihedral_queries",
    "pdq_bits_to_hex",
    "pdq_codes",
    "pdq_quality_ok",
]

#: Hamming distance at or below which two PDQ hashes are the same picture (Meta's value).
DEFAULT_PDQ_DISTANCE: Final = 31
#: Name of the on-disk container format, and the only version this code reads.
INDEX_FORMAT: Final = "mediaguard-index"
INDEX_VERSION: Final = 1


PDQ_BYTES: Final = 32
_CHUNKS: Final = 16
_BUCKETS: Final = 1 << 16
_DELTA_LIMIT: Final = 16384
# Query blocks are sized so that the candidate arrays stay around this many entries.
_CANDIDATE_BLOCK: Final = 1 << 16

UInt8Array: TypeAlias = npt.NDArray[np.uint8]
Int64Array: TypeAlias = npt.NDArray[np.int64]
HashLike: TypeAlias = str | bytes | bytearray | memoryview | UInt8Array

# All 16-bit masks ordered by popcount: the first _MASK_COUNT[r] are those with <= r bits.
_bits16 = np.bitwise_count(np.arange(_BUCKETS, dtype=np.uint16))
_FLIP_MASKS: Final = np.argsort(_bits16, kind="stable").astype(np.int64)
_MASK_COUNT: Final = np.concatenate(([0], np.cumsum(np.bincount(_bits16, minlength=17))))[1:]
del _bits16

_HEX_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_LUT[_c] = _i + 10
del _i, _c


def pdq_quality_ok(quality: int, min_quality: int = MIN_PDQ_QUALITY) -> bool:
    """Whether a PDQ hash of this quality may be matched perceptually.

    PDQ's quality (0-100) measures how much gradient the image has. Below 50 the hash
    of a flat, dark or tiny image is dominated by noise and lands within distance 31 of
    unrelated hashes, so Meta's tools, and mediaguard, do not match it by distance.
    """
    return quality >= min_quality


def pdq_bits_to_hex(bits: npt.ArrayLike) -> str:
    """Convert ``pdqhash.compute``'s 256 0/1 values to the ThreatExchange hex string.

    The bit order is the one ThreatExchange's hasher uses: bit 0 is the most
    significant bit of the first hex digit.

    Raises:
        HashFormatError: when ``bits`` is not 256 zeros and ones.
    """
    arr = np.asarray(bits)
    if arr.shape != (256,) or not np.isin(arr, (0, 1)).all():
        raise HashFormatError(f"expected 256 PDQ bits of 0/1, got shape {arr.shape}")
    return bits_to_hex(arr)


def dihedral_queries(hash_vectors: Sequence[npt.ArrayLike]) -> list[tuple[str | None, bytes]]:
    """Pair the 8 outputs of ``pdqhash.compute_dihedral`` with their transform names.

    Raises:
        HashFormatError: when there are not 8 bit vectors of 256 bits.
    """
    if len(hash_vectors) != len(DIHEDRAL_TRANSFORMS):
        raise HashFormatError(f"expected 8 dihedral hashes, got {len(hash_vectors)}")
    return [
        (name, bytes.fromhex(pdq_bits_to_hex(bits)))
        for name, bits in zip(DIHEDRAL_TRANSFORMS, hash_vectors, strict=True)
    ]


def _hex_codes(values: Sequence[str], nbytes: int, what: str) -> UInt8Array:
    n = len(values)
    if n == 0:
        return np.empty((0, nbytes), dtype=np.uint8)
    width = 2 * nbytes
    for i, v in enumerate(values):
        if len(v) != width:
            raise HashFormatError(
                f"invalid {what} hash at position {i}: expected {width} hex digits, "
                f"got {len(v)} characters"
            )
    try:
        raw = np.frombuffer("".join(values).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise HashFormatError(f"invalid {what} hash: non-ASCII characters") from None
    nib = _HEX_LUT[raw]
    bad = np.flatnonzero(nib == 255)
    if bad.size:
        pos = int(bad[0]) // width
        raise HashFormatError(
            f"invalid {what} hash at position {pos}: {values[pos]!r} is not hex (0-9, a-f)"
        )
    nib = nib.reshape(n, nbytes, 2)
    out = (nib[:, :, 0] << np.uint8(4)) | nib[:, :, 1]
    return np.ascontiguousarray(out, dtype=np.uint8)


def _byte_codes(values: Any, nbytes: int, what: str) -> UInt8Array:
    """Codes from hex strings, raw bytes or a ``(n, nbytes)`` uint8 array."""
    if isinstance(values, np.ndarray):
        if values.dtype != np.uint8 or values.ndim != 2 or values.shape[1] != nbytes:
            raise HashFormatError(
                f"expected a (n, {nbytes}) uint8 array of {what} codes, "
                f"got {values.dtype} {values.shape}"
            )
        return np.ascontiguousarray(values)
    seq = list(values)
    if all(isinstance(v, str) for v in seq):
        return _hex_codes(seq, nbytes, what)
    out = np.empty((len(seq), nbytes), dtype=np.uint8)
    for i, v in enumerate(seq):
        if isinstance(v, str):
            out[i] = _hex_codes([v], nbytes, what)[0]
        elif isinstance(v, bytes | bytearray | memoryview) and len(v) == nbytes:
            out[i] = np.frombuffer(bytes(v), dtype=np.uint8)
        elif isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.shape == (nbytes,):
            out[i] = v
        else:
            raise HashFormatError(
                f"invalid {what} hash at position {i}: expected {2 * nbytes} hex digits "
                f"or {nbytes} raw bytes"
            )
    return out


def pdq_codes(hashes: Iterable[HashLike] | UInt8Array) -> UInt8Array:
    """Convert PDQ hashes (hex strings, 32 raw bytes, or uint8 rows) to an ``(n, 32)`` array.

    Hex decoding is vectorised, so 10M hashes convert in about a second.

    Raises:
        HashFormatError: naming the first malformed hash and what was expected.
    """
    return _byte_codes(hashes, PDQ_BYTES, "pdq")


def codes_to_hex(codes: UInt8Array) -> list[str]:
    """The lowercase hex strings of an ``(n, k)`` uint8 code array."""
    return [row.tobytes().hex() for row in codes]


def _as_ids(ids: Iterable[int] | npt.NDArray[np.integer[Any]], n: int) -> Int64Array:
    arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"expected {n} integer ids, got {arr.dtype} {arr.shape}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in a signed 64-bit integer")
    return arr.astype(np.int64, copy=False)


def _compact_ids(ids: Int64Array) -> npt.NDArray[np.int32] | Int64Array:
    """Store ids in 4 bytes when they fit: store ids are small and this saves 4 B/hash."""
    info = np.iinfo(np.int32)
    if ids.size == 0 or (int(ids.min()) >= info.min and int(ids.max()) <= info.max):
        return ids.astype(np.int32)
    return ids


def _check_distance(max_distance: int) -> int:
    if isinstance(max_distance, bool) or not isinstance(max_distance, int | np.integer):
        raise TypeError(f"max_distance must be an int, got {type(max_distance).__name__}")
    d = int(max_distance)
    if not 0 <= d <= 256:
        raise ValueError(f"max_distance must be between 0 and 256, got {d}")
    return d


def _popcount_rows(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """Hamming weight of each row of an ``(n, 4)`` uint64 array, as uint32.

    ``bitwise_count(...).sum(axis=1)`` reduces along a 4-wide axis, which numpy does
    slowly; summing the four per-word counts as bytes of one uint32 is 3-4x faster.
    """
    pc = np.bitwise_count(x)  # (n, 4) uint8, each <= 64
    v = pc.view(np.uint32).reshape(-1)
    s = (v & 0x00FF00FF) + ((v >> 8) & 0x00FF00FF)
    out: npt.NDArray[np.uint32] = (s & 0xFFFF) + (s >> 16)
    return out


# --------------------------------------------------------------------------- persistence


def _sha256(arr: npt.NDArray[Any]) -> str:
    # Hash the array's own buffer (reshaped flat, no copy) rather than a tobytes() copy.
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return hashlib.sha256(flat.data).hexdigest()


def write_container(
    path: Path, kind: str, meta: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]
) -> None:
    """Write arrays plus a JSON header atomically (temp file, fsync, rename)."""
    path = Path(path)
    header = {
        "format": INDEX_FORMAT,
        "kind": kind,
        "version": INDEX_VERSION,
        **meta,
        "arrays": {
            name: {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": _sha256(arr)}
            for name, arr in arrays.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr("header.json", json.dumps(header, indent=1, sort_keys=True))
                for name, arr in arrays.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(
                            member, np.ascontiguousarray(arr), allow_pickle=False
                        )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_container(
    path: Path, kind: str, names: Sequence[str], optional: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Read and verify a container written by :func:`write_container`.

    ``names`` must be present; ``optional`` arrays are read when the header lists them.

    Raises:
        IndexFormatError: on any unreadable, unknown, mismatched or corrupt content.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path, "r") as zf:
            try:
                header = json.loads(zf.read("header.json"))
            except KeyError:
                raise IndexFormatError(f"{path}: not a mediaguard index (no header)") from None
            if not isinstance(header, dict) or header.get("format") != INDEX_FORMAT:
                raise IndexFormatError(f"{path}: not a mediaguard index file")
            if header.get("kind") != kind:
                raise IndexFormatError(
                    f"{path}: holds a {header.get('kind')!r} index, expected {kind!r}"
                )
            if header.get("version") != INDEX_VERSION:
                raise IndexFormatError(
                    f"{path}: index format version {header.get('version')!r} is not "
                    f"supported (this mediaguard reads version {INDEX_VERSION}); rebuild "
                    "the index from the hash lists"
                )
            specs = header.get("arrays")
            if not isinstance(specs, dict):
                raise IndexFormatError(f"{path}: header has no array table")
            arrays: dict[str, npt.NDArray[Any]] = {}
            for name in [*names, *(o for o in optional if o in specs)]:
                spec = specs.get(name)
                if not isinstance(spec, dict):
                    raise IndexFormatError(f"{path}: array {name!r} is missing")
                dtype = np.dtype(spec["dtype"])
                shape = tuple(int(s) for s in spec["shape"])
                info = zf.getinfo(f"{name}.npy")
                if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > info.file_size:
                    raise IndexFormatError(f"{path}: array {name!r} is truncated")
                with zf.open(info) as member:
                    arr = np.lib.format.read_array(member, allow_pickle=False)
                if arr.dtype != dtype or arr.shape != shape:
                    raise IndexFormatError(
                        f"{path}: array {name!r} is {arr.dtype} {arr.shape}, header says "
                        f"{dtype} {shape}"
                    )
                if _sha256(arr) != spec["sha256"]:
                    raise IndexFormatError(f"{path}: array {name!r} fails its checksum")
                arrays[name] = arr
            return header, arrays
    except IndexFormatError:
        raise
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError) as err:
        raise IndexFormatError(f"{path}: cannot read index: {err}") from err


# --------------------------------------------------------------------------- exact


class ExactIndex:
    """Exact lookup of MD5 or SHA-256 digests: value -> entry ids.

    A dict keyed by the raw digest bytes. At 10M digests this costs roughly
    150-200 bytes per entry in CPython; exact lists (GIFCT's is ~370k) are far
    smaller than that in practice. ``remove`` scans the dict (O(n)) because keeping a
    reverse map would double the memory for an operation that is rare.
    """

    kind: ClassVar[str] = "exact"

    def __init__(self, signal: SignalType | str) -> None:
        sig = SignalType(signal)
        if sig not in (SignalType.MD5, SignalType.SHA256):
            raise ValueError(f"ExactIndex holds md5 or sha256 hashes, not {sig.value}")
        self.signal = sig
        self._nbytes = HEX_LENGTHS[sig] // 2
        self._map: dict[bytes, list[int]] = {}
        self._count = 0

    @classmethod
    def build(
        cls,
        signal: SignalType | str,
        ids: Iterable[int] | npt.NDArray[np.integer[Any]],
        values: Iterable[HashLike] | UInt8Array,
    ) -> ExactIndex:
        """Build an index from parallel sequences of entry ids and digests."""
        index = cls(signal)
        index.add(ids, values)
        return index

    def __len__(self) -> int:
        return self._count

    def _codes(self, values: Iterable[HashLike] | UInt8Array) -> UInt8Array:
        return _byte_codes(values, self._nbytes, self.signal.value)

    def add(
        self,
        ids: Iterable[int] | npt.NDArray[np.integer[Any]],
        values: Iterable[HashLike] | UInt8Array,
    ) -> None:
        """Add digests; an id may carry several digests and a digest several ids.

        Raises:
            HashFormatError: when a digest is malformed (nothing is added then).
            ValueError: when ids and values differ in length.
        """
        codes = self._codes(values)
        id_arr = _as_ids(ids, codes.shape[0])
        for key, entry in zip(codes, id_arr.tolist(), strict=True):
            bucket = self._map.setdefault(key.tobytes(), [])
            if entry not in bucket:
                bucket.append(entry)
                self._count += 1

    def remove(self, ids: Iterable[int]) -> int:
        """Remove every digest of the given ids; returns how many pairs went."""
        drop = {int(i) for i in ids}
        removed = 0
        for key in list(self._map):
            bucket = self._map[key]
            kept = [i for i in bucket if i not in drop]
            removed += len(bucket) - len(kept)
            if kept:
                self._map[key] = kept
            else:
                del self._map[key]
        self._count -= removed
        return removed

    def query(self, value: HashLike) -> list[int]:
        """Entry ids whose digest equals ``value`` (hex or raw bytes), in insertion order."""
        key = self._codes([value])[0].tobytes()
        return list(self._map.get(key, ()))

    def query_batch(self, values: Iterable[HashLike] | UInt8Array) -> list[list[int]]:
        """:meth:`query` for many values at once."""
        return [list(self._map.get(k.tobytes(), ())) for k in self._codes(values)]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index atomically in the versioned container format."""
        keys = np.empty((self._count, self._nbytes), dtype=np.uint8)
        ids = np.empty(self._count, dtype=np.int64)
        row = 0
        for key, bucket in self._map.items():
            for entry in bucket:
                keys[row] = np.frombuffer(key, dtype=np.uint8)
                ids[row] = entry
                row += 1
        write_container(
            Path(path),
            self.kind,
            {"signal": self.signal.value, "counts": {"entries": self._count}},
            {"keys": keys, "ids": ids},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ExactIndex:
        """Read an index written by :meth:`save`.

        Raises:
            IndexFormatError: when the file is not a readable exact index of this version.
        """
        header, arrays = read_container(Path(path), cls.kind, ("keys", "ids"))
        try:
            signal = SignalType(header["signal"])
            index = cls(signal)
        except (KeyError, ValueError) as err:
            raise IndexFormatError(f"{path}: bad signal type in header") from err
        keys, ids = arrays["keys"], arrays["ids"]
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != index._nbytes:
            raise IndexFormatError(f"{path}: keys have shape {keys.shape}")
        if ids.shape != (keys.shape[0],) or ids.dtype != np.int64:
            raise IndexFormatError(f"{path}: ids do not match keys")
        index.add(ids, keys)
        return index


# --------------------------------------------------------------------------- PDQ


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
        transform: the variant that gave it (see :data:`DIHEDRAL_TRANSFORMS`);
            ties go to the earliest variant given, so the original wins.
    """

    entry_id: int
    distance: int
    transform: str | None


def _empty_hits() -> PDQHits:
    e = np.empty(0, dtype=np.int64)
    return PDQHits(e, e.copy(), e.copy())


class _Segment:
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
    def build(cls, codes: UInt8Array, ids: Int64Array) -> _Segment:
        n = int(codes.shape[0])
        order = np.argsort(codes.view("<u2")[:, 0], kind="stable")
        codes = np.take(codes, order, axis=0)
        sorted_ids = _compact_ids(np.take(ids, order))
        del order
        keys = codes.view("<u2")
        off_dtype = np.int32 if n < 2**31 else np.int64
        offsets = np.zeros((_CHUNKS, _BUCKETS + 1), dtype=off_dtype)
        perm_lo = np.empty((_CHUNKS - 1, n), dtype=np.uint16)
        hi_dtype: type[np.unsignedinteger[Any]] | None = (
            None if n <= 1 << 16 else np.uint8 if n <= 1 << 24 else np.uint16
        )
        perm_hi = None if hi_dtype is None else np.empty((_CHUNKS - 1, n), dtype=hi_dtype)
        for c in range(_CHUNKS):
            col = np.ascontiguousarray(keys[:, c])
            np.cumsum(np.bincount(col, minlength=_BUCKETS), out=offsets[c, 1:])
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
        masks = _FLIP_MASKS[: _MASK_COUNT[min(radius // _CHUNKS, 16)]]
        p = int(masks.shape[0])
        qkeys = q64.view("<u2").astype(np.int64)  # (b, 16)
        probes = qkeys.T[:, :, None] ^ masks[None, None, :]  # (16, b, p)
        chunk = np.arange(_CHUNKS)[:, None, None]
        starts = self.offsets[chunk, probes].astype(np.int64)
        lens = (self.offsets[chunk, probes + 1] - starts).reshape(-1)
        ends = np.cumsum(lens)
        total = int(ends[-1])
        if total == 0:
            e = np.empty(0, dtype=np.int64)
            return e, e.copy(), e.copy()
        # Chunk c >= 1 reads its permutation at (c - 1) * n + position.
        starts[1:] += (np.arange(_CHUNKS - 1, dtype=np.int64) * n)[:, None, None]
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
        if b == 1:
            cand ^= q64[0]
            qidx = None
        else:
            qseg = np.broadcast_to(np.arange(b, dtype=np.int64)[None, :, None], (_CHUNKS, b, p))
            qidx = np.repeat(qseg.reshape(-1), lens)
            cand ^= np.take(q64, qidx, axis=0)
        dist = _popcount_rows(cand)
        keep = np.flatnonzero(dist <= radius)
        hit_rows = rows[keep]
        hit_q = np.zeros(keep.size, dtype=np.int64) if qidx is None else qidx[keep]
        hit_d = dist[keep].astype(np.int64)
        if self.n_dead and hit_rows.size:
            alive = ~self.dead[hit_rows]
            hit_rows, hit_q, hit_d = hit_rows[alive], hit_q[alive], hit_d[alive]
        return hit_q, hit_rows, hit_d


class PDQIndex:
    """Exact Hamming-radius search over PDQ hashes (see the module note for the design).

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
        self._main: _Segment | None = None
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
        id_arr = _as_ids(ids, codes.shape[0])
        index = cls(delta_limit=delta_limit)
        index._rebuild(codes, id_arr)
        return index

    def _rebuild(self, codes: UInt8Array, ids: Int64Array) -> None:
        self._main = _Segment.build(codes, ids) if codes.shape[0] else None
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
        id_arr = _as_ids(ids, codes.shape[0])
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
            flips = int(_MASK_COUNT[min(radius // _CHUNKS, 16)])
            per_query = max(1, _CHUNKS * flips * main.n // _BUCKETS)
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
            dist = _popcount_rows(x.reshape(-1, 4)).reshape(x.shape[0], m)
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
            "chunks": _CHUNKS,
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
        if header.get("chunks") != _CHUNKS or header.get("chunk_bits") != 16:
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
        _check_structure(p, codes, offsets, perm_lo, perm_hi)
        index._main = _Segment(codes, ids, offsets, perm_lo, perm_hi)
        return index


def _check_structure(
    path: Path,
    codes: UInt8Array,
    offsets: npt.NDArray[Any],
    perm_lo: npt.NDArray[Any],
    perm_hi: npt.NDArray[Any] | None,
) -> None:
    n = int(codes.shape[0])
    if offsets.shape != (_CHUNKS, _BUCKETS + 1) or not np.issubdtype(offsets.dtype, np.integer):
        raise IndexFormatError(f"{path}: offset table has shape {offsets.shape}")
    if (offsets[:, 0] != 0).any() or (offsets[:, -1] != n).any() or (np.diff(offsets) < 0).any():
        raise IndexFormatError(f"{path}: offset table is inconsistent with {n} rows")
    if perm_lo.shape != (_CHUNKS - 1, n) or perm_lo.dtype != np.uint16:
        raise IndexFormatError(f"{path}: permutation table has shape {perm_lo.shape}")
    if perm_hi is not None:
        if perm_hi.shape != (_CHUNKS - 1, n) or perm_hi.dtype not in (
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
    expected = np.bincount(k0, minlength=_BUCKETS)
    if not np.array_equal(np.diff(offsets[0]), expected):
        raise IndexFormatError(f"{path}: offset table does not match the codes")


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
