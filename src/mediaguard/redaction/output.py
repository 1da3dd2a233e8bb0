"""The output file: written beside its final name, renamed into place only when complete.

Why separate: an image and a video redaction must both leave nothing half-written behind
on any failure. One class does the exclusive create, the rename and the clean-up for
both, so the rule cannot drift between them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mediaguard.redaction.report import RedactionError


class OutputFile:
    """A temporary file next to the output, renamed into place only on success."""

    def __init__(self, output: Path) -> None:
        self.final = output
        self.path = output.with_name(f".{output.name}.{secrets.token_hex(4)}.part")
        try:
            # O_EXCL: never follow or reuse a file someone else placed there; mode 0o666
            # lets the umask decide the final permissions, as for any new file.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as err:
            raise RedactionError(f"cannot write {output}: {err.strerror or err}") from err
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.close()
        try:
            os.replace(self.path, self.final)
        except OSError as err:
            self.discard()
            raise RedactionError(f"cannot write {self.final}: {err.strerror or err}") from err

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)
