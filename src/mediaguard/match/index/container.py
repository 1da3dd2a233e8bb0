"""The persisted index format: one versioned, checksummed container file per index.

Why separate: the on-disk format is a contract of its own. Indexes written by one
mediaguard are read by another (the list matcher caches them on disk, and the vPDQ index
uses the same container), so the format changes only deliberately, with its version; how
an index searches can change without touching it.

An index is a single zip file (stored, not compressed) with ``header.json`` (format,
kind, version, counts, per-array dtype, shape and SHA-256) and one ``.npy`` member per
array, read with ``allow_pickle=False``. Writes go to a temporary file in the same
directory, are fsynced and renamed over the target, so a crash never leaves a
half-written index. Unknown versions, missing members, mismatched shapes and checksum
failures raise :class:`~mediaguard.match.types.IndexFormatError`. Never pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from mediaguard.match.types import IndexFormatError

__all__ = ["INDEX_FORMAT", "INDEX_VERSION", "read_container", "write_container"]

#: Name of the on-disk container format, and the only version this code reads.
INDEX_FORMAT: Final = "mediaguard-index"
INDEX_VERSION: Final = 1


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
