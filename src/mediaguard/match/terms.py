"""Term matching: literal phrases and regular expressions found in recognised text.

Design note: terms are matched on folded text (:mod:`mediaguard.match.textnorm`), and
every match is reported as a span of the *original* text, so a reviewer sees exactly
which characters matched. Literal phrases are folded like the text, leetspeak included,
and must start and end on a word boundary ("ass" does not match "class"). Regular
expressions run on the text folded without leetspeak (digits stay digits, so a phone
number pattern still works) and must be written in lower case.

Patterns are compiled by RE2, whose matching time is linear in the text: there is no
catastrophic backtracking, so no pattern in a list can hang a scan, and no timeout is
needed. RE2 refuses back-references and look-arounds, and patterns whose automaton would
exceed :data:`REGEX_MEMORY`; such a pattern is a :class:`PatternError` when the set is
built, never a failure during a scan. At most :data:`MAX_MATCHES` matches are reported per
term and text. Nothing here has state beyond the compiled set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import re2

from mediaguard.errors import PatternError
from mediaguard.match import textnorm

REGEX_MEMORY = 8 << 20
MAX_MATCHES = 50
#: A word of folded text: a run of letters and digits (``str.isalnum``), as the word
#: boundaries of literal phrases are defined.
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Term:
    """One entry of a term list: a literal phrase, or a regular expression."""

    pattern: str
    regex: bool = False


@dataclass(frozen=True, slots=True)
class TermMatch:
    """Where a term matched, as a span of the original text.

    Attributes:
        term: the entry that matched.
        start: index of the first matched character in the original text.
        end: index after the last matched character.
        matched: ``original[start:end]``, what a reviewer sees highlighted.
    """

    term: Term
    start: int
    end: int
    matched: str


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = REGEX_MEMORY
    options.log_errors = False
    options.case_sensitive = False
    return options


class TermSet:
    """A compiled set of terms, reusable for any number of texts.

    Raises:
        PatternError: naming the first entry that is empty after folding, or a regular
            expression that RE2 refuses.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.literals: list[tuple[Term, str]] = []
        self.regexes: list[tuple[Term, re2._Regexp]] = []
        # A phrase that starts with a letter or digit can only match where a word of the
        # text starts, and that word must be the phrase's first word: phrases are indexed
        # by it, so a line is matched against the few phrases that can match there, not
        # all of them (10,000 phrases cost one dictionary look-up per word).
        self._by_first_word: dict[str, list[tuple[Term, str]]] = {}
        self._unindexed: list[tuple[Term, str]] = []
        options = _options()
        for term in terms:
            if term.regex:
                try:
                    compiled = re2.compile(term.pattern, options)
                except re2.error as err:
                    raise PatternError(f"term {term.pattern!r}: RE2 refuses it: {err}") from err
                self.regexes.append((term, compiled))
            else:
                folded = textnorm.fold_leet(term.pattern).text
                if not folded:
                    raise PatternError(f"term {term.pattern!r}: empty after normalisation")
                self.literals.append((term, folded))
                first = _WORD.match(folded)
                if first is None:
                    self._unindexed.append((term, folded))
                else:
                    self._by_first_word.setdefault(first.group(0), []).append((term, folded))

    def find(self, text: str) -> list[TermMatch]:
        """Every match in ``text``, ordered by position, then by entry."""
        found: list[TermMatch] = []
        if self.literals:
            leet = textnorm.fold_leet(text)
            found += self._indexed(leet, text)
            for term, phrase in self._unindexed:
                found += _literal(term, phrase, leet, text)
        if self.regexes:
            folded = textnorm.fold(text)
            for term, compiled in self.regexes:
                found += _regex(term, compiled, folded, text)
        return sorted(found, key=lambda m: (m.start, m.end))

    def _indexed(self, mapped: textnorm.Mapped, original: str) -> list[TermMatch]:
        """Matches of the phrases that start with a word, found word by word."""
        haystack = mapped.text
        found: list[TermMatch] = []
        counts: dict[Term, int] = {}
        for word in _WORD.finditer(haystack):
            at = word.start()
            for term, phrase in self._by_first_word.get(word.group(0), ()):
                end = at + len(phrase)
                if not haystack.startswith(phrase, at) or counts.get(term, 0) >= MAX_MATCHES:
                    continue
                if end < len(haystack) and _is_word(haystack[end]) and _is_word(phrase[-1]):
                    continue
                counts[term] = counts.get(term, 0) + 1
                start, stop = mapped.span(at, end)
                found.append(TermMatch(term, start, stop, original[start:stop]))
        return found


def _is_word(char: str) -> bool:
    return char.isalnum()


def _literal(term: Term, phrase: str, mapped: textnorm.Mapped, original: str) -> list[TermMatch]:
    haystack = mapped.text
    matches: list[TermMatch] = []
    at = haystack.find(phrase)
    while at >= 0 and len(matches) < MAX_MATCHES:
        end = at + len(phrase)
        before = haystack[at - 1] if at > 0 else " "
        after = haystack[end] if end < len(haystack) else " "
        starts_word = not (_is_word(before) and _is_word(phrase[0]))
        ends_word = not (_is_word(after) and _is_word(phrase[-1]))
        if starts_word and ends_word:
            start, stop = mapped.span(at, end)
            matches.append(TermMatch(term, start, stop, original[start:stop]))
        at = haystack.find(phrase, at + 1)
    return matches


def _regex(
    term: Term, compiled: re2._Regexp, mapped: textnorm.Mapped, original: str
) -> list[TermMatch]:
    matches: list[TermMatch] = []
    for found in compiled.finditer(mapped.text):
        begin, finish = found.span()
        if finish <= begin:
            continue  # an empty match says nothing a reviewer could see
        start, stop = mapped.span(begin, finish)
        matches.append(TermMatch(term, start, stop, original[start:stop]))
        if len(matches) >= MAX_MATCHES:
            break
    return matches
