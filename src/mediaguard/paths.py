"""Where mediaguard keeps its files.

Design note: one function decides the data directory so the database, the persisted
hash-list indexes and (later) the upload spool move together. ``MEDIAGUARD_DATA_DIR``
overrides the per-user default, which is how a deployment (or a test) points everything
at one place. Nothing is created at import.

Files that only their owner may read (settings holding a secret, pictures of faces
redaction could not hide) are all written by :func:`write_private`, so the mode is set
in one place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import platformdirs

ENV_DATA_DIR = "MEDIAGUARD_DATA_DIR"
#: Permission bits of files only their owner may read: settings holding secrets, and
#: pictures of faces that redaction could not hide.
PRIVATE_MODE: Final = 0o600


def data_dir() -> Path:
    """The data directory, created if missing."""
    raw = os.environ.get(ENV_DATA_DIR)
    path = Path(raw) if raw else Path(platformdirs.user_data_dir("mediaguard"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only, replacing it atomically.

    The file is created with :data:`PRIVATE_MODE` before anything is written, whatever
    the umask, and renamed into place only when complete, so no reader ever sees a
    partial or world-readable copy.

    Raises:
        OSError: when the file cannot be written (nothing is left behind); callers say
            what it means for them.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        with os.fdopen(descriptor, "wb") as out:
            os.fchmod(out.fileno(), PRIVATE_MODE)  # the umask may have narrowed the mode
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
