"""The upload spool: job media on disk, only for as long as a job needs it.

Design note: an upload is streamed into ``spool/incoming/`` while its SHA-256 is
computed, then moved to ``spool/jobs/<job id>/<sha256>`` *before* the job row is
committed, so a worker can never claim a job whose media is not in place. Inside a job
the files are content-addressed (a batch that repeats a file stores it once, and a
worker can check the bytes it scans are the bytes that were uploaded). Files are not
shared across jobs: deleting a file that another process is just adopting for a new job
would need a cross-process lock, and jobs are short-lived, so the saving is not worth
that risk.

When a job finishes its folder is deleted, unless :class:`MediaRetention` says to keep
it: with ``keep_media = false`` (the privacy-safe default) nothing is kept. The review
queue will plug in a retention that keeps the media of items routed to human review.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from mediaguard.store.service_types import JobInfo
from mediaguard.verdict import ScanResult

log = logging.getLogger("mediaguard.service.spool")


class MediaRetention(Protocol):
    """Decides whether a finished job's media stays in the spool."""

    def keep(self, job: JobInfo, results: Sequence[ScanResult]) -> bool:
        """Whether to keep ``job``'s media after it finished with ``results``."""
        ...


class KeepSetting:
    """The ``keep_media`` setting as a retention: keep everything, or nothing."""

    def __init__(self, keep_media: bool) -> None:
        """Remember the setting."""
        self.keep_media = keep_media

    def keep(self, job: JobInfo, results: Sequence[ScanResult]) -> bool:
        """Keep when the setting says so, whatever the results."""
        return self.keep_media


class Spool:
    """Folders under ``root`` for uploads in flight and media of queued jobs."""

    def __init__(self, root: Path) -> None:
        """Use ``root`` (created if missing)."""
        self.root = root
        self.incoming = root / "incoming"
        self.jobs = root / "jobs"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.jobs.mkdir(parents=True, exist_ok=True)

    def new_incoming(self) -> Path:
        """A fresh path for an upload being received."""
        return self.incoming / f"{uuid.uuid4().hex}.part"

    def job_dir(self, job_id: str) -> Path:
        """The folder of one job's media."""
        return self.jobs / job_id

    def path(self, job_id: str, sha256: str) -> Path:
        """Where a job's file with this SHA-256 lives."""
        return self.job_dir(job_id) / sha256

    def adopt(self, job_id: str, files: Iterable[tuple[Path, str]]) -> None:
        """Move received files, given as ``(temporary path, sha256)``, into a job's folder.

        Raises:
            OSError: when the file system fails (the caller discards the job's folder).
        """
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        for temporary, sha256 in files:
            target = folder / sha256
            if target.exists():
                temporary.unlink(missing_ok=True)
            else:
                os.replace(temporary, target)

    def discard(self, job_id: str) -> None:
        """Delete a job's media (a no-op when it is already gone)."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    @staticmethod
    def discard_files(paths: Iterable[Path]) -> None:
        """Delete received files that will not become a job."""
        for path in paths:
            path.unlink(missing_ok=True)

    def sweep_incoming(self, older_than_seconds: float = 3600.0) -> int:
        """Delete uploads left behind by a process that died while receiving them."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.incoming.glob("*.part"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        if removed:
            log.info("removed %d abandoned upload(s) from %s", removed, self.incoming)
        return removed
