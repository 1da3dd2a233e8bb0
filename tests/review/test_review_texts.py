"""What the item page shows of text and codes: marked spans, overlay boxes, choices."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mediaguard.config import ScanConfig
from mediaguard.match.textmatch import TextMatch
from mediaguard.review import texts
from mediaguard.scanner import Scanner
from mediaguard.signals.base import Box
from mediaguard.verdict import TextFound, Verdict
from text import builders

URL = "https://login.phish.example/verify?id=42"


@pytest.fixture(scope="module")
def verdict() -> Verdict:
    """A real scan of a real photo with a QR code (codes are read by default)."""
    with Image.open(io.BytesIO(builders.text_image("coffee.png", ("x",)).data)) as img:
        pasted = builders.paste_code(
            img.convert("RGB"), builders.qr_image(URL), module_px=5, at=(600, 420)
        )
    return Scanner(ScanConfig(detectors=())).scan(builders.encode(pasted))


def _line(text: str, time_s: float | None = None) -> TextFound:
    return TextFound(
        text=text, confidence=0.9, box=Box(x=10, y=20, width=100, height=10), frame=0,
        time_s=time_s,
    )  # fmt: skip


def _match(start: int, end: int, text: str) -> TextMatch:
    return TextMatch(
        list="scam", kind="term", category="spam", entry_type="phrase", entry="x", entry_id=1,
        found_in="text", index=0, frame=0, start=start, end=end, matched=text[start:end],
    )  # fmt: skip


def test_overlapping_spans_are_marked_once(verdict: Verdict) -> None:
    text = "win free bitcoin today"
    with_text = verdict.model_copy(
        update={
            "texts": [_line(text)],
            "text_matches": [_match(4, 16, text), _match(9, 22, text)],
        }
    )
    (row, code_row) = texts.read_rows(with_text)
    assert [(p.text, p.marked) for p in row.pieces] == [
        ("win ", False),
        ("free bitcoin today", True),
    ]
    assert row.lists == ("scam",)
    assert code_row.where == "qr code"
    assert [p.text for p in code_row.pieces] == [URL]
    boxes = texts.overlay(with_text)
    assert [(b.number, b.matched) for b in boxes] == [(1, True), (2, False)]
    width = with_text.media.width
    assert boxes[0].left == round(100 * 10 / width, 2)
    assert 0 < boxes[1].left < 100
    assert 0 < boxes[1].width < 100


def test_a_video_preview_shows_only_the_boxes_of_its_frame(verdict: Verdict) -> None:
    media = verdict.media.model_copy(update={"kind": "video"})
    video = verdict.model_copy(
        update={"media": media, "texts": [_line("a", 1.0), _line("b", 2.0)], "codes": []}
    )
    assert [b.number for b in texts.overlay(video, seconds=2.0)] == [2]
    assert texts.overlay(video, seconds=None) == []


def test_choices_come_from_the_verdict(verdict: Verdict) -> None:
    text = "Visit WWW.Paypa1.example now"
    with_text = verdict.model_copy(
        update={
            "texts": [_line(text).model_copy(update={"urls": ["http://www.paypa1.example/"]})],
            "text_matches": [_match(0, 5, text)],
        }
    )
    assert texts.term_choices(with_text) == ["Visit", text]
    assert texts.domain_choices(with_text) == ["paypa1.example", "phish.example"]
