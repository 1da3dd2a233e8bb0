"""What a reviewer is shown of the text and codes read in an item, and may add to a list.

Design note: the item page draws every line of text and every code on the shielded
preview as a numbered box (in percent of the picture, so it fits the preview at any size)
and lists what was read with the spans that a term or URL list matched highlighted. The
boxes are an overlay, not pixels painted into the preview: the shielded picture stays
exactly what :mod:`mediaguard.review.preview` made, and the boxes reveal nothing the
shield hides, only where text was. "Add to list" offers only values taken from the
stored verdict (a line as a phrase, a matched span, a URL's registrable domain), so the
form cannot be used to put arbitrary values on a list, as for hashes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaguard.errors import PatternError
from mediaguard.match import urls
from mediaguard.signals.base import Box
from mediaguard.verdict import CodeFound, TextFound, Verdict

#: Candidates offered for one kind of list at most, so a page of ticker text stays usable.
MAX_CHOICES = 40


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of a line: ``marked`` when a list matched it."""

    text: str
    marked: bool


@dataclass(frozen=True, slots=True)
class ReadRow:
    """One line of text or one code, as the item page lists it."""

    number: int
    found_in: str
    where: str
    pieces: tuple[Piece, ...]
    lists: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OverlayBox:
    """A numbered box over the preview, in percent of the picture's width and height."""

    number: int
    left: float
    top: float
    width: float
    height: float
    matched: bool


def _pieces(text: str, spans: list[tuple[int, int]]) -> tuple[Piece, ...]:
    """``text`` cut into unmarked and marked runs (overlapping spans merged)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        start, end = max(0, start), min(len(text), end)
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, at = [], 0
    for start, end in merged:
        if start > at:
            pieces.append(Piece(text[at:start], False))
        pieces.append(Piece(text[start:end], True))
        at = end
    if at < len(text):
        pieces.append(Piece(text[at:], False))
    return tuple(pieces)


def _where(kind: str, frame: int, time_s: float | None) -> str:
    if time_s is not None:
        return f"{kind}, {time_s:.2f} s"
    return f"{kind}, frame {frame}" if frame else kind


def _read(verdict: Verdict) -> list[tuple[str, int, TextFound | CodeFound]]:
    """Lines, then codes, each with where a match names it: (found_in, index, item)."""
    read: list[tuple[str, int, TextFound | CodeFound]] = []
    read += [("text", i, line) for i, line in enumerate(verdict.texts)]
    read += [("code", i, code) for i, code in enumerate(verdict.codes)]
    return read


def read_rows(verdict: Verdict) -> list[ReadRow]:
    """Every line and code with its number (as on the overlay) and its matched spans."""
    rows: list[ReadRow] = []
    for found_in, index, item in _read(verdict):
        hits = [m for m in verdict.text_matches if (m.found_in, m.index) == (found_in, index)]
        if isinstance(item, TextFound):
            content, kind = item.text, "text"
        else:
            content, kind = item.payload, item.symbology.replace("_", " ")
        rows.append(
            ReadRow(
                number=len(rows) + 1,
                found_in=found_in,
                where=_where(kind, item.frame, item.time_s),
                pieces=_pieces(content, [(m.start, m.end) for m in hits]),
                lists=tuple(sorted({m.list for m in hits})),
            )
        )
    return rows


def overlay(verdict: Verdict, *, seconds: float | None = None) -> list[OverlayBox]:
    """Boxes of the lines and codes on the previewed frame, numbered as :func:`read_rows`.

    A still image shows frame 0; a video's preview is one frame, at ``seconds``, so only
    what was read on the sample at that time is drawn.
    """
    width, height = max(1, verdict.media.width), max(1, verdict.media.height)
    matched = {(m.found_in, m.index) for m in verdict.text_matches}
    boxes: list[OverlayBox] = []
    for number, (found_in, index, item) in enumerate(_read(verdict), start=1):
        if verdict.media.kind == "video":
            if seconds is None or item.time_s is None or abs(item.time_s - seconds) > 1e-3:
                continue
        elif item.frame != 0:
            continue
        box: Box = item.box
        boxes.append(
            OverlayBox(
                number=number,
                left=round(100 * box.x / width, 2),
                top=round(100 * box.y / height, 2),
                width=round(100 * box.width / width, 2),
                height=round(100 * box.height / height, 2),
                matched=(found_in, index) in matched,
            )
        )
    return boxes


def term_choices(verdict: Verdict) -> list[str]:
    """Phrases a term list may gain from this item: its matched spans, then its lines."""
    seen: dict[str, None] = {}
    for match in verdict.text_matches:
        if match.kind == "term" and match.matched.strip():
            seen.setdefault(" ".join(match.matched.split()), None)
    for line in verdict.texts:
        if line.text.strip():
            seen.setdefault(" ".join(line.text.split()), None)
    return list(seen)[:MAX_CHOICES]


def domain_choices(verdict: Verdict) -> list[str]:
    """Registrable domains of the URLs read in this item's text and codes."""
    seen: dict[str, None] = {}
    for _found_in, _index, item in _read(verdict):
        for raw in item.urls:
            try:
                domain = urls.normalise(raw).registrable_domain
            except PatternError:
                continue
            if domain:
                seen.setdefault(domain, None)
    return list(seen)[:MAX_CHOICES]


__all__ = [
    "MAX_CHOICES",
    "OverlayBox",
    "Piece",
    "ReadRow",
    "domain_choices",
    "overlay",
    "read_rows",
    "term_choices",
]
