"""Test images for OCR and code reading: real photos, real fonts, real QR codes.

Everything is generated when a test runs, nothing is committed: the photos are the ones
scikit-image ships, the fonts are Debian's DejaVu and Liberation TrueType files
(``fonts-dejavu-core``, ``fonts-liberation``; .ci/run installs them), and the codes are
made by segno (QR, Micro QR) or zxing-cpp's writer (Data Matrix, Aztec, EAN-13,
Code 128). Each builder returns the encoded file and the truth drawn into it, so a test
compares what was read with what was drawn, never with a stored answer. The benchmark
``benchmarks/text_codes.py`` builds its corpus with the same functions.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = {
    "dejavu_sans": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "dejavu_bold": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    "dejavu_serif": Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
    "liberation_sans": Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
    "liberation_serif": Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
}
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")

# Phrases of the kind the feature exists for (ads, scams, slogans); all made up here.
PHRASES = (
    "FREE BITCOIN GIVEAWAY",
    "Call 0800 555 0199 now",
    "visit cheap-pills.example",
    "Limited offer 50% off",
    "Join the channel today",
    "Scan to win a prize",
    "Best prices in town",
    "Follow us for more deals",
)


@dataclass(frozen=True)
class Drawn:
    """A built image and what was drawn on it."""

    data: bytes
    width: int
    height: int
    texts: tuple[str, ...] = ()
    boxes: tuple[tuple[int, int, int, int], ...] = ()
    payloads: tuple[str, ...] = ()


def photo(name: str, long_side: int = 1024) -> Image.Image:
    """A shipped real photograph, RGB, scaled so its long side is ``long_side``."""
    with Image.open(io.BytesIO(files("skimage.data").joinpath(name).read_bytes())) as img:
        rgb = img.convert("RGB")
    factor = long_side / max(rgb.size)
    return rgb.resize((round(rgb.width * factor), round(rgb.height * factor)), Image.LANCZOS)


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    path = FONTS[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: install Debian's fonts-dejavu-core fonts-liberation")
    return ImageFont.truetype(str(path), size)


def encode(img: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def draw_text(
    img: Image.Image,
    lines: list[tuple[str, tuple[int, int]]],
    *,
    font_name: str = "dejavu_bold",
    size: int = 36,
    colour: tuple[int, int, int] = (255, 255, 255),
    outline: tuple[int, int, int] | None = (0, 0, 0),
    angle: float = 0.0,
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Draw each line at its position; returns the image and each line's bounds.

    A non-zero ``angle`` draws the line on its own layer, turns it, and pastes it, so the
    glyphs are rotated as a camera would see tilted print.
    """
    out = img.copy()
    face = font(font_name, size)
    stroke = max(1, size // 18) if outline is not None else 0
    boxes = []
    for text, (x, y) in lines:
        right, bottom = face.getbbox(text, stroke_width=stroke)[2:]
        layer = Image.new("RGBA", (right + 2 * stroke + 4, bottom + 2 * stroke + 4), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text(
            (2, 2),
            text,
            font=face,
            fill=(*colour, 255),
            stroke_width=stroke,
            stroke_fill=(*outline, 255) if outline is not None else None,
        )
        if angle:
            layer = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
        out.paste(layer, (x, y), layer)
        alpha = np.asarray(layer)[:, :, 3] > 0
        ys, xs = np.nonzero(alpha)
        x0, y0 = x + int(xs.min()), y + int(ys.min())
        boxes.append((x0, y0, int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1))
    return out, boxes


def text_image(
    photo_name: str,
    phrases: tuple[str, ...],
    *,
    size: int = 36,
    font_name: str = "dejavu_bold",
    colour: tuple[int, int, int] = (255, 255, 255),
    outline: tuple[int, int, int] | None = (0, 0, 0),
    angle: float = 0.0,
    quality: int = 90,
    long_side: int = 1024,
) -> Drawn:
    """Phrases drawn one under another down the left of a real photo."""
    img = photo(photo_name, long_side)
    step = int(size * 2.2 + abs(math.sin(math.radians(angle))) * size * 8)
    lines = [(text, (24, 24 + i * step)) for i, text in enumerate(phrases)]
    out, boxes = draw_text(
        img, lines, font_name=font_name, size=size, colour=colour, outline=outline, angle=angle
    )
    return Drawn(encode(out, quality), out.width, out.height, phrases, tuple(boxes))


def qr_image(payload: str, *, micro: bool = False, error: str = "m") -> Image.Image:
    """A QR (or Micro QR) symbol with its quiet zone, one pixel per module."""
    code = segno.make(payload, micro=micro, error=error)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=1, border=2 if micro else 4)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def zxing_symbol(fmt: zxingcpp.BarcodeFormat, payload: str) -> Image.Image:
    """Another symbology (Data Matrix, Aztec, EAN-13, Code 128) from zxing-cpp's writer."""
    code = zxingcpp.create_barcode(payload, fmt)
    bitmap = np.asarray(zxingcpp.write_barcode_to_image(code, scale=1, add_quiet_zones=True))
    img = Image.fromarray(np.ascontiguousarray(bitmap)).convert("RGB")
    if fmt in (zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.Code128):
        img = img.resize((img.width, max(60, img.width // 3)), Image.NEAREST)
    return img


def paste_code(
    base: Image.Image,
    symbol: Image.Image,
    *,
    module_px: float,
    at: tuple[int, int],
    blur: float = 0.0,
    perspective: float = 0.0,
) -> Image.Image:
    """Paste ``symbol`` scaled to ``module_px`` pixels per module, optionally blurred and
    seen at an angle (``perspective`` is the fraction by which one side shrinks)."""
    size = (max(1, round(symbol.width * module_px)), max(1, round(symbol.height * module_px)))
    scaled = symbol.resize(size, Image.NEAREST)
    if perspective:
        w, h = scaled.size
        inset = perspective * h / 2
        # Image.transform maps output corners to input corners (a right side that shrinks).
        coeffs = _perspective_coeffs(
            [(0, 0), (w, inset), (w, h - inset), (0, h)], [(0, 0), (w, 0), (w, h), (0, h)]
        )
        mask = Image.new("L", scaled.size, 255).transform(
            scaled.size, Image.PERSPECTIVE, coeffs, Image.BICUBIC
        )
        scaled = scaled.transform(scaled.size, Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    else:
        mask = Image.new("L", scaled.size, 255)
    out = base.copy()
    out.paste(scaled, at, mask)
    if blur:
        x, y = at
        region = (x, y, x + scaled.width, y + scaled.height)
        out.paste(out.crop(region).filter(ImageFilter.GaussianBlur(blur)), region[:2])
    return out


def _perspective_coeffs(
    src: list[tuple[float, float]], dst: list[tuple[float, float]]
) -> list[float]:
    """Coefficients for PIL's PERSPECTIVE transform taking ``src`` corners to ``dst``."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.array(rows, float), np.array(dst, float).reshape(8))
    return [float(c) for c in solution]


def code_image(
    photo_name: str,
    payload: str,
    *,
    module_px: float = 4.0,
    blur: float = 0.0,
    perspective: float = 0.0,
    quality: int = 90,
    long_side: int = 1024,
    symbol: Image.Image | None = None,
) -> Drawn:
    """A real photo with one QR code (or the given symbol) pasted right of centre."""
    img = photo(photo_name, long_side)
    sym = symbol if symbol is not None else qr_image(payload)
    at = (img.width // 2, img.height // 4)
    out = paste_code(img, sym, module_px=module_px, at=at, blur=blur, perspective=perspective)
    return Drawn(encode(out, quality), out.width, out.height, payloads=(payload,))
