"""``mediaguard reviewers``, ``audit`` and ``dsa``: the accountable side of review.

Design note: these commands act on the database directly, so they work when the
service is down (an auditor verifying the log should not need a running API). Each
opens the store from ``--database`` or the settings file, like ``mediaguard keys``.

Exit codes: 0 success; 1 ``audit verify`` found a bad record (it is named);
2 usage, configuration or database error.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import track
from rich.table import Table

from mediaguard.commands.context import (
    DatabaseOption,
    SettingsOption,
    open_store,
    service_settings,
    stderr,
)
from mediaguard.dsa import StatementError, batches, load_reasons
from mediaguard.errors import ConfigError
from mediaguard.review.statements import statement_for

EXIT_TAMPERED = 1

reviewers_app = typer.Typer(
    help="Reviewer accounts for the review UI: add, list, disable.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The hash-chained audit log: verify it, export it as JSONL.", no_args_is_help=True
)
dsa_app = typer.Typer(
    help="EU DSA statements of reasons for remove and restrict decisions.",
    no_args_is_help=True,
)
_out = Console()


def _day(value: str) -> datetime:
    """The start (UTC) of a ``--since`` day."""
    try:
        parsed = date.fromisoformat(value)
    except ValueError as err:
        raise ConfigError(f"--since: expected a date as YYYY-MM-DD, got {value!r}") from err
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


def _since(value: str | None) -> datetime | None:
    return None if value is None else _day(value)


SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only from this day on (YYYY-MM-DD, UTC).")
]


# --------------------------------------------------------------------- reviewers


@reviewers_app.command("add")
def reviewers_add(
    username: Annotated[str, typer.Argument(help="Lowercase letters, digits, . _ -")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Create a reviewer account (the password is asked for, hidden, unless --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_store(settings_file, database, schema="current") as store:
        info = store.reviewers.create_reviewer(username, password)
    stderr.print(f"created reviewer {info.username!r}; log in at /review/login")


@reviewers_app.command("ls")
def reviewers_ls(settings_file: SettingsOption = None, database: DatabaseOption = None) -> None:
    """List reviewer accounts."""
    with open_store(settings_file, database, schema="current") as store:
        accounts = store.reviewers.reviewers()
    table = Table("username", "created", "status")
    for info in accounts:
        status = "disabled" if info.disabled_at else "active"
        table.add_row(info.username, info.created_at.isoformat(timespec="seconds"), status)
    _out.print(table)


@reviewers_app.command("disable")
def reviewers_disable(
    username: Annotated[str, typer.Argument()],
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Disable an account and end its sessions; its past decisions stay attributed to it."""
    with open_store(settings_file, database, schema="current") as store:
        store.reviewers.disable_reviewer(username)
    stderr.print(f"disabled reviewer {username!r}")


# ------------------------------------------------------------------------- audit


def _anchor(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ConfigError(f"--anchor: expected SEQ:SHA256 as verify printed it, got {value!r}")
    return int(seq), digest


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="SEQ:SHA256 of a head printed by an earlier verify and kept elsewhere; "
            "the log must still pass through it (repeatable).",
        ),
    ] = None,
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Check every record's hash and link; name the first edited, missing or moved one."""
    anchors = dict(_anchor(value) for value in anchor or [])
    with open_store(settings_file, database, schema="current") as store:
        report = store.audit.verify_audit(anchors)
    if not report.ok:
        problem = escape(report.problem or "")
        stderr.print(f"[red]audit log damaged at record {report.first_bad_seq}:[/] {problem}")
        raise typer.Exit(EXIT_TAMPERED)
    _out.print(
        f"audit log intact: {report.checked} records; anchor {report.head_seq}:{report.head_hash}"
    )
    stderr.print(
        "keep the anchor somewhere else; a later `audit verify --anchor` with it proves the "
        "log was not rewritten"
    )


@audit_app.command("export")
def audit_export(
    out: Annotated[
        Path | None, typer.Option("--out", help="JSONL file to write (default: stdout).")
    ] = None,
    since: SinceOption = None,
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Write the audit records as JSON Lines, in order, with their hashes."""
    start = _since(since)
    count = 0
    with open_store(settings_file, database, schema="current") as store:
        sink = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            for entry in store.audit.audit_entries(start):
                sink.write(json.dumps(entry.as_json(), ensure_ascii=False) + "\n")
                count += 1
        finally:
            if out:
                sink.close()
    stderr.print(f"exported {count} audit records" + (f" to {out}" if out else ""))


# --------------------------------------------------------------------------- dsa


@dsa_app.command("export")
def dsa_export(
    since: Annotated[str, typer.Option("--since", help="Decisions from this day on (YYYY-MM-DD).")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for statements-NNNN.json batch files.")
    ] = Path("dsa-statements"),
    reasons_file: Annotated[
        Path | None,
        typer.Option("--reasons", help="Reason codes TOML (default: the settings', else shipped)."),
    ] = None,
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Write remove and restrict decisions as DSA statements, at most 100 per file.

    Each file is the body of one ``POST /api/v1/statements`` call to the Transparency
    Database. Every statement is validated against the database's rules before anything
    is written; a decision that cannot be exported is named and the export stops.
    """
    start = _day(since)
    if reasons_file is None and settings_file is not None:
        reasons_file = service_settings(settings_file).review_reasons
    reasons = load_reasons(reasons_file)
    with open_store(settings_file, database, schema="current") as store:
        decided = store.review.decisions_since(start)
    statements: list[dict[str, object]] = []
    for decision, item in track(decided, description="statements", console=stderr):
        try:
            statements.append(statement_for(decision, item, reasons))
        except StatementError as err:
            raise ConfigError(f"decision {decision.id}: {err}") from err
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, body in enumerate(batches(statements), start=1):
        target = out / f"statements-{number:04d}.json"
        target.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written += 1
    stderr.print(f"exported {len(statements)} statements in {written} file(s) to {out}")
