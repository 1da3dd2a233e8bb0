"""Decoding: every format to upright RGB at working size, colour modes, animations."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from mediaguard.media import DecodedMedia, Limits, load

from . import builders
from .builders import PhotoSource

Pixels = npt.NDArray[np.uint8]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)

#: Mean absolute difference per channel (0-255) allowed against a Pillow reference:
#: lossless formats match to resampling noise, lossy ones to their codec's error.
TOLERANCE = {
    "jpeg": 6.0,
    "png": 1.0,
    "webp": 4.0,
    "gif": 10.0,
    "bmp": 1.0,
    "tiff": 1.0,
    "heif": 6.0,
    "avif": 6.0,
}


def _mean_error(actual: Pixels, expected: Pixels) -> float:
    assert actual.shape == expected.shape
    return float(np.abs(actual.astype(np.int16) - expected.astype(np.int16)).mean())


def _reference(pixels: Pixels | Image.Image, size: tuple[int, int]) -> Pixels:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    return np.asarray(img.convert("RGB").resize(size, Image.Resampling.LANCZOS))


def _only_frame(decoded: DecodedMedia) -> Pixels:
    assert len(decoded.frames) == 1
    return decoded.frames[0].pixels


@pytest.mark.parametrize("fmt", [pytest.param(name, id=name) for name in TOLERANCE])
def test_each_format_decodes_to_rgb_at_working_size(photos: PhotoSource, fmt: str) -> None:
    source = photos.pixels("coffee")  # 600 x 400
    data = photos.encode(source, fmt)

    decoded = load(data, Limits(), working_size=300)

    frame = decoded.frames[0]
    assert decoded.facts.format.name == fmt
    assert (decoded.facts.width, decoded.facts.height) == (600, 400)
    assert (decoded.facts.frame_count, decoded.facts.animated) == (1, False)
    assert decoded.facts.size_bytes == len(data)
    assert (frame.index, frame.time, frame.scale) == (0, None, 2.0)
    assert frame.pixels.shape == (200, 300, 3)
    assert frame.pixels.dtype == np.uint8
    assert not frame.pixels.flags.writeable
    assert _mean_error(frame.pixels, _reference(source, (300, 200))) < TOLERANCE[fmt]


def test_working_size_defaults_to_the_limit(photo_rgb: Pixels, photos: PhotoSource) -> None:
    decoded = load(photos.encode(photo_rgb, "png"), Limits(working_size=128))

    assert _only_frame(decoded).shape == (128, 128, 3)


def test_small_image_is_never_upscaled(photos: PhotoSource) -> None:
    small = np.asarray(Image.fromarray(photos.pixels("chelsea")).resize((100, 66)))

    decoded = load(photos.encode(small, "png"), Limits(), working_size=512)

    assert _only_frame(decoded).shape == (66, 100, 3)
    assert decoded.frames[0].scale == 1.0
    assert np.array_equal(decoded.frames[0].pixels, small)


def test_jpeg_is_decoded_once_at_a_reduced_dct_scale(
    photos: PhotoSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = Image.fromarray(photos.pixels("rocket")).resize((2560, 1708))
    data = photos.encode(big, "jpeg", quality=92)
    drafts: list[tuple[tuple[int, int] | None, tuple[int, int]]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(
        self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None
    ) -> tuple[str, tuple[int, int, float, float]] | None:
        result = draft(self, mode, size)
        drafts.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)

    decoded = load(data, Limits(), working_size=512)

    # Asked for the working size; libjpeg decoded at 1/4 (640 x 427), never at full size.
    assert drafts == [((512, 342), (640, 427))]
    assert (decoded.facts.width, decoded.facts.height) == (2560, 1708)
    assert _only_frame(decoded).shape == (342, 512, 3)
    assert decoded.frames[0].scale == 5.0
    assert _mean_error(decoded.frames[0].pixels, _reference(big, (512, 342))) < 3.0


def test_real_camera_jpeg(photo_jpeg_bytes: bytes) -> None:
    decoded = load(photo_jpeg_bytes, Limits(), working_size=300)

    assert (decoded.facts.width, decoded.facts.height) == (512, 600)
    assert _only_frame(decoded).shape == (300, 256, 3)
    assert decoded.frames[0].scale == 2.0


def _marked_landscape(photos: PhotoSource, size: tuple[int, int]) -> Image.Image:
    """A stored landscape photo whose stored top-left corner is solid red."""
    img = Image.fromarray(photos.pixels("coffee")).resize(size)
    img.paste(RED, (0, 0, size[0] // 6, size[1] // 6))
    return img


def _with_orientation(photos: PhotoSource, img: Image.Image, fmt: str, value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return photos.encode(img, fmt, exif=exif.tobytes())


# Where the stored top-left corner lands once the image is turned upright, and the
# turn that EXIF asks for (6: 90 degrees clockwise, 8: 90 degrees counter-clockwise).
_UPRIGHT_CORNER = {6: (0, -1), 8: (-1, 0)}
_UPRIGHT = {6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}


@pytest.mark.parametrize(
    "fmt",
    [pytest.param(name, id=name) for name in ("jpeg", "png", "webp", "heif", "avif")],
)
@pytest.mark.parametrize(
    "orientation", [pytest.param(6, id="orient-6"), pytest.param(8, id="orient-8")]
)
def test_exif_orientation_turns_the_image_upright(
    photos: PhotoSource, fmt: str, orientation: int
) -> None:
    stored = _marked_landscape(photos, (300, 200))
    data = _with_orientation(photos, stored, fmt, orientation)

    decoded = load(data, Limits(), working_size=512)

    pixels = _only_frame(decoded)
    assert (decoded.facts.width, decoded.facts.height) == (200, 300)
    assert pixels.shape == (300, 200, 3)
    row, col = _UPRIGHT_CORNER[orientation]
    assert np.abs(pixels[row, col].astype(int) - RED).max() < 40
    assert np.abs(pixels[0, 0].astype(int) - RED).max() > 100
    upright = np.asarray(stored.transpose(_UPRIGHT[orientation]))
    assert _mean_error(pixels, upright) < TOLERANCE[fmt]


def test_orientation_after_jpeg_draft_swaps_the_reduced_size(photos: PhotoSource) -> None:
    stored = _marked_landscape(photos, (2400, 1600))
    data = _with_orientation(photos, stored, "jpeg", 6)

    decoded = load(data, Limits(), working_size=512)

    assert (decoded.facts.width, decoded.facts.height) == (1600, 2400)
    pixels = _only_frame(decoded)
    assert pixels.shape == (512, 341, 3)
    assert decoded.frames[0].scale == pytest.approx(2400 / 512)
    assert np.abs(pixels[2, -3].astype(int) - RED).max() < 40


def test_cmyk_jpeg(photos: PhotoSource) -> None:
    source = photos.pixels("chelsea")
    cmyk = Image.fromarray(source).convert("CMYK")
    data = photos.encode(cmyk, "jpeg", quality=95)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "CMYK"

    decoded = load(data, Limits(), working_size=451)

    assert _mean_error(_only_frame(decoded), _reference(cmyk, (451, 300))) < 4.0


def test_sixteen_bit_greyscale_png_is_scaled_not_clipped(photos: PhotoSource) -> None:
    grey = photos.pixels("camera")[:, :, 0]
    deep = Image.fromarray(grey.astype(np.uint16) * 257)
    data = photos.encode(deep, "png")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "I;16"

    pixels = _only_frame(load(data, Limits(), working_size=512))

    assert np.array_equal(pixels, np.repeat(grey[:, :, None], 3, axis=2))


def test_palette_transparency_is_flattened_onto_white(
    checkerboard: Image.Image, photos: PhotoSource
) -> None:
    img = checkerboard.point(lambda v: 1 if v else 0).convert("P")
    img.putpalette([*RED, *BLUE])
    data = photos.encode(img, "png", transparency=0)

    pixels = _only_frame(load(data, Limits()))

    board = np.asarray(checkerboard) > 0
    assert (pixels[board] == BLUE).all()
    assert (pixels[~board] == WHITE).all()


def test_greyscale_with_alpha_is_flattened_onto_white(photos: PhotoSource) -> None:
    black = Image.new("L", (4, 2), 0)
    alpha = Image.frombytes("L", (4, 2), bytes([0, 255, 128, 0, 255, 255, 0, 128]))
    img = Image.merge("LA", (black, alpha))

    pixels = _only_frame(load(photos.encode(img, "png"), Limits()))

    expected = 255 - np.asarray(alpha, dtype=np.int16)
    assert np.abs(pixels[:, :, 0].astype(np.int16) - expected).max() <= 1
    assert (pixels[:, :, 0] == pixels[:, :, 2]).all()


def test_transparent_rgba_photo_is_white(photos: PhotoSource) -> None:
    img = Image.fromarray(photos.pixels("chelsea")).convert("RGBA")
    img.putalpha(0)

    pixels = _only_frame(load(photos.encode(img, "webp", lossless=True), Limits()))

    assert (pixels == 255).all()


@pytest.mark.parametrize("fmt", [pytest.param(name, id=name) for name in ("png", "bmp", "tiff")])
def test_one_bit_image(checkerboard: Image.Image, photos: PhotoSource, fmt: str) -> None:
    data = photos.encode(checkerboard.convert("1"), fmt)

    pixels = _only_frame(load(data, Limits()))

    assert np.array_equal(pixels, np.repeat(np.asarray(checkerboard)[:, :, None], 3, axis=2))


def _frames(photos: PhotoSource) -> list[Image.Image]:
    names = ["astronaut", "coffee", "chelsea", "rocket", "grace_hopper"]
    return [Image.fromarray(photos.pixels(name)).resize((64, 48)) for name in names]


DURATIONS_MS = [100, 40, 70, 30, 50]


@pytest.mark.parametrize(
    "fmt", [pytest.param(name, id=name.lower()) for name in ("GIF", "WEBP", "PNG", "AVIF")]
)
def test_animation_is_sampled_with_exact_times(photos: PhotoSource, fmt: str) -> None:
    frames = _frames(photos)
    data = builders.animation(fmt, frames, DURATIONS_MS)

    decoded = load(data, Limits(max_sampled_frames=3), working_size=32)

    assert decoded.facts.animated
    assert decoded.facts.frame_count == 5
    assert decoded.facts.duration == Fraction(290, 1000)
    assert [frame.index for frame in decoded.frames] == [0, 2, 4]
    assert [frame.time for frame in decoded.frames] == [0, Fraction(14, 100), Fraction(24, 100)]
    for frame in decoded.frames:
        assert frame.pixels.shape == (24, 32, 3)
        assert frame.scale == 2.0
        errors = [_mean_error(frame.pixels, _reference(src, (32, 24))) for src in frames]
        # Each sample shows its own source frame, not a neighbour.
        assert int(np.argmin(errors)) == frame.index
        assert errors[frame.index] < 12.0


def test_every_frame_is_kept_when_the_animation_is_short(photos: PhotoSource) -> None:
    data = builders.animation("GIF", _frames(photos)[:3], [20, 20, 20])

    decoded = load(data, Limits(max_sampled_frames=16))

    assert [frame.index for frame in decoded.frames] == [0, 1, 2]


def test_one_sample_is_the_first_frame(photos: PhotoSource) -> None:
    data = builders.animation("WEBP", _frames(photos), DURATIONS_MS)

    decoded = load(data, Limits(max_sampled_frames=1))

    assert [(frame.index, frame.time) for frame in decoded.frames] == [(0, Fraction(0))]
    assert decoded.facts.duration == Fraction(29, 100)


def test_real_animated_gif_from_a_package(photos: PhotoSource) -> None:
    from importlib.resources import files

    data = files("skimage.data").joinpath("no_time_for_that_tiny.gif").read_bytes()

    decoded = load(data, Limits())

    assert decoded.facts.frame_count == 24
    assert decoded.facts.animated
    assert len(decoded.frames) == 16
    assert decoded.frames[0].time == 0
    assert decoded.frames[-1].index == 23
    times = [frame.time for frame in decoded.frames if isinstance(frame.time, Fraction)]
    assert len(times) == 16
    assert times == sorted(times)
    assert decoded.facts.duration is not None
    assert decoded.facts.duration > times[-1]


def test_multipage_tiff_gives_its_first_page() -> None:
    from importlib.resources import files

    data = files("skimage.data").joinpath("multipage.tif").read_bytes()

    decoded = load(data, Limits())

    assert decoded.facts.format.name == "tiff"
    assert (decoded.facts.frame_count, decoded.facts.animated) == (1, False)
    assert _only_frame(decoded).shape == (15, 10, 3)


def test_decoding_leaves_pillow_and_warnings_state_alone(photos: PhotoSource) -> None:
    filters = list(warnings.filters)
    max_pixels = Image.MAX_IMAGE_PIXELS

    load(photos.encode(photos.pixels("chelsea"), "heif"), Limits())
    load(builders.animation("GIF", _frames(photos), DURATIONS_MS), Limits())

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert max_pixels == Image.MAX_IMAGE_PIXELS
    assert warnings.filters == filters


def test_importing_the_media_stage_registers_no_heif_opener() -> None:
    code = (
        "import mediaguard.media\n"
        "from PIL import Image\n"
        "Image.init()\n"
        "assert 'HEIF' not in Image.OPEN, 'pillow-heif registered at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
