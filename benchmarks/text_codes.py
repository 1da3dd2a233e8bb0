"""Text (OCR) and codes: accuracy and speed, each against its anchor in the same run.

    python benchmarks/text_codes.py ocr                 # mediaguard vs RapidOCR()(path)
    python benchmarks/text_codes.py codes [PHOTOS_DIR]  # zxing-cpp vs OpenCV (vs pyzbar)
    python benchmarks/text_codes.py pipeline PHOTOS_DIR # scan cost with codes on vs off

The test images are built by ``tests/text/builders.py`` from the real photos scikit-image
ships, with Debian's DejaVu and Liberation fonts and segno's QR codes; nothing is read
from disk but those and, for ``codes`` and ``pipeline``, a folder of real photos
(``benchmarks/fetch_photos.sh`` fetches Debian's wallpaper photographs). Runs alternate
between mediaguard and the anchor image by image, so a noisy machine slows both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.text import builders
from tests.text.measure import cer

SIZES = (10, 12, 14, 20, 28, 40, 56)
FONTS = tuple(builders.FONTS)
COLOURS = ((255, 255, 255), (255, 230, 0), (20, 20, 20), (230, 40, 40))
QUALITIES = (90, 75, 60)
RECALLED = 0.2  # a drawn line counts as read when the best line has CER <= 0.2


def _ocr_corpus(long_side: int) -> list[builders.Drawn]:
    corpus = []
    i = 0
    for size in SIZES:
        for photo in builders.PHOTOS:
            colour = COLOURS[i % len(COLOURS)]
            phrases = tuple(builders.PHRASES[(i + k) % len(builders.PHRASES)] for k in range(3))
            drawn = builders.text_image(
                photo,
                phrases,
                size=size,
                font_name=FONTS[i % len(FONTS)],
                colour=colour,
                outline=(0, 0, 0) if sum(colour) > 300 else (255, 255, 255),
                angle=5.0 if i % 4 == 3 else 0.0,
                quality=QUALITIES[i % len(QUALITIES)],
                long_side=long_side,
            )
            corpus.append(drawn)
            i += 1
    return corpus


def _score(truths: tuple[str, ...], read: list[str]) -> tuple[int, list[float]]:
    errors = [min((min(1.0, cer(t, r)) for r in read), default=1.0) for t in truths]
    return sum(e <= RECALLED for e in errors), errors


def ocr(long_side: int, input_size: int, detect_size: int) -> None:
    from rapidocr import RapidOCR

    from mediaguard import media
    from mediaguard.media.limits import Limits
    from mediaguard.signals.text import TextReader

    corpus = _ocr_corpus(long_side)
    reader = TextReader(input_size=input_size, detect_size=detect_size)
    anchor = RapidOCR(params={"Global.log_level": "error"})
    limits = Limits()
    times: dict[str, list[float]] = defaultdict(list)
    by_size: dict[tuple[str, int], list[float]] = defaultdict(list)
    recalled: dict[tuple[str, int], int] = defaultdict(int)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n, drawn in enumerate(corpus):
            path = Path(tmp) / f"{n}.jpg"
            path.write_bytes(drawn.data)
            paths.append(path)
        # Warm up both (first runs allocate).
        anchor(str(paths[0]))
        reader.read(media.load(corpus[0].data, limits, reader.input_size).frames)
        for n, (drawn, path) in enumerate(zip(corpus, paths, strict=True)):
            size = SIZES[n // len(builders.PHOTOS)]
            started = time.perf_counter()
            data = path.read_bytes()
            lines = reader.read(media.load(data, limits, reader.input_size).frames)[0]
            times["mediaguard"].append(time.perf_counter() - started)
            started = time.perf_counter()
            result = anchor(str(path))
            times["rapidocr"].append(time.perf_counter() - started)
            for name, read in (
                ("mediaguard", [line.text for line in lines]),
                ("rapidocr", list(result.txts or ())),
            ):
                hits, errors = _score(drawn.texts, read)
                recalled[name, size] += hits
                by_size[name, size] += errors
    lines_per_size = 3 * len(builders.PHOTOS)
    print(
        f"OCR: {len(corpus)} images, {long_side} px long side, {lines_per_size} lines per "
        f"size; mediaguard input_size {input_size}, detect_size {detect_size}"
    )
    header = ("font size (px)", "recall mediaguard", "recall RapidOCR", "CER mediaguard")
    print("| " + " | ".join(header) + " | CER RapidOCR |")
    print("|---|---|---|---|---|")
    for size in SIZES:
        print(
            f"| {size} | {recalled['mediaguard', size]}/{lines_per_size} | "
            f"{recalled['rapidocr', size]}/{lines_per_size} | "
            f"{statistics.mean(by_size['mediaguard', size]):.3f} | "
            f"{statistics.mean(by_size['rapidocr', size]):.3f} |"
        )
    ours, theirs = sum(times["mediaguard"]), sum(times["rapidocr"])
    print(
        f"\nmediaguard {ours / len(corpus) * 1000:.0f} ms/image "
        f"(median {statistics.median(times['mediaguard']) * 1000:.0f}), RapidOCR "
        f"{theirs / len(corpus) * 1000:.0f} ms/image "
        f"(median {statistics.median(times['rapidocr']) * 1000:.0f}): {theirs / ours:.2f}x"
    )


def _photos(folder: Path | None) -> list[bytes]:
    shipped = [builders.encode(builders.photo(name)) for name in builders.PHOTOS]
    extra = ("camera.png", "hubble_deep_field.jpg", "coffee.png")
    shipped += [builders.encode(builders.photo(name)) for name in extra]
    hopper = files("matplotlib").joinpath("mpl-data/sample_data/grace_hopper.jpg")
    shipped.append(hopper.read_bytes())
    if folder is not None:
        shipped += [p.read_bytes() for p in sorted(folder.glob("*.jpg"))]
    return shipped


def codes(folder: Path | None) -> None:
    import cv2

    from mediaguard import media
    from mediaguard.media.limits import Limits
    from mediaguard.signals.codes import CodeReader

    try:
        from pyzbar import pyzbar
    except ImportError:  # needs Debian's libzbar0
        pyzbar = None
    url = "https://login.phish.example/verify?id=42"
    zxing = CodeReader()
    opencv = cv2.QRCodeDetector()

    def read_zxing(pixels: np.ndarray) -> list[str]:
        from mediaguard.media.types import Frame

        return [r.payload for r in zxing.read([Frame(0, None, pixels, 1.0)])[0]]

    def read_opencv(pixels: np.ndarray) -> list[str]:
        text, _, _ = opencv.detectAndDecode(cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        return [text] if text else []

    def read_pyzbar(pixels: np.ndarray) -> list[str]:
        assert pyzbar is not None
        grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        return [s.data.decode("utf-8", "replace") for s in pyzbar.decode(grey)]

    readers = {"zxing-cpp": read_zxing, "OpenCV": read_opencv}
    if pyzbar is not None:
        readers["pyzbar"] = read_pyzbar
    modules = (1.5, 2.0, 3.0, 4.0, 6.0)
    blurs = (0.0, 1.0, 2.0)
    found: dict[tuple[str, int, float, float], int] = defaultdict(int)
    spent: dict[tuple[str, int], list[float]] = defaultdict(list)
    total: dict[tuple[int, float, float], int] = defaultdict(int)
    for module in modules:
        for blur in blurs:
            for photo in builders.PHOTOS:
                for perspective in (0.0, 0.2):
                    drawn = builders.code_image(
                        photo, url, module_px=module, blur=blur, perspective=perspective
                    )
                    for working in (512, 1024):
                        frame = media.load(drawn.data, Limits(), working).frames[0]
                        total[working, module, blur] += 1
                        for name, read in readers.items():
                            started = time.perf_counter()
                            payloads = read(np.asarray(frame.pixels))
                            spent[name, working].append(time.perf_counter() - started)
                            found[name, working, module, blur] += url in payloads
    names = list(readers)
    for working in (512, 1024):
        print(f"\nQR decode rate, frames decoded at {working} px long side (files: 1024 px)")
        print("| module px in file | blur sigma | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
        for module in modules:
            for blur in blurs:
                n = total[working, module, blur]
                cells = " | ".join(f"{found[x, working, module, blur]}/{n}" for x in names)
                print(f"| {module:g} | {blur:g} | {cells} |")
        print(
            "ms/image: "
            + ", ".join(f"{x} {statistics.mean(spent[x, working]) * 1000:.1f}" for x in names)
        )
    photos = _photos(folder)
    false: dict[str, int] = defaultdict(int)
    for data in photos:
        frame = media.load(data, Limits(), 1024).frames[0]
        for name, read in readers.items():
            false[name] += len(read(np.asarray(frame.pixels)))
    print(
        f"\nfalse payloads on {len(photos)} real photos without codes (1024 px): "
        + ", ".join(f"{x} {false[x]}" for x in names)
    )


def pipeline(folder: Path | None, rounds: int) -> None:
    from mediaguard.config import CodeOptions, ScanConfig
    from mediaguard.scanner import Scanner

    photos = _photos(folder)
    on = Scanner()
    off = Scanner(ScanConfig(codes=CodeOptions(enabled=False)))
    on.scan(photos[0])
    off.scan(photos[0])
    per: dict[str, list[list[float]]] = {"on": [], "off": []}
    codes_ms = []
    for _ in range(rounds):
        for label, scanner in (("off", off), ("on", on)):
            totals = []
            for data in photos:
                verdict = scanner.scan(data)
                totals.append(verdict.timings.total_ms)
                if label == "on":
                    codes_ms.append(verdict.timings.codes_ms)
            per[label].append(totals)
    # Median over rounds per image, then the mean over images.
    mean = {
        k: statistics.mean(map(statistics.median, zip(*v, strict=True))) for k, v in per.items()
    }
    print(f"pipeline: {len(photos)} real photos, {rounds} rounds, one process, default config")
    print(f"codes off {mean['off']:.1f} ms/image, codes on {mean['on']:.1f} ms/image")
    print(
        f"added {mean['on'] - mean['off']:.1f} ms ({(mean['on'] / mean['off'] - 1) * 100:.1f}%); "
        f"codes_ms mean {statistics.mean(codes_ms):.2f}, p95 "
        f"{np.percentile(codes_ms, 95):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("ocr", "codes", "pipeline"))
    parser.add_argument("photos", nargs="?", type=Path, help="folder of real JPEG photos")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--long-side", type=int, default=1024, help="OCR test image size")
    parser.add_argument("--input-size", type=int, default=1024, help="[text] input_size")
    parser.add_argument("--detect-size", type=int, default=736, help="[text] detect_size")
    args = parser.parse_args()
    if args.what == "ocr":
        ocr(args.long_side, args.input_size, args.detect_size)
    elif args.what == "codes":
        codes(args.photos)
    else:
        pipeline(args.photos, args.rounds)


if __name__ == "__main__":
    main()
