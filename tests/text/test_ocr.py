"""OCR on real photos with real fonts drawn on them, read through the media stage."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mediaguard import media
from mediaguard.errors import ConfigError
from mediaguard.media.limits import Limits
from mediaguard.media.types import Frame
from mediaguard.signals import text as ocr
from mediaguard.signals.text import TextLine, TextReader

from . import builders
from .measure import cer, overlap


def _read(reader: TextReader, data: bytes, working_size: int = 1024) -> list[TextLine]:
    decoded = media.load(data, Limits(), working_size)
    return reader.read(decoded.frames)[0]


def _best(truth: str, lines: list[TextLine]) -> tuple[float, TextLine | None]:
    scored = [(cer(truth, line.text), line) for line in lines]
    return min(scored, key=lambda s: s[0], default=(1.0, None))


@pytest.mark.parametrize(
    ("photo", "font", "size", "colour", "quality"),
    [
        ("coffee.png", "dejavu_bold", 36, (255, 255, 255), 90),
        ("astronaut.png", "liberation_sans", 28, (255, 255, 0), 75),
        ("rocket.jpg", "dejavu_serif", 22, (255, 255, 255), 60),
        ("motorcycle_left.png", "liberation_serif", 44, (20, 20, 20), 90),
    ],
)
def test_drawn_lines_are_read_with_their_boxes_in_reading_order(
    text_reader: TextReader,
    photo: str,
    font: str,
    size: int,
    colour: tuple[int, int, int],
    quality: int,
) -> None:
    outline = (0, 0, 0) if sum(colour) > 300 else (255, 255, 255)
    drawn = builders.text_image(
        photo,
        builders.PHRASES[:4],
        size=size,
        font_name=font,
        colour=colour,
        outline=outline,
        quality=quality,
    )
    lines = _read(text_reader, drawn.data)
    matched = []
    for truth, box in zip(drawn.texts, drawn.boxes, strict=True):
        error, line = _best(truth, lines)
        assert line is not None
        assert error <= 0.1, (truth, [x.text for x in lines])
        assert 0.5 <= line.confidence <= 1.0
        assert overlap(box, (line.box.x, line.box.y, line.box.width, line.box.height)) > 0.5
        matched.append(lines.index(line))
    assert matched == sorted(matched), "lines come out top to bottom"


def test_tilted_text_is_read(text_reader: TextReader) -> None:
    drawn = builders.text_image("chelsea.png", builders.PHRASES[4:6], size=40, angle=8)
    lines = _read(text_reader, drawn.data)
    for truth in drawn.texts:
        error, _ = _best(truth, lines)
        assert error <= 0.15, (truth, [x.text for x in lines])


def test_boxes_are_in_original_pixels_when_the_frame_is_smaller(
    text_reader: TextReader,
) -> None:
    drawn = builders.text_image("coffee.png", builders.PHRASES[:2], size=48, long_side=1600)
    decoded = media.load(drawn.data, Limits(), 1024)
    (frame,) = decoded.frames
    assert frame.scale > 1.5
    lines = text_reader.read(decoded.frames)[0]
    for truth, box in zip(drawn.texts, drawn.boxes, strict=True):
        error, line = _best(truth, lines)
        assert line is not None
        assert error <= 0.1
        assert overlap(box, (line.box.x, line.box.y, line.box.width, line.box.height)) > 0.5


def test_a_line_on_one_side_of_another_is_read_left_to_right() -> None:
    left = np.array([[10, 100], [200, 100], [200, 130], [10, 130]], np.float32)
    right = left + np.array([300, 4], np.float32)
    below = left + np.array([0, 60], np.float32)
    ordered = ocr.reading_order([below, right, left])
    assert [q[0, 0] for q in ordered] == [10, 310, 10]
    assert ordered[2][0, 1] == 160


def test_noise_and_a_huge_banner_are_bounded(text_reader: TextReader) -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    lines = text_reader.read([Frame(0, None, noise, 1.0)])[0]
    assert len(lines) <= ocr.MAX_LINES
    # One line of 3,000 characters: far wider than MAX_ASPECT heights.
    banner = Image.new("RGB", (30000, 64), (255, 255, 255))
    ImageDraw.Draw(banner).text(
        (5, 12), "spam " * 600, font=builders.font("dejavu_sans", 30), fill=(0, 0, 0)
    )
    frame = Frame(0, None, np.asarray(banner), 1.0)
    started = time.perf_counter()
    lines = TextReader(input_size=30000, detect_size=30000).read([frame])[0]
    assert time.perf_counter() - started < 30
    # A squeezed crop gives at most one character per recogniser step (8 pixels).
    assert all(len(line.text) <= ocr.MAX_ASPECT * 48 / 8 for line in lines)


def test_a_missing_text_extra_is_a_config_error_naming_it(tmp_path: Path) -> None:
    fake = tmp_path / "rapidocr"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    script = textwrap.dedent(
        """
        from mediaguard.errors import ConfigError
        from mediaguard.signals.text import TextReader
        try:
            TextReader()
        except ConfigError as err:
            print(err)
        """
    )
    env_path = f"{tmp_path}:{Path(ocr.__file__).parents[2]}"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path},
        check=True,
        timeout=60,
    )
    assert "pip install 'mediaguard[text]'" in done.stdout
    assert ConfigError.__name__  # the error class the message came through


def test_photos_without_text_give_no_words(text_reader: TextReader) -> None:
    """Texture can look like a lone glyph (coffee.png reads an "8"), never like a word."""
    for name in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"):
        data = builders.encode(builders.photo(name))
        assert [line.text for line in _read(text_reader, data) if len(line.text) > 2] == []


def test_only_the_weights_of_rapidocr_are_used(tmp_path: Path) -> None:
    """A scan with text on never imports rapidocr (nor its downloader) and reads offline."""
    image = tmp_path / "ad.jpg"
    image.write_bytes(builders.text_image("rocket.jpg", ("Best prices in town",)).data)
    script = textwrap.dedent(
        f"""
        import sys
        from mediaguard.config import ScanConfig, TextOptions
        from mediaguard.scanner import Scanner
        verdict = Scanner(ScanConfig(text=TextOptions(enabled=True))).scan({str(image)!r})
        print([t.text for t in verdict.texts])
        print(sorted(m for m in ("rapidocr", "requests", "omegaconf") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    texts, imported = done.stdout.strip().splitlines()
    assert "Best prices" in texts
    assert imported == "[]"


def test_upside_down_lines_are_turned_when_upright_is_on() -> None:
    drawn = builders.text_image("coffee.png", builders.PHRASES[5:7], size=40, angle=180)
    frames = media.load(drawn.data, Limits(), 1024).frames
    turned = TextReader(upright=True)
    assert [m.name for m in turned.models][-1] == "ppocr-mobile-v2-cls"
    lines = turned.read(frames)[0]
    for truth in drawn.texts:
        error, _ = _best(truth, lines)
        assert error <= 0.1, (truth, [x.text for x in lines])
    as_is = TextReader().read(frames)[0]
    assert min(_best(truth, as_is)[0] for truth in drawn.texts) > 0.2


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3000, 3), (3000, 2, 3), (40, 40, 3)])
def test_degenerate_frames_give_nothing_and_no_error(
    text_reader: TextReader, shape: tuple[int, int, int]
) -> None:
    from mediaguard.signals.codes import CodeReader

    for fill in (0, 255):
        frame = Frame(0, None, np.full(shape, fill, np.uint8), 1.0)
        assert text_reader.read([frame]) == [[]]
        assert CodeReader().read([frame]) == [[]]
