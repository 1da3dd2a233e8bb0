"""Term matching after Unicode folding, with spans in the original text; hostile input."""

from __future__ import annotations

import time

import pytest

from mediaguard.errors import PatternError
from mediaguard.match import textnorm
from mediaguard.match.terms import MAX_MATCHES, Term, TermSet

PHRASE = Term("free bitcoin")
PHONE = Term(r"\+?\d[\d ]{7,}\d", regex=True)


@pytest.mark.parametrize(
    "text",
    [
        "Get FREE BITCOIN now",
        "Get FR33 B1TC0IN now",  # leetspeak
        "Get ｆｒｅｅ ｂｉｔｃｏｉｎ now",  # full-width forms (NFKC)  # noqa: RUF001
        "Get fr\u200de\u200be bitcoin now",  # zero-width joiner and space
        "Get free bit\u0441oin now",  # Cyrillic es for c
        "Get Frée\u00a0\u2003 Bitcóin now",  # accents, no-break and em spaces
        "Get 𝐟𝐫𝐞𝐞 𝐛𝐢𝐭𝐜𝐨𝐢𝐧 now",  # mathematical bold letters  # noqa: RUF001
    ],
)
def test_a_disguised_phrase_matches_and_points_at_the_original(text: str) -> None:
    (match,) = TermSet([PHRASE]).find(text)
    assert match.term == PHRASE
    assert text[match.start : match.end] == match.matched
    assert match.start == 4
    assert text[match.end :] == " now"


def test_a_phrase_matches_whole_words_only() -> None:
    terms = TermSet([Term("ass")])
    assert terms.find("first class glass") == []
    assert [m.matched for m in terms.find("you ASS, again: a$$!, a$$!!")] == ["ASS", "a$$", "a$$"]


def test_a_regex_sees_digits_as_digits_and_spans_map_back() -> None:
    text = "Call\u200b +44 20 7946 0958 today, or 0800 555 0199"
    found = TermSet([PHONE]).find(text)
    assert [m.matched for m in found] == ["+44 20 7946 0958", "0800 555 0199"]
    assert all(text[m.start : m.end] == m.matched for m in found)


def test_matches_come_in_text_order_across_terms() -> None:
    text = "call 0800 555 0199 for free bitcoin"
    found = TermSet([PHRASE, PHONE]).find(text)
    assert [m.term for m in found] == [PHONE, PHRASE]


@pytest.mark.parametrize(
    "bad", [Term("(a)\\1", regex=True), Term("(?=x)y", regex=True), Term("\u200b \u200d")]
)
def test_unusable_entries_are_pattern_errors(bad: Term) -> None:
    with pytest.raises(PatternError, match="term"):
        TermSet([bad])


def test_a_catastrophic_pattern_on_a_long_line_is_linear() -> None:
    terms = TermSet([Term("(a+)+$", regex=True), Term("(x+x+)+y", regex=True)])
    line = "a" * 9_999 + "!"
    started = time.perf_counter()
    assert terms.find(line) == []
    assert terms.find("x" * 10_000) == []
    assert time.perf_counter() - started < 1.0


def test_a_huge_automaton_is_refused_when_the_set_is_built() -> None:
    with pytest.raises(PatternError, match="RE2"):
        TermSet([Term("((((a{100}){100}){100}){100})", regex=True)])


def test_a_zero_width_flood_is_bounded_and_still_found() -> None:
    flood = "\u200d" * 150_000
    text = flood + "free bitcoin" + flood
    started = time.perf_counter()
    (match,) = TermSet([PHRASE]).find(text)
    assert time.perf_counter() - started < 2.0
    assert match.start == 150_000
    assert match.matched == "free bitcoin"


def test_matches_per_term_are_capped_on_a_long_line() -> None:
    text = "spam " * 2_000  # 10,000 characters
    found = TermSet([Term("spam")]).find(text)
    assert len(found) == MAX_MATCHES


def test_folding_keeps_an_exact_origin_map() -> None:
    mapped = textnorm.fold("\uff21\u200dß  Ç")  # full-width A, ZWJ, sharp s
    assert mapped.text == "ass c"
    assert mapped.origin == (0, 2, 2, 3, 5)
    assert mapped.span(1, 3) == (2, 3)
    cut = textnorm.fold("x" * (textnorm.MAX_CHARS + 5))
    assert cut.truncated
    assert len(cut.text) == textnorm.MAX_CHARS


def _reference(phrases: list[str], text: str) -> list[tuple[str, int, int]]:
    """Every literal match by brute force: each phrase searched everywhere, with the word
    boundary rule of the module note, no index."""
    leet = textnorm.fold_leet(text)
    hay = leet.text
    found = []
    for pattern in phrases:
        phrase = textnorm.fold_leet(pattern).text
        at, kept = hay.find(phrase), 0
        while at >= 0 and kept < MAX_MATCHES:
            end = at + len(phrase)
            before = hay[at - 1] if at else " "
            after = hay[end] if end < len(hay) else " "
            if not (before.isalnum() and phrase[0].isalnum()) and not (
                after.isalnum() and phrase[-1].isalnum()
            ):
                found.append((pattern, *leet.span(at, end)))
                kept += 1
            at = hay.find(phrase, at + 1)
    return sorted(found, key=lambda m: (m[1], m[2], m[0]))


def test_the_word_index_finds_exactly_what_a_full_search_finds() -> None:
    import random

    rng = random.Random(7)
    alphabet = ["free", "bit", "coin", "bitcoin", "fr33", "a", "ab", "#win", "$$", "x1", "é"]
    separators = [" ", "  ", "-", ".", "", "!", "\u200d", "/"]
    for _ in range(300):
        phrases = sorted(
            {
                rng.choice(separators[:3]).join(rng.sample(alphabet, rng.randint(1, 3)))
                for _ in range(rng.randint(1, 6))
            }
        )
        phrases = [p for p in phrases if textnorm.fold_leet(p).text]
        words = [rng.choice(alphabet) for _ in range(rng.randint(0, 12))]
        text = "".join(w + rng.choice(separators) for w in words)
        got = TermSet(Term(p) for p in phrases).find(text)
        mine = sorted(
            ((m.term.pattern, m.start, m.end) for m in got), key=lambda m: (m[1], m[2], m[0])
        )
        assert mine == _reference(phrases, text), (phrases, text)
