"""``mediaguard hashlist``: manage lists of known-content hashes.

Design note: these commands are thin: they open the store, call
:mod:`mediaguard.lists.hashlists` and print. Imports stream the file (a byte-count progress
bar, never the whole file in memory) and report every rejected line with its number;
the good lines are imported regardless. After an import, past scanned items that now
match the list are reported (retroactive matching).

Exit codes: 0 success; 2 usage or configuration error (including a missing list);
3 some lines of an import were rejected (each is listed; the rest were imported).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mediaguard.commands.context import (
    EXIT_USAGE,
    ListDatabaseOption,
    fail,
    open_list_store,
    stderr,
)
from mediaguard.errors import ConfigError
from mediaguard.lists.hashlists import ImportReport, ListMatcher, export_file, import_file
from mediaguard.lists.media import MediaAdded, add_files
from mediaguard.match.formats import ListFormat
from mediaguard.match.types import SignalType, parse_signal_type, parse_value
from mediaguard.policy.model import ListAction
from mediaguard.store import Store

EXIT_LINES_REJECTED = 3

app = typer.Typer(
    help="Manage hash lists (PDQ, MD5, SHA-256, vPDQ) of known illegal or extremist content.",
    no_args_is_help=True,
)
_out = Console()


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="List name: lowercase letters, digits, . _ -")],
    category: Annotated[str, typer.Option(help="Content category, e.g. terrorism, csam.")],
    action: Annotated[
        ListAction, typer.Option(help="block, review, or allow (an allow-list).")
    ] = ListAction.REVIEW,
    source: Annotated[str, typer.Option(help="Where the list comes from.")] = "",
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    pdq_distance: Annotated[
        int, typer.Option(min=0, max=64, help="PDQ match radius for this list (Meta: 31).")
    ] = 31,
    database: ListDatabaseOption = None,
) -> None:
    """Create an empty hash list."""
    with open_list_store(database) as store:
        info = store.lists.create_list(
            name, category, action.value, source=source, description=description,
            pdq_distance=pdq_distance,
        )  # fmt: skip
    stderr.print(f"created list {info.name!r} ({info.category}, action {info.action})")


@app.command("ls")
def list_lists(database: ListDatabaseOption = None) -> None:
    """List every hash list with its entry count."""
    with open_list_store(database) as store:
        table = Table(title="hash lists")
        for column in ("name", "category", "action", "pdq distance", "entries", "source"):
            table.add_column(column)
        for info in store.lists.lists():
            table.add_row(
                info.name, info.category, info.action, str(info.pdq_distance),
                str(store.lists.count_entries(info.name)), info.source,
            )  # fmt: skip
    _out.print(table)


@app.command("show")
def show(name: str, database: ListDatabaseOption = None) -> None:
    """Show one list: its settings and entries per hash type."""
    with open_list_store(database) as store:
        info = store.lists.get_list(name)
        counts = {s.value: store.lists.count_entries(name, s.value) for s in SignalType}
    table = Table(title=f"hash list {info.name}", show_header=False)
    for key in ("category", "action", "pdq_distance", "source", "description"):
        table.add_row(key, str(getattr(info, key)))
    table.add_row("created", info.created_at.isoformat())
    table.add_row("updated", info.updated_at.isoformat())
    for signal, count in counts.items():
        table.add_row(f"{signal} entries", str(count))
    _out.print(table)


@app.command("rm")
def remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database: ListDatabaseOption = None,
) -> None:
    """Delete a list and all its entries."""
    with open_list_store(database) as store:
        count = store.lists.count_entries(name)
        if not yes and not typer.confirm(f"delete list {name!r} and its {count} entries?"):
            raise typer.Exit(EXIT_USAGE)
        store.lists.delete_list(name)
    stderr.print(f"deleted list {name!r} ({count} entries)")


class _Counting(io.RawIOBase):
    """A raw reader that reports bytes read, so a text import can show byte progress."""

    def __init__(self, raw: BinaryIO, progress: Progress, task: object) -> None:
        self._raw, self._progress, self._task = raw, progress, task

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._progress.update(self._task, advance=len(data))  # type: ignore[arg-type]
        return len(data)


def _report(report: ImportReport, list_name: str) -> None:
    stderr.print(
        f"list {list_name!r}: {report.added} added, {report.duplicates} already present, "
        f"{report.error_count} line(s) rejected"
    )
    if report.errors:
        table = Table(title="rejected lines")
        table.add_column("line", justify="right")
        table.add_column("text", overflow="fold")
        table.add_column("reason", overflow="fold")
        for error in report.errors:
            table.add_row(str(error.line_no), error.text, error.reason)
        stderr.print(table)
        if report.error_count > len(report.errors):
            stderr.print(f"... and {report.error_count - len(report.errors)} more")
    if report.retro_matches:
        table = Table(title="past items that now match (retroactive)")
        for column in ("item", "source", "signal", "distance", "decision then"):
            table.add_column(column, overflow="fold")
        for match in report.retro_matches:
            table.add_row(
                match.item.item_key[:16], match.item.source, match.entry.signal_type,
                str(match.distance), match.item.decision or "",
            )  # fmt: skip
        stderr.print(table)


def _announce(store: Store, name: str, report: ImportReport) -> None:
    """Queue ``hashlist.retro_match`` webhook events, when the service is installed.

    The events wait in the database until ``mediaguard serve`` or ``worker`` delivers
    them, so matches found by a CLI import reach the platform like those of an API import.
    """
    try:
        from mediaguard.service.webhooks import enqueue_retro_matches
    except ImportError:  # the service extra is not installed: there is nothing to notify
        return
    enqueue_retro_matches(store, name, report.retro_matches)


@app.command("import")
def import_command(
    name: Annotated[str, typer.Argument(help="The list to import into (must exist).")],
    path: Annotated[Path, typer.Argument(help="The file: HMA lines, CSV, or one hash per line.")],
    fmt: Annotated[
        ListFormat | None,
        typer.Option("--format", help="hma, csv or plain; detected from the first line."),
    ] = None,
    signal: Annotated[
        str | None, typer.Option("--type", help="Hash type of a plain file: pdq, md5, sha256.")
    ] = None,
    retro: Annotated[
        bool, typer.Option("--retro/--no-retro", help="Report past items that now match.")
    ] = True,
    database: ListDatabaseOption = None,
) -> None:
    """Import hashes into a list, streaming; report bad lines and retroactive matches.

    Exit codes:
    0  every line was imported
    2  usage or configuration error (unreadable file, missing list, bad --type)
    3  some lines were rejected (each is listed; the rest were imported)
    """
    if signal is not None:
        parse_signal_type(signal)
    try:
        raw = path.open("rb")
    except OSError as err:
        fail(f"cannot read {path}: {err.strerror or err}")
    progress = Progress(
        TextColumn("[bold]importing"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
        console=stderr, transient=True, disable=not stderr.is_terminal,
    )  # fmt: skip
    with raw, progress, open_list_store(database) as store:
        task = progress.add_task("import", total=path.stat().st_size)
        counting = io.BufferedReader(_Counting(raw, progress, task))
        text = io.TextIOWrapper(counting, encoding="utf-8", errors="replace", newline="")
        report = import_file(store, name, text, fmt=fmt, signal=signal, retro=retro)
        if report.retro_matches:
            _announce(store, name, report)
    _report(report, name)
    if report.error_count:
        raise typer.Exit(EXIT_LINES_REJECTED)


@app.command("export")
def export_command(
    name: str,
    path: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="hma, csv or plain.")] = (
        ListFormat.HMA
    ),
    with_crops: Annotated[
        bool,
        typer.Option(
            "--with-crops",
            help="Also export the hashes of the standard crops stored with added pictures.",
        ),
    ] = False,
    database: ListDatabaseOption = None,
) -> None:
    """Export a list in one of the import formats (pictures' crops only with --with-crops)."""
    with open_list_store(database) as store:
        if path is None:
            count = export_file(store, name, sys.stdout, fmt, with_crops=with_crops)
        else:
            with path.open("w", encoding="utf-8", newline="") as out:
                count = export_file(store, name, out, fmt, with_crops=with_crops)
    stderr.print(f"exported {count} entries of {name!r}")


@app.command("add-media")
def add_media(
    name: Annotated[str, typer.Argument(help="The list.")],
    files: Annotated[list[Path], typer.Argument(help="Pictures to list.")],
    database: ListDatabaseOption = None,
) -> None:
    """Add pictures themselves: their PDQ, MD5 and SHA-256, and the PDQ of standard crops.

    A cropped repost of a listed picture then matches it (PDQ alone does not survive a
    crop of more than about 2 %), and a reduced copy of each picture is kept so that a
    near-threshold edited copy is checked against it.

    Exit codes: 0 every file was added; 2 usage error (e.g. no such list);
    3 some files could not be read (each is listed); the others were added.
    """

    def report(outcome: MediaAdded) -> None:
        if outcome.added is None:
            stderr.print(f"[red]skipped[/] {escape(outcome.source)}: {escape(outcome.error or '')}")
        else:
            stderr.print(
                f"added {escape(outcome.source)}: {len(outcome.added.entry_ids)} hashes, "
                f"{outcome.added.derived_added} crop hashes"
            )

    with open_list_store(database) as store:
        results = add_files(store, name, files, on_file=report)
    if any(r.added is None for r in results):
        raise typer.Exit(EXIT_LINES_REJECTED)


def lookup_type(value: str) -> str:
    """The hash type a bare hex value must be, or a usage error when its length is ambiguous.

    Only MD5 has 32 hex digits. SHA-256 and PDQ both have 64, and guessing would silently
    search the wrong lists (an exact SHA-256 miss, or a PDQ near-match that was never
    meant), so the user is asked to say which.

    Raises:
        ConfigError: for 64 hex digits (SHA-256 or PDQ) or any other length.
    """
    digits = value.strip().lower()
    if len(digits) == 32:
        return "md5"
    if len(digits) == 64:
        raise ConfigError(
            f"{value!r} has 64 hex digits: it may be a SHA-256 or a PDQ hash; "
            "say which with --type sha256 or --type pdq"
        )
    raise ConfigError(
        f"{value!r} has {len(digits)} characters; an MD5 has 32 hex digits, a SHA-256 or a "
        "PDQ hash 64 (give --type for those)"
    )


@app.command("lookup")
def lookup(
    value: Annotated[str, typer.Argument(help="The hash, as hex.")],
    signal: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="pdq, md5 or sha256. Default: md5 for 32 hex digits; 64 hex digits are "
            "either SHA-256 or PDQ, so they need --type.",
        ),
    ] = None,
    database: ListDatabaseOption = None,
) -> None:
    """Which list entries a hash matches (PDQ within each list's distance)."""
    kind = parse_signal_type(signal if signal is not None else lookup_type(value))
    normalised = parse_value(kind, value)
    with open_list_store(database) as store:
        matches = ListMatcher(store, record=False).lookup(kind, normalised)
    table = Table(title=f"{len(matches)} match(es)")
    for column in ("list", "category", "signal", "distance", "entry", "external id"):
        table.add_column(column, overflow="fold")
    for m in matches:
        table.add_row(m.list, m.category, m.signal, str(m.distance), m.value, m.external_id or "")
    _out.print(table)
