"""What every command shares: exit codes, the error console, the error-to-exit mapping,
and, for the service-side commands, the settings and database options and opening both.

One definition here keeps the exit codes, the way an error is printed and the way the
database is chosen identical across ``scan``, ``redact``, ``hashlist``, ``serve``,
``worker``, ``keys``, ``db``, ``reviewers``, ``audit`` and ``dsa``. It imports nothing
heavy at module level (the store is opened lazily), because ``mediaguard --help`` loads
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from mediaguard.errors import ConfigError, MediaguardError

if TYPE_CHECKING:
    from mediaguard.scanner import Scanner
    from mediaguard.service.settings import ServiceSettings
    from mediaguard.store import Store

#: Exit codes every command shares; a command documents its own codes beside these.
EXIT_OK = 0
EXIT_USAGE = 2

#: Where every command writes progress, notes and errors, so stdout stays the result.
stderr = Console(stderr=True)


class UsageError(Exception):
    """A usage or configuration problem found before any work was done (exit 2)."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: message`` (not read as markup) and end the command with ``code``."""
    stderr.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_scanner(
    config: Path | None,
    policy: Path | None,
    detectors: str | None,
    **overrides: Any,
) -> Scanner:
    """A scanner from the ``--config``, ``--policy`` and ``--detectors`` options.

    ``overrides`` replace config fields unless None (an option the user did not give).

    Raises:
        UsageError: the config or the policy is invalid.
    """
    from mediaguard.config import ScanConfig
    from mediaguard.policy.model import Policy
    from mediaguard.scanner import Scanner

    try:
        scan_config = ScanConfig.load(config) if config else ScanConfig()
        if detectors:
            scan_config = scan_config.with_detectors(
                [d.strip() for d in detectors.split(",") if d.strip()]
            )
        scan_config = replace(scan_config, **{k: v for k, v in overrides.items() if v is not None})
        scan_policy = Policy.load(policy) if policy else Policy.default_policy()
        return Scanner(scan_config, scan_policy)
    except ConfigError as err:
        raise UsageError(str(err)) from err


def run(
    app: typer.Typer,
    argv: Sequence[str],
    *,
    around: AbstractContextManager[object] | None = None,
) -> int:
    """Run a Typer app on ``argv`` and return its exit code instead of exiting.

    A typed mediaguard error or a :class:`UsageError` that reaches here is a usage or
    configuration error: its message is printed and the code is 2. Everything else a
    command wants to say it says itself and ends with ``typer.Exit(code)``.

    Args:
        around: entered around the command (e.g. who the audit log records as acting).
    """
    try:
        with around or nullcontext():
            app(args=list(argv), prog_name="mediaguard", standalone_mode=True)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    except (UsageError, MediaguardError) as err:
        # Escaped: messages quote things like 'mediaguard[ray]' that are not markup.
        stderr.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True)
        return EXIT_USAGE
    return EXIT_OK


SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        envvar="MEDIAGUARD_SETTINGS",
        help="Service settings TOML (see mediaguard.example.toml); MEDIAGUARD_* variables "
        "override it.",
    ),
]
PolicyOption = Annotated[
    Path | None, typer.Option("--policy", "-p", help="Policy TOML (default: shipped).")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config TOML: limits and detectors.")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="MEDIAGUARD_DATABASE_URL",
        help="Database URL (default: the settings file's, else SQLite in the data directory).",
    ),
]
#: ``--database`` of the commands that take no settings file (hash, term and URL lists).
ListDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="MEDIAGUARD_DATABASE_URL",
        help="Database URL (default: SQLite in the data directory).",
    ),
]
#: What a command needs of the database's schema when it opens the store: ``as-is`` for
#: the commands that look at it themselves (``db upgrade``, ``db current``); ``current``
#: refuses a schema this version does not expect (run ``mediaguard db upgrade``);
#: ``embedded`` creates and migrates the embedded SQLite database on first use, so the
#: list commands work on a fresh machine, and refuses any other database that is stale.
SchemaNeed = Literal["as-is", "current", "embedded"]


def service_settings(path: Path | None, **overrides: object) -> ServiceSettings:
    """Load the service settings, with the overrides given on the command line.

    The service stack is imported here, so a CLI without the ``service`` extra still
    runs every other command and says which extra this one needs.
    """
    try:
        from mediaguard.service.settings import ServiceSettings
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            f"the service needs the 'service' extra ({err.name} is missing): "
            "pip install 'mediaguard[service]'"
        ) from err
    given = {k: v for k, v in overrides.items() if v is not None}
    return ServiceSettings.load(path, **given)


def open_store(
    settings_file: Path | None, database: str | None, *, schema: SchemaNeed = "as-is"
) -> Store:
    """Open the store that ``--database`` names, else the one the settings file names.

    Every command opens its store here, so each finds the same database from the same
    options and gets the same typed error for a stale schema (see :data:`SchemaNeed`).
    """
    from mediaguard.store import Store

    if database is None and settings_file is not None:
        database = service_settings(settings_file).resolved_database_url()
    store = Store.open(database)
    try:
        if schema == "embedded" and store.dialect == "sqlite":
            store.upgrade()
        elif schema != "as-is":
            store.check_current()
    except BaseException:
        store.close()
        raise
    return store


def open_list_store(database: str | None) -> Store:
    """The store of the hash, term and URL list commands (``schema="embedded"``)."""
    return open_store(None, database, schema="embedded")
