"""The exact index: MD5 and SHA-256 digests to entry ids.

Why separate: exact matching is a dictionary lookup with none of the PDQ index's
machinery (chunk tables, deltas, tombstones, radii), and exact lists stay small next to
perceptual ones, so it is kept plain. It shares only the value parsing
(:mod:`.codes`) and the file format (:mod:`.container`) with the PDQ index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from mediaguard.match.index.codes import HashLike, UInt8Array, as_ids, byte_codes
from mediaguard.match.index.container import read_container, write_container
from mediaguard.match.types import HEX_LENGTHS, IndexFormatError, SignalType

__all__ = ["ExactIndex"]


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
        return byte_codes(values, self._nbytes, self.signal.value)

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
        id_arr = as_ids(ids, codes.shape[0])
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
