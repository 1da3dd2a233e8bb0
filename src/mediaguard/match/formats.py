"""Streaming import and export of hash-list files (HMA / ThreatExchange and CSV).

Design note: lists are shared as text files of up to tens of millions of lines, so
import is a generator that holds one line at a time and reports every bad line as a
:class:`LineError` instead of stopping at the first (an operator fixing a 10M-line file
wants all the problems at once). Three formats are read and written:

* ``hma``: ``<signal_type> <hash>`` per line, the format of python-threatexchange's
  ``LocalFileSignalExchangeAPI`` (type and hash split at the first space) and of
  ``threatexchange dataset -P`` (which may append the collaboration name and
  metadata after the hash; those extra fields are ignored). Any run of spaces or
  tabs separates the fields. ThreatExchange's type names ``video_md5`` and
  ``video_sha256`` are read as ``md5`` and ``sha256``. A vPDQ value is a JSON array
  and may itself contain spaces; it runs to the end of its JSON.
* ``csv``: a header row naming the columns ``signal_type`` (or ``type``), ``hash``
  (or ``value``, or ThreatExchange's ``signal_str``), and optionally ``external_id``,
  ``note`` and ``added_at`` (ISO 8601); other columns (ThreatExchange's ``collab``,
  ``category``, ``tags``) are ignored. ``threatexchange dataset -P --csv`` output
  reads as is.
* ``plain``: one hash per line, the type given by the caller (``--type``).

Lines that are blank or start with ``#`` are skipped in ``hma`` and ``plain``.

Duplicates within a file are dropped as they stream past. Rather than a set of the
values (about 1 GB of Python objects for 10M PDQ hashes), a numpy open-addressing
table of 64-bit BLAKE2b digests is kept: 8 bytes per slot at a load of at most one
half, so about 16-32 bytes per distinct entry (160-320 MB for 10M). Two distinct
entries share a 64-bit digest with probability about n^2 / 2^65 (3e-6 for a 10M-line
file); the loser of such a collision would be dropped as a duplicate. The store's
unique constraint remains the authority on duplicates across imports.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TextIO

import numpy as np
import numpy.typing as npt

from mediaguard.match.types import (
    Entry,
    HashFormatError,
    SignalType,
    parse_signal_type,
    parse_value,
)

__all__ = [
    "LineError",
    "ListFormat",
    "detect_format",
    "iter_entries",
    "write_entries",
]


class ListFormat(enum.StrEnum):
    """The hash-list file formats mediaguard reads and writes."""

    HMA = "hma"
    CSV = "csv"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that could not be imported, with the reason.

    Attributes:
        line_no: 1-based physical line number in the file.
        text: the offending line (truncated to 200 characters).
        reason: what was wrong and what was expected.
    """

    line_no: int
    text: str
    reason: str


_TYPE_COLUMNS: Final = ("signal_type", "type")
_HASH_COLUMNS: Final = ("hash", "value", "signal_str")
_CSV_HEADER: Final = ("signal_type", "hash", "external_id", "note", "added_at")
_WS = re.compile(r"[ \t]+")
_JSON = json.JSONDecoder()


def _clip(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


def _content(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def detect_format(first_line: str, default_signal: SignalType | str | None = None) -> ListFormat:
    """Guess the format from the first line that is neither blank nor a comment.

    A comma-separated line naming a hash column is a CSV header; a single token with
    a default signal type given is ``plain``; anything else is ``hma``.
    """
    fields = [f.strip().lower() for f in first_line.split(",")]
    if len(fields) > 1 and any(f in _HASH_COLUMNS for f in fields):
        return ListFormat.CSV
    if default_signal is not None and len(first_line.split()) == 1:
        return ListFormat.PLAIN
    return ListFormat.HMA


class _DigestSet:
    """A grow-only set of 64-bit digests in a numpy open-addressing table."""

    def __init__(self) -> None:
        self._table = np.zeros(1 << 16, dtype=np.uint64)
        self._mask = (1 << 16) - 1
        self._count = 0

    def add(self, key: int) -> bool:
        """Insert ``key`` (non-zero); returns False when it was already present."""
        table, mask = self._table, self._mask
        slot = key & mask
        while True:
            cur = int(table[slot])
            if cur == 0:
                break
            if cur == key:
                return False
            slot = (slot + 1) & mask
        table[slot] = key
        self._count += 1
        if self._count * 2 > table.shape[0]:
            self._grow()
        return True

    def _grow(self) -> None:
        keys = self._table[self._table != 0]
        size = self._table.shape[0] * 2
        self._table = np.zeros(size, dtype=np.uint64)
        self._mask = size - 1
        _bulk_insert(self._table, keys)


def _bulk_insert(table: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64]) -> None:
    """Insert distinct keys into an empty-enough linear-probing table, vectorised.

    Each round places, for every free target slot, the first key aiming at it; the
    rest move one slot on. This yields a valid linear-probing layout because a key
    only moves past a slot once that slot is occupied.
    """
    mask = np.uint64(table.shape[0] - 1)
    slots = keys & mask
    pending = keys
    while pending.size:
        free = table[slots] == 0
        _, first = np.unique(slots, return_index=True)
        win = np.zeros(pending.size, dtype=np.bool_)
        win[first] = True
        win &= free
        table[slots[win]] = pending[win]
        pending, slots = pending[~win], (slots[~win] + np.uint64(1)) & mask


def _digest(entry: Entry) -> int:
    d = hashlib.blake2b(f"{entry.signal}\0{entry.value}".encode(), digest_size=8).digest()
    return int.from_bytes(d, "little") or 1


def iter_entries(
    stream: TextIO,
    fmt: ListFormat | str | None = None,
    default_signal: SignalType | str | None = None,
    *,
    dedup: bool = True,
) -> Iterator[Entry | LineError]:
    """Stream entries out of a hash-list file, one line at a time.

    Args:
        stream: the open text file.
        fmt: ``hma``, ``csv`` or ``plain``; ``None`` detects it from the first line
            that is neither blank nor a comment (see :func:`detect_format`).
        default_signal: the signal type of ``plain`` lines, and of ``hma`` lines or
            CSV rows that carry no type.
        dedup: drop repeated (signal type, value) pairs within the file.

    Yields:
        An :class:`Entry` per good line and a :class:`LineError` per bad one, in file
        order.

    Raises:
        HashFormatError: when the format or default signal type is unknown, when
            ``plain`` is asked for without a signal type, or when a CSV header names
            no hash column (the whole file is unusable then).
    """
    default = None if default_signal is None else _signal(default_signal)
    lines = iter(stream)
    skipped: list[str] = []
    first: str | None = None
    for line in lines:
        if _content(line):
            first = line
            break
        skipped.append(line)
    if first is None:
        return
    try:
        chosen = ListFormat(fmt) if fmt is not None else detect_format(first, default)
    except ValueError:
        raise HashFormatError(
            f"unknown list format {fmt!r}; expected one of: {', '.join(ListFormat)}"
        ) from None
    rest = itertools.chain([first], lines)
    start = len(skipped) + 1
    if chosen is ListFormat.CSV:
        rows: Iterator[Entry | LineError] = _iter_csv(rest, start, default)
    elif chosen is ListFormat.PLAIN:
        if default is None:
            raise HashFormatError("the plain format needs a signal type (--type)")
        rows = _iter_plain(rest, start, default)
    else:
        rows = _iter_hma(rest, start, default)
    if not dedup:
        yield from rows
        return
    seen = _DigestSet()
    for item in rows:
        if isinstance(item, LineError) or seen.add(_digest(item)):
            yield item


def _signal(raw: SignalType | str) -> SignalType:
    return raw if isinstance(raw, SignalType) else parse_signal_type(raw)


def _iter_plain(
    lines: Iterable[str], start: int, signal: SignalType
) -> Iterator[Entry | LineError]:
    for no, line in enumerate(lines, start):
        if not _content(line):
            continue
        try:
            yield Entry(signal, parse_value(signal, line.strip()))
        except HashFormatError as err:
            yield LineError(no, _clip(line.rstrip("\r\n")), str(err))


def _iter_hma(
    lines: Iterable[str], start: int, default: SignalType | None
) -> Iterator[Entry | LineError]:
    for no, line in enumerate(lines, start):
        if not _content(line):
            continue
        text = line.strip()
        parts = _WS.split(text, maxsplit=1)
        try:
            if len(parts) == 1:
                if default is None:
                    raise HashFormatError(
                        "expected '<signal_type> <hash>' (or give a signal type for "
                        "one-hash-per-line files)"
                    )
                signal, raw = default, parts[0]
            else:
                signal = parse_signal_type(parts[0])
                raw = _hma_value(signal, parts[1])
            yield Entry(signal, parse_value(signal, raw))
        except HashFormatError as err:
            yield LineError(no, _clip(line.rstrip("\r\n")), str(err))


def _hma_value(signal: SignalType, rest: str) -> str:
    """The hash part of an HMA line, ignoring fields that tools append after it."""
    if signal is SignalType.VPDQ:
        try:
            value, _ = _JSON.raw_decode(rest)
        except ValueError:
            raise HashFormatError(
                'invalid vpdq hash: expected a JSON array of "<pdq hex>,<quality>,<seconds>"'
            ) from None
        return json.dumps(value)
    return _WS.split(rest, maxsplit=1)[0]


def _iter_csv(
    lines: Iterable[str], start: int, default: SignalType | None
) -> Iterator[Entry | LineError]:
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as err:
        raise HashFormatError(f"unreadable CSV header: {err}") from None
    col_hash = next((header.index(c) for c in _HASH_COLUMNS if c in header), None)
    col_type = next((header.index(c) for c in _TYPE_COLUMNS if c in header), None)
    if col_hash is None:
        raise HashFormatError(
            f"CSV header {header!r} names no hash column; expected one of {_HASH_COLUMNS}"
        )
    if col_type is None and default is None:
        raise HashFormatError(
            f"CSV header {header!r} names no signal type column; expected one of "
            f"{_TYPE_COLUMNS}, or give a signal type (--type)"
        )
    col = {
        name: header.index(name) for name in ("external_id", "note", "added_at") if name in header
    }
    offset = start - 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # e.g. a field over the csv module's size limit; the next line may be fine.
            yield LineError(reader.line_num + offset, "", f"unreadable CSV line: {err}")
            continue
        no = reader.line_num + offset
        if not row or not any(f.strip() for f in row):
            continue
        text = _clip(",".join(row))
        try:
            if len(row) != len(header):
                raise HashFormatError(f"expected {len(header)} fields, got {len(row)}")
            signal = default if col_type is None else _signal(row[col_type])
            assert signal is not None  # checked against the header above
            added = row[col["added_at"]].strip() if "added_at" in col else ""
            try:
                added_at = datetime.fromisoformat(added) if added else None
            except ValueError:
                raise HashFormatError(
                    f"invalid added_at {added!r}: expected an ISO 8601 date or time"
                ) from None
            yield Entry(
                signal,
                parse_value(signal, row[col_hash]),
                external_id=_opt(row, col.get("external_id")),
                note=_opt(row, col.get("note")),
                added_at=added_at,
            )
        except HashFormatError as err:
            yield LineError(no, text, str(err))


def _opt(row: list[str], i: int | None) -> str | None:
    if i is None:
        return None
    value = row[i].strip()
    return value or None


def write_entries(stream: TextIO, entries: Iterable[Entry], fmt: ListFormat | str) -> int:
    """Write entries in one of the import formats; returns how many were written.

    ``hma`` and ``plain`` carry only the type and hash; ``csv`` also carries
    ``external_id``, ``note`` and ``added_at`` (ISO 8601).

    Raises:
        ValueError: when ``plain`` is asked to write entries of more than one type,
            which it could not read back.
    """
    chosen = ListFormat(fmt)
    count = 0
    if chosen is ListFormat.CSV:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(_CSV_HEADER)
        for e in entries:
            writer.writerow(
                (
                    e.signal.value,
                    e.value,
                    e.external_id or "",
                    e.note or "",
                    e.added_at.isoformat() if e.added_at else "",
                )
            )
            count += 1
        return count
    signal: SignalType | None = None
    for e in entries:
        if chosen is ListFormat.PLAIN:
            if signal is not None and e.signal is not signal:
                raise ValueError(
                    f"the plain format holds one signal type; got {signal.value} and "
                    f"{e.signal.value} (use hma or csv)"
                )
            signal = e.signal
            stream.write(f"{e.value}\n")
        else:
            stream.write(f"{e.signal.value} {e.value}\n")
        count += 1
    return count
