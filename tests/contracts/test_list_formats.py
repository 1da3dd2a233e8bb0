"""What every hash-list file format promises, checked on each format.

Lists travel between mediaguard, HMA and the exchanges as files, so each format must
read back what it wrote, report every bad line by its number without losing the good
ones around it, and drop repeats. A new format joins ``FORMATS`` and inherits these.
"""

from __future__ import annotations

import io
import json
import secrets
from datetime import UTC, datetime

import pytest

from mediaguard.match.formats import (
    LineError,
    ListFormat,
    detect_format,
    iter_entries,
    write_entries,
)
from mediaguard.match.types import Entry, SignalType

FORMATS = [pytest.param(fmt, id=fmt.value) for fmt in ListFormat]


def _vpdq() -> str:
    frames = [f"{secrets.token_hex(32)},{90 + i},{i}.5" for i in range(3)]
    return json.dumps(frames)


def sample(fmt: ListFormat) -> list[Entry]:
    """Entries this format can carry: plain holds one type; csv also carries the extras."""
    if fmt is ListFormat.PLAIN:
        return [Entry.parse("pdq", secrets.token_hex(32)) for _ in range(5)]
    entries = [
        Entry.parse("pdq", secrets.token_hex(32)),
        Entry.parse("md5", secrets.token_hex(16)),
        Entry.parse("sha256", secrets.token_hex(32)),
        Entry.parse("vpdq", _vpdq()),
    ]
    if fmt is ListFormat.CSV:
        when = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
        entries.append(
            Entry.parse("pdq", secrets.token_hex(32), "ext-9", 'a note, with "quotes"', when)
        )
    return entries


def written(fmt: ListFormat, entries: list[Entry]) -> str:
    out = io.StringIO()
    assert write_entries(out, entries, fmt) == len(entries)
    return out.getvalue()


def read(fmt: ListFormat | None, text: str) -> list[Entry | LineError]:
    default = SignalType.PDQ if fmt in (ListFormat.PLAIN, None) else None
    return list(iter_entries(io.StringIO(text), fmt, default))


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_back_what_it_wrote(fmt: ListFormat) -> None:
    entries = sample(fmt)

    assert read(fmt, written(fmt, entries)) == entries


@pytest.mark.parametrize("fmt", FORMATS)
def test_its_output_is_recognised_as_itself(fmt: ListFormat) -> None:
    first = written(fmt, sample(fmt)).splitlines()[0]
    default = SignalType.PDQ if fmt is ListFormat.PLAIN else None

    assert detect_format(first, default) is fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_bad_line_is_reported_by_number_and_the_good_ones_kept(fmt: ListFormat) -> None:
    entries = sample(fmt)
    lines = written(fmt, entries).splitlines()
    body = 1 if fmt is ListFormat.CSV else 0  # the header stays first
    bad = {"pdq 1234", "nothex!", "pdq " + "g" * 64}
    if fmt is ListFormat.CSV:
        bad = {"pdq,1234,,,", "md5,nothex!,,,", "sha256,,,,"}
    damaged = lines[: body + 1] + sorted(bad)[:1] + lines[body + 1 : -1]
    damaged += sorted(bad)[1:] + lines[-1:]

    result = read(fmt, "\n".join(damaged) + "\n")

    errors = [r for r in result if isinstance(r, LineError)]
    assert [e.line_no for e in errors] == [
        n for n, line in enumerate(damaged, start=1) if line in bad
    ]
    assert all(e.reason for e in errors)
    assert [r for r in result if isinstance(r, Entry)] == entries


@pytest.mark.parametrize("fmt", FORMATS)
def test_repeats_are_dropped_and_blank_lines_skipped(fmt: ListFormat) -> None:
    entries = sample(fmt)
    text = written(fmt, entries)
    lines = text.splitlines()
    repeated = [*lines, *lines[1 if fmt is ListFormat.CSV else 0 :]]
    if fmt is not ListFormat.CSV:
        repeated = ["# exported by a test", "", *repeated, "   "]

    assert read(fmt, "\n".join(repeated) + "\n") == entries


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_with_no_entries_yields_none(fmt: ListFormat) -> None:
    text = "signal_type,hash\n" if fmt is ListFormat.CSV else "# nothing here\n\n"

    assert read(fmt, text) == []
