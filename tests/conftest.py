"""Real photographs shared by every test suite.

The photos are files shipped inside scikit-image (``skimage/data``) and matplotlib
(``mpl-data/sample_data``), the packages of the ``samples`` extra. They are read straight
from the installed package with ``importlib.resources`` rather than through the
packages' loaders, so no test can reach for the network: a missing file is an error, not
a download.
"""

from __future__ import annotations

import io
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

Photo = npt.NDArray[np.uint8]

#: Photo name -> (package, file). All are real photographs, not drawings.
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage.data", "astronaut.png"),
    "camera": ("skimage.data", "camera.png"),
    "coffee": ("skimage.data", "coffee.png"),
    "chelsea": ("skimage.data", "chelsea.png"),
    "rocket": ("skimage.data", "rocket.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}

#: Format name as mediaguard's sniffer reports it -> Pillow's writer name.
IMAGE_WRITERS: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
    "heif": "HEIF",
    "avif": "AVIF",
}


@cache
def photo_file(name: str) -> bytes:
    """The encoded bytes of a shipped photo, exactly as the package ships them."""
    package, path = PHOTOS[name]
    return files(package).joinpath(path).read_bytes()


@cache
def photo_pixels(name: str) -> Photo:
    """A shipped photo as a read-only H x W x 3 RGB uint8 array (greyscale is expanded)."""
    with Image.open(io.BytesIO(photo_file(name))) as img:
        pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
    pixels.setflags(write=False)
    return pixels


def encode_image(pixels: Photo | Image.Image, fmt: str, **options: object) -> bytes:
    """Encode pixels in memory as ``fmt`` (a sniffer format name such as ``"heif"``).

    HEIF is written through pillow-heif's own API so that tests never register its
    Pillow opener: the code under test must do that itself.
    """
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    out = io.BytesIO()
    if fmt == "heif":
        import pillow_heif

        pillow_heif.from_pillow(img).save(out, **options)
    else:
        img.save(out, IMAGE_WRITERS[fmt], **options)
    return out.getvalue()


class Photos:
    """The helpers above, handed to suites as the ``photos`` fixture.

    Test packages cannot import this conftest, so they reach the photos through it.
    """

    @staticmethod
    def file(name: str) -> bytes:
        return photo_file(name)

    @staticmethod
    def pixels(name: str) -> Photo:
        return photo_pixels(name)

    @staticmethod
    def encode(pixels: Photo | Image.Image, fmt: str, **options: object) -> bytes:
        return encode_image(pixels, fmt, **options)


@pytest.fixture(scope="session")
def photos() -> Photos:
    """Shipped photos by name, as bytes or pixels, and an in-memory encoder."""
    return Photos()


@pytest.fixture
def photo_rgb() -> Photo:
    """The astronaut photo (512 x 512, RGB): a face, skin, fabric and a flag."""
    return photo_pixels("astronaut")


@pytest.fixture
def photo_jpeg_bytes() -> bytes:
    """A real camera JPEG (Grace Hopper, 512 x 600) as the package ships it."""
    return photo_file("grace_hopper")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test's database, indexes and spool out of the user's data directory."""
    data = tmp_path / "mediaguard-data"
    monkeypatch.setenv("MEDIAGUARD_DATA_DIR", str(data))
    monkeypatch.delenv("MEDIAGUARD_DATABASE_URL", raising=False)
    return data
