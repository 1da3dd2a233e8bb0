"""Term-list and URL-list operations behind ``/v1/termlists`` and ``/v1/urllists``.

Design note: the service layer between the thin router and
:mod:`mediaguard.lists.termlists`, shaped like :mod:`mediaguard.service.hashlists`: a text
import is streamed from the spool file, a JSON array is parsed in memory under its own
smaller limit, and both go through the same checks, so a pattern RE2 refuses is a
rejected line with its number either way. Whatever changes a list marks the process's
matcher stale, so the next scan sees it. Term and URL lists have no retroactive matching:
scanned items' texts are not recorded (they may hold personal data).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mediaguard.errors import MediaguardError
from mediaguard.lists.termlists import (
    TextImportReport,
    TextListFormat,
    export_file,
    import_entries,
    import_file,
    parse_entry,
)
from mediaguard.match.formats import LineError
from mediaguard.service.errors import ApiError
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.schemas import LineErrorPublic
from mediaguard.service.textlist_schemas import (
    TextEntryCreate,
    TextImportReportPublic,
    TextListCreate,
    TextListPublic,
    TextListUpdate,
)
from mediaguard.store.termlist_repo import NewTextEntry, TextListStore

_ERRORS_KEPT = 100


def _lists(runtime: ServiceRuntime) -> TextListStore:
    return TextListStore(runtime.store)


def _public(runtime: ServiceRuntime, name: str, kind: str) -> TextListPublic:
    lists = _lists(runtime)
    return TextListPublic.from_info(lists.get_list(name, kind), lists.count_entries(name))


def _changed(runtime: ServiceRuntime) -> None:
    if runtime.matcher is not None:
        runtime.matcher.mark_stale()


def list_all(runtime: ServiceRuntime, kind: str) -> list[TextListPublic]:
    """Every list of ``kind`` with its entry count."""
    lists = _lists(runtime)
    return [
        TextListPublic.from_info(info, lists.count_entries(info.name)) for info in lists.lists(kind)
    ]


def create(runtime: ServiceRuntime, kind: str, body: TextListCreate) -> TextListPublic:
    """Create an empty list.

    Raises:
        AlreadyExistsError: when the name is taken by any list (409).
        ProtectedTraitError: when the category names a protected trait (400).
    """
    _lists(runtime).create_list(
        body.name,
        kind,
        body.category,
        body.action.value,
        source=body.source,
        description=body.description,
    )
    _changed(runtime)
    return _public(runtime, body.name, kind)


def get(runtime: ServiceRuntime, kind: str, name: str) -> TextListPublic:
    """One list (404 when there is none of this kind)."""
    return _public(runtime, name, kind)


def update(runtime: ServiceRuntime, kind: str, name: str, body: TextListUpdate) -> TextListPublic:
    """Change a list's attributes (404 when there is none of this kind)."""
    _lists(runtime).update_list(
        name,
        kind,
        category=body.category,
        action=body.action.value if body.action is not None else None,
        source=body.source,
        description=body.description,
    )
    _changed(runtime)
    return _public(runtime, name, kind)


def delete(runtime: ServiceRuntime, kind: str, name: str) -> None:
    """Delete a list with its entries (404 when there is none of this kind)."""
    _lists(runtime).delete_list(name, kind)
    _changed(runtime)


def _report(runtime: ServiceRuntime, report: TextImportReport) -> TextImportReportPublic:
    _changed(runtime)
    return TextImportReportPublic(
        added=report.added,
        duplicates=report.duplicates,
        error_count=report.error_count,
        errors=[
            LineErrorPublic(line=e.line_no, text=e.text, reason=e.reason) for e in report.errors
        ],
    )


def import_text(
    runtime: ServiceRuntime, kind: str, name: str, path: Path, *, fmt: TextListFormat | None
) -> TextImportReportPublic:
    """Import a plain or CSV file from ``path``; undecodable bytes and NUL are replaced.

    Raises:
        NotFoundError: when there is no such list of this kind (404).
        ApiError: 400 ``invalid_list_file`` when the CSV module refuses the file.
    """
    lists = _lists(runtime)
    lists.get_list(name, kind)
    with path.open(encoding="utf-8", errors="replace", newline="") as raw:
        stream = io.StringIO(raw.read().replace("\x00", "\ufffd"))
    try:
        report = import_file(lists, name, stream, fmt=fmt, max_errors_kept=_ERRORS_KEPT)
    except csv.Error as err:
        raise ApiError(400, "invalid_list_file", f"cannot read the CSV file: {err}") from err
    return _report(runtime, report)


def import_json(
    runtime: ServiceRuntime, kind: str, name: str, data: bytes
) -> TextImportReportPublic:
    """Import a JSON array of entries; bad items are reported by their 1-based position.

    Raises:
        ApiError: 400 ``invalid_json`` when the body is not a JSON array.
        NotFoundError: when there is no such list of this kind (404).
    """
    lists = _lists(runtime)
    lists.get_list(name, kind)
    try:
        items: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {err}") from err
    if not isinstance(items, list):
        raise ApiError(400, "invalid_json", "expected a JSON array of entries")

    def parsed() -> Iterator[NewTextEntry | LineError]:
        for position, item in enumerate(items, start=1):
            try:
                body = TextEntryCreate.model_validate(item)
                yield parse_entry(
                    kind, body.value, body.type, external_id=body.external_id, note=body.note
                )
            except (ValidationError, MediaguardError) as err:
                yield LineError(position, json.dumps(item)[:200], _reason(err))

    report = import_entries(lists, name, parsed(), max_errors_kept=_ERRORS_KEPT)
    return _report(runtime, report)


def _reason(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "item"
        return f"{where}: {first['msg']}"
    return str(err)


def remove(runtime: ServiceRuntime, kind: str, name: str, values: list[str]) -> int:
    """Remove entries written as for an import; returns how many went.

    Raises:
        PatternError: when a value is not a valid entry (400).
        NotFoundError: when there is no such list of this kind (404).
    """
    lists = _lists(runtime)
    lists.get_list(name, kind)
    removed = lists.remove_entries(name, [parse_entry(kind, v).value for v in values])
    _changed(runtime)
    return removed


def export(runtime: ServiceRuntime, kind: str, name: str, fmt: TextListFormat) -> str:
    """The list in a format an import reads back (404 when there is none of this kind)."""
    lists = _lists(runtime)
    lists.get_list(name, kind)
    out = io.StringIO()
    export_file(lists, name, out, fmt)
    return out.getvalue()
