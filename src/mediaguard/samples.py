"""Build a sample set of real photographs that installed packages ship.

Design note: the demo must scan real media, not pictures drawn by the project, and it
must work offline. scikit-image and matplotlib ship a handful of real photographs (and
one real animated GIF) inside their wheels; this module copies them into a folder, and
re-encodes a few into WebP and HEIF so the demo also exercises formats that are not in
those packages. Install with ``pip install 'mediaguard[samples]'``.
"""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path

from PIL import Image

from mediaguard.errors import ConfigError

# (package, file inside the package's data folder)
_SKIMAGE = (
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "no_time_for_that_tiny.gif",
)
_REENCODE = {"chelsea.png": "WEBP", "coffee.png": "HEIF"}


def _package_dir(module: str, *parts: str) -> Path:
    spec = find_spec(module)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"the sample photos need the {module.split('.')[0]!r} package: "
            "pip install 'mediaguard[samples]'"
        )
    return Path(spec.origin).parent.joinpath(*parts)


def build(target: Path) -> list[Path]:
    """Copy the packaged photos into ``target`` and return the files written.

    Raises:
        ConfigError: when scikit-image or matplotlib is not installed.
    """
    target.mkdir(parents=True, exist_ok=True)
    skimage_data = _package_dir("skimage.data")
    mpl_data = _package_dir("matplotlib", "mpl-data", "sample_data")
    written = []
    for name in _SKIMAGE:
        written.append(Path(shutil.copy2(skimage_data / name, target / name)))
    written.append(Path(shutil.copy2(mpl_data / "grace_hopper.jpg", target / "grace_hopper.jpg")))
    for name, fmt in _REENCODE.items():
        if fmt == "HEIF":
            from pillow_heif import register_heif_opener

            register_heif_opener()
        out = target / f"{Path(name).stem}.{fmt.lower()}"
        with Image.open(skimage_data / name) as image:
            image.convert("RGB").save(out, format=fmt, quality=85)
        written.append(out)
    return sorted(written)
