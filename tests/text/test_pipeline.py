"""Text and codes through the scanner: configuration, verdict fields, schema, video, models."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import segno
from PIL import Image

from mediaguard.cli import EXIT_OK, main
from mediaguard.config import CodeOptions, ScanConfig, TextOptions
from mediaguard.errors import ConfigError
from mediaguard.media.limits import Limits
from mediaguard.scanner import Scanner
from mediaguard.verdict import Verdict, json_schema
from video.builders import VideoSpec, write_video

from . import builders
from .measure import cer

URL = "https://login.phish.example/verify?id=42"


@pytest.fixture(scope="module")
def with_text() -> Scanner:
    return Scanner(ScanConfig(text=TextOptions(enabled=True)))


@pytest.fixture(scope="module")
def default_scanner() -> Scanner:
    return Scanner()


def _photo_with_text_and_code() -> bytes:
    drawn = builders.text_image("coffee.png", ("visit cheap-pills.example", "FREE BITCOIN"))
    with Image.open(io.BytesIO(drawn.data)) as img:
        pasted = builders.paste_code(
            img.convert("RGB"), builders.qr_image(URL), module_px=5, at=(600, 420)
        )
    return builders.encode(pasted)


def test_codes_are_read_by_default_with_urls_in_normal_form(default_scanner: Scanner) -> None:
    verdict = default_scanner.scan(_photo_with_text_and_code())
    (code,) = verdict.codes
    assert (code.symbology, code.payload, code.frame, code.time_s) == ("qr_code", URL, 0, None)
    assert code.urls == [URL]
    assert 600 <= code.box.x <= 640
    assert verdict.texts == []
    assert verdict.timings.codes_ms > 0
    assert verdict.timings.text_ms == 0
    assert "zxing-cpp" in [m.name for m in verdict.models]
    jsonschema.validate(verdict.model_dump(mode="json"), json_schema())


def test_text_is_read_when_enabled_and_validates(with_text: Scanner) -> None:
    assert with_text.working_size >= 1024
    verdict = with_text.scan(_photo_with_text_and_code())
    texts = {t.text: t for t in verdict.texts}
    best = min(texts, key=lambda t: cer("visit cheap-pills.example", t))
    assert cer("visit cheap-pills.example", best) <= 0.1
    assert texts[best].urls == ["http://cheap-pills.example/"]
    assert any(cer("FREE BITCOIN", t) <= 0.1 for t in texts)
    assert [c.payload for c in verdict.codes] == [URL]
    assert verdict.timings.text_ms > 0
    names = [m.name for m in verdict.models]
    assert {"ppocr-v6-det-small", "ppocr-v6-rec-small"} <= set(names)
    assert all(m.sha256 for m in verdict.models if m.name.startswith("ppocr"))
    jsonschema.validate(verdict.model_dump(mode="json"), json_schema())


def test_with_policy_keeps_the_loaded_readers(with_text: Scanner) -> None:
    other = with_text.with_policy(with_text.policy)
    assert other.text_reader is with_text.text_reader
    assert other.code_reader is with_text.code_reader


def test_codes_can_be_turned_off() -> None:
    scanner = Scanner(ScanConfig(codes=CodeOptions(enabled=False)))
    verdict = scanner.scan(_photo_with_text_and_code())
    assert verdict.codes == []
    assert "zxing-cpp" not in [m.name for m in verdict.models]


def test_video_codes_and_text_carry_frame_times(tmp_path: Path, with_text: Scanner) -> None:
    plain = np.asarray(builders.photo("chelsea.png", 640))
    marked = builders.paste_code(
        builders.photo("chelsea.png", 640), builders.qr_image(URL), module_px=4, at=(380, 60)
    )
    marked, _ = builders.draw_text(marked, [("FREE BITCOIN", (20, 330))], size=40)
    marked_pixels = np.asarray(marked)
    # Two seconds at 10 fps: the code and the text are shown from 1.0 s on.
    spec = VideoSpec(
        size=(plain.shape[1], plain.shape[0]),
        frames=20,
        rate=Fraction(10),
        picture=lambda i: marked_pixels if i >= 10 else plain,
    )
    path = tmp_path / "clip.mp4"
    write_video(spec, path)
    verdict = with_text.scan(path)
    assert verdict.codes, "the code is read on the sampled frames that show it"
    assert {c.payload for c in verdict.codes} == {URL}
    assert all(c.time_s is not None and c.time_s >= 1.0 for c in verdict.codes)
    bitcoin = [t for t in verdict.texts if cer("FREE BITCOIN", t.text) <= 0.15]
    assert bitcoin
    assert all(t.time_s is not None and t.time_s >= 1.0 for t in bitcoin)
    jsonschema.validate(verdict.model_dump(mode="json"), json_schema())


def test_config_tables(tmp_path: Path) -> None:
    config = ScanConfig.from_mapping(
        {"text": {"enabled": True, "min_confidence": 0.7, "input_size": 1280}, "codes": {}},
        base_dir=tmp_path,
    )
    assert config.text == TextOptions(enabled=True, min_confidence=0.7, input_size=1280)
    assert config.codes.enabled
    assert not ScanConfig().text.enabled


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": {"enabled": "yes"}}, "text.enabled: expected true or false"),
        ({"text": {"min_confidence": 2}}, "text.min_confidence: expected 0 to 1"),
        ({"text": {"input_size": 10}}, "text.input_size: expected pixels"),
        ({"text": {"language": "en"}}, "text: unknown field(s) language"),
        ({"codes": {"enabled": 1}}, "codes.enabled: expected true or false"),
        ({"codes": {"formats": []}}, "codes: unknown field(s) formats"),
    ],
)
def test_bad_config_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ScanConfig.from_mapping(data, base_dir=Path())


def test_models_lists_the_ocr_models_and_their_licence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == EXIT_OK
    out = capsys.readouterr().out
    # Listed (opt-in) whenever the text extra is installed, even with [text] off.
    assert "ppocr-v6-det" in out
    assert "ppocr-v6-rec" in out
    assert "rapidocr" in out
    assert "PaddleOCR" in out
    assert "Apache-2.0" in out
    assert "zxing-cpp" in out


def test_a_binary_junk_code_leaves_the_verdict_valid() -> None:
    junk = bytes(range(256)) * 4
    buffer = io.BytesIO()
    segno.make(junk, error="l", mode="byte").save(buffer, kind="png", scale=4, border=4)
    with Image.open(buffer) as img:
        base = builders.photo("astronaut.png", 1600)
        base.paste(img.convert("RGB"), (100, 100))
    verdict = Scanner(ScanConfig(limits=Limits(working_size=1600))).scan(builders.encode(base))
    (code,) = verdict.codes
    assert (code.content, code.length, code.truncated) == ("binary", 1024, True)
    assert code.urls == []
    assert Verdict.model_validate_json(verdict.to_json()) == verdict
    jsonschema.validate(verdict.model_dump(mode="json"), json_schema())
