"""Edited-copy regions on real photos framed, captioned and pasted, and on hostile shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pdqhash
import pytest
from PIL import Image

from mediaguard.signals import variants
from mediaguard.signals.hashes import MIN_PDQ_QUALITY
from mediaguard.signals.variants import MAX_VARIANTS, Level, Region, regions
from signals.edits import captioned, framed, screenshot

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "grace_hopper"]
PDQ_THRESHOLD = 31


def pdq_bits(pixels: np.ndarray) -> np.ndarray:
    bits, _quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return bits.astype(bool)


def best_distance(original: np.ndarray, edited: np.ndarray, level: Level) -> tuple[int, str]:
    target = pdq_bits(original)
    found = [(int((pdq_bits(edited) != target).sum()), "whole")]
    for region in regions(edited, level):
        crop = edited[region.top : region.bottom, region.left : region.right]
        found.append((int((pdq_bits(crop) != target).sum()), region.name))
    return min(found)


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize(
    ("edit", "variant"),
    [
        pytest.param(lambda p: framed(p, 0.05, (255, 255, 255)), "border", id="white-border-5"),
        pytest.param(lambda p: framed(p, 0.15, (0, 0, 0)), "border", id="black-border-15"),
        pytest.param(lambda p: captioned(p, 0.15, top=True), "caption", id="caption-top-15"),
        pytest.param(lambda p: captioned(p, 0.25, top=False), "caption", id="caption-bottom-25"),
    ],
)
def test_framed_and_captioned_copies_come_back_within_the_threshold(
    photos: Any, name: str, edit: Any, variant: str
) -> None:
    original = photos.pixels(name)
    edited = edit(original)
    plain = int((pdq_bits(edited) != pdq_bits(original)).sum())

    distance, how = best_distance(original, edited, Level.TRIMMED)

    assert plain > PDQ_THRESHOLD  # what plain PDQ misses
    assert distance <= PDQ_THRESHOLD
    assert variant in how


@pytest.mark.parametrize("name", PHOTOS)
def test_one_half_of_a_collage_of_two_is_found_with_all(photos: Any, name: str) -> None:
    original = photos.pixels(name)
    other = photos.pixels(PHOTOS[(PHOTOS.index(name) + 1) % len(PHOTOS)])
    height = original.shape[0]
    scaled = Image.fromarray(other).resize(
        (round(other.shape[1] * height / other.shape[0]), height)
    )
    collage = np.concatenate([original, np.asarray(scaled)], axis=1)

    assert best_distance(original, collage, Level.TRIMMED)[0] > PDQ_THRESHOLD
    distance, how = best_distance(original, collage, Level.ALL)
    assert distance <= PDQ_THRESHOLD
    assert how == "left part"


@pytest.mark.parametrize("name", PHOTOS)
def test_the_picture_in_a_screenshot_is_found_with_all(photos: Any, name: str) -> None:
    original = photos.pixels(name)
    shot = screenshot(original)

    assert best_distance(original, shot, Level.TRIMMED)[0] > PDQ_THRESHOLD
    distance, how = best_distance(original, shot, Level.ALL)
    assert distance <= PDQ_THRESHOLD
    assert how == "screen chrome removed"


# camera.png's sky is flat enough to be taken for a border, which only adds a hash.
@pytest.mark.parametrize("name", [n for n in PHOTOS if n != "camera"])
def test_an_unedited_textured_photo_gives_no_trimmed_variant(photos: Any, name: str) -> None:
    assert regions(photos.pixels(name), Level.TRIMMED) == []
    assert regions(photos.pixels(name), Level.EXACT) == []


def _check(found: list[Region], height: int, width: int) -> None:
    assert len(found) <= MAX_VARIANTS
    for region in found:
        assert 0 <= region.top < region.bottom <= height
        assert 0 <= region.left < region.right <= width


@pytest.mark.parametrize(
    "shape", [(1, 20000), (20000, 1), (2, 2), (31, 4000), (4000, 31), (600, 800)]
)
def test_hostile_shapes_give_bounded_valid_regions(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)

    found = regions(pixels, Level.ALL)

    _check(found, *shape)


def test_an_image_that_is_all_border_gives_only_hashes_too_weak_to_query() -> None:
    flat = np.full((400, 600, 3), 200, np.uint8)

    found = regions(flat, Level.ALL)

    _check(found, 400, 600)
    for region in found:
        crop = flat[region.top : region.bottom, region.left : region.right]
        _bits, quality = pdqhash.compute(np.ascontiguousarray(crop))
        assert quality < MIN_PDQ_QUALITY  # the scanner never queries such a hash


def test_a_collage_of_a_hundred_tiles_stays_bounded(photos: Any) -> None:
    tile = np.asarray(Image.fromarray(photos.pixels("coffee")).resize((60, 40)))
    grid = np.tile(tile, (10, 10, 1))

    found = regions(grid, Level.ALL)

    _check(found, *grid.shape[:2])


@pytest.mark.parametrize("width", [1, 2, 3, 8, 255, 256])
def test_band_colour_and_line_steps_equal_numpys_own(width: int) -> None:
    rng = np.random.default_rng(width)
    lines = rng.integers(0, 256, (6, width, 3), dtype=np.uint8)
    assert np.array_equal(
        variants._median_colour(lines[0]), np.median(lines[0], axis=0).astype(np.int16)
    )
    wide = lines.astype(np.int16)
    assert np.array_equal(
        variants._line_steps(wide), np.abs(np.diff(wide, axis=0)).mean(axis=(1, 2))
    )
