"""The mixed corpus the engines are compared on: real photos, other formats, damage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: What scanning :func:`write_corpus`'s files gives, by result kind.
CORPUS_KINDS = {"Verdict": 9, "CorruptMedia": 1, "UnreadableSource": 1}


def write_corpus(folder: Path, photos: Any) -> list[Path]:
    """Real photos as shipped and re-encoded, plus a corrupt file and a missing path."""
    paths: list[Path] = []
    for name in ("astronaut", "camera", "coffee", "chelsea", "rocket", "grace_hopper"):
        shipped = folder / f"{name}.orig"
        shipped.write_bytes(photos.file(name))
        paths.append(shipped)
    for name, fmt in [("chelsea", "webp"), ("coffee", "heif"), ("astronaut", "gif")]:
        path = folder / f"{name}.{fmt}"
        path.write_bytes(photos.encode(photos.pixels(name), fmt))
        paths.append(path)
    cut = folder / "rocket-truncated.jpg"
    cut.write_bytes(photos.file("rocket")[:5000])
    paths += [cut, folder / "missing.jpg"]
    return paths
