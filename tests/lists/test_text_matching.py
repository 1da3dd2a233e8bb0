"""Term and URL lists in scans: real OCR on real photos with rendered text, real QR codes.

The lists live in the store (SQLite and a real PostgreSQL); the photos are the shipped
real photographs with Debian's fonts drawn on and segno QR codes pasted in.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from mediaguard.config import ScanConfig, TextOptions
from mediaguard.lists.hashlists import ListMatcher
from mediaguard.lists.termlists import import_file
from mediaguard.policy.model import Decision, Policy
from mediaguard.scanner import Scanner
from mediaguard.store import Store
from mediaguard.store.termlist_repo import TextListStore
from mediaguard.verdict import Verdict, json_schema
from text import builders
from video.builders import VideoSpec, write_video

URL = "https://login.phish.example/verify?id=42"


@pytest.fixture(scope="module")
def reading() -> Scanner:
    """Text and codes on, no detectors: the models are loaded once for the module."""
    return Scanner(ScanConfig(detectors=(), text=TextOptions(enabled=True)))


@pytest.fixture(scope="module")
def photo() -> bytes:
    drawn = builders.text_image("coffee.png", ("visit cheap-pills.example", "FREE BITCOIN"))
    with Image.open(io.BytesIO(drawn.data)) as img:
        pasted = builders.paste_code(
            img.convert("RGB"), builders.qr_image(URL), module_px=5, at=(600, 420)
        )
    return builders.encode(pasted)


def _lists(store: Store, *, url_action: str = "block") -> TextListStore:
    lists = TextListStore(store)
    lists.create_list("scam", "term", "spam", "block")
    lists.create_list("phishing", "url", "fraud", url_action)
    import_file(lists, "scam", io.StringIO("free bitcoin\nre:cheap-?pills\n"))
    import_file(lists, "phishing", io.StringIO("phish.example\n"))
    return lists


def _scan(
    reading: Scanner, store: Store, tmp_path: Path, data: bytes | Path, policy: Policy | None = None
) -> Verdict:
    matcher = ListMatcher(store, index_dir=tmp_path / "idx")
    return reading.with_policy(policy or reading.policy, matcher=matcher).scan(data)


def test_a_term_in_text_and_a_url_in_a_qr_code_block(
    reading: Scanner, store: Store, tmp_path: Path, photo: bytes
) -> None:
    _lists(store)
    verdict = _scan(reading, store, tmp_path, photo)
    assert verdict.decision is Decision.BLOCK
    by_entry = {m.entry: m for m in verdict.text_matches}
    term = by_entry["free bitcoin"]
    line = verdict.texts[term.index]
    assert term.found_in == "text"
    assert line.text[term.start : term.end] == term.matched
    assert term.matched.casefold().replace(" ", "") == "freebitcoin"
    assert term.confidence == line.confidence
    assert (term.frame, term.time_s) == (0, None)
    pills = by_entry["cheap-?pills"]
    assert pills.entry_type == "regex"
    assert "pills" in pills.matched
    url = by_entry["phish.example"]
    assert (url.found_in, url.symbology, url.url) == ("code", "qr_code", URL)
    assert verdict.codes[url.index].payload[url.start : url.end] == URL
    messages = [r.message for r in verdict.reasons]
    assert "URL on blocklist `phishing` in QR code" in messages
    assert "term on blocklist `scam` in text" in messages
    # No reason repeats what was read: it may be personal data.
    assert not any(URL in m or "BITCOIN" in m for m in messages)
    jsonschema.validate(verdict.model_dump(mode="json"), json_schema())
    assert Verdict.model_validate_json(verdict.to_json()) == verdict


def test_ocr_confidence_thresholds_of_the_policy(
    reading: Scanner, store: Store, tmp_path: Path, photo: bytes
) -> None:
    _lists(store, url_action="review")
    strict = Policy.from_toml(
        'name = "strict"\nversion = "1"\n[text_confidence]\nreview = 0.5\nblock = 1.0\n'
    )
    verdict = _scan(reading, store, tmp_path, photo, strict)
    # Text is never read with confidence 1.0: the block-list term is sent to review.
    assert verdict.decision is Decision.REVIEW
    term = next(r for r in verdict.reasons if r.list == "scam")
    assert term.decision is Decision.REVIEW
    assert "sent to review" in term.message
    deaf = Policy.from_toml(
        'name = "deaf"\nversion = "1"\n[text_confidence]\nreview = 1.0\nblock = 1.0\n'
    )
    verdict = _scan(reading, store, tmp_path, photo, deaf)
    codes = {r.code for r in verdict.reasons if r.list == "scam"}
    assert codes == {"text_unsure"}
    # The QR code's URL carries no OCR confidence: the review list still counts.
    assert verdict.decision is Decision.REVIEW


def test_an_allow_list_overrides_matches_in_its_own_code_only(
    reading: Scanner, store: Store, tmp_path: Path, photo: bytes
) -> None:
    lists = _lists(store)
    lists.create_list("trusted", "url", "fraud", "allow")
    import_file(lists, "trusted", io.StringIO("login.phish.example\n"))
    verdict = _scan(reading, store, tmp_path, photo)
    allow = [r for r in verdict.reasons if r.code == "list_allow"]
    assert [r.list for r in allow] == ["trusted"]
    assert not any(r.list == "phishing" for r in verdict.reasons)
    # The term in the text is elsewhere: it still blocks.
    assert verdict.decision is Decision.BLOCK


def test_a_url_list_needs_no_ocr(store: Store, tmp_path: Path, photo: bytes) -> None:
    _lists(store)
    matcher = ListMatcher(store, index_dir=tmp_path / "idx")
    verdict = Scanner(ScanConfig(detectors=()), matcher=matcher).scan(photo)
    assert verdict.texts == []
    assert [(m.list, m.found_in) for m in verdict.text_matches] == [("phishing", "code")]
    assert verdict.decision is Decision.BLOCK


def test_video_matches_carry_times_and_make_a_timeline_segment(
    reading: Scanner, store: Store, tmp_path: Path
) -> None:
    _lists(store)
    plain = np.asarray(builders.photo("chelsea.png", 640))
    marked = builders.paste_code(
        builders.photo("chelsea.png", 640), builders.qr_image(URL), module_px=4, at=(380, 60)
    )
    marked_pixels = np.asarray(marked)
    spec = VideoSpec(
        size=(plain.shape[1], plain.shape[0]),
        frames=30,
        rate=Fraction(10),
        picture=lambda i: marked_pixels if 10 <= i < 20 else plain,
    )
    path = tmp_path / "clip.mp4"
    write_video(spec, path)
    verdict = _scan(reading, store, tmp_path, path)
    urls = [m for m in verdict.text_matches if m.list == "phishing"]
    assert urls
    assert all(m.time_s is not None and 1.0 <= m.time_s < 2.0 for m in urls)
    assert any("in QR code at 0:01" in r.message for r in verdict.reasons)
    (segment,) = [s for s in verdict.timeline if s.category == "fraud"]
    assert 1.0 <= segment.start_s < 1.5
    assert 1.9 <= segment.end_s <= 2.6
    jsonschema.validate(verdict.model_dump(mode="json"), json_schema())
