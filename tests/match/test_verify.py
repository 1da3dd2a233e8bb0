"""The local-feature check on real photos: edited copies pass, other photos do not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mediaguard.match.verify import MIN_INLIERS, same_content
from signals.edits import captioned, framed

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "grace_hopper"]


def crop(pixels: np.ndarray, share: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    dy, dx = round(height * share), round(width * share)
    return pixels[dy : height - dy, dx : width - dx]


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda p: crop(p, 0.10), id="crop-10"),
        pytest.param(lambda p: crop(p, 0.20), id="crop-20"),
        pytest.param(lambda p: captioned(p, 0.2, top=True), id="caption"),
        pytest.param(lambda p: framed(p, 0.1, (0, 0, 0)), id="border"),
    ],
)
def test_an_edited_copy_is_the_same_content(photos: Any, name: str, edit: Any) -> None:
    original = photos.pixels(name)

    seen = same_content(edit(original), original)

    assert seen.same
    assert seen.inliers >= MIN_INLIERS


def test_no_two_distinct_photos_are_the_same_content(photos: Any) -> None:
    pixels = {name: photos.pixels(name) for name in PHOTOS}

    verdicts = [
        same_content(pixels[a], pixels[b]) for i, a in enumerate(PHOTOS) for b in PHOTOS[i + 1 :]
    ]

    assert not any(v.same for v in verdicts)
    assert max(v.inliers for v in verdicts) < MIN_INLIERS


@pytest.mark.parametrize("shape", [(1, 1), (3, 900), (600, 2), (64, 64)])
def test_featureless_or_degenerate_pictures_are_not_the_same(shape: tuple[int, int]) -> None:
    flat = np.full((*shape, 3), 120, np.uint8)

    seen = same_content(flat, flat)

    assert not seen.same
