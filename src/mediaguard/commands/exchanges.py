"""``mediaguard exchanges status`` and ``fetch``: the hash exchanges of the settings file.

The workers fetch exchanges on their schedule; these commands show where each stands
and fetch one now (after fixing a feed, or to fill a new list without waiting), through
the same runner, so the fetch is imported, audited and announced exactly as a scheduled
one. Credentials never appear in the output: the table shows no URL.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mediaguard.commands.context import (
    DatabaseOption,
    SettingsOption,
    fail,
    open_store,
    run,
    service_settings,
    stderr,
)

_out = Console()

exchanges_app = typer.Typer(
    help="Hash exchanges: where each stands, and fetching one now.", no_args_is_help=True
)


@exchanges_app.command("status")
def status(settings_file: SettingsOption = None, database: DatabaseOption = None) -> None:
    """Each configured exchange: kind, list, schedule, last fetch, cursor and last error."""
    settings = service_settings(settings_file, database_url=database)
    table = Table(title="hash exchanges")
    for column in ("name", "kind", "list", "every", "fetches", "last fetch", "cursor", "error"):
        table.add_column(column)
    with open_store(None, settings.resolved_database_url(), schema="current") as store:
        repo = store.exchanges
        for exchange in settings.exchanges:
            state = repo.status(exchange.name)
            last = (
                state.last_fetch_at.isoformat(timespec="seconds")
                if state and state.last_fetch_at
                else ""
            )
            table.add_row(
                exchange.name + ("" if exchange.enabled else " (off)"),
                exchange.kind,
                exchange.list,
                f"{exchange.every_seconds:g}s",
                str(state.fetches if state else 0),
                last,
                (state.cursor or "") if state else "",
                (state.last_error or "") if state else "",
            )
    _out.print(table)


@exchanges_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="The exchange's name in the settings file.")],
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Fetch one exchange now, from its cursor, as the schedule would."""
    from mediaguard.service.exchanges.runner import fetch_once
    from mediaguard.service.runtime import ServiceRuntime

    settings = service_settings(settings_file, database_url=database)
    chosen = next((e for e in settings.exchanges if e.name == name), None)
    if chosen is None:
        fail(f"no exchange {name!r} in the settings")
    runtime = ServiceRuntime.open(settings)
    try:
        report = fetch_once(runtime, chosen)
    finally:
        runtime.close()
    stderr.print(
        f"{name}: {report.pages} page(s), {report.added} added, {report.duplicates} "
        f"duplicate(s), {report.bad_lines} bad line(s), {report.retro_matches} retro match(es)",
        soft_wrap=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exchange commands with ``argv`` and return the exit code."""
    return run(exchanges_app, list(argv) if argv is not None else sys.argv[1:])
