"""Where mediaguard keeps its files.

Design note: one function decides the data directory so the database, the persisted
hash-list indexes and (later) the upload spool move together. ``MEDIAGUARD_DATA_DIR``
overrides the per-user default, which is how a deployment (or a test) points everything
at one place. Nothing is created at import.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_DATA_DIR = "MEDIAGUARD_DATA_DIR"


def data_dir() -> Path:
    """The data directory, created if missing."""
    raw = os.environ.get(ENV_DATA_DIR)
    path = Path(raw) if raw else Path(platformdirs.user_data_dir("mediaguard"))
    path.mkdir(parents=True, exist_ok=True)
    return path
