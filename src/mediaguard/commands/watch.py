"""``mediaguard watch URL``: moderate a live stream as it runs.

Design note: the command is the library's :func:`mediaguard.live.watch` with a face: it
prints every event as one JSON line on stdout (or ``--output``), keeps a one-line status
on stderr (stream time, samples, the decision in force, the last alert) and ends with the
same exit codes as ``scan``, so a script can watch a stream exactly as it scans a file.

Exit codes:
    0  the stream ended (or ``--max-duration`` passed) and nothing reached ``--fail-on``
    1  the decision in force reached ``--fail-on`` at some point
    2  usage or configuration error (a URL that is not a stream protocol, a bad option)
    3  the stream could not be watched: it never started, or it dropped and every
       reconnection failed (a ``failed`` event says why). 1 wins when it was also flagged.
"""

from __future__ import annotations

import enum
import sys
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.live import Live
from rich.text import Text

from mediaguard.commands.context import (
    ConfigOption,
    PolicyOption,
    UsageError,
    load_scanner,
    stderr,
)
from mediaguard.errors import ConfigError, StreamError
from mediaguard.live import EventKind, StreamEvent, watch
from mediaguard.media.live import LiveOptions
from mediaguard.media.sampling import Sampling
from mediaguard.policy.model import Decision

EXIT_FLAGGED = 1
EXIT_UNWATCHABLE = 3


class Level(enum.StrEnum):
    REVIEW = "review"
    BLOCK = "block"


def _status(event: StreamEvent, last_alert: StreamEvent | None) -> Text:
    alert = "none"
    if last_alert is not None:
        top = last_alert.reasons[0].message if last_alert.reasons else last_alert.decision
        alert = f"{last_alert.decision.value} at {last_alert.time_s or 0:.1f} s: {top}"
    style = {"allow": "green", "review": "yellow", "block": "bold red"}[event.decision.value]
    line = Text(f"{event.time_s or 0:8.1f} s  {event.samples:6d} samples  ")
    line.append(f"{event.decision.value:6s}", style=style)
    line.append(f"  last alert: {alert}", style="dim")
    return line


def watch_command(
    url: Annotated[
        str,
        typer.Argument(
            help="Stream URL: http(s) HLS or progressive, rtmp(s), rtsp; or - for standard "
            "input, or the path of a named pipe (an encoder writing MPEG-TS or FLV)."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSONL events here.")
    ] = None,
    policy: PolicyOption = None,
    config: ConfigOption = None,
    detectors: Annotated[
        str | None, typer.Option("--detectors", help="Comma-separated detectors to run.")
    ] = None,
    lists: Annotated[
        bool, typer.Option("--lists/--no-lists", help="Match the store's hash lists.")
    ] = True,
    database: Annotated[
        str | None,
        typer.Option("--database", envvar="MEDIAGUARD_DATABASE_URL", help="Hash lists' database."),
    ] = None,
    rate: Annotated[
        str, typer.Option("--rate", help="Samples per second, e.g. 1, 2 or 1/2.")
    ] = "1",
    until: Annotated[
        Level | None, typer.Option("--until", help="Stop once the decision reaches this.")
    ] = None,
    max_duration: Annotated[
        float | None,
        typer.Option("--max-duration", min=0.1, help="Stop after this many seconds."),
    ] = None,
    fail_on: Annotated[
        Level, typer.Option("--fail-on", help="Exit 1 when the decision reaches this.")
    ] = Level.BLOCK,
    read_timeout: Annotated[
        float,
        typer.Option("--read-timeout", min=0.1, help="Seconds of silence that count as a drop."),
    ] = 10.0,
    listen: Annotated[
        bool, typer.Option("--listen", help="Wait for the source to publish to URL (RTMP ingest).")
    ] = False,
    samples: Annotated[
        bool, typer.Option("--samples", help="Also print one event per scanned sample.")
    ] = False,
) -> None:
    """Watch a live stream: JSONL events on stdout, a status line on stderr.

    Exit codes:
    0  ended (or --max-duration passed) with nothing at or above --fail-on
    1  the decision reached --fail-on (wins over 3)
    2  usage or configuration error
    3  the stream never started or was lost (a failed event says why)
    """
    scanner = load_scanner(
        config, policy, detectors, hashlists=lists, record=False, database_url=database
    )
    try:
        sampling = Sampling(
            rate=Fraction(rate),
            scene_cuts=scanner.config.sampling.scene_cuts,
            scene_threshold=scanner.config.sampling.scene_threshold,
            keyframes_only=scanner.config.sampling.keyframes_only,
        )
        options = LiveOptions(sampling=sampling, read_timeout_s=read_timeout, listen=listen)
    except (ConfigError, ValueError, ZeroDivisionError) as err:
        raise UsageError(f"--rate: {err}") from err
    watcher = watch(
        url,
        scanner=scanner,
        options=options,
        until=Decision(until.value) if until else None,
        max_duration_s=max_duration,
        samples=samples,
    )
    threshold = Decision(fail_on.value).severity
    worst = Decision.ALLOW
    failed = False
    with ExitStack() as stack:
        out: TextIO = sys.stdout
        if output is not None:
            try:
                out = stack.enter_context(output.open("w", encoding="utf-8"))
            except OSError as err:
                raise UsageError(f"cannot write {output}: {err.strerror or err}") from err
        live: Live | _NoLive = _NoLive()
        if stderr.is_terminal:
            live = stack.enter_context(
                Live(Text("connecting…"), console=stderr, transient=True, auto_refresh=False)
            )
        try:
            for event in watcher:
                out.write(event.to_json() + "\n")
                out.flush()
                if event.decision.severity > worst.severity:
                    worst = event.decision
                failed = failed or event.kind is EventKind.FAILED
                live.update(_status(event, watcher.last_alert), refresh=True)
        except StreamError as err:
            failed = True
            stderr.print(f"[red]stream failed:[/] {err}", markup=True, highlight=False)
        except KeyboardInterrupt:
            watcher.stop()
    state = watcher.state
    stderr.print(
        f"watched {state.samples} samples over {float(state.last_time or 0):.1f} s; "
        f"worst decision {worst.value}; {len(watcher.stream.gaps)} gap(s)",
        highlight=False,
    )
    if worst.severity >= threshold:
        raise typer.Exit(EXIT_FLAGGED)
    if failed:
        raise typer.Exit(EXIT_UNWATCHABLE)


class _NoLive:
    """Stands in for :class:`rich.live.Live` when stderr is not a terminal."""

    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, renderable: Text, *, refresh: bool = False) -> None:
        return None
