"""``redact --text`` and ``--codes``: recognised text and codes hidden, no output on failure.

Real photos with Debian's fonts rendered on them and real segno QR codes pasted in; the
output is read again with the same readers, which must no longer find what was hidden.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mediaguard.cli import main
from mediaguard.commands.redact import EXIT_FAILED
from mediaguard.media.types import Frame
from mediaguard.redaction import RedactionError, redact
from mediaguard.signals.codes import CodeReader
from mediaguard.signals.text import TextReader
from text import builders
from text.measure import cer
from video.builders import VideoSpec, write_video

URL = "https://login.phish.example/verify?id=42"
PHONE = "CALL 0612 345 678"


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    drawn = builders.text_image("coffee.png", (PHONE, "Best prices in town"))
    with Image.open(io.BytesIO(drawn.data)) as img:
        pasted = builders.paste_code(
            img.convert("RGB"), builders.qr_image(URL), module_px=5, at=(600, 420)
        )
    path = tmp_path_factory.mktemp("redact") / "screenshot.png"
    pasted.save(path)
    return path


def _frame(path: Path) -> Frame:
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB"))
    return Frame(index=0, time=None, pixels=np.ascontiguousarray(pixels), scale=1.0)


def _phone_lines(reader: TextReader, path: Path) -> list[str]:
    return [line.text for line in reader.read([_frame(path)])[0] if cer(PHONE, line.text) <= 0.3]


def test_codes_and_text_are_hidden(screenshot: Path, tmp_path: Path) -> None:
    reader, codes = TextReader(), CodeReader()
    assert [c.payload for c in codes.read([_frame(screenshot)])[0]] == [URL]
    assert _phone_lines(reader, screenshot)
    out = tmp_path / "out.png"
    report = redact(screenshot, out, text=True, codes=True, mode="solid")
    assert report.regions >= 3  # two lines and the code
    assert codes.read([_frame(out)])[0] == []
    assert _phone_lines(reader, out) == []
    # Only the boxes were painted: most of the photo is untouched.
    before, after = np.asarray(Image.open(screenshot)), np.asarray(Image.open(out))
    assert (before == after).all(axis=2).mean() > 0.6


def test_codes_alone_leave_the_text(screenshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    redact(screenshot, out, codes=True)
    assert CodeReader().read([_frame(out)])[0] == []
    assert _phone_lines(TextReader(), out)


def test_without_the_options_nothing_but_faces_is_hidden(screenshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    redact(screenshot, out)
    assert [c.payload for c in CodeReader().read([_frame(out)])[0]] == [URL]


def test_the_command_takes_text_and_codes(
    screenshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    assert main(["redact", str(screenshot), str(out), "--codes", "--text"]) == 0
    assert "region(s)" in capsys.readouterr().err
    assert CodeReader().read([_frame(out)])[0] == []


def test_video_codes_are_hidden_and_a_failure_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = np.asarray(builders.photo("chelsea.png", 640))
    marked = np.asarray(
        builders.paste_code(
            builders.photo("chelsea.png", 640), builders.qr_image(URL), module_px=4, at=(380, 60)
        )
    )
    spec = VideoSpec(
        size=(plain.shape[1], plain.shape[0]),
        frames=20,
        rate=Fraction(10),
        picture=lambda i: marked if i >= 5 else plain,
    )
    clip = tmp_path / "clip.mp4"
    write_video(spec, clip)
    out = tmp_path / "out.mp4"
    report = redact(clip, out, codes=True, detect_every=1)
    assert report.regions > 0
    assert out.is_file()

    calls = {"n": 0}
    real = CodeReader.read

    def failing(self: CodeReader, frames: list[Frame]) -> object:
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("the code reader failed part-way")
        return real(self, frames)

    monkeypatch.setattr(CodeReader, "read", failing)
    broken = tmp_path / "broken.mp4"
    with pytest.raises(RedactionError, match="part-way"):
        redact(clip, broken, codes=True, detect_every=1)
    assert not broken.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]
    calls["n"] = 0
    assert main(["redact", str(clip), str(broken), "--codes"]) == EXIT_FAILED
    assert not broken.exists()
