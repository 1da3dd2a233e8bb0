"""``mediaguard init``: write a service settings file holding a fresh signing secret.

Design note: the settings file holds the webhook signing secret, so where and how it is
written matters more than what it says. It goes to the data directory (next to the
SQLite database it configures), never the working directory, where a secret would sit
in a clone's root one ``git add`` away from being published. It is created with mode
0600 before the secret is written, whatever the umask, and moved into place only when
complete, so no reader ever sees a partial or world-readable file. Nothing here needs the
``service`` extra: the file is plain TOML that ``serve`` validates when it loads it.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Final

import typer

from mediaguard.errors import ConfigError
from mediaguard.paths import data_dir, write_private

SETTINGS_NAME: Final = "mediaguard.toml"

_TEMPLATE: Final = """\
# mediaguard service settings, written by `mediaguard init`.
# This file holds the webhook signing secret: it is readable by its owner only (0600);
# keep it out of version control. Every other key has its default; mediaguard.example.toml
# in the source tree documents them all. MEDIAGUARD_<KEY> variables override this file.

webhook_signing_secret = "{secret}"

# Webhook targets on private or loopback addresses (a receiver on this machine, for trying
# the service out). Keep false on a network: it would let API users probe it.
webhook_allow_private = {allow_private}
"""


def init_command(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help=f"Where to write the settings (default: {SETTINGS_NAME} in the data "
            "directory, $MEDIAGUARD_DATA_DIR or ~/.local/share/mediaguard).",
        ),
    ] = None,
    allow_private_webhooks: Annotated[
        bool,
        typer.Option(
            "--allow-private-webhooks",
            help="Allow webhooks to this machine and private networks, for trying the "
            "service out. Leave off on a network.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file (and its secret).")
    ] = False,
) -> None:
    """Write service settings with a fresh signing secret, mode 0600; print their path.

    Exit codes:
    0  written; the path is printed on stdout
    2  the file exists (use --force to replace it) or cannot be written
    """
    path = output if output is not None else data_dir() / SETTINGS_NAME
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to replace it and its secret")
    text = _TEMPLATE.format(
        secret=secrets.token_urlsafe(32),
        allow_private="true" if allow_private_webhooks else "false",
    )
    try:
        write_private(path, text.encode("utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from err
    typer.echo(str(path))
