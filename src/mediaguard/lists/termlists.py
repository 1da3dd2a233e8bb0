"""Term lists and URL lists on the store: parsing entries, import, export and matching.

Design note: an entry is checked once, on the way in, by the same code that matches it:
a phrase must fold to something (:class:`mediaguard.match.terms.TermSet`), a regular
expression must compile under RE2 within its memory bound, a domain must not be a public
suffix and a prefix must have a host (:class:`mediaguard.match.urls.URLSet`). A bad line
of an import is reported with its number and the rest are imported, as for hash lists;
an entry that passes can never fail a scan. URL entries are stored in normal form
(a domain as its IDNA host, a prefix as ``host/path?query`` of its normal form, since
a prefix matches http and https alike), so ``WWW.Example.COM.`` and
``www.example.com`` are one entry.

File formats (``plain`` and ``csv``):

* ``plain``: one entry per line; blank lines and lines starting with ``#`` are skipped.
  In a term list a line is a phrase, or a regular expression when it starts with
  ``re:``; in a URL list a line is a domain, or a URL prefix when it has a path or a
  query (``example.com/login``). A line starting with ``\\`` is taken literally from the
  next character, so ``\\#free`` is the phrase "#free".
* ``csv``: a header naming ``value`` (or ``term``, ``pattern``, ``domain``, ``url``) and
  optionally ``type`` (``phrase``, ``regex``, ``domain``, ``prefix``), ``note`` and
  ``external_id``; other columns are ignored. Detected from the first line.

The matcher compiles every list once and recompiles only when the store's state (list
count, last update, entry count, largest id) changes, so a scan costs no database query
beyond that one small read.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from mediaguard.errors import MediaguardError, PatternError
from mediaguard.match import urls
from mediaguard.match.formats import LineError
from mediaguard.match.terms import Term, TermSet
from mediaguard.match.textmatch import TextMatch
from mediaguard.match.urls import URLEntry, URLSet
from mediaguard.policy.model import ListAction
from mediaguard.store.termlist_repo import (
    NewTextEntry,
    TextEntryInfo,
    TextListInfo,
    TextListsState,
    TextListStore,
)
from mediaguard.verdict import CodeFound, TextFound

#: Matches kept per item, so a page of repeated spam cannot make a verdict of millions.
MAX_TEXT_MATCHES: Final = 500
_REGEX_PREFIX: Final = "re:"
_VALUE_COLUMNS: Final = ("value", "term", "pattern", "domain", "url")
_TYPE_COLUMNS: Final = ("type", "entry_type")
_KNOWN_COLUMNS: Final = frozenset((*_VALUE_COLUMNS, *_TYPE_COLUMNS, "note", "external_id"))


class TextListFormat(enum.StrEnum):
    """The file formats term and URL lists are read and written in."""

    PLAIN = "plain"
    CSV = "csv"


def parse_entry(
    kind: str,
    raw: str,
    entry_type: str | None = None,
    *,
    external_id: str | None = None,
    note: str | None = None,
) -> NewTextEntry:
    """One entry of a ``term`` or ``url`` list, checked and in normal form.

    Args:
        kind: ``term`` or ``url``.
        raw: the entry as written (a ``re:`` prefix makes a term a regular expression).
        entry_type: ``phrase``, ``regex``, ``domain`` or ``prefix``; inferred when None.

    Raises:
        PatternError: when the phrase is empty after folding, RE2 refuses the pattern
            (a back-reference, a look-around, an automaton over its memory bound), the
            domain is a public suffix or has a path, or the URL has no host.
        InvalidInputError: when the entry is too long or holds control characters.
    """
    value = raw.strip()
    if kind == "term":
        if entry_type is None:
            entry_type = "regex" if value.startswith(_REGEX_PREFIX) else "phrase"
            if entry_type == "regex":
                value = value[len(_REGEX_PREFIX) :]
        if entry_type == "phrase":
            # Matching ignores case and runs of space, so the stored form does too: two
            # spellings of one phrase are one entry.
            value = " ".join(value.split()).casefold()
        elif entry_type != "regex":
            raise PatternError(f"a term list holds phrases and regexes, not {entry_type!r}")
        NewTextEntry(entry_type, value)  # shape first: a 10,000-character line stops here
        TermSet([Term(value, regex=entry_type == "regex")])
    elif kind == "url":
        value, entry_type = _url_entry(value, entry_type)
    else:
        raise PatternError(f"kind: expected term or url, got {kind!r}")
    return NewTextEntry(entry_type, value, external_id=external_id, note=note)


def _url_entry(value: str, entry_type: str | None) -> tuple[str, str]:
    if not value:
        raise PatternError("an empty URL entry")
    rest = value.split("://", 1)[-1]
    has_path = any(c in rest.rstrip("/") for c in "/?")
    if entry_type is None:
        entry_type = "prefix" if has_path else "domain"
    if len(value) > 2000:
        raise PatternError(f"URL entry of {len(value)} characters; at most 2000")
    url = urls.normalise(value)
    if entry_type == "domain":
        if has_path:
            raise PatternError(
                f"domain {value[:200]!r} has a path or query; list it as a prefix instead"
            )
        URLSet([URLEntry(url.host)])
        return url.host, entry_type
    if entry_type == "prefix":
        # Without its scheme: prefixes match http and https alike, so the two spellings
        # are one entry.
        return url.key, entry_type
    raise PatternError(f"a URL list holds domains and prefixes, not {entry_type!r}")


def format_plain(kind: str, entry_type: str, value: str) -> str:
    """An entry as a line of a ``plain`` file, escaped so it reads back as the same entry."""
    if entry_type == "regex":
        return f"{_REGEX_PREFIX}{value}"
    if kind == "term" and value.startswith(("#", "\\", _REGEX_PREFIX)):
        return f"\\{value}"
    return value


def _detect(first: str) -> TextListFormat:
    cells = [c.strip().lower() for c in first.split(",")]
    if len(cells) > 1 and set(cells) <= _KNOWN_COLUMNS and set(cells) & set(_VALUE_COLUMNS):
        return TextListFormat.CSV
    if cells and cells[0] in _VALUE_COLUMNS and len(cells) == 1:
        return TextListFormat.CSV
    return TextListFormat.PLAIN


def iter_lines(
    stream: TextIO, kind: str, fmt: TextListFormat | str | None = None
) -> Iterator[NewTextEntry | LineError]:
    """Parse a list file lazily: each good line as an entry, each bad one as a LineError.

    Raises:
        PatternError: when ``fmt`` is unknown or a CSV file names no value column.
    """
    lines = iter(stream)
    first = next(lines, None)
    if first is None:
        return
    try:
        chosen = TextListFormat(fmt) if fmt is not None else _detect(first)
    except ValueError:
        raise PatternError(f"format: expected plain or csv, got {fmt!r}") from None
    if chosen is TextListFormat.CSV:
        yield from _csv(first, lines, kind)
        return
    yield from _plain(1, first, kind)
    for number, line in enumerate(lines, start=2):
        yield from _plain(number, line, kind)


def _plain(number: int, line: str, kind: str) -> Iterator[NewTextEntry | LineError]:
    text = line.rstrip("\r\n")
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return
    try:
        if stripped.startswith("\\"):
            yield parse_entry(kind, stripped[1:], "phrase" if kind == "term" else None)
        else:
            yield parse_entry(kind, stripped)
    except MediaguardError as err:
        yield LineError(number, text[:200], str(err))


def _csv(header: str, lines: Iterator[str], kind: str) -> Iterator[NewTextEntry | LineError]:
    names = [c.strip().lower() for c in next(csv.reader([header]))]
    value_at = next((names.index(c) for c in _VALUE_COLUMNS if c in names), None)
    if value_at is None:
        raise PatternError(f"csv header names no value column ({', '.join(_VALUE_COLUMNS)})")
    type_at = next((names.index(c) for c in _TYPE_COLUMNS if c in names), None)
    note_at = names.index("note") if "note" in names else None
    id_at = names.index("external_id") if "external_id" in names else None
    # csv.reader counts physical lines itself, so a quoted field with a newline in it
    # does not shift the numbers reported after it.
    reader = csv.reader(lines)
    for row in reader:
        number = reader.line_num + 1
        if not row or not any(cell.strip() for cell in row):
            continue

        def cell(at: int | None, row: list[str] = row) -> str | None:
            return row[at].strip() or None if at is not None and at < len(row) else None

        try:
            yield parse_entry(
                kind,
                cell(value_at) or "",
                cell(type_at),
                external_id=cell(id_at),
                note=cell(note_at),
            )
        except MediaguardError as err:
            yield LineError(number, ",".join(row)[:200], str(err))


@dataclass(frozen=True, slots=True)
class TextImportReport:
    """What an import did: entries added, duplicates skipped, bad lines."""

    added: int
    duplicates: int
    errors: tuple[LineError, ...]
    error_count: int


def import_entries(
    store: TextListStore,
    list_name: str,
    parsed: Iterable[NewTextEntry | LineError],
    *,
    max_errors_kept: int = 100,
) -> TextImportReport:
    """Add parsed entries to a list; bad lines are counted and the first ones kept.

    Raises:
        NotFoundError: when the list does not exist.
        StoreError: when the database fails.
    """
    errors: list[LineError] = []
    error_count = 0

    def good() -> Iterator[NewTextEntry]:
        nonlocal error_count
        for item in parsed:
            if isinstance(item, LineError):
                error_count += 1
                if len(errors) < max_errors_kept:
                    errors.append(item)
                continue
            yield item

    result = store.add_entries(list_name, good())
    return TextImportReport(result.added, result.duplicates, tuple(errors), error_count)


def import_file(
    store: TextListStore,
    list_name: str,
    stream: TextIO,
    *,
    fmt: TextListFormat | str | None = None,
    max_errors_kept: int = 100,
) -> TextImportReport:
    """Stream a plain or CSV file into an existing list (see the module note).

    Raises:
        NotFoundError: when the list does not exist.
        PatternError: when the format is unknown or a CSV header names no value column.
        StoreError: when the database fails.
    """
    info = store.get_list(list_name)
    return import_entries(
        store, list_name, iter_lines(stream, info.kind, fmt), max_errors_kept=max_errors_kept
    )


def export_file(
    store: TextListStore,
    list_name: str,
    stream: TextIO,
    fmt: TextListFormat | str = TextListFormat.PLAIN,
) -> int:
    """Write a list in a format :func:`import_file` reads back; returns the count written.

    Raises:
        NotFoundError: when the list does not exist.
        PatternError: when the format is unknown.
    """
    info = store.get_list(list_name)
    try:
        chosen = TextListFormat(fmt)
    except ValueError:
        raise PatternError(f"format: expected plain or csv, got {fmt!r}") from None
    count = 0
    writer = csv.writer(stream, lineterminator="\n")
    if chosen is TextListFormat.CSV:
        writer.writerow(["value", "type", "note", "external_id"])
    for entry in store.iter_entries(list_name):
        if chosen is TextListFormat.CSV:
            writer.writerow(
                [entry.value, entry.entry_type, entry.note or "", entry.external_id or ""]
            )
        else:
            stream.write(format_plain(info.kind, entry.entry_type, entry.value) + "\n")
        count += 1
    return count


# ---------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class _Compiled:
    info: TextListInfo
    terms: TermSet | None
    term_ids: Mapping[Term, TextEntryInfo]
    links: URLSet | None
    link_ids: Mapping[URLEntry, TextEntryInfo]


def _compile_terms(entries: Sequence[TextEntryInfo]) -> tuple[TermSet, dict[Term, TextEntryInfo]]:
    by_term = {Term(e.value, regex=e.entry_type == "regex"): e for e in entries}
    try:
        return TermSet(by_term), by_term
    except PatternError:
        # A row written by another tool that does not compile is left out, not fatal.
        good = {}
        for term, entry in by_term.items():
            try:
                TermSet([term])
            except PatternError:
                continue
            good[term] = entry
        return TermSet(good), good


def _compile_urls(entries: Sequence[TextEntryInfo]) -> tuple[URLSet, dict[URLEntry, TextEntryInfo]]:
    by_entry: dict[URLEntry, TextEntryInfo] = {}
    for e in entries:
        entry = URLEntry(e.value, prefix=e.entry_type == "prefix")
        try:
            URLSet([entry])
        except PatternError:
            continue  # as above: a bad row from elsewhere is skipped
        by_entry[entry] = e
    return URLSet(by_entry), by_entry


class TextListMatcher:
    """Matches recognised text and code payloads against every term and URL list.

    Args:
        store: the term and URL lists; read again by :meth:`refresh` when they change.
    """

    def __init__(self, store: TextListStore) -> None:
        self.store = store
        self._state: TextListsState | None = None
        self._lists: list[_Compiled] = []
        self.refresh()

    def refresh(self) -> None:
        """Recompile the lists when the store holds other lists or entries than before.

        Raises:
            StoreError: when the database fails.
        """
        state = self.store.state()
        if state == self._state:
            return
        by_list: dict[str, list[TextEntryInfo]] = {}
        for entry in self.store.iter_entries():
            by_list.setdefault(entry.list_name, []).append(entry)
        compiled = []
        for info in self.store.lists():
            entries = by_list.get(info.name, [])
            if info.kind == "term":
                terms, term_ids = _compile_terms(entries)
                compiled.append(_Compiled(info, terms, term_ids, None, {}))
            else:
                links, link_ids = _compile_urls(entries)
                compiled.append(_Compiled(info, None, {}, links, link_ids))
        self._lists, self._state = compiled, state

    @property
    def list_actions(self) -> dict[str, ListAction]:
        """Each list's own action, for the policy to fall back on."""
        return {c.info.name: ListAction(c.info.action) for c in self._lists}

    def match(self, texts: Sequence[TextFound], codes: Sequence[CodeFound]) -> list[TextMatch]:
        """Term lists against the lines of text; URL lists against lines and payloads.

        At most :data:`MAX_TEXT_MATCHES` matches are returned, in the order of the lines
        and codes.
        """
        found: list[TextMatch] = []
        if not self._lists:
            return found
        for index, line in enumerate(texts):
            found += self._line(index, line)
            if len(found) >= MAX_TEXT_MATCHES:
                return found[:MAX_TEXT_MATCHES]
        for index, code in enumerate(codes):
            if code.content == "text":
                found += self._urls("code", index, code.payload, code.frame, code.time_s, code)
            if len(found) >= MAX_TEXT_MATCHES:
                break
        return found[:MAX_TEXT_MATCHES]

    def _line(self, index: int, line: TextFound) -> list[TextMatch]:
        found = []
        for compiled in self._lists:
            if compiled.terms is None:
                continue
            for hit in compiled.terms.find(line.text):
                entry = compiled.term_ids[hit.term]
                found.append(
                    TextMatch(
                        list=compiled.info.name,
                        kind="term",
                        category=compiled.info.category,
                        entry_type="regex" if hit.term.regex else "phrase",
                        entry=entry.value,
                        entry_id=entry.id,
                        found_in="text",
                        index=index,
                        frame=line.frame,
                        time_s=line.time_s,
                        start=hit.start,
                        end=hit.end,
                        matched=hit.matched,
                        confidence=line.confidence,
                    )
                )
        return found + self._urls("text", index, line.text, line.frame, line.time_s, line)

    def _urls(
        self,
        found_in: str,
        index: int,
        text: str,
        frame: int,
        time_s: float | None,
        origin: TextFound | CodeFound,
    ) -> list[TextMatch]:
        link_lists = [c for c in self._lists if c.links is not None]
        if not link_lists:
            return []
        found = []
        for url in urls.extract(text):
            for compiled in link_lists:
                assert compiled.links is not None
                for hit in compiled.links.match(url.url):
                    entry = compiled.link_ids[hit.entry]
                    found.append(
                        TextMatch(
                            list=compiled.info.name,
                            kind="url",
                            category=compiled.info.category,
                            entry_type="prefix" if hit.entry.prefix else "domain",
                            entry=entry.value,
                            entry_id=entry.id,
                            found_in="code" if found_in == "code" else "text",
                            index=index,
                            frame=frame,
                            time_s=time_s,
                            start=url.start,
                            end=url.end,
                            matched=url.original,
                            url=url.url.url,
                            confidence=origin.confidence if isinstance(origin, TextFound) else None,
                            symbology=origin.symbology if isinstance(origin, CodeFound) else None,
                        )
                    )
        return found


__all__ = [
    "MAX_TEXT_MATCHES",
    "TextImportReport",
    "TextListFormat",
    "TextListMatcher",
    "export_file",
    "format_plain",
    "import_entries",
    "import_file",
    "iter_lines",
    "parse_entry",
]
