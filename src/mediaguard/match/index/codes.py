"""Hash values as fixed-width byte codes: what every index stores and is queried with.

Why separate: both indexes, the vPDQ index and the callers that hash pictures turn hash
values (hex strings, raw digests, ``pdqhash``'s 0/1 vectors, ``(n, k)`` uint8 arrays)
into one contiguous ``(n, k)`` uint8 array and check ids the same way. Parsing is
vectorised and reports the first malformed value by position, so a bad list line is
named rather than silently mis-indexed; none of this depends on how an index searches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from mediaguard.match.types import HashFormatError
from mediaguard.signals.hashes import DIHEDRAL_TRANSFORMS, bits_to_hex

__all__ = [
    "PDQ_BYTES",
    "HashLike",
    "Int64Array",
    "UInt8Array",
    "as_ids",
    "byte_codes",
    "codes_to_hex",
    "dihedral_queries",
    "pdq_bits_to_hex",
    "pdq_codes",
]

#: Bytes of one PDQ hash (256 bits).
PDQ_BYTES: Final = 32

UInt8Array: TypeAlias = npt.NDArray[np.uint8]
Int64Array: TypeAlias = npt.NDArray[np.int64]
HashLike: TypeAlias = str | bytes | bytearray | memoryview | UInt8Array

_HEX_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_LUT[_c] = _i + 10
del _i, _c


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


def byte_codes(values: Any, nbytes: int, what: str) -> UInt8Array:
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
    return byte_codes(hashes, PDQ_BYTES, "pdq")


def codes_to_hex(codes: UInt8Array) -> list[str]:
    """The lowercase hex strings of an ``(n, k)`` uint8 code array."""
    return [row.tobytes().hex() for row in codes]


def as_ids(ids: Iterable[int] | npt.NDArray[np.integer[Any]], n: int) -> Int64Array:
    arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"expected {n} integer ids, got {arr.dtype} {arr.shape}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in a signed 64-bit integer")
    return arr.astype(np.int64, copy=False)
