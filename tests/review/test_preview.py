"""Review previews: the clear and the shielded picture of real photos and real footage.

The shield must leave nothing recognisable, which is measured rather than assumed: the
variance of the Laplacian (high-frequency energy) of each preview. Measured on the six
shipped photos at the default size: the clear previews score 399 (Chelsea the cat) to
1607 (coffee), the shielded ones 0.9 to 2.1, most of it JPEG rounding noise. The tests
require the shielded preview to score below 5 and at least 100 times less than the clear
one. Videos are written with the video suite's builders from the same photos, one photo
per second, so which frame a preview shows can be told from its content.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from mediaguard.errors import CorruptMedia, MediaTooLarge, UnreadableSource, UnsupportedMedia
from mediaguard.media.limits import VideoLimits
from mediaguard.review.preview import Previews, moment, render_previews
from mediaguard.scanner import Scanner
from mediaguard.timeline import Segment, fraction_text
from mediaguard.verdict import Verdict

# The video suite's builders; pytest puts tests/ on sys.path for these test packages.
from video.builders import VideoSpec, write_video

PHOTO_NAMES = ("astronaut", "camera", "coffee", "chelsea", "rocket", "grace_hopper")
MAX_SHIELDED_SHARPNESS = 5.0
MIN_SHARPNESS_RATIO = 100.0
# One photo per second of footage, in this order.
REEL = ("astronaut", "coffee", "chelsea")
VIDEO_SIZE = (160, 120)
VIDEO_RATE = 25


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    """The default detectors, loaded once: previews are rendered for real verdicts."""
    return Scanner()


def _decode(jpeg: bytes) -> Image.Image:
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG"
        img.load()
        return img.copy()


def _rgb(jpeg: bytes) -> npt.NDArray[np.int16]:
    return np.asarray(_decode(jpeg).convert("RGB"), dtype=np.int16)


def _sharpness(jpeg: bytes) -> float:
    """Variance of the 4-neighbour Laplacian of the grey picture: high-frequency energy."""
    a = np.asarray(_decode(jpeg).convert("L"), dtype=np.float64)
    lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float(lap.var())


def _distance(jpeg: bytes, reference: npt.NDArray[np.uint8]) -> float:
    """Mean absolute RGB difference between a preview and a picture resized to it."""
    preview = _rgb(jpeg)
    height, width = preview.shape[:2]
    resized = Image.fromarray(reference).resize((width, height), Image.Resampling.BOX)
    return float(np.abs(preview - np.asarray(resized, dtype=np.int16)).mean())


def _closest(jpeg: bytes, candidates: dict[str, npt.NDArray[np.uint8]]) -> str:
    return min(candidates, key=lambda name: _distance(jpeg, candidates[name]))


def _assert_metadata_free(jpeg: bytes) -> None:
    img = _decode(jpeg)
    assert len(img.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "photoshop", "comment"):
        assert key not in img.info, key
    assert b"Exif\x00\x00" not in jpeg
    assert b"http://ns.adobe.com/xap" not in jpeg


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_photo_previews_clear_in_colour_shielded_grey_and_featureless(
    name: str, photos: Any, scanner: Scanner
) -> None:
    data = photos.file(name)
    previews = render_previews(data, scanner.scan(data))

    assert isinstance(previews, Previews)
    assert previews.at_seconds is None
    assert max(previews.width, previews.height) <= 640
    clear, shielded = _decode(previews.clear), _decode(previews.shielded)
    assert clear.size == shielded.size == (previews.width, previews.height)
    # The photos are at most 640 pixels wide, so the clear preview keeps their size.
    original = photos.pixels(name)
    assert (previews.height, previews.width) == original.shape[:2]
    assert _distance(previews.clear, original) < 6.0

    shielded_rgb = _rgb(previews.shielded)
    assert (shielded_rgb[..., 0] == shielded_rgb[..., 1]).all()
    assert (shielded_rgb[..., 1] == shielded_rgb[..., 2]).all()
    if name != "camera":  # the cameraman is a greyscale photo
        clear_rgb = _rgb(previews.clear)
        assert np.abs(clear_rgb[..., 0] - clear_rgb[..., 2]).mean() > 5.0

    clear_sharpness, shielded_sharpness = _sharpness(previews.clear), _sharpness(previews.shielded)
    assert shielded_sharpness < MAX_SHIELDED_SHARPNESS
    assert clear_sharpness > MIN_SHARPNESS_RATIO * shielded_sharpness
    # What survives is the layout of light and dark: the overall brightness.
    clear_grey = np.asarray(clear.convert("L"), dtype=np.float64)
    shielded_grey = np.asarray(shielded.convert("L"), dtype=np.float64)
    assert abs(clear_grey.mean() - shielded_grey.mean()) < 3.0
    _assert_metadata_free(previews.clear)
    _assert_metadata_free(previews.shielded)


def test_previews_are_scaled_to_max_side(photos: Any, scanner: Scanner) -> None:
    data = photos.file("coffee")  # 600 x 400
    previews = render_previews(data, scanner.scan(data), max_side=150)
    assert (previews.width, previews.height) == (150, 100)
    assert _decode(previews.clear).size == _decode(previews.shielded).size == (150, 100)
    assert _distance(previews.clear, photos.pixels("coffee")) < 8.0


def test_a_path_gives_the_same_previews_as_the_bytes(
    photos: Any, scanner: Scanner, tmp_path: Path
) -> None:
    data = photos.file("rocket")
    path = tmp_path / "upload"
    path.write_bytes(data)
    verdict = scanner.scan(data)
    assert render_previews(path, verdict) == render_previews(data, verdict)


def test_exif_orientation_is_applied_and_no_metadata_leaks(photos: Any, scanner: Scanner) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "MediaguardTestCameraMaker"  # Make
    exif[0x8298] = "Copyright of the person photographed"  # Copyright
    pixels = photos.pixels("grace_hopper")  # stored 512 wide, 600 high
    data = photos.encode(pixels, "jpeg", quality=92, exif=exif.tobytes())
    assert b"MediaguardTestCameraMaker" in data

    previews = render_previews(data, scanner.scan(data))

    assert (previews.width, previews.height) == (600, 512)
    upright = np.asarray(Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_270))
    assert _distance(previews.clear, upright) < 6.0
    assert _distance(previews.clear, np.ascontiguousarray(np.rot90(upright, 2))) > 20.0
    for jpeg in (previews.clear, previews.shielded):
        _assert_metadata_free(jpeg)
        assert b"MediaguardTestCameraMaker" not in jpeg
        assert b"Copyright" not in jpeg


def test_animated_image_preview_is_its_first_frame(photos: Any, scanner: Scanner) -> None:
    frames = [Image.fromarray(photos.pixels(name)) for name in ("astronaut", "camera")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    data = out.getvalue()

    previews = render_previews(data, scanner.scan(data))

    candidates = {name: photos.pixels(name) for name in ("astronaut", "camera")}
    assert _closest(previews.clear, candidates) == "astronaut"


# ----------------------------------------------------------------------------- videos


def _reel(photos: Any) -> dict[str, npt.NDArray[np.uint8]]:
    width, height = VIDEO_SIZE
    return {
        name: np.asarray(
            Image.fromarray(photos.pixels(name)).convert("RGB").resize((width, height))
        )
        for name in REEL
    }


def _write_reel(photos: Any, path: Path, fmt: str = "mp4") -> Path:
    """Three seconds at 25 fps: astronaut, then coffee, then Chelsea, one second each."""
    pictures = list(_reel(photos).values())
    spec = VideoSpec(
        fmt=fmt,
        size=VIDEO_SIZE,
        frames=VIDEO_RATE * len(pictures),
        rate=Fraction(VIDEO_RATE),
        picture=lambda index: pictures[index // VIDEO_RATE],
    )
    write_video(spec, path)
    return path


def _segment(start: Fraction, peak: float, category: str = "sexual") -> Segment:
    return Segment(
        category=category,
        start_s=float(start),
        end_s=float(start + 1),
        start=fraction_text(start),
        end=fraction_text(start + 1),
        peak_score=peak,
        peak_frame=int(start * VIDEO_RATE),
        samples=1,
    )


def _with_timeline(verdict: Verdict, *segments: Segment) -> Verdict:
    return verdict.model_copy(update={"timeline": list(segments)})


@pytest.fixture
def reel(photos: Any, tmp_path: Path) -> Path:
    return _write_reel(photos, tmp_path / "reel.mp4")


def test_video_preview_is_the_start_of_the_highest_scoring_segment(
    reel: Path, photos: Any, scanner: Scanner
) -> None:
    scanned = scanner.scan(reel)
    verdict = _with_timeline(
        scanned,
        _segment(Fraction(1), 0.62),
        _segment(Fraction(2), 0.91, category="violence"),
    )
    assert moment(verdict) == 2

    previews = render_previews(reel, verdict)

    assert previews.at_seconds == 2.0
    assert (previews.width, previews.height) == VIDEO_SIZE
    assert _closest(previews.clear, _reel(photos)) == "chelsea"
    assert _distance(previews.clear, _reel(photos)["chelsea"]) < 12.0
    shielded = _rgb(previews.shielded)
    assert (shielded[..., 0] == shielded[..., 2]).all()
    assert _sharpness(previews.shielded) * MIN_SHARPNESS_RATIO < _sharpness(previews.clear)
    _assert_metadata_free(previews.clear)


def test_video_preview_lands_on_the_exact_frame_of_a_fractional_start(
    reel: Path, photos: Any, scanner: Scanner
) -> None:
    start = Fraction(37, 25)  # frame 37: coffee
    verdict = _with_timeline(scanner.scan(reel), _segment(start, 0.7))
    previews = render_previews(reel.read_bytes(), verdict, max_side=80)
    assert previews.at_seconds == pytest.approx(1.48)
    assert (previews.width, previews.height) == (80, 60)
    assert _closest(previews.clear, _reel(photos)) == "coffee"


def test_equal_peaks_choose_the_earliest_segment(reel: Path, scanner: Scanner) -> None:
    verdict = _with_timeline(
        scanner.scan(reel), _segment(Fraction(2), 0.8), _segment(Fraction(1), 0.8)
    )
    assert render_previews(reel, verdict).at_seconds == 1.0


def test_video_without_timeline_shows_the_first_frame(
    reel: Path, photos: Any, scanner: Scanner
) -> None:
    verdict = scanner.scan(reel)
    assert verdict.timeline == []
    previews = render_previews(reel, verdict)
    assert previews.at_seconds == 0.0
    assert _closest(previews.clear, _reel(photos)) == "astronaut"


def test_decoding_stops_at_the_chosen_frame(photos: Any, scanner: Scanner, tmp_path: Path) -> None:
    # Matroska declares no frame count, so max_frames is only enforced while decoding:
    # a preview that decoded the whole 75-frame video would exceed a limit of 40.
    video = _write_reel(photos, tmp_path / "reel.mkv", fmt="matroska")
    verdict = scanner.scan(video)
    limits = VideoLimits(max_frames=40)

    early = render_previews(
        video, _with_timeline(verdict, _segment(Fraction(1), 0.9)), video_limits=limits
    )
    assert early.at_seconds == 1.0
    assert _closest(early.clear, _reel(photos)) == "coffee"

    with pytest.raises(MediaTooLarge, match="max_frames"):
        render_previews(
            video, _with_timeline(verdict, _segment(Fraction(2), 0.9)), video_limits=limits
        )


def test_a_video_that_ends_before_the_moment_shows_its_last_decoded_frame(
    reel: Path, photos: Any, scanner: Scanner
) -> None:
    verdict = _with_timeline(scanner.scan(reel), _segment(Fraction(10), 0.9))
    previews = render_previews(reel, verdict)
    assert previews.at_seconds is not None
    assert previews.at_seconds < 3.0
    assert _closest(previews.clear, _reel(photos)) == "astronaut"


# ----------------------------------------------------------------------------- errors


def test_truncated_jpeg_raises_corrupt_media(photos: Any, scanner: Scanner) -> None:
    data = photos.file("grace_hopper")
    verdict = scanner.scan(data)
    with pytest.raises(CorruptMedia):
        render_previews(data[: len(data) // 3], verdict)


def test_video_with_unreadable_container_raises_corrupt_media(reel: Path, scanner: Scanner) -> None:
    data = reel.read_bytes()
    verdict = scanner.scan(data)
    # Keep the recognisable header, destroy everything after it.
    damaged = data[:64] + bytes(len(data) - 64)
    with pytest.raises(CorruptMedia):
        render_previews(damaged, verdict)


def test_unsupported_and_unreadable_sources_raise_their_typed_errors(
    photos: Any, scanner: Scanner, tmp_path: Path
) -> None:
    verdict = scanner.scan(photos.file("camera"))
    with pytest.raises(UnsupportedMedia):
        render_previews(b"plain text, not a picture", verdict)
    with pytest.raises(UnreadableSource):
        render_previews(tmp_path / "missing.jpg", verdict)


def test_max_side_must_be_positive(photos: Any, scanner: Scanner) -> None:
    data = photos.file("camera")
    with pytest.raises(ValueError, match="max_side"):
        render_previews(data, scanner.scan(data), max_side=0)
