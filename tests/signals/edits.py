"""How people repost a picture: framed in a border, or captioned with a meme bar."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def framed(pixels: np.ndarray, share: float, colour: tuple[int, int, int]) -> np.ndarray:
    height, width = pixels.shape[:2]
    pad = round(max(height, width) * share)
    out = np.empty((height + 2 * pad, width + 2 * pad, 3), np.uint8)
    out[:] = colour
    out[pad : pad + height, pad : pad + width] = pixels
    return out


def captioned(pixels: np.ndarray, share: float, *, top: bool) -> np.ndarray:
    """A meme bar: black text on white, half the bar's height, above or below."""
    height, width = pixels.shape[:2]
    bar_height = round(height * share)
    bar = Image.new("RGB", (width, bar_height), (255, 255, 255))
    font = ImageFont.load_default(size=max(8, bar_height // 2))
    ImageDraw.Draw(bar).text((width // 20, bar_height // 4), "ME ON A MONDAY", (0, 0, 0), font)
    parts = [np.asarray(bar), pixels]
    return np.concatenate(parts if top else parts[::-1], axis=0)


def screenshot(pixels: np.ndarray) -> np.ndarray:
    """A phone screenshot: a dark status bar, a light app bar, the picture, buttons."""
    height, width = pixels.shape[:2]
    status, app, buttons = round(width * 0.06), round(width * 0.12), round(width * 0.2)
    canvas = Image.new("RGB", (width, status + app + height + buttons), (248, 248, 248))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, status - 1), fill=(24, 24, 24))
    font = ImageFont.load_default(size=max(8, status // 2))
    draw.text((width // 30, status // 4), "09:41  LTE  62%", (240, 240, 240), font)
    draw.text((width // 25, status + app // 3), "@somebody · 3h", (20, 20, 20), font)
    canvas.paste(Image.fromarray(pixels), (0, status + app))
    below = status + app + height + buttons // 3
    draw.text((width // 25, below), "like  reply", (80, 80, 80), font)
    return np.asarray(canvas)
