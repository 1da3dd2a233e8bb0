"""``mediaguard serve``, ``worker``, ``keys`` and ``db``: run and administer the service.

Design note: these commands are thin. ``serve`` and ``worker`` build settings once,
check the database schema before anything starts (a service on a stale schema refuses
to start and says to run ``mediaguard db upgrade``) and hand over to
:mod:`mediaguard.service`. The FastAPI stack is imported inside the commands, so the
core CLI keeps working without the ``service`` extra; a missing extra is reported with
the command that installs it.

``keys`` and ``db`` need only the database: ``--database URL`` (or
``$MEDIAGUARD_DATABASE_URL``, or the default SQLite file in the data directory), or the
``database_url``/``data_dir`` of a ``--settings`` file.

Exit codes: 0 success; 1 ``db current`` found the schema not current; 2 usage,
configuration or database error.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mediaguard.commands.context import (
    DatabaseOption,
    SettingsOption,
    open_store,
    run,
    service_settings,
    stderr,
)
from mediaguard.errors import ConfigError
from mediaguard.store import SchemaError

if TYPE_CHECKING:
    from mediaguard.engines.ray_workers import RayJobWorkers
    from mediaguard.service.runtime import ServiceRuntime
    from mediaguard.service.settings import ServiceSettings

EXIT_BEHIND = 1

_out = Console()

keys_app = typer.Typer(
    help="Manage API keys: create (the key is printed once), revoke, list.",
    no_args_is_help=True,
)
db_app = typer.Typer(
    help="The database: `db upgrade` migrates its schema, `db current` shows its revision, "
    "`db prune` removes what [retention] says is old.",
    no_args_is_help=True,
)


def _configure_logging(level: str) -> None:
    # The CLI owns the process, so it may configure the root logger; the library never does.
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _check_schema(settings: ServiceSettings) -> str:
    """Refuse a stale schema; return the database URL as shown (password hidden)."""
    with open_store(None, settings.resolved_database_url(), schema="current") as store:
        return store.url


# ------------------------------------------------------------------------- serve


def serve(
    settings_file: SettingsOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Job worker threads in this process (0: leave jobs to `mediaguard worker`).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API, with in-process job workers and webhook delivery.

    Refuses to start when the database schema is behind (run `mediaguard db upgrade`),
    or when a secret is a placeholder outside environment = "development".
    """
    settings = service_settings(settings_file, host=host, port=port, workers=workers)
    _configure_logging(settings.log_level)
    _check_schema(settings)
    import uvicorn

    from mediaguard.service.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


# ------------------------------------------------------------------------ worker


def _start_pruning(
    settings: ServiceSettings, runtime: ServiceRuntime | None, stop: threading.Event
) -> threading.Thread | None:
    """Prune by [retention] in the background while the workers run (None: switched off)."""
    if settings.retention.prune_every_hours == 0:
        return None
    from mediaguard.service.retention import run_schedule

    store = (
        runtime.store if runtime is not None else open_store(None, settings.resolved_database_url())
    )

    def run() -> None:
        try:
            run_schedule(store, settings, stop)
        finally:
            if runtime is None:
                store.close()

    thread = threading.Thread(target=run, name="retention", daemon=True)
    thread.start()
    return thread


def _stop_on_signal(stop_event: threading.Event) -> None:
    """Make SIGTERM and Ctrl-C ask the workers to stop after the current input."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("mediaguard.service").info("signal %d: stopping", signum)
        stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def worker(
    settings_file: SettingsOption = None,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=64, help="Job worker threads (with --ray: per actor)."
        ),
    ] = 1,
    webhooks: Annotated[
        bool, typer.Option("--webhooks/--no-webhooks", help="Also deliver webhooks.")
    ] = True,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run the workers as Ray actors: 'local' starts a cluster on this machine; "
            "'auto', HOST:PORT or ray://HOST:10001 joins one, whose nodes must share the "
            "database and the data directory. Needs: pip install 'mediaguard\\[ray]'.",
        ),
    ] = None,
    ray_workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=4096,
            help="With --ray: worker actors, each reserving --threads CPUs (default: as "
            "many as the cluster's CPUs hold).",
        ),
    ] = None,
) -> None:
    """Run job workers (and webhook delivery) without the HTTP API.

    Any number of workers may share one database; each job runs on one worker at a time
    and a job whose worker dies is retried when its lease expires. With --ray the
    workers are Ray actors, each a process with its own database connections and
    models, and a dead actor is replaced. SIGTERM or Ctrl-C stops after the current
    input; the job goes back to the queue.
    """
    settings = service_settings(settings_file)
    _configure_logging(settings.log_level)
    from mediaguard.service.jobs import BackgroundWorkers
    from mediaguard.service.runtime import ServiceRuntime

    runtime: ServiceRuntime | None = None
    pool: BackgroundWorkers | RayJobWorkers
    if ray_address is None:
        if ray_workers is not None:
            raise ConfigError("--workers needs --ray; in-process workers are set by --threads")
        shown = _check_schema(settings)
        runtime = ServiceRuntime.open(settings)
        pool = BackgroundWorkers(runtime, workers=threads, dispatchers=1 if webhooks else 0)
        _stop_on_signal(pool.stop_event)
    else:
        from mediaguard.engines.ray_workers import RayJobWorkers

        # Before the database: a missing ray extra is reported first, and alone.
        pool = RayJobWorkers(
            settings,
            address=None if ray_address == "local" else ray_address,
            workers=ray_workers,
            threads=threads,
            webhooks=webhooks,
        )
        # From here on SIGTERM stops gracefully, also while Ray is starting.
        _stop_on_signal(pool.stop_event)
        shown = _check_schema(settings)

    janitor = _start_pruning(settings, runtime, pool.stop_event)
    try:
        pool.start()
        if isinstance(pool, BackgroundWorkers):
            where = f"{threads} thread(s)"
        else:
            where = f"{len(pool.pids)} Ray actor(s) x {threads} thread(s)"
        stderr.print(f"mediaguard worker: {where} on {shown}", soft_wrap=True)
        pool.wait()
    finally:
        pool.stop()
        if janitor is not None:
            janitor.join(timeout=10)
        if runtime is not None:
            runtime.close()


# -------------------------------------------------------------------------- keys

_RATE = re.compile(r"\s*(\d+)\s*(?:/\s*min)?\s*")


def _rate_limit(value: str | None) -> int | None:
    if value is None:
        return None
    found = _RATE.fullmatch(value)
    if found is None:
        raise ConfigError(f"--rate-limit: expected N or N/min, got {value!r}")
    return int(found.group(1))


@keys_app.command("create")
def keys_create(
    scopes: Annotated[
        str, typer.Option("--scopes", help="Comma-separated: scan, lists, review, admin.")
    ],
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "",
    rate_limit: Annotated[
        str | None,
        typer.Option(
            "--rate-limit",
            help="Requests per minute, e.g. 120/min (default: the service's setting; 0: none).",
        ),
    ] = None,
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Create an API key and print it once; only its SHA-256 is stored."""
    from mediaguard.service.auth import create_key
    from mediaguard.service.errors import ApiError

    limit = _rate_limit(rate_limit)
    with open_store(settings_file, database, schema="current") as store:
        try:
            info, token = create_key(
                store.keys, scopes.split(","), name=name, rate_limit_per_minute=limit
            )
        except ApiError as err:
            raise ConfigError(f"--scopes: {err.message}") from err
    stderr.print(
        f"created key {info.key_id} ({', '.join(sorted(info.scopes))}); it is shown only "
        "now, store it safely:"
    )
    sys.stdout.write(token + "\n")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (the hex after mg_).")],
    settings_file: SettingsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Revoke a key at once; its jobs and delivery logs are kept."""

    with open_store(settings_file, database, schema="current") as store:
        info = store.keys.revoke_key(key_id)
    stderr.print(f"revoked key {info.key_id}")


@keys_app.command("ls")
def keys_ls(settings_file: SettingsOption = None, database: DatabaseOption = None) -> None:
    """List keys: id, name, scopes, rate limit, created, revoked."""

    with open_store(settings_file, database, schema="current") as store:
        keys = store.keys.keys()
    table = Table(title="API keys")
    for column in ("key id", "name", "scopes", "rate limit", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        limit = (
            "default" if key.rate_limit_per_minute is None else f"{key.rate_limit_per_minute}/min"
        )
        table.add_row(
            key.key_id,
            key.name,
            ",".join(sorted(key.scopes)),
            limit,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    _out.print(table)


# ---------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(settings_file: SettingsOption = None, database: DatabaseOption = None) -> None:
    """Migrate the database schema to this version's (run before `serve` after upgrading)."""
    with open_store(settings_file, database) as store:
        before = store.current_revision()
        store.upgrade()
        after = store.current_revision()
        shown = store.url
    stderr.print(f"{shown}: schema {before or 'empty'} -> {after}", soft_wrap=True)


@db_app.command("current")
def db_current(settings_file: SettingsOption = None, database: DatabaseOption = None) -> None:
    """Show the schema revision; exit 1 when it is not the one this version expects."""
    with open_store(settings_file, database) as store:
        current = store.current_revision()
        head = store.head_revision()
        try:
            store.check_current()
        except SchemaError as err:
            _out.print(f"current: {current or 'empty'}  expected: {head}")
            stderr.print(f"[yellow]{err}[/]")
            raise typer.Exit(EXIT_BEHIND) from err
    _out.print(f"current: {current}  expected: {head}  (up to date)")


@db_app.command("prune")
def db_prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; remove nothing.")
    ] = False,
    settings_file: SettingsOption = None,
) -> None:
    """Remove finished jobs, spent webhook events, recorded items and decided items'
    previews older than the ages in the settings' [retention] (kept media goes with its
    job). The audit log and review decisions are never pruned; each run is audited.
    """
    from mediaguard.service.retention import prune

    settings = service_settings(settings_file)
    with open_store(settings_file, None) as store:
        report = prune(store, settings, dry_run=dry_run)
    table = Table(title="would be pruned (dry run)" if dry_run else "pruned")
    table.add_column("what")
    table.add_column("count", justify="right")
    for what, count in report.counts().items():
        table.add_row(what, str(count))
    _out.print(table)


# ------------------------------------------------------------- standalone runner

app = typer.Typer(
    help="mediaguard service commands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.command("worker")(worker)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service commands with ``argv`` and return the exit code.

    ``mediaguard`` registers the same commands; this runner (``python -m
    mediaguard.commands.service``) works without the main CLI.
    """
    return run(app, list(argv) if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
