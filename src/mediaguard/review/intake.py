"""From a verdict to the review queue: what goes to a person, with which preview.

Design note: a ``review`` verdict becomes a queue item; a ``block`` verdict becomes a
closed item with a fully automated decision, so it can be appealed and exported as a
statement of reasons like any human decision. This runs after a sync scan answered and
after a job committed, never inside the scan, so a failure here (a full disk, an
unreadable preview) costs the reviewer a preview, never the caller their verdict.

Previews are the only media the service keeps for review: a small clear JPEG and its
shielded (greyscale, blurred) twin, under ``<data_dir>/previews/<item id>/`` with owner-
only permissions. Reviewers are shown the shielded one until they reveal the clear one,
and each reveal is audited (the review UI, :mod:`mediaguard.service.routers.review_ui`,
serves them from the paths :func:`preview_path` names).

The intake needs only the review store, a data directory and settings passed in, never
the service's runtime: the service builds one :class:`ReviewIntake` at start-up and
hands it each verdict, and a worker or a test can do the same without a web stack.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from mediaguard.errors import MediaguardError
from mediaguard.review.preview import render_previews
from mediaguard.store.base import utcnow
from mediaguard.store.review import ReviewRepository
from mediaguard.store.review_types import NewReviewItem, ReviewItemInfo
from mediaguard.verdict import Verdict

#: Intake runs in the service, and operators read its warnings with the service's own.
log = logging.getLogger("mediaguard.service")

PreviewKind = Literal["clear", "shielded"]

#: How often decided items' previews are looked for and deleted.
_SWEEP_SECONDS: Final = 3600.0
#: Priority of a list match over a classifier score: a known hash outranks a guess.
_LIST_BOOST: Final = 50


def preview_path(data_dir: Path, item_id: str, kind: PreviewKind) -> Path:
    """Where an item's preview of ``kind`` is stored."""
    return data_dir / "previews" / item_id / f"{kind}.jpg"


def preview_time_path(data_dir: Path, item_id: str) -> Path:
    """Where the time of a video preview's frame is kept, next to the previews.

    The frame is chosen when the preview is rendered (the first decodable frame at or
    after the top segment's start), so only the renderer knows its exact time; a reviewer
    needs it to find the moment in the video.
    """
    return preview_path(data_dir, item_id, "clear").with_name("frame.json")


def preview_time(data_dir: Path, item_id: str) -> float | None:
    """The time, in seconds, of the frame a video item's preview shows; None if unknown."""
    try:
        value = json.loads(preview_time_path(data_dir, item_id).read_text(encoding="utf-8"))
        seconds = value["at_seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(seconds) if isinstance(seconds, int | float) else None


def priority(verdict: Verdict) -> int:
    """Higher first: the top category score in percent, plus a boost for a list match."""
    top = max(verdict.scores.values(), default=0.0)
    boost = _LIST_BOOST if any(m.list for m in verdict.matches) else 0
    return round(top * 100) + boost


def categories(verdict: Verdict) -> tuple[str, ...]:
    """The categories the verdict's reasons name, in order, without repeats."""
    found = [r.category for r in verdict.reasons if r.category]
    found += [m.category for m in verdict.matches]
    return tuple(dict.fromkeys(found))


def new_item(verdict: Verdict, *, job_id: str | None, has_preview: bool) -> NewReviewItem:
    """The queue item of a verdict."""
    return NewReviewItem(
        source=verdict.source[:1024] or "upload",
        sha256=verdict.hashes.sha256,
        media_kind="video" if verdict.media.kind == "video" else "image",
        machine_decision=verdict.decision,
        categories=categories(verdict),
        lists=tuple(dict.fromkeys(m.list for m in verdict.matches)),
        priority=priority(verdict),
        verdict_json=verdict.to_json(),
        has_preview=has_preview,
        job_id=job_id,
    )


def has_clear_preview(data_dir: Path, item_id: str) -> bool:
    """Whether the item kept a clear preview (a shielded-only item cannot be revealed)."""
    return preview_path(data_dir, item_id, "clear").is_file()


def _write_previews(
    data_dir: Path, item_id: str, source: Path | bytes, verdict: Verdict, *, clear: bool
) -> bool:
    try:
        previews = render_previews(source, verdict)
    except MediaguardError as err:
        log.warning("review item %s: no preview (%s)", item_id, err)
        return False
    folder = preview_path(data_dir, item_id, "clear").parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    kinds: list[tuple[PreviewKind, bytes]] = [("shielded", previews.shielded)]
    if clear:
        kinds.append(("clear", previews.clear))
    files = [(preview_path(data_dir, item_id, kind), data) for kind, data in kinds]
    if previews.at_seconds is not None:
        frame = json.dumps({"at_seconds": previews.at_seconds}).encode()
        files.append((preview_time_path(data_dir, item_id), frame))
    for target, data in files:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    return True


def discard_previews(data_dir: Path, item_id: str) -> None:
    """Delete an item's previews, if it has any."""
    shutil.rmtree(preview_path(data_dir, item_id, "clear").parent, ignore_errors=True)


def sweep_previews(
    review: ReviewRepository, data_dir: Path, closed_before: datetime, *, dry_run: bool = False
) -> int:
    """Delete the previews of items closed before ``closed_before``; return how many.

    Waiting items keep theirs whatever their age: a reviewer still needs it. With
    ``dry_run`` nothing is deleted and the count is of what would be.

    Raises:
        StoreError: when the database fails.
    """
    if dry_run:
        return len(review.expired_previews(closed_before, limit=10_000_000))
    removed = 0
    while expired := review.expired_previews(closed_before):
        for item_id in expired:
            discard_previews(data_dir, item_id)
            review.forget_preview(item_id)
            removed += 1
    if removed:
        log.info("deleted the previews of %d decided review item(s)", removed)
    return removed


class ReviewIntake:
    """Sends verdicts that need a person to the queue, with previews when configured.

    Args:
        review: the review store.
        data_dir: where previews are kept.
        previews: keep previews at all (without them reviewers see only the reasons).
        automated_reason: the reason code recorded on automated blocks, by category;
            ``"*"``, the fallback, must be present.
        preview_days: how long a decided item keeps its previews.
        shield_only: categories whose items keep only the shielded preview, so no
            reviewer can ever reveal them.
    """

    def __init__(
        self,
        review: ReviewRepository,
        data_dir: Path,
        *,
        previews: bool,
        automated_reason: dict[str, str],
        preview_days: float = 30.0,
        shield_only: frozenset[str] = frozenset(),
    ) -> None:
        """Remember where items and previews go."""
        self.review = review
        self.data_dir = data_dir
        self.previews = previews
        self.shield_only = shield_only
        self.automated_reason = automated_reason
        self.preview_days = preview_days
        self._next_sweep = 0.0

    def sweep(self) -> int:
        """Delete the previews of items decided more than ``preview_days`` ago.

        Returns:
            How many items' previews were deleted.

        Raises:
            StoreError: when the database fails.
        """
        return sweep_previews(
            self.review, self.data_dir, utcnow() - timedelta(days=self.preview_days)
        )

    def _sweep_now_and_then(self) -> None:
        # At most hourly, from the thread that queues items: no extra thread to manage.
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_SECONDS
            self.sweep()

    def take(
        self, verdict: Verdict, source: Path | bytes, *, job_id: str | None = None
    ) -> ReviewItemInfo | None:
        """Queue a ``review`` verdict or record a ``block``; return the queued item.

        Raises:
            StoreError: when the database fails.
        """
        self._sweep_now_and_then()
        if verdict.decision == "block":
            reason = self._reason(verdict)
            self.review.record_automated(
                new_item(verdict, job_id=job_id, has_preview=False),
                action="remove",
                reason_code=reason,
            )
            return None
        if verdict.decision != "review":
            return None
        item_id = uuid.uuid4().hex
        clear = not self.shield_only.intersection(categories(verdict))
        shown = self.previews and _write_previews(
            self.data_dir, item_id, source, verdict, clear=clear
        )
        try:
            return self.review.enqueue(
                new_item(verdict, job_id=job_id, has_preview=shown), item_id=item_id
            )
        except BaseException:
            discard_previews(self.data_dir, item_id)
            raise

    def _reason(self, verdict: Verdict) -> str:
        for category in categories(verdict):
            if category in self.automated_reason:
                return self.automated_reason[category]
        return self.automated_reason["*"]
