"""Hash-list operations behind the ``/v1/hashlists`` and ``/v1/lookup`` routes.

Design note: this module is the service layer between the thin router and
:mod:`mediaguard.lists.hashlists` (the lead implementation of imports, lookups and
retroactive matching) and the :class:`Store`. A text import is streamed from a spool
file through :func:`mediaguard.lists.hashlists.import_file`, so a ten-million-line list is
never in memory; a JSON array is parsed in memory (bounded by its own, smaller limit)
and fed through the same conversion and retroactive matching. Whatever changes a list
marks the process's matcher stale, and retroactive matches become
``hashlist.retro_match`` webhook events.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO, cast

from pydantic import ValidationError

from mediaguard.errors import MediaguardError
from mediaguard.lists.hashlists import ImportReport, import_entries, import_file
from mediaguard.lists.media import add_picture
from mediaguard.match.formats import LineError, ListFormat
from mediaguard.match.types import Entry, SignalType, parse_signal_type, parse_value
from mediaguard.service.errors import ApiError
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.schemas import (
    EntryCreate,
    HashListCreate,
    HashListPublic,
    HashListUpdate,
    ImportReportPublic,
    LineErrorPublic,
    LookupRequest,
    LookupResponse,
    PictureAddedPublic,
)
from mediaguard.service.webhooks import enqueue_retro_matches

_ERRORS_KEPT = 100


def _public(runtime: ServiceRuntime, name: str) -> HashListPublic:
    info = runtime.store.lists.get_list(name)
    return HashListPublic.from_info(info, runtime.store.lists.count_entries(name))


def _changed(runtime: ServiceRuntime) -> None:
    if runtime.matcher is not None:
        runtime.matcher.mark_stale()


def list_all(runtime: ServiceRuntime) -> list[HashListPublic]:
    """Every list with its entry count."""
    return [
        HashListPublic.from_info(info, runtime.store.lists.count_entries(info.name))
        for info in runtime.store.lists.lists()
    ]


def create(runtime: ServiceRuntime, body: HashListCreate) -> HashListPublic:
    """Create an empty list.

    Raises:
        AlreadyExistsError: when the name is taken (409).
        ProtectedTraitError: when the category names a protected trait (400).
    """
    runtime.store.lists.create_list(
        body.name,
        body.category,
        body.action.value,
        source=body.source,
        description=body.description,
        pdq_distance=body.pdq_distance,
    )
    _changed(runtime)
    return _public(runtime, body.name)


def get(runtime: ServiceRuntime, name: str) -> HashListPublic:
    """One list.

    Raises:
        NotFoundError: when there is no such list (404).
    """
    return _public(runtime, name)


def update(runtime: ServiceRuntime, name: str, body: HashListUpdate) -> HashListPublic:
    """Change a list's attributes.

    Raises:
        NotFoundError: when there is no such list (404).
    """
    runtime.store.lists.update_list(
        name,
        category=body.category,
        action=body.action.value if body.action is not None else None,
        source=body.source,
        description=body.description,
        pdq_distance=body.pdq_distance,
    )
    _changed(runtime)
    return _public(runtime, name)


def delete(runtime: ServiceRuntime, name: str) -> None:
    """Delete a list with its entries.

    Raises:
        NotFoundError: when there is no such list (404).
    """
    runtime.store.lists.delete_list(name)
    _changed(runtime)


def announce(runtime: ServiceRuntime, name: str, report: ImportReport) -> list[str]:
    """Queue the retro-match events of an import and mark the matcher stale.

    Every way entries arrive (an upload, a JSON array, an exchange fetch) ends here, so
    they all reach webhooks and the next scan alike. Returns the event ids.
    """
    events = enqueue_retro_matches(runtime.store, name, report.retro_matches)
    if events:
        runtime.events_waiting.set()
    _changed(runtime)
    return events


def _report(runtime: ServiceRuntime, name: str, report: ImportReport) -> ImportReportPublic:
    events = announce(runtime, name, report)
    return ImportReportPublic(
        added=report.added,
        duplicates=report.duplicates,
        error_count=report.error_count,
        errors=[
            LineErrorPublic(line=e.line_no, text=e.text, reason=e.reason) for e in report.errors
        ],
        retro_matches=len(report.retro_matches),
        events=events,
    )


def import_text(
    runtime: ServiceRuntime,
    name: str,
    path: Path,
    *,
    fmt: ListFormat | None,
    signal: SignalType | None,
) -> ImportReportPublic:
    """Import a hash-list file (HMA ``<type> <hash>`` lines, CSV or plain) from ``path``.

    Bytes that are not UTF-8 are replaced, so they surface as rejected lines rather
    than aborting the import.

    Raises:
        NotFoundError: when there is no such list (404).
        HashFormatError: when the format or signal type is invalid (400).
    """
    runtime.store.lists.get_list(name)
    with path.open(encoding="utf-8", errors="replace", newline="") as raw:
        # _NoNul is a TextIOBase, which is all import_file uses of a TextIO.
        stream = cast(TextIO, _NoNul(raw))
        try:
            report = import_file(runtime.store, name, stream, fmt=fmt, signal=signal)
        except csv.Error as err:
            # The csv module refuses some malformed files outright (a field over its
            # size limit) instead of per line; the entries before it are imported.
            raise ApiError(400, "invalid_list_file", f"cannot read the CSV file: {err}") from err
    return _report(runtime, name, report)


class _NoNul(io.TextIOBase):
    """A text stream with NUL characters replaced by U+FFFD, like undecodable bytes.

    PostgreSQL cannot store NUL in text, so a note or id carrying one would fail the
    whole import on PostgreSQL but not on SQLite; replaced, it fails only its line (a
    hash) or is kept visibly altered (free text), on both backends alike.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        return self._inner.read(-1 if size is None else size).replace("\x00", "\ufffd")

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self._inner.readline(-1 if size is None else size).replace("\x00", "\ufffd")


def add_media(runtime: ServiceRuntime, name: str, data: bytes, label: str) -> PictureAddedPublic:
    """List a picture itself, with its standard crops and a reduced copy (``hashlist add-media``).

    Raises:
        NotFoundError: when there is no such list (404; the store checks it as it adds).
        MediaError: when the bytes are not a picture mediaguard reads, or too flat to
            match (its typed 4xx).
    """
    added = add_picture(runtime.store, name, data, name=label, limits=runtime.scanner.config.limits)
    _changed(runtime)
    return PictureAddedPublic(entry_ids=list(added.entry_ids), crops_added=added.derived_added)


def import_json(runtime: ServiceRuntime, name: str, data: bytes) -> ImportReportPublic:
    """Import a JSON array of entries; bad items are reported by their 1-based position.

    Raises:
        ApiError: 400 ``invalid_json`` when the body is not a JSON array.
        NotFoundError: when there is no such list (404).
    """
    runtime.store.lists.get_list(name)
    try:
        items: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {err}") from err
    if not isinstance(items, list):
        raise ApiError(400, "invalid_json", "expected a JSON array of entries")

    report = import_entries(runtime.store, name, json_entries(items), max_errors_kept=_ERRORS_KEPT)
    return _report(runtime, name, report)


def json_entries(items: list[Any]) -> Iterator[Entry | LineError]:
    """Entries of a JSON array of ``{"signal_type", "value", ...}`` objects.

    A bad item is a :class:`LineError` at its 1-based position, like a bad line.
    """
    for position, item in enumerate(items, start=1):
        try:
            body = EntryCreate.model_validate(item)
            yield Entry.parse(
                parse_signal_type(body.signal_type),
                body.value,
                body.external_id,
                body.note,
                body.added_at,
            )
        except (ValidationError, ValueError, MediaguardError) as err:
            yield LineError(position, json.dumps(item)[:200], _reason(err))


def _reason(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "item"
        return f"{where}: {first['msg']}"
    return str(err)


def lookup(runtime: ServiceRuntime, body: LookupRequest) -> LookupResponse:
    """The entries of every list that one hash matches (PDQ within each list's radius).

    Raises:
        ApiError: 503 ``hashlists_disabled`` when the service runs without hash lists.
        HashFormatError: when the value is not a valid hash of its type (400).
    """
    if runtime.matcher is None:
        raise ApiError(503, "hashlists_disabled", "hash lists are turned off in the settings")
    signal = SignalType(body.signal_type)
    value = parse_value(signal, body.value)
    return LookupResponse(matches=runtime.matcher.lookup(signal, value))
