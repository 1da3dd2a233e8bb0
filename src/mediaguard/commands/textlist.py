"""``mediaguard termlist`` and ``mediaguard urllist``: manage lists of words and links.

Design note: two commands rather than one ``list --type``, because they stand beside
``mediaguard hashlist`` and take the same sub-commands (``create``, ``ls``, ``show``,
``add``, ``remove``, ``import``, ``export``, ``rm``); one builder makes both, so they cannot
drift apart. They are as thin as the hash-list commands: open the store, call
:mod:`mediaguard.lists.termlists`, print. Every rejected line of an import is listed with
its number (a pattern RE2 refuses included) and the good lines are imported regardless.

Exit codes: 0 success; 2 usage or configuration error (a missing list, a bad entry given
to ``add``, an unreadable file); 3 some lines of an import were rejected (each is listed;
the rest were imported).
"""

# No ``from __future__ import annotations``: the option help texts depend on the kind of
# list, and Typer evaluates string annotations in the module's globals, not the builder's.
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mediaguard.commands.context import (
    EXIT_USAGE,
    ListDatabaseOption,
    fail,
    open_list_store,
    stderr,
)
from mediaguard.commands.hashlist import EXIT_LINES_REJECTED
from mediaguard.lists.termlists import (
    TextImportReport,
    TextListFormat,
    export_file,
    import_file,
    parse_entry,
)
from mediaguard.policy.model import ListAction
from mediaguard.store.termlist_repo import TextListStore

_out = Console()

_HELP = {
    "term": (
        "Manage term lists: phrases and regular expressions matched in text read from "
        "images and video (OCR)."
    ),
    "url": (
        "Manage URL lists: domains and URL prefixes matched in text read from images and "
        "video and in QR codes and barcodes."
    ),
}
_ENTRIES = {
    "term": "a phrase, or a regular expression written re:<pattern> (RE2 syntax)",
    "url": "a domain (matches its subdomains), or a URL prefix (has a path or query)",
}


def _report(report: TextImportReport, list_name: str) -> None:
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


def build_app(kind: str) -> typer.Typer:
    """The Typer app of ``termlist`` (``kind="term"``) or ``urllist`` (``kind="url"``)."""
    app = typer.Typer(help=_HELP[kind], no_args_is_help=True)
    noun = f"{kind} list"

    @app.command("create")
    def create(
        name: Annotated[str, typer.Argument(help="List name: lowercase letters, digits, . _ -")],
        category: Annotated[str, typer.Option(help="Content category, e.g. spam, fraud.")],
        action: Annotated[
            ListAction, typer.Option(help="block, review, or allow (an allow-list).")
        ] = ListAction.REVIEW,
        source: Annotated[str, typer.Option(help="Where the list comes from.")] = "",
        description: Annotated[str, typer.Option(help="Free text.")] = "",
        database: ListDatabaseOption = None,
    ) -> None:
        """Create an empty list."""
        with open_list_store(database) as store:
            info = TextListStore(store).create_list(
                name, kind, category, action.value, source=source, description=description
            )
        stderr.print(f"created {noun} {info.name!r} ({info.category}, action {info.action})")

    @app.command("ls")
    def list_lists(database: ListDatabaseOption = None) -> None:
        """List every list of this kind with its entry count."""
        with open_list_store(database) as store:
            lists = TextListStore(store)
            table = Table(title=f"{kind} lists")
            for column in ("name", "category", "action", "entries", "source"):
                table.add_column(column)
            for info in lists.lists(kind):
                count = str(lists.count_entries(info.name))
                table.add_row(info.name, info.category, info.action, count, info.source)
        _out.print(table)

    @app.command("show")
    def show(
        name: str,
        entries: Annotated[bool, typer.Option("--entries", help="Also print every entry.")] = False,
        database: ListDatabaseOption = None,
    ) -> None:
        """Show one list: its settings, entry count and (with --entries) its entries."""
        with open_list_store(database) as store:
            lists = TextListStore(store)
            info = lists.get_list(name, kind)
            count = lists.count_entries(name)
            rows = [(e.entry_type, e.value) for e in lists.iter_entries(name)] if entries else []
        table = Table(title=f"{noun} {info.name}", show_header=False)
        for key in ("category", "action", "source", "description"):
            table.add_row(key, str(getattr(info, key)))
        table.add_row("created", info.created_at.isoformat())
        table.add_row("updated", info.updated_at.isoformat())
        table.add_row("entries", str(count))
        _out.print(table)
        for entry_type, value in rows:
            _out.print(f"{entry_type}\t{value}", markup=False, highlight=False)

    @app.command("add")
    def add(
        name: str,
        values: Annotated[list[str], typer.Argument(help=f"Entries: {_ENTRIES[kind]}.")],
        database: ListDatabaseOption = None,
    ) -> None:
        """Add entries given on the command line; a bad one stops the command (exit 2)."""
        parsed = [parse_entry(kind, value) for value in values]
        with open_list_store(database) as store:
            result = TextListStore(store).add_entries(name, parsed)
        stderr.print(f"{noun} {name!r}: {result.added} added, {result.duplicates} present")

    @app.command("remove")
    def remove_entries(
        name: str,
        values: Annotated[list[str], typer.Argument(help="Entries, written as for add.")],
        database: ListDatabaseOption = None,
    ) -> None:
        """Remove entries (normalised as add does, so any spelling of one finds it)."""
        normal = [parse_entry(kind, value).value for value in values]
        with open_list_store(database) as store:
            removed = TextListStore(store).remove_entries(name, normal)
        stderr.print(f"{noun} {name!r}: {removed} removed")

    @app.command("rm")
    def delete(
        name: str,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
        database: ListDatabaseOption = None,
    ) -> None:
        """Delete a list and all its entries."""
        with open_list_store(database) as store:
            lists = TextListStore(store)
            lists.get_list(name, kind)
            count = lists.count_entries(name)
            if not yes and not typer.confirm(f"delete {noun} {name!r} and its {count} entries?"):
                raise typer.Exit(EXIT_USAGE)
            lists.delete_list(name, kind)
        stderr.print(f"deleted {noun} {name!r} ({count} entries)")

    @app.command("import")
    def import_command(
        name: Annotated[str, typer.Argument(help="The list to import into (must exist).")],
        path: Annotated[Path, typer.Argument(help="The file: one entry per line, or CSV.")],
        fmt: Annotated[
            TextListFormat | None,
            typer.Option("--format", help="plain or csv; detected from the first line."),
        ] = None,
        database: ListDatabaseOption = None,
    ) -> None:
        """Import entries from a file; report every bad line with its number.

        Exit codes:
        0  every line was imported
        2  usage or configuration error (unreadable file, missing list)
        3  some lines were rejected (each is listed; the rest were imported)
        """
        try:
            stream = path.open(encoding="utf-8", errors="replace", newline="")
        except OSError as err:
            fail(f"cannot read {path}: {err.strerror or err}")
        with stream, open_list_store(database) as store:
            lists = TextListStore(store)
            lists.get_list(name, kind)
            report = import_file(lists, name, stream, fmt=fmt)
        _report(report, name)
        if report.error_count:
            raise typer.Exit(EXIT_LINES_REJECTED)

    @app.command("export")
    def export_command(
        name: str,
        path: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None,
        fmt: Annotated[
            TextListFormat, typer.Option("--format", help="plain or csv.")
        ] = TextListFormat.PLAIN,
        database: ListDatabaseOption = None,
    ) -> None:
        """Export a list in a format that imports back as the same entries."""
        with open_list_store(database) as store:
            lists = TextListStore(store)
            lists.get_list(name, kind)
            if path is None:
                count = export_file(lists, name, sys.stdout, fmt)
            else:
                with path.open("w", encoding="utf-8", newline="") as out:
                    count = export_file(lists, name, out, fmt)
        stderr.print(f"exported {count} entries of {name!r}")

    return app


termlist_app = build_app("term")
urllist_app = build_app("url")
