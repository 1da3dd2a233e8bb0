"""The ``mediaguard`` command line.

Design note: the Typer app is wrapped by :func:`main`, which takes ``argv`` and returns
the exit code instead of exiting, so tests drive the real CLI in-process. Typed errors
from every stage are translated here, and only here, into exit codes and messages that
say what to do next.

Exit codes of ``mediaguard scan``:
    0  nothing at or above ``--fail-on``
    1  something was flagged at or above ``--fail-on``
    2  usage or configuration error (nothing was scanned)
    3  some inputs could not be scanned (each is listed with its reason); all other
       inputs were still scanned. When items were also flagged, 1 wins: a flag is the
       more urgent signal, and the unreadable inputs are listed either way.
"""

from __future__ import annotations

import enum
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mediaguard.commands import context, exchanges, hashlist, textlist
from mediaguard.commands import review as review_commands
from mediaguard.commands import service as service_commands
from mediaguard.commands.context import (
    EXIT_OK,
    EXIT_USAGE,
    ConfigOption,
    PolicyOption,
    UsageError,
    load_scanner,
    stderr,
)
from mediaguard.commands.init import init_command
from mediaguard.commands.redact import redact_command
from mediaguard.commands.watch import watch_command
from mediaguard.engines.local import default_workers, iter_files, scan_paths, worker_threads
from mediaguard.errors import ConfigError
from mediaguard.policy.model import Decision
from mediaguard.signals import runtime
from mediaguard.signals.base import ModelInfo
from mediaguard.store import audit
from mediaguard.verdict import ScanFailure, ScanResult, Verdict, schema_text

__all__ = ["EXIT_FLAGGED", "EXIT_OK", "EXIT_UNREADABLE", "EXIT_USAGE", "app", "main", "run"]

EXIT_FLAGGED = 1
EXIT_UNREADABLE = 3


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"


class FailOn(enum.StrEnum):
    REVIEW = "review"
    BLOCK = "block"


app = typer.Typer(
    name="mediaguard",
    help="Self-hosted, offline content moderation for images and video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(hashlist.app, name="hashlist")
app.add_typer(textlist.termlist_app, name="termlist")
app.add_typer(textlist.urllist_app, name="urllist")
app.command("redact")(redact_command)
app.command("init")(init_command)
app.command("watch")(watch_command)
app.command("serve")(service_commands.serve)
app.command("worker")(service_commands.worker)
app.add_typer(service_commands.keys_app, name="keys")
app.add_typer(service_commands.db_app, name="db")
app.add_typer(exchanges.exchanges_app, name="exchanges")
app.add_typer(review_commands.reviewers_app, name="reviewers")
app.add_typer(review_commands.audit_app, name="audit")
app.add_typer(review_commands.dsa_app, name="dsa")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )


def _write_results(
    results: Iterator[ScanResult], fmt: OutputFormat, out: TextIO | None
) -> Iterator[ScanResult]:
    """Write each result as it arrives, then pass it on; JSON arrays are streamed too."""
    first = True
    if fmt is OutputFormat.JSON and out is not None:
        out.write("[")
    for result in results:
        if out is not None and fmt is OutputFormat.JSONL:
            out.write(result.to_json() + "\n")
        elif out is not None and fmt is OutputFormat.JSON:
            out.write(("\n" if first else ",\n") + result.to_json(indent=2))
            first = False
        yield result
    if fmt is OutputFormat.JSON and out is not None:
        out.write("\n]\n" if not first else "]\n")


def _summary(counts: Counter[str], flagged: list[Verdict], failures: list[ScanFailure]) -> None:
    table = Table(title="mediaguard scan", show_lines=False)
    table.add_column("decision")
    table.add_column("items", justify="right")
    for key in ("allow", "review", "block", "unreadable"):
        table.add_row(key, str(counts.get(key, 0)))
    stderr.print(table)
    if flagged:
        detail = Table(title="flagged")
        detail.add_column("decision")
        detail.add_column("source", overflow="fold")
        detail.add_column("reason", overflow="fold")
        for verdict in flagged:
            top = next(r for r in verdict.reasons if r.decision is verdict.decision)
            detail.add_row(verdict.decision.value, verdict.source, top.message)
        stderr.print(detail)
    if failures:
        bad = Table(title="unreadable inputs")
        bad.add_column("source", overflow="fold")
        bad.add_column("error")
        bad.add_column("reason", overflow="fold")
        for failure in failures:
            bad.add_row(failure.source, failure.error, failure.message)
        stderr.print(bad)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (scanned recursively).")],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output: table, json or jsonl.")
    ] = OutputFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write json/jsonl here instead of stdout."),
    ] = None,
    policy: PolicyOption = None,
    config: ConfigOption = None,
    detectors: Annotated[
        str | None,
        typer.Option(
            "--detectors",
            help="Comma-separated detectors to run instead of the config's, e.g. "
            "open_nsfw,nudenet (nudenet needs the opt-in AGPL extra).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Worker processes (default: one per core)."),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when any item is at or above this.")
    ] = FailOn.BLOCK,
    lists: Annotated[
        bool | None,
        typer.Option(
            "--lists/--no-lists", help="Match the store's hash, term and URL lists (default: on)."
        ),
    ] = None,
    record: Annotated[
        bool | None,
        typer.Option(
            "--record/--no-record",
            help="Record scanned hashes so lists imported later match them retroactively "
            "(default: on). Only hashes and decisions are stored, never media.",
        ),
    ] = None,
    dihedral: Annotated[
        bool | None,
        typer.Option("--dihedral/--no-dihedral", help="Also match rotated/mirrored copies."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar="MEDIAGUARD_DATABASE_URL",
            help="Database URL of the hash lists (default: SQLite in the data directory).",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Scan on Ray: 'local' starts a cluster on this machine for the scan; "
            "'auto', HOST:PORT or ray://HOST:10001 joins one, whose nodes must see the same "
            "paths (or add --send-bytes). Needs: pip install 'mediaguard\\[ray]'.",
        ),
    ] = None,
    ordered: Annotated[
        bool,
        typer.Option(
            "--ordered/--unordered",
            help="With --ray: results in input order (default) or as files finish.",
        ),
    ] = True,
    send_bytes: Annotated[
        bool,
        typer.Option(
            "--send-bytes",
            help="With --ray: send file contents, for clusters without shared storage.",
        ),
    ] = False,
) -> None:
    """Scan images and videos for sexual content, custom categories and hash-list matches.

    Exit codes:
    0  nothing at or above --fail-on
    1  something flagged at or above --fail-on (wins over 3)
    2  usage or configuration error; nothing was scanned
    3  some inputs unreadable (listed; all others were still scanned)
    """
    files = list(iter_files(paths))
    n_workers = min(workers or default_workers(), max(1, len(files)))
    # With several workers the models load with one worker's share of threads, so that
    # the forked workers can use them as they are instead of each loading its own
    # (engines.local); the process-wide setting is put back once they are loaded.
    threads = runtime.threads()
    if ray_address is None and n_workers > 1:
        runtime.configure(threads=worker_threads(n_workers))
    try:
        scanner = load_scanner(
            config,
            policy,
            detectors,
            hashlists=True if lists is None else lists,
            record=record,
            dihedral=dihedral,
            database_url=database,
        )
    finally:
        runtime.configure(threads=threads)
    threshold = Decision(fail_on.value).severity
    counts: Counter[str] = Counter()
    flagged: list[Verdict] = []
    failures: list[ScanFailure] = []
    with ExitStack() as stack:
        out: TextIO | None = None
        if output_format is not OutputFormat.TABLE:
            if output is None:
                out = sys.stdout
            else:
                try:
                    out = stack.enter_context(output.open("w", encoding="utf-8"))
                except OSError as err:
                    raise UsageError(f"cannot write {output}: {err.strerror or err}") from err
        # Built now but started (with its refresh thread) only after the workers are
        # forked: a fork copies only the calling thread.
        progress = _progress()
        videos: dict[str, TaskID] = {}

        def video_progress(path: str, fraction: float) -> None:
            if path not in videos:
                videos[path] = progress.add_task("video", total=1.0, current=Path(path).name)
            progress.update(videos[path], completed=fraction)

        if ray_address is not None:
            from mediaguard.engines.ray import scan_paths_ray

            results = scan_paths_ray(
                files,
                config=scanner.config,
                policy=scanner.policy,
                address=None if ray_address == "local" else ray_address,
                workers=min(workers, len(files)) if workers else None,
                ordered=ordered,
                send_bytes=send_bytes,
            )
        else:
            results = scan_paths(
                files,
                config=scanner.config,
                policy=scanner.policy,
                workers=n_workers,
                scanner=scanner,
                on_progress=video_progress,
            )
        stack.enter_context(progress)
        task = progress.add_task("scan", total=len(files), current="")
        for result in _write_results(results, output_format, out):
            progress.update(task, advance=1, current=result.source[-60:])
            if result.source in videos:
                progress.remove_task(videos.pop(result.source))
            if isinstance(result, ScanFailure):
                counts["unreadable"] += 1
                failures.append(result)
                continue
            counts[result.decision.value] += 1
            if result.decision is not Decision.ALLOW:
                flagged.append(result)
    _summary(counts, flagged, failures)
    if any(v.decision.severity >= threshold for v in flagged):
        raise typer.Exit(EXIT_FLAGGED)
    if failures:
        stderr.print(
            f"[yellow]{len(failures)} input(s) could not be scanned; see the reasons above.[/]"
        )
        raise typer.Exit(EXIT_UNREADABLE)


@app.command()
def models(
    config: ConfigOption = None,
    detectors: Annotated[
        str | None, typer.Option("--detectors", help="Comma-separated detectors to list.")
    ] = None,
) -> None:
    """List the models in use: name, version, licence, source package, weights SHA-256."""
    scanner = load_scanner(config, None, detectors)
    listed = [*scanner.models, *_redaction_models()]
    listed += [m for m in _text_models() if m.name not in {x.name for x in listed}]
    table = Table(title="models")
    # Names and words such as "BSD-2-Clause" stay whole in a narrow terminal, so they can
    # be searched for; the SHA-256 folds.
    name_width = min(20, max(len(m.name) for m in listed))
    widths = {"name": name_width, "version": 6, "licence": 12, "package": 8, "opt-in": 6}
    for column, width in {**widths, "sha256": 8}.items():
        table.add_column(column, overflow="fold", min_width=width)
    for info in listed:
        table.add_row(
            info.name,
            info.version,
            info.licence,
            info.package,
            "yes" if info.opt_in else "no",
            info.sha256,
        )
    Console().print(table)


def _redaction_models() -> list[ModelInfo]:
    """The face model ``mediaguard redact`` uses; it ships inside mediaguard."""
    from mediaguard.redaction import model_info

    return [model_info()]


def _text_models() -> list[ModelInfo]:
    """The OCR models ``[text] enabled = true`` runs, when the text extra is installed."""
    from mediaguard.signals.text import model_infos

    try:
        return model_infos()
    except ConfigError:
        return []


@app.command()
def schema() -> None:
    """Print the JSON Schema of a scan result (a verdict, or a failure)."""
    sys.stdout.write(schema_text() + "\n")


@app.command()
def samples(
    target: Annotated[
        Path | None,
        typer.Argument(
            help="Folder to write the photos into (default: samples/ in the data directory)."
        ),
    ] = None,
) -> None:
    """Write real sample photos shipped by scikit-image and matplotlib; print the folder.

    The default folder is in the data directory, not the working directory, so that a
    first try leaves nothing behind in a clone.
    """
    from mediaguard.paths import data_dir
    from mediaguard.samples import build

    folder = target if target is not None else data_dir() / "samples"
    written = build(folder)
    stderr.print(f"wrote {len(written)} sample files to {folder}")
    typer.echo(str(folder))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code instead of exiting."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return context.run(app, args, around=audit.acting_as(audit.cli_actor()))


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
