"""mediaguard: self-hosted, offline content moderation for images and video.

The library runs the same pipeline as the CLI::

    import mediaguard
    verdict = mediaguard.scan("photo.jpg")
    print(verdict.decision, [r.message for r in verdict.reasons])

For many items, build a :class:`Scanner` once: it loads its models once.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from mediaguard.config import ScanConfig
from mediaguard.errors import (
    ConfigError,
    CorruptMedia,
    MediaError,
    MediaguardError,
    MediaTooLarge,
    PolicyError,
    ProtectedTraitError,
    StreamError,
    StreamLost,
    StreamUnavailable,
    UnreadableSource,
    UnsupportedMedia,
)
from mediaguard.policy.model import Decision, Policy
from mediaguard.scanner import Scanner
from mediaguard.verdict import ScanFailure, Verdict

if TYPE_CHECKING:
    from mediaguard.live import Watch
    from mediaguard.redaction import RedactReport

__all__ = [
    "ConfigError",
    "CorruptMedia",
    "Decision",
    "MediaError",
    "MediaTooLarge",
    "MediaguardError",
    "Policy",
    "PolicyError",
    "ProtectedTraitError",
    "ScanConfig",
    "ScanFailure",
    "Scanner",
    "StreamError",
    "StreamLost",
    "StreamUnavailable",
    "UnreadableSource",
    "UnsupportedMedia",
    "Verdict",
    "redact",
    "scan",
    "watch",
]

_default: Scanner | None = None
_lock = threading.Lock()


def _default_scanner() -> Scanner:
    global _default
    with _lock:
        if _default is None:
            _default = Scanner()
        return _default


def redact(*args: Any, **kwargs: Any) -> RedactReport:
    """Blur, mosaic or black out faces in an image or video: see :func:`.redaction.redact`.

    Imported lazily so that ``import mediaguard`` does not load the video encoder.
    """
    from mediaguard.redaction import redact as _redact

    return _redact(*args, **kwargs)


def watch(url: str, policy: Policy | None = None, **options: Any) -> Watch:
    """Watch a live stream with the default detectors; iterate the result for its events.

    ``for event in mediaguard.watch("https://example.org/live.m3u8"): ...`` yields a
    ``started`` event, an ``alert`` whenever the decision in force rises, ``gap`` after
    an outage and ``ended`` (or ``failed``, then the error) last. Keyword arguments are
    those of :class:`~mediaguard.live.watch.Watch` (``until``, ``max_duration_s``,
    ``options``, ``samples``).

    Raises:
        UnsupportedMedia: the URL is not a stream protocol mediaguard opens.
    """
    from mediaguard.live import watch as _watch

    scanner = _default_scanner()
    if policy is not None:
        scanner = scanner.with_policy(policy)
    return _watch(url, scanner=scanner, **options)


def scan(source: str | os.PathLike[str] | bytes, policy: Policy | None = None) -> Verdict:
    """Scan one image with the default detectors.

    The models are loaded on the first call and kept for later ones.

    Args:
        source: a file path, or the encoded bytes.
        policy: the policy to apply; the shipped default when None.

    Raises:
        MediaError: a typed subclass when the input cannot be scanned.
    """
    scanner = _default_scanner()
    if policy is not None:
        scanner = scanner.with_policy(policy)
    return scanner.scan(source)
