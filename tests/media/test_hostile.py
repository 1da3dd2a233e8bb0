"""Hostile input: every file ends in a decoded result or a typed MediaError, quickly.

pytest-timeout guards the tests that must not hang or grind (a frame bomb, a FIFO):
a wall-clock assertion would be flaky on a loaded CI machine, a timeout is not.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageFile

from mediaguard.media import (
    CorruptMedia,
    DecodedMedia,
    Limits,
    MediaError,
    MediaTooLarge,
    load,
)

from . import builders
from .builders import HostileCase, PhotoSource


@pytest.mark.timeout(20)
def test_every_hostile_file_decodes_or_raises_a_media_error(hostile: HostileCase) -> None:
    try:
        result = load(hostile.data, Limits())
    except MediaError:
        return
    assert isinstance(result, DecodedMedia)


@pytest.mark.timeout(20)
def test_hostile_file_gives_the_expected_outcome(hostile: HostileCase) -> None:
    if hostile.expected is None:
        decoded = load(hostile.data, Limits())
        assert decoded.frames[0].pixels.shape[2] == 3
    else:
        with pytest.raises(hostile.expected):
            load(hostile.data, Limits())


def _must_not_decode(self: ImageFile.ImageFile) -> None:
    raise AssertionError("pixels were decoded before the limit was checked")


def test_pixel_bomb_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile.ImageFile, "load", _must_not_decode)

    # 150 megapixels: over limits.max_pixels, under Pillow's own ceiling (about 179).
    with pytest.raises(MediaTooLarge, match=re.escape("limits.max_pixels (100000000)")):
        load(builders.png_bomb(15_000, 10_000), Limits())


def test_pixel_limit_is_the_configured_one(photos: PhotoSource) -> None:
    data = photos.encode(photos.pixels("chelsea"), "png")  # 451 x 300

    assert load(data, Limits(max_pixels=451 * 300)).facts.width == 451
    with pytest.raises(MediaTooLarge, match="451x300 = 135300 pixels"):
        load(data, Limits(max_pixels=451 * 300 - 1))


def test_pillows_own_bomb_ceiling_is_a_media_error_too() -> None:
    # Above twice Image.MAX_IMAGE_PIXELS Pillow refuses at open, whatever our limit says.
    ceiling = 2 * (Image.MAX_IMAGE_PIXELS or 0)

    with pytest.raises(MediaTooLarge, match=r"limits\.max_pixels is \d+; Pillow refuses"):
        load(builders.png_bomb(ceiling // 1000 + 1, 1000), Limits(max_pixels=10 * ceiling))


@pytest.mark.timeout(20)
def test_frame_bomb_is_refused_before_any_frame_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile.ImageFile, "load", _must_not_decode)

    with pytest.raises(MediaTooLarge, match=re.escape("limits.max_frames (2000)")):
        load(builders.gif_frames(10_000), Limits())


def test_frame_limit_is_inclusive() -> None:
    limits = Limits(max_frames=5, max_sampled_frames=2)

    decoded = load(builders.gif_frames(5), limits)

    assert decoded.facts.frame_count == 5
    assert [frame.time for frame in decoded.frames] == [0, 4 * builders.GIF_FRAME_DELAY]
    with pytest.raises(MediaTooLarge, match=r"limits\.max_frames"):
        load(builders.gif_frames(6), limits)


def _animation(photos: PhotoSource, fmt: str, count: int) -> bytes:
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    frames = [Image.fromarray(photos.pixels(n)).resize((16, 12)) for n in names[:count]]
    return builders.animation(fmt, frames, [50] * count)


@pytest.mark.parametrize(
    "fmt", [pytest.param(name, id=name.lower()) for name in ("GIF", "WEBP", "PNG", "AVIF")]
)
def test_frame_limit_applies_to_every_animated_format(photos: PhotoSource, fmt: str) -> None:
    with pytest.raises(MediaTooLarge, match=re.escape("limits.max_frames (2)")):
        load(_animation(photos, fmt, 3), Limits(max_frames=2))


@pytest.mark.timeout(20)
def test_apng_declaring_a_million_frames_is_refused(photos: PhotoSource) -> None:
    data = builders.patch_actl(_animation(photos, "PNG", 2), 1_000_000)

    with pytest.raises(MediaTooLarge, match=r"limits\.max_frames"):
        load(data, Limits())


def test_apng_declaring_more_frames_than_it_has_is_corrupt(photos: PhotoSource) -> None:
    data = builders.patch_actl(_animation(photos, "PNG", 2), 5)

    with pytest.raises(CorruptMedia):
        load(data, Limits())


def test_gif_frame_that_grows_the_canvas_past_the_limit_is_refused_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile.ImageFile, "load", _must_not_decode)
    data = builders.gif_frames(3, last_frame_size=(20_000, 10_000))

    with pytest.raises(MediaTooLarge, match="20000x10000"):
        load(data, Limits())


def test_bytes_over_the_limit_are_refused(photos: PhotoSource) -> None:
    data = photos.file("rocket")

    assert load(data, Limits(max_bytes=len(data))).facts.size_bytes == len(data)
    with pytest.raises(MediaTooLarge, match=re.escape(f"limits.max_bytes ({len(data) - 1} bytes)")):
        load(data, Limits(max_bytes=len(data) - 1))


def test_truncated_png_message_says_what_failed(photos: PhotoSource) -> None:
    data = photos.file("chelsea")

    with pytest.raises(CorruptMedia, match="PNG data is corrupt or truncated") as caught:
        load(data[: len(data) // 2], Limits())

    assert caught.value.__cause__ is not None


def test_format_mismatch_is_named(photos: PhotoSource) -> None:
    with pytest.raises(CorruptMedia, match="start like PNG but are not a readable PNG"):
        load(builders.PNG_SIGNATURE + photos.file("rocket"), Limits())
