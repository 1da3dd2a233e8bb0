"""A second, independent check that two pictures show the same content: local features.

Why: the edited-copy hashes (borders and caption bars removed, sub-regions, crops stored
with a listed image) give each scanned frame more chances to land near a listed hash,
and with them more chances of a chance near-miss. PDQ cannot tell those apart, since
it is the only evidence. Where the listed picture itself is at hand, ORB keypoints and
a geometric test settle it: copies share hundreds of keypoints that one similarity
transform (shift, scale, rotation: what crops, borders and captions do) maps onto each
other, unrelated photos share a handful, scattered. On scikit-image's photos a 10-20 %
crop keeps 108-551 consistent matches and distinct photos reach at most 10.

Its cost (about 40 ms a pair on two cores) is paid only for candidates near the
threshold, never per scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from mediaguard.errors import ConfigError

#: Long side, in pixels, both pictures are compared at.
COMPARE_SIDE: Final = 512
#: Keypoints kept per picture.
_FEATURES: Final = 800
#: Lowe's ratio test: a match must be clearly better than the second best.
_RATIO: Final = 0.75
#: RANSAC's reprojection tolerance, in pixels at COMPARE_SIDE.
_TOLERANCE: Final = 4.0
#: Pictures smaller than this on a side have no room for keypoints.
_MIN_SIDE: Final = 32
#: Matches one similarity transform must explain for the pictures to be the same.
MIN_INLIERS: Final = 25


@dataclass(frozen=True, slots=True)
class Verification:
    """What the local-feature check saw.

    Attributes:
        matches: keypoint matches that passed the ratio test.
        inliers: of those, how many one similarity transform explains.
        same: whether that is enough to call the pictures the same content.
    """

    matches: int
    inliers: int
    same: bool


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - opencv is a core dependency
        raise ConfigError(
            "verifying edited copies needs OpenCV: pip install opencv-python-headless"
        ) from err
    return cv2


def grey(pixels: npt.NDArray[np.uint8], side: int = COMPARE_SIDE) -> npt.NDArray[np.uint8]:
    """The picture (RGB or grey) as 8-bit grey, at most ``side`` pixels on its long side."""
    image = Image.fromarray(pixels).convert("L")
    scale = min(1.0, side / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)


def same_content(scanned: npt.NDArray[np.uint8], listed: npt.NDArray[np.uint8]) -> Verification:
    """Whether ``scanned`` shows ``listed`` (cropped, framed, captioned, rescaled).

    Args:
        scanned: RGB (H x W x 3) or grey (H x W) pixels of the scanned frame.
        listed: the same for the listed picture (a stored reduced copy suffices).
    """
    cv2 = _cv2()
    orb = cv2.ORB_create(nfeatures=_FEATURES)
    found = []
    for pixels in (scanned, listed):
        if min(pixels.shape[:2]) < _MIN_SIDE:  # ORB's pyramid needs room for its patches
            return Verification(0, 0, False)
        keypoints, descriptors = orb.detectAndCompute(grey(pixels), None)
        if descriptors is None or len(keypoints) < 8:
            return Verification(0, 0, False)
        found.append((keypoints, descriptors))
    (ka, da), (kb, db) = found
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
    if len(good) < 8:
        return Verification(len(good), 0, False)
    a = np.array([ka[m.queryIdx].pt for m in good], dtype=np.float32)
    b = np.array([kb[m.trainIdx].pt for m in good], dtype=np.float32)
    _transform, inliers = cv2.estimateAffinePartial2D(
        a, b, method=cv2.RANSAC, ransacReprojThreshold=_TOLERANCE
    )
    count = 0 if inliers is None else int(inliers.sum())
    return Verification(len(good), count, count >= MIN_INLIERS)
