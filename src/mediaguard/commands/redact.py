"""``mediaguard redact IN OUT``: hide faces (and optionally flagged regions, text and
codes) in a file.

Design note: the command is thin. It validates the options, shows a progress bar for a
video, calls :func:`mediaguard.redaction.redact` and prints what was done in counts;
every typed error becomes an exit code here. The privacy-safe defaults (low threshold,
enlarged masks, metadata stripped) are explained in ``--help`` because whoever runs the
command decides whether to weaken them.

Exit codes:
    0  the output was written and, with ``--verify``, no face was found in it any more.
    1  ``--verify`` still found faces in the output (the output is kept; inspect it).
    2  usage or configuration error: a bad option, an output name that does not fit the
       format, the output is the input, or the shipped face model is missing or fails
       its checksum (reinstall mediaguard). Nothing was written.
    4  redaction failed: the input is unreadable, unsupported, too large or damaged, or
       encoding or writing failed. No output file is left behind.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mediaguard.commands.context import fail, stderr
from mediaguard.errors import ConfigError, MediaError
from mediaguard.redaction import (
    DEFAULT_MASK_SCALE,
    DEFAULT_THRESHOLD,
    RedactionError,
    RedactReport,
    redact,
)

EXIT_FACES_VISIBLE = 1
EXIT_FAILED = 4


#: Findings listed one per line; the rest are counted (the contact sheet shows the first 64).
_LISTED = 50


class RedactMode(enum.StrEnum):
    BLUR = "blur"
    MOSAIC = "mosaic"
    SOLID = "solid"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]redacting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )


def _summary(report: RedactReport) -> None:
    what = f"{report.faces} face detection(s)"
    if report.regions:
        what += f", {report.regions} region(s)"
    if report.kind == "video":
        stderr.print(
            f"wrote {report.output}: {report.frames} frames, {report.frames_masked} with "
            f"masks, {what}, {report.audio_streams} audio stream(s) copied, "
            f"{report.seconds:.1f} s"
        )
    else:
        stderr.print(f"wrote {report.output}: {what}, {report.seconds:.1f} s")
    for note in report.notes:
        stderr.print(f"[dim]note:[/] {note}")
    if not report.metadata_kept:
        stderr.print("[dim]metadata (EXIF, GPS, XMP, ICC, tags) was stripped[/]")


def redact_command(
    source: Annotated[
        Path, typer.Argument(help="Image or video to redact (format read from its bytes).")
    ],
    output: Annotated[
        Path,
        typer.Argument(
            help="Where to write the redacted copy. Images keep their format (JPEG, PNG, "
            "WebP; others become PNG); videos use the container the suffix names "
            "(.mp4 .m4v .mov .mkv .webm .avi)."
        ),
    ],
    mode: Annotated[
        RedactMode,
        typer.Option(
            "--mode",
            help="How faces are hidden: blur (only a 3 x 3 grid of averages survives), "
            "mosaic (4 cells across each mask) or solid (black).",
        ),
    ] = RedactMode.BLUR,
    mask_scale: Annotated[
        float,
        typer.Option(
            "--mask-scale",
            min=1.0,
            help="Scale factor for face masks, to make sure that masks cover the complete "
            "face with hair, ears and chin: each detected box is enlarged by this factor "
            "about its centre.",
        ),
    ] = DEFAULT_MASK_SCALE,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            min=0.01,
            max=0.99,
            help="Face detection threshold. Low by default on purpose: a missed face is a "
            "privacy failure while a false alarm only hides a patch of background, so "
            "uncertain faces are hidden too. Raise it only if too much background is "
            "masked; lower it if faces slip through.",
        ),
    ] = DEFAULT_THRESHOLD,
    regions: Annotated[
        bool,
        typer.Option(
            "--regions",
            help="Also hide sexual and suggestive regions found by the region detector "
            "(needs the opt-in AGPL extra: pip install 'mediaguard\\[nudenet]').",
        ),
    ] = False,
    text: Annotated[
        bool,
        typer.Option(
            "--text",
            help="Also hide every line of text read in the media (OCR: phone numbers, "
            "names, addresses in a screenshot; needs pip install 'mediaguard\\[text]').",
        ),
    ] = False,
    codes: Annotated[
        bool,
        typer.Option("--codes", help="Also hide every QR code and barcode read in the media."),
    ] = False,
    keep_metadata: Annotated[
        bool,
        typer.Option(
            "--keep-metadata",
            help="Keep EXIF (including GPS location), ICC profile and container tags. Off "
            "by default because metadata can identify where and by whom media was made. "
            "XMP, IPTC, EXIF thumbnails and maker notes are dropped even then: they can "
            "name the people hidden or hold an unredacted preview.",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Search the written output again, at the same threshold, and exit 1 if a "
            "face is still visible (every video frame is searched: slower). Each face "
            "found is listed with its frame, box and score, and a contact sheet of their "
            "crops is saved so you can judge them.",
        ),
    ] = False,
    contact_sheet: Annotated[
        Path | None,
        typer.Option(
            "--contact-sheet",
            help="With --verify: where to save the PNG of the faces still found (default: "
            "next to the output, as NAME.verify.png; only written when a face is found, "
            "readable by you only).",
        ),
    ] = None,
) -> None:
    """Blur, mosaic or black out every face (and optionally flagged regions, text, codes).

    Videos keep their frame count, frame rate, duration and audio (copied, not
    re-encoded); faces are tracked across frames so a face missed on a frame or two is
    still hidden. Metadata is stripped unless --keep-metadata.

    Exit codes:
    0  written (with --verify: no face found in the output)
    1  --verify still found faces (the output is kept)
    2  usage or configuration error; nothing written
    4  redaction failed; no output left behind
    """
    if contact_sheet is not None and not verify:
        fail("--contact-sheet shows what --verify finds: add --verify")
    sheet = contact_sheet or (output.with_name(f"{output.stem}.verify.png") if verify else None)
    progress = _progress()
    task = progress.add_task("redact", total=None)

    def advance(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    try:
        with progress:
            report = redact(
                source,
                output,
                mode=mode.value,
                mask_scale=mask_scale,
                threshold=threshold,
                regions=regions,
                text=text,
                codes=codes,
                keep_metadata=keep_metadata,
                verify=verify,
                contact_sheet=sheet,
                progress=advance,
            )
    except ConfigError as err:
        fail(str(err))
    except (MediaError, RedactionError) as err:
        stderr.print(f"[red]redaction failed:[/] {err}; no output was written")
        raise typer.Exit(EXIT_FAILED) from err
    _summary(report)
    if report.visible_faces:
        stderr.print(
            f"[yellow]--verify found {report.visible_faces} face(s) still visible[/]; the "
            "output was kept for inspection. Judge each one (a head turned away can score "
            "as a face):"
        )
        for finding in report.findings[:_LISTED]:
            stderr.print(f"  {finding.describe()}", soft_wrap=True)
        if len(report.findings) > _LISTED:
            stderr.print(f"  ... and {len(report.findings) - _LISTED} more")
        if report.contact_sheet is not None:
            stderr.print(f"contact sheet of their crops: {escape(str(report.contact_sheet))}")
        raise typer.Exit(EXIT_FACES_VISIBLE)
    if verify:
        stderr.print("verified: no face found in the output")
