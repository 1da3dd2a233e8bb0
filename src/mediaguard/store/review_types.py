"""What review hands out: reviewers, sessions, review items, decisions and appeals as values.

Kept apart from the two review repositories because the layers above read these values
without writing anything: DSA statements are built from a decision and its item, the
HTTP schemas and the review UI render them. Both repositories return them, and neither
has to import the other for a type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mediaguard.store.errors import InvalidInputError
from mediaguard.store.review_models import MEDIA_KINDS


@dataclass(frozen=True, slots=True)
class ReviewerInfo:
    """A reviewer account."""

    id: int
    username: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def actor(self) -> str:
        """How the audit log names this reviewer."""
        return f"reviewer:{self.username}"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session: who, its CSRF token, and when it ends."""

    reviewer: ReviewerInfo
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewReviewItem:
    """A flagged file to put in front of a person.

    Raises:
        InvalidInputError: when a field is invalid; the message names it.
    """

    source: str
    sha256: str
    media_kind: str
    machine_decision: str
    categories: tuple[str, ...]
    lists: tuple[str, ...]
    priority: int
    verdict_json: str
    has_preview: bool = False
    job_id: str | None = None

    def __post_init__(self) -> None:
        """Validate the fields."""
        if not isinstance(self.source, str) or not 1 <= len(self.source) <= 1024:
            raise InvalidInputError("source: expected 1 to 1024 characters")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise InvalidInputError("sha256: expected 64 hex digits")
        if self.media_kind not in MEDIA_KINDS:
            raise InvalidInputError(f"media_kind: expected one of {', '.join(MEDIA_KINDS)}")
        if self.machine_decision not in ("allow", "review", "block"):
            raise InvalidInputError("machine_decision: expected allow, review or block")


@dataclass(frozen=True, slots=True)
class ReviewItemInfo:
    """A stored review item."""

    id: str
    source: str
    job_id: str | None
    sha256: str
    media_kind: str
    machine_decision: str
    categories: tuple[str, ...]
    lists: tuple[str, ...]
    priority: int
    state: str
    verdict_json: str
    has_preview: bool
    excluded_reviewer_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def verdict(self) -> dict[str, Any]:
        """The verdict that flagged the item, as JSON data."""
        value: dict[str, Any] = json.loads(self.verdict_json)
        return value


@dataclass(frozen=True, slots=True)
class DecisionInfo:
    """A stored decision; ``reviewer`` is None for a decision the pipeline took alone."""

    id: str
    item_id: str
    reviewer: str | None
    action: str
    reason_code: str
    note: str
    automated_detection: bool
    automated_decision: str
    appeal_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AppealInfo:
    """A stored appeal and, once decided, its outcome."""

    id: str
    decision_id: str
    state: str
    reason: str
    outcome: str | None
    resolution_id: str | None
    created_at: datetime
    resolved_at: datetime | None
