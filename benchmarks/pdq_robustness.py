"""How well PDQ at distance <= 31 survives common edits of real photos.

For every photo in DIR (jpg, png, webp) the original is first reduced to at most
1024 px on its long side (as the media stage decodes it), hashed, then edited:
JPEG re-encoding at q30-q90, resizing 0.25-2x, centre crops of 2-20%, a text watermark in
Pillow's default font, greyscale, Gaussian blur, and mirroring / rotation with and
without dihedral matching. Each edit's match rate is the share of photos whose
edited hash is within 31 bits of the original's; the false-match rate is the share
of pairs of *distinct* photos within 31 bits (also with all 8 dihedral variants,
since dihedral matching multiplies the chances of a false match).

    python benchmarks/pdq_robustness.py /tmp/photos
    python benchmarks/pdq_robustness.py /tmp/photos --add-skimage   # also skimage/matplotlib photos

Needs pdqhash and Pillow (scikit-image / matplotlib for --add-skimage).
"""

from __future__ import annotations

import argparse
import io
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from mediaguard.match.index import DEFAULT_PDQ_DISTANCE, MIN_PDQ_QUALITY, pdq_bits_to_hex

MAX_SIDE = 1024
Edit = Callable[[Image.Image], Image.Image]


def load(path: Path) -> Image.Image:
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return img


def skimage_photos() -> list[tuple[str, Image.Image]]:
    from matplotlib import cbook
    from skimage import data

    out = []
    for name in (
        "astronaut",
        "camera",
        "coffee",
        "chelsea",
        "rocket",
        "hubble_deep_field",
        "moon",
        "coins",
        "immunohistochemistry",
    ):
        arr = getattr(data, name)()
        img = Image.fromarray(arr).convert("RGB")
        out.append((f"skimage:{name}", img))
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        out.append(("matplotlib:grace_hopper", Image.open(fh).convert("RGB")))
    return out


def pdq(img: Image.Image) -> tuple[np.ndarray, int]:
    bits, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    return np.packbits(bits.astype(np.uint8)), int(quality)


def dihedral(img: Image.Image) -> list[np.ndarray]:
    vectors, _ = pdqhash.compute_dihedral(np.asarray(img.convert("RGB")))
    return [np.frombuffer(bytes.fromhex(pdq_bits_to_hex(v)), dtype=np.uint8) for v in vectors]


def dist(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.bitwise_count(a ^ b).sum())


def jpeg(q: int) -> Edit:
    def edit(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    return edit


def resize(f: float) -> Edit:
    return lambda img: img.resize(
        (max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BILINEAR
    )


def crop(p: float) -> Edit:
    def edit(img: Image.Image) -> Image.Image:
        dx, dy = round(img.width * p / 2), round(img.height * p / 2)
        return img.crop((dx, dy, img.width - dx, img.height - dy))

    return edit


def watermark(fraction: int) -> Edit:
    """Text whose height is 1/fraction of the image's, bottom right, white on black."""
    return lambda img: _watermark(img, fraction)


def _watermark(img: Image.Image, fraction: int) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(10, img.height // fraction)
    font = ImageFont.load_default(size=size)
    text = "(c) mediaguard sample"
    box = draw.textbbox((0, 0), text, font=font)
    x = img.width - (box[2] - box[0]) - size // 2
    y = img.height - (box[3] - box[1]) - size // 2
    draw.text(
        (x, y),
        text,
        font=font,
        fill=(255, 255, 255),
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
    return out


EDITS: list[tuple[str, Edit]] = [
    *[(f"jpeg q{q}", jpeg(q)) for q in (30, 50, 70, 90)],
    *[(f"resize {f}x", resize(f)) for f in (0.25, 0.5, 1.5, 2.0)],
    *[(f"crop {round(p * 100)}%", crop(p)) for p in (0.02, 0.05, 0.10, 0.20)],
    ("text watermark, h/24", watermark(24)),
    ("text watermark, h/12", watermark(12)),
    ("greyscale", lambda img: img.convert("L").convert("RGB")),
    ("gaussian blur r=2", lambda img: img.filter(ImageFilter.GaussianBlur(2))),
    ("gaussian blur r=5", lambda img: img.filter(ImageFilter.GaussianBlur(5))),
    ("mirror, plain", ImageOps.mirror),
    ("rotate 90, plain", lambda img: img.transpose(Image.Transpose.ROTATE_270)),
]
DIHEDRAL_EDITS: list[tuple[str, Edit]] = [
    ("mirror, dihedral", ImageOps.mirror),
    ("rotate 90, dihedral", lambda img: img.transpose(Image.Transpose.ROTATE_270)),
    ("mirror + jpeg q50, dihedral", lambda img: jpeg(50)(ImageOps.mirror(img))),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path, help="folder of photos (jpg, png, webp)")
    ap.add_argument("--add-skimage", action="store_true", help="also use skimage/matplotlib photos")
    args = ap.parse_args()
    photos = [
        (p.name, load(p))
        for p in sorted(args.dir.iterdir())
        if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}
    ]
    if args.add_skimage:
        photos += [(n, load_img(i)) for n, i in skimage_photos()]
    base = []
    for name, img in photos:
        code, quality = pdq(img)
        if quality < MIN_PDQ_QUALITY:
            print(f"skipped {name}: PDQ quality {quality} < {MIN_PDQ_QUALITY}")
            continue
        base.append((name, img, code))
    print(f"{len(base)} photos (long side <= {MAX_SIDE} px), threshold <= {DEFAULT_PDQ_DISTANCE}\n")
    print(f"{'edit':<30}{'match rate':>12}{'mean dist':>11}{'max dist':>10}{'low quality':>13}")
    for label, edit in EDITS:
        ds, lowq = [], 0
        for _, img, code in base:
            code2, q2 = pdq(edit(img))
            lowq += q2 < MIN_PDQ_QUALITY
            ds.append(dist(code, code2))
        row(label, ds, lowq)
    for label, edit in DIHEDRAL_EDITS:
        ds = [min(dist(code, v) for v in dihedral(edit(img))) for _, img, code in base]
        row(label, ds, 0)
    codes = [c for _, _, c in base]
    pairs = list(itertools.combinations(range(len(codes)), 2))
    plain = [dist(codes[i], codes[j]) for i, j in pairs]
    variants = [dihedral(img) for _, img, _ in base]
    dihed = [min(dist(codes[i], v) for v in variants[j]) for i, j in pairs] + [
        min(dist(codes[j], v) for v in variants[i]) for i, j in pairs
    ]
    fm = sum(d <= DEFAULT_PDQ_DISTANCE for d in plain)
    fmd = sum(d <= DEFAULT_PDQ_DISTANCE for d in dihed)
    print(
        f"\nfalse matches, distinct photos: {fm}/{len(plain)} pairs "
        f"({fm / len(plain):.4%}); min distance {min(plain)}"
    )
    print(
        f"false matches with dihedral   : {fmd}/{len(dihed)} ordered pairs "
        f"({fmd / len(dihed):.4%}); min distance {min(dihed)}"
    )


def load_img(img: Image.Image) -> Image.Image:
    img = img.copy()
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return img


def row(label: str, ds: list[int], lowq: int) -> None:
    rate = sum(d <= DEFAULT_PDQ_DISTANCE for d in ds) / len(ds)
    print(f"{label:<30}{rate:>11.1%}{np.mean(ds):>11.1f}{max(ds):>10}{lowq:>13}")


if __name__ == "__main__":
    main()
