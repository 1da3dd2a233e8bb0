"""Previews of scanned media for human review: a clear picture and a shielded one.

Design note: reviewers of flagged media are exposed to the worst of it, many times a
day. The review UI therefore shows every item *shielded* (greyscale and blurred beyond
recognition) until the reviewer chooses to reveal it, and only then the *clear*
picture. Colour and detail are what make graphic content distressing; the shielded
preview keeps neither, but keeps the layout of light and dark, so a reviewer can still
tell a dark scene from a bright one and decide whether to look.

How the shield is made, and why:

1. **Greyscale first**, so no colour (blood, skin tone) survives.
2. **Downscale to** :data:`SHIELD_SIDE` **pixels on the long side, then upscale back**.
   Area averaging down to 24 pixels throws away every detail smaller than a
   twenty-fourth of the picture, whatever the blur radius later: the shielded preview
   carries at most 24 x 24 grey samples of information. A Gaussian blur alone is a
   low-pass filter whose strength depends on the radius chosen; the round trip makes the
   loss of detail certain and cheap.
3. **Gaussian blur with radius max(w, h) / 20** on the upscaled picture, which smooths
   away the creases that bilinear upscaling leaves between the samples, so the result
   is soft blobs rather than a grid that the eye might read as a pixelated picture.

Both previews have the same size, so the UI can swap one for the other without the page
moving. They are JPEGs encoded from decoded pixels, so no EXIF, GPS, XMP, ICC profile or
embedded thumbnail of the original can reach a browser. The shielded one is written as a
one-channel (greyscale) JPEG, which every browser displays and which cannot drift from
grey through chroma rounding.

Decoding goes through the media stage that the scanner uses, so the same byte, pixel,
frame and duration limits apply and every failure is a typed
:class:`~mediaguard.errors.MediaError`. An image is decoded once, upright (EXIF
orientation applied), directly at preview size (JPEG draft mode means a large photo is
never decoded at full size); an animation gives its first frame. A video gives one frame,
at the moment the reviewer most needs to see: the start of the highest-scoring timeline
segment, or the first frame when the verdict has no timeline. It is streamed from the
start with :func:`~mediaguard.media.sampling.sample_frames` and decoding stops at that
frame, so the time spent is proportional to how far into the video the moment lies,
never to the whole video's length, and memory stays flat. Decoding from the start rather
than seeking keeps the frame choice exact (a segment starts at the time of a sampled
frame, which is found again exactly) and keeps every limit the video module enforces.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Final

from PIL import Image, ImageFilter

from mediaguard import media
from mediaguard.media.limits import Limits, VideoLimits
from mediaguard.media.sampling import Sampling, sample_frames
from mediaguard.media.sniff import sniff
from mediaguard.media.source import peek, read_source
from mediaguard.media.types import Frame, MediaKind, RGBArray
from mediaguard.timeline import Segment
from mediaguard.verdict import Verdict

#: Long side, in pixels, that the shielded preview is reduced to before it is blurred;
#: nothing finer than 1/24 of the picture survives (see the module note).
SHIELD_SIDE: Final = 24
#: The shield's Gaussian blur radius is the picture's long side divided by this.
SHIELD_BLUR_DIVISOR: Final = 20
#: JPEG quality of the clear preview: sharp enough to judge the content, small to send.
CLEAR_QUALITY: Final = 85
#: JPEG quality of the shielded preview; it is smooth, so a low quality costs nothing.
SHIELDED_QUALITY: Final = 70

DEFAULT_MAX_SIDE: Final = 640


@dataclass(frozen=True, slots=True)
class Previews:
    """The two previews of one item, as JPEG bytes ready to serve.

    Attributes:
        clear: the picture in colour, long side at most ``max_side``, without metadata.
        shielded: the same picture in greyscale, blurred beyond recognition; the same
            width and height as ``clear``.
        width: width of both previews, pixels.
        height: height of both previews, pixels.
        at_seconds: for a video, the time of the frame shown, in seconds from the start
            of the video stream; None for an image.
    """

    clear: bytes
    shielded: bytes
    width: int
    height: int
    at_seconds: float | None = None


def render_previews(
    source: Path | bytes,
    verdict: Verdict,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    limits: Limits | None = None,
    video_limits: VideoLimits | None = None,
) -> Previews:
    """Render the clear and shielded previews of a scanned image or video.

    Args:
        source: the media, as a file path or as its bytes (the same source as was
            scanned; its format is recognised from the bytes, as in a scan).
        verdict: the item's verdict; for a video its ``timeline`` chooses the frame.
        max_side: longest side of the previews, pixels. Smaller media is not upscaled.
        limits: image limits to enforce (the defaults when None); pass the scanner's
            configured limits so that a preview never decodes what a scan would refuse.
        video_limits: video limits to enforce (the defaults when None).

    Returns:
        Both previews with their size and, for a video, the time of the frame.

    Raises:
        ValueError: ``max_side`` is not positive.
        UnsupportedMedia: the bytes are not a supported format.
        MediaTooLarge: a limit is exceeded.
        CorruptMedia: the media cannot be decoded.
        UnreadableSource: the path cannot be read.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    head, _size = peek(source)
    at_seconds: float | None
    if sniff(head).kind is MediaKind.VIDEO:
        pixels, time = _video_frame(source, verdict, max_side, video_limits or VideoLimits())
        at_seconds = float(time)
    else:
        pixels = _image_frame(source, max_side, limits or Limits())
        at_seconds = None
    picture = Image.fromarray(pixels)
    return Previews(
        clear=_jpeg(picture, CLEAR_QUALITY),
        shielded=_jpeg(shield(picture), SHIELDED_QUALITY),
        width=picture.width,
        height=picture.height,
        at_seconds=at_seconds,
    )


def shield(picture: Image.Image) -> Image.Image:
    """The greyscale, blurred-beyond-recognition version of a picture, at the same size.

    See the module note for why each step is there.
    """
    grey = picture.convert("L")
    width, height = grey.size
    long_side = max(width, height)
    if long_side > SHIELD_SIDE:
        small = (
            max(1, round(width * SHIELD_SIDE / long_side)),
            max(1, round(height * SHIELD_SIDE / long_side)),
        )
        grey = grey.resize(small, Image.Resampling.BOX).resize(
            (width, height), Image.Resampling.BILINEAR
        )
    radius = max(1.0, long_side / SHIELD_BLUR_DIVISOR)
    return grey.filter(ImageFilter.GaussianBlur(radius))


def moment(verdict: Verdict) -> Fraction:
    """When a video's preview is taken: the start of its highest-scoring segment, else 0.

    Ties go to the earliest segment, so the same verdict always gives the same frame.
    """
    if not verdict.timeline:
        return Fraction(0)
    best = min(verdict.timeline, key=lambda s: (-s.peak_score, _start(s)))
    return _start(best)


def _start(segment: Segment) -> Fraction:
    """A segment's exact start; its rounded float when the exact text is unreadable."""
    try:
        start = Fraction(segment.start)
    except (ValueError, ZeroDivisionError):
        start = Fraction(str(segment.start_s))
    return max(start, Fraction(0))


def _image_frame(source: Path | bytes, max_side: int, limits: Limits) -> RGBArray:
    """The first frame of an image, upright, decoded by the scanner's own media stage."""
    # One sampled frame: an animation's first frame is its preview, and the others are
    # then never decoded.
    decoded = media.load(
        read_source(source, limits), replace(limits, max_sampled_frames=1), max_side
    )
    return decoded.frames[0].pixels


def _video_frame(
    source: Path | bytes, verdict: Verdict, max_side: int, limits: VideoLimits
) -> tuple[RGBArray, Fraction]:
    """The first frame at or after :func:`moment`, and its exact time.

    Sampling at the rate ``1 / moment`` without scene cuts makes the video module yield
    the first frame and then exactly the frame wanted; iteration stops there, so nothing
    after it is decoded. If the video ends (or is damaged) before that moment, the last
    frame that decoded is shown instead, and ``at_seconds`` says when it is from.
    """
    target = moment(verdict)
    if target > 0:
        sampling = Sampling(rate=1 / target, scene_cuts=False)
        # The video module lowers the rate when duration x rate samples would exceed
        # max_samples; only two samples are ever taken here, so lift that cap (to what
        # the longest accepted video would plan) instead of letting it move the frame.
        needed = math.floor(limits.max_duration_s / target) + 2
        if needed > limits.max_samples:
            limits = replace(limits, max_samples=needed)
    else:
        sampling = Sampling(scene_cuts=False)
    chosen: Frame | None = None
    with sample_frames(source, limits, sampling, max_side) as stream:
        for frame in stream:
            chosen = frame
            if (frame.time or Fraction(0)) >= target:
                break
    if chosen is None:
        # sample_frames refuses a video of which no frame decodes before yielding, so
        # this cannot happen; kept as a typed error rather than an assertion.
        raise media.CorruptMedia("video: no frame could be decoded")
    return chosen.pixels, chosen.time or Fraction(0)


def _jpeg(picture: Image.Image, quality: int) -> bytes:
    """Encode as a baseline JPEG with no metadata (Pillow writes none unless asked)."""
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


__all__ = [
    "CLEAR_QUALITY",
    "DEFAULT_MAX_SIDE",
    "SHIELDED_QUALITY",
    "SHIELD_BLUR_DIVISOR",
    "SHIELD_SIDE",
    "Previews",
    "moment",
    "render_previews",
    "shield",
]
