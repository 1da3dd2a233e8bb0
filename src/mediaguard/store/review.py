"""Human review: the queue of flagged items, decisions about them, and appeals.

Design note: :class:`ReviewRepository` (``store.review``) is the only door to the review
item, decision and appeal tables. Every change that a person or the pipeline makes (a
decision, a reveal, an appeal) is written together with its audit record in one
transaction. Items, decisions and appeals are one aggregate: a decision is accepted
only while its item waits, and deciding an appealed item resolves the appeal, each in
the transaction that moves the item on.

The queue's rules live here rather than in the UI so the API and the UI cannot drift:
items wait while ``open``, ``escalated`` or ``appealed``; they are served by priority,
then age; an appealed item is never shown to the reviewer whose decision is appealed;
and a decision is accepted only on a waiting item, so two reviewers deciding the same
item at once produce one decision and one ``conflict``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, select, update

from mediaguard.store import audit
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDenied,
)
from mediaguard.store.review_models import (
    AUTOMATION,
    DECISION_ACTIONS,
    Appeal,
    Decision,
    Reviewer,
    ReviewItem,
)
from mediaguard.store.review_types import (
    AppealInfo,
    DecisionInfo,
    NewReviewItem,
    ReviewerInfo,
    ReviewItemInfo,
)
from mediaguard.store.reviewers import ReviewerRepository

#: The states in which an item waits in the queue.
WAITING: Final = ("open", "escalated", "appealed")
#: Priority added when an item is escalated, so it comes before ordinary items.
ESCALATION_BOOST: Final = 100
_ITEM_ID_RE: Final = re.compile(r"[0-9a-f]{32}")
_DECISION_ID_RE: Final = re.compile(r"d_[0-9a-f]{32}")
_REASON_RE: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_MAX_NOTE: Final = 4000


def _split(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.split(",") if v)


_ITEM_COLUMNS: Final = (
    ReviewItem.id,
    ReviewItem.source,
    ReviewItem.job_id,
    ReviewItem.sha256,
    ReviewItem.media_kind,
    ReviewItem.machine_decision,
    ReviewItem.categories,
    ReviewItem.lists,
    ReviewItem.priority,
    ReviewItem.state,
    ReviewItem.verdict,
    ReviewItem.has_preview,
    ReviewItem.excluded_reviewer_id,
    ReviewItem.created_at,
    ReviewItem.updated_at,
)
_DECISION_COLUMNS: Final = (
    Decision.id,
    Decision.item_id,
    Reviewer.username,
    Decision.action,
    Decision.reason_code,
    Decision.note,
    Decision.automated_detection,
    Decision.automated_decision,
    Decision.appeal_id,
    Decision.created_at,
)
_APPEAL_COLUMNS: Final = (
    Appeal.id,
    Appeal.decision_id,
    Appeal.state,
    Appeal.reason,
    Appeal.outcome,
    Appeal.resolution_id,
    Appeal.created_at,
    Appeal.resolved_at,
)


def _item(row: Sequence[Any]) -> ReviewItemInfo:
    values = list(row)
    values[6] = _split(values[6])
    values[7] = _split(values[7])
    values[11] = bool(values[11])
    return ReviewItemInfo(*values)


def _decision(row: Sequence[Any]) -> DecisionInfo:
    values = list(row)
    values[6] = bool(values[6])
    return DecisionInfo(*values)


def _decisions_select() -> Any:
    return select(*_DECISION_COLUMNS).outerjoin(Reviewer, Reviewer.id == Decision.reviewer_id)


def _note(value: object) -> str:
    if not isinstance(value, str) or len(value) > _MAX_NOTE:
        raise InvalidInputError(f"note: expected at most {_MAX_NOTE} characters")
    return value


def _item_audit(item: NewReviewItem) -> dict[str, Any]:
    return {
        "sha256": item.sha256,
        "machine_decision": item.machine_decision,
        "categories": list(item.categories),
        "lists": list(item.lists),
        "job": item.job_id,
    }


class ReviewRepository:
    """The review queue, decisions and appeals in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
        reviewers: the reviewer accounts on the same database.
    """

    def __init__(self, db: Database, reviewers: ReviewerRepository) -> None:
        """Work on ``db``; ``reviewers`` names the reviewer whose decision is appealed."""
        self._db = db
        self._reviewers = reviewers

    # -- items ----------------------------------------------------------------------

    def enqueue(self, item: NewReviewItem, *, item_id: str | None = None) -> ReviewItemInfo:
        """Put a flagged item in the queue.

        Args:
            item: the item.
            item_id: its id (32 hex digits), when the caller needed it earlier (to file a
                preview under it); a fresh one by default.

        Raises:
            InvalidInputError: when ``item_id`` is malformed or taken.
            StoreError: when the database fails.
        """
        item_id = item_id or uuid.uuid4().hex
        if not _ITEM_ID_RE.fullmatch(item_id):
            raise InvalidInputError("item_id: expected 32 lowercase hex digits")
        with translated("queue an item for review"), self._db.begin() as conn:
            self._insert_item(conn, item_id, item, "open")
            audit.append(conn, "item.enqueue", item_id, _item_audit(item))
        return self.get_item(item_id)

    @staticmethod
    def _insert_item(conn: Connection, item_id: str, item: NewReviewItem, state: str) -> None:
        now = utcnow()
        conn.execute(
            insert(ReviewItem).values(
                id=item_id,
                source=item.source,
                job_id=item.job_id,
                sha256=item.sha256,
                media_kind=item.media_kind,
                machine_decision=item.machine_decision,
                categories=",".join(item.categories),
                lists=",".join(item.lists),
                priority=item.priority,
                state=state,
                verdict=item.verdict_json,
                has_preview=item.has_preview,
                created_at=now,
                updated_at=now,
            )
        )

    def record_automated(
        self, item: NewReviewItem, *, action: str, reason_code: str
    ) -> DecisionInfo:
        """Record a decision the pipeline took with no person involved (a block).

        The item is stored closed, so it never enters the queue but can be appealed and
        exported as a fully automated statement of reasons.
        """
        if action not in ("remove", "restrict"):
            raise InvalidInputError("action: an automated decision is remove or restrict")
        item_id = uuid.uuid4().hex
        decision_id = f"d_{uuid.uuid4().hex}"
        with translated("record an automated decision"), self._db.begin() as conn:
            self._insert_item(conn, item_id, item, "closed")
            audit.append(conn, "item.enqueue", item_id, _item_audit(item))
            self._insert_decision(
                conn, decision_id, item_id, None, action, reason_code, "", "fully", None
            )
        return self.get_decision(decision_id)

    def get_item(self, item_id: str) -> ReviewItemInfo:
        """One item.

        Raises:
            NotFoundError: when there is none (including a malformed id).
            StoreError: when the database fails.
        """
        if not isinstance(item_id, str) or not _ITEM_ID_RE.fullmatch(item_id):
            raise NotFoundError("no such review item")
        with translated("read a review item"), self._db.connect() as conn:
            row = conn.execute(select(*_ITEM_COLUMNS).where(ReviewItem.id == item_id)).first()
        if row is None:
            raise NotFoundError(f"review item {item_id} does not exist")
        return _item(row)

    def queue(
        self,
        reviewer_id: int | None,
        *,
        category: str | None = None,
        list_name: str | None = None,
        limit: int = 100,
    ) -> list[ReviewItemInfo]:
        """Waiting items, highest priority first, then oldest; never the reviewer's appeals.

        The category and list filters match whole names in the item's comma-separated
        sets.
        """
        stmt = select(*_ITEM_COLUMNS).where(ReviewItem.state.in_(WAITING))
        if reviewer_id is not None:
            stmt = stmt.where(
                (ReviewItem.excluded_reviewer_id.is_(None))
                | (ReviewItem.excluded_reviewer_id != reviewer_id)
            )
        if category:
            stmt = stmt.where(("," + ReviewItem.categories + ",").contains(f",{category},"))
        if list_name:
            stmt = stmt.where(("," + ReviewItem.lists + ",").contains(f",{list_name},"))
        stmt = stmt.order_by(
            ReviewItem.priority.desc(), ReviewItem.created_at, ReviewItem.id
        ).limit(max(1, min(limit, 1000)))
        with translated("read the review queue"), self._db.connect() as conn:
            return [_item(row) for row in conn.execute(stmt)]

    def facets(self) -> tuple[list[str], list[str]]:
        """The categories and lists that waiting items carry, for the queue's filters."""
        stmt = select(ReviewItem.categories, ReviewItem.lists).where(ReviewItem.state.in_(WAITING))
        categories: set[str] = set()
        lists: set[str] = set()
        with translated("read the review queue"), self._db.connect() as conn:
            for cats, names in conn.execute(stmt):
                categories.update(_split(cats))
                lists.update(_split(names))
        return sorted(categories), sorted(lists)

    def expired_previews(self, closed_before: datetime, *, limit: int = 1000) -> list[str]:
        """Ids of items closed before ``closed_before`` that still have a preview."""
        stmt = (
            select(ReviewItem.id)
            .where(
                ReviewItem.state == "closed",
                ReviewItem.has_preview.is_(True),
                ReviewItem.updated_at < closed_before,
            )
            .limit(limit)
        )
        with translated("find expired previews"), self._db.connect() as conn:
            return [row[0] for row in conn.execute(stmt)]

    def forget_preview(self, item_id: str) -> None:
        """Record that an item's preview was deleted."""
        with translated("forget a preview"), self._db.begin() as conn:
            conn.execute(
                update(ReviewItem).where(ReviewItem.id == item_id).values(has_preview=False)
            )

    def reveal(self, item_id: str, reviewer: ReviewerInfo) -> None:
        """Record that ``reviewer`` chose to see the unblurred preview."""
        item = self.get_item(item_id)
        with (
            translated("record a reveal"),
            audit.acting_as(reviewer.actor),
            self._db.begin() as conn,
        ):
            audit.append(conn, "preview.reveal", item.id, {"sha256": item.sha256})

    def has_revealed(self, item_id: str, reviewer: ReviewerInfo) -> bool:
        """Whether ``reviewer`` has a logged reveal of this item's preview."""
        with translated("check a reveal"), self._db.connect() as conn:
            return audit.exists(conn, "preview.reveal", item_id, reviewer.actor)

    # -- decisions ------------------------------------------------------------------

    def decide(
        self,
        item_id: str,
        reviewer: ReviewerInfo,
        *,
        action: str,
        reason_code: str,
        note: str = "",
    ) -> DecisionInfo:
        """Record a reviewer's decision and move the item on.

        ``approve``, ``remove`` and ``restrict`` close the item; ``escalate`` keeps it
        waiting with a higher priority. Deciding an appealed item resolves the appeal:
        ``upheld`` when the new action equals the appealed one, else ``reversed``.

        Raises:
            InvalidInputError: when the action, reason code or note is invalid.
            NotFoundError: when there is no such item.
            ConflictError: when the item is not waiting (already decided).
            PermissionDenied: when the reviewer made the decision under appeal.
            StoreError: when the database fails.
        """
        if action not in DECISION_ACTIONS:
            raise InvalidInputError(f"action: expected one of {', '.join(DECISION_ACTIONS)}")
        if not isinstance(reason_code, str) or not _REASON_RE.fullmatch(reason_code):
            raise InvalidInputError("reason_code: expected a reason code such as sexual_content")
        note = _note(note)
        item = self.get_item(item_id)
        if item.state not in WAITING:
            raise ConflictError(f"review item {item_id} was already decided")
        if item.excluded_reviewer_id == reviewer.id:
            raise PermissionDenied("an appeal must be decided by a different reviewer")
        decision_id = f"d_{uuid.uuid4().hex}"
        new_state = "escalated" if action == "escalate" else "closed"
        priority = item.priority + (ESCALATION_BOOST if action == "escalate" else 0)
        with (
            translated("record a decision"),
            audit.acting_as(reviewer.actor),
            self._db.begin() as conn,
        ):
            changed = conn.execute(
                update(ReviewItem)
                .where(ReviewItem.id == item.id, ReviewItem.state == item.state)
                .values(state=new_state, priority=priority, updated_at=utcnow())
            ).rowcount
            if changed != 1:
                raise ConflictError(f"review item {item_id} was decided by someone else first")
            appeal_id = None
            if item.state == "appealed" and action != "escalate":
                appeal_id = self._resolve_appeal(conn, item.id, action, decision_id)
            self._insert_decision(
                conn,
                decision_id,
                item.id,
                reviewer.id,
                action,
                reason_code,
                note,
                "not",
                appeal_id,
            )
        return self.get_decision(decision_id)

    @staticmethod
    def _insert_decision(
        conn: Connection,
        decision_id: str,
        item_id: str,
        reviewer_id: int | None,
        action: str,
        reason_code: str,
        note: str,
        automated_decision: str,
        appeal_id: str | None,
    ) -> None:
        if automated_decision not in AUTOMATION:  # pragma: no cover - internal callers
            raise InvalidInputError("automated_decision: unknown value")
        conn.execute(
            insert(Decision).values(
                id=decision_id,
                item_id=item_id,
                reviewer_id=reviewer_id,
                action=action,
                reason_code=reason_code,
                note=note,
                # Everything in the queue was flagged by the pipeline.
                automated_detection=True,
                automated_decision=automated_decision,
                appeal_id=appeal_id,
                created_at=utcnow(),
            )
        )
        audit.append(
            conn,
            "decision.create",
            decision_id,
            {
                "item": item_id,
                "action": action,
                "reason_code": reason_code,
                "note": note,
                "automated_decision": automated_decision,
                "appeal": appeal_id,
            },
        )

    def _resolve_appeal(
        self, conn: Connection, item_id: str, action: str, decision_id: str
    ) -> str | None:
        row = conn.execute(
            select(Appeal.id, Decision.action)
            .join(Decision, Decision.id == Appeal.decision_id)
            .where(Decision.item_id == item_id, Appeal.state == "open")
            .order_by(Appeal.created_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        appeal_id, appealed_action = row
        outcome = "upheld" if action == appealed_action else "reversed"
        conn.execute(
            update(Appeal)
            .where(Appeal.id == appeal_id)
            .values(
                state="resolved",
                outcome=outcome,
                resolution_id=decision_id,
                resolved_at=utcnow(),
            )
        )
        audit.append(
            conn, "appeal.resolve", appeal_id, {"outcome": outcome, "decision": decision_id}
        )
        return str(appeal_id)

    def get_decision(self, decision_id: str) -> DecisionInfo:
        """One decision.

        Raises:
            NotFoundError: when there is none (including a malformed id).
            StoreError: when the database fails.
        """
        if not isinstance(decision_id, str) or not _DECISION_ID_RE.fullmatch(decision_id):
            raise NotFoundError("no such decision")
        with translated("read a decision"), self._db.connect() as conn:
            row = conn.execute(_decisions_select().where(Decision.id == decision_id)).first()
        if row is None:
            raise NotFoundError(f"decision {decision_id} does not exist")
        return _decision(row)

    def decisions_for(self, item_id: str) -> list[DecisionInfo]:
        """The decisions about one item, oldest first."""
        stmt = _decisions_select().where(Decision.item_id == item_id).order_by(Decision.created_at)
        with translated("read decisions"), self._db.connect() as conn:
            return [_decision(row) for row in conn.execute(stmt)]

    def decisions_since(
        self,
        since: datetime,
        actions: Iterable[str] = ("remove", "restrict"),
        *,
        limit: int | None = None,
    ) -> list[tuple[DecisionInfo, ReviewItemInfo]]:
        """Decisions taken at or after ``since`` with their items, oldest first."""
        stmt = (
            select(*_DECISION_COLUMNS, *_ITEM_COLUMNS)
            .outerjoin(Reviewer, Reviewer.id == Decision.reviewer_id)
            .join(ReviewItem, ReviewItem.id == Decision.item_id)
            .where(Decision.created_at >= since, Decision.action.in_(tuple(actions)))
            .order_by(Decision.created_at, Decision.id)
            .limit(limit)
        )
        n = len(_DECISION_COLUMNS)
        with translated("read decisions"), self._db.connect() as conn:
            return [(_decision(row[:n]), _item(row[n:])) for row in conn.execute(stmt)]

    # -- appeals --------------------------------------------------------------------

    def appeal(self, decision_id: str, reason: str) -> AppealInfo:
        """Put a decided item back in the queue for a different reviewer.

        Raises:
            NotFoundError: when there is no such decision.
            ConflictError: when the decision is an escalation, or is not the item's latest,
                or the item already has an open appeal.
            InvalidInputError: when the reason is too long.
            StoreError: when the database fails.
        """
        reason = _note(reason)
        decision = self.get_decision(decision_id)
        if decision.action == "escalate":
            raise ConflictError("an escalation is not a decision that can be appealed")
        latest = self.decisions_for(decision.item_id)[-1]
        if latest.id != decision.id:
            raise ConflictError("only the latest decision about an item can be appealed")
        excluded = None
        if decision.reviewer is not None:
            excluded = self._reviewers.get_reviewer(decision.reviewer).id
        appeal_id = uuid.uuid4().hex
        with translated("record an appeal"), self._db.begin() as conn:
            changed = conn.execute(
                update(ReviewItem)
                .where(ReviewItem.id == decision.item_id, ReviewItem.state == "closed")
                .values(state="appealed", excluded_reviewer_id=excluded, updated_at=utcnow())
            ).rowcount
            if changed != 1:
                raise ConflictError("the item is already waiting for review")
            conn.execute(
                insert(Appeal).values(
                    id=appeal_id,
                    decision_id=decision.id,
                    state="open",
                    reason=reason,
                    created_at=utcnow(),
                )
            )
            audit.append(conn, "appeal.create", appeal_id, {"decision": decision.id})
        return self.get_appeal(appeal_id)

    def get_appeal(self, appeal_id: str) -> AppealInfo:
        """One appeal.

        Raises:
            NotFoundError: when there is none.
            StoreError: when the database fails.
        """
        if not isinstance(appeal_id, str) or not _ITEM_ID_RE.fullmatch(appeal_id):
            raise NotFoundError("no such appeal")
        with translated("read an appeal"), self._db.connect() as conn:
            row = conn.execute(select(*_APPEAL_COLUMNS).where(Appeal.id == appeal_id)).first()
        if row is None:
            raise NotFoundError(f"appeal {appeal_id} does not exist")
        return AppealInfo(*row)

    def appeals_for(self, decision_id: str) -> list[AppealInfo]:
        """The appeals of one decision, oldest first."""
        stmt = (
            select(*_APPEAL_COLUMNS)
            .where(Appeal.decision_id == decision_id)
            .order_by(Appeal.created_at)
        )
        with translated("read appeals"), self._db.connect() as conn:
            return [AppealInfo(*row) for row in conn.execute(stmt)]
