"""Unicode normalisation of recognised text, with every character mapped to its origin.

Design note: people who put banned words into images write them so that a plain string
search misses them: full-width or mathematical letters, Cyrillic look-alikes, accents,
``fr33``, zero-width joiners between letters, odd spaces. Matching therefore runs on a
folded copy of the text, and a match must still point at the characters a reviewer sees,
so every folded character remembers the index of the original character it came from.

Folding is done one original character at a time (cached), which keeps the map exact:

* :func:`clean` — compatibility forms (NFKC), format characters such as ZWJ, ZWSP, BOM,
  soft hyphen and bidi controls removed, runs of any whitespace squashed to one space.
  URL extraction runs on this, because a host's letters must not be re-spelt.
* :func:`fold` — ``clean`` plus accents and other combining marks removed, case folded,
  and common Cyrillic and Greek look-alikes mapped to the Latin letter they imitate.
  Regular expressions run on this.
* :func:`fold_leet` — ``fold`` plus digits and symbols used as letters (``0`` → o,
  ``3`` → e, ``@`` → a, ``$`` → s, ``1``/``l``/``!``/``|`` → i...). Literal phrases run
  on this, folded the same way, so ``FR33 B1TC0IN`` finds "free bitcoin".

Output is cut at :data:`MAX_CHARS` characters and input at :data:`MAX_INPUT` (the caller
is told, by ``truncated``), so a hostile text of any length costs a bounded amount, and a
flood of zero-width characters (removed, so they produce no output) cannot push the
visible text past the cut.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

MAX_CHARS = 20_000
MAX_INPUT = 10 * MAX_CHARS

# Look-alikes of Latin letters (after case folding), from Unicode's confusables data;
# the characters on the left are Cyrillic, Greek and IPA letters, not Latin ones.
HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",  # noqa: RUF001
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",  # noqa: RUF001
        "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ɩ": "i", "ı": "i",  # noqa: RUF001
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",  # noqa: RUF001
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c",  # noqa: RUF001
    }
)  # fmt: skip
LEET = str.maketrans(
    {
        "0": "o", "1": "i", "l": "i", "!": "i", "|": "i", "3": "e", "4": "a", "@": "a",
        "5": "s", "$": "s", "7": "t", "+": "t", "8": "b", "9": "g", "6": "g", "2": "z",
    }
)  # fmt: skip
_PUNCTUATION_LEET = frozenset("!|")
_DROPPED = {"Mn", "Me", "Cf"}


@dataclass(frozen=True, slots=True)
class Mapped:
    """Folded text and, per folded character, the index of its original character.

    Attributes:
        text: the folded text.
        origin: ``origin[i]`` is the index in the original of ``text[i]``.
        truncated: the original was cut (see the module note).
    """

    text: str
    origin: tuple[int, ...]
    truncated: bool = False

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` that folded ``text[start:end]`` came from."""
        if end <= start:
            return (self.origin[start], self.origin[start]) if start < len(self.origin) else (0, 0)
        return self.origin[start], self.origin[end - 1] + 1


@cache
def _clean_char(char: str) -> str:
    if unicodedata.category(char) == "Cf":
        return ""
    if char.isspace():
        return " "
    return unicodedata.normalize("NFKC", char)


@cache
def _fold_char(char: str) -> str:
    if char.isspace():
        return " "
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in _DROPPED)
    return kept.casefold().translate(HOMOGLYPHS)


def _map(text: str, per_char: Callable[[str], str]) -> Mapped:
    truncated = len(text) > MAX_INPUT
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text[:MAX_INPUT]):
        if len(out) >= MAX_CHARS:
            truncated = True
            break
        for piece in per_char(char):
            if piece == " " and (not out or out[-1] == " "):
                continue  # squash runs of space, drop leading space
            out.append(piece)
            origin.append(index)
    if out and out[-1] == " ":
        out.pop()
        origin.pop()
    return Mapped("".join(out), tuple(origin), truncated)


def clean(text: str) -> Mapped:
    """NFKC, format characters removed, whitespace squashed (see the module note)."""
    return _map(text, _clean_char)


def fold(text: str) -> Mapped:
    """``clean`` plus marks removed, case folded and look-alikes mapped to Latin."""
    return _map(text, _fold_char)


def fold_leet(text: str) -> Mapped:
    """``fold`` plus digits and symbols used as letters mapped to those letters.

    ``!`` and ``|`` count as letters only before a letter or digit: at the end of a word
    they are punctuation ("a$$!" is "ass" followed by an exclamation mark).
    """
    folded = fold(text)
    chars = list(folded.text.translate(LEET))
    for i in reversed(range(len(chars))):  # right to left: "a!!" ends in two marks
        char = folded.text[i]
        if char in _PUNCTUATION_LEET and not (i + 1 < len(chars) and chars[i + 1].isalnum()):
            chars[i] = char
    return Mapped("".join(chars), folded.origin, folded.truncated)
