"""Webhooks: endpoints, the events to deliver to them, and leased deliveries.

Design note: :class:`WebhookRepository` (``store.webhooks``) is the only door to the
webhook tables. An event is stored with one pending delivery per target in one
transaction; :func:`insert_event` is public so that a job's completion events are
queued in the same transaction as the job's outcome (see :mod:`mediaguard.store.jobs`).
Deliveries are leased the way jobs are, so that several dispatchers (the serving
process and any ``mediaguard worker``) never send one attempt twice: on PostgreSQL with
``SELECT ... FOR UPDATE SKIP LOCKED``, on SQLite with a guarded ``UPDATE`` whose row
count says who won. Every attempt is logged in ``webhook_attempts``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from mediaguard.store import validation as check
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import InvalidInputError, NotFoundError
from mediaguard.store.service_models import (
    EVENT_TYPES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from mediaguard.store.service_types import (
    AttemptInfo,
    DeliveryInfo,
    DeliveryTask,
    EndpointInfo,
    EventInfo,
    NewEvent,
)


def insert_event(conn: Connection, event: NewEvent, now: datetime) -> EventInfo:
    """Store ``event`` and its pending deliveries on ``conn``, inside the caller's transaction."""
    body = json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    conn.execute(
        insert(WebhookEvent).values(
            id=event.id,
            type=event.type,
            api_key_id=event.api_key_id,
            payload=body,
            created_at=now,
        )
    )
    # url -> (endpoint id or None, the key that may see the delivery)
    targets: dict[str, tuple[int | None, int | None]] = {}
    stmt = select(
        WebhookEndpoint.id,
        WebhookEndpoint.url,
        WebhookEndpoint.events,
        WebhookEndpoint.api_key_id,
    ).where(WebhookEndpoint.disabled_at.is_(None))
    if event.api_key_id is not None:
        stmt = stmt.where(WebhookEndpoint.api_key_id == event.api_key_id)
    for endpoint_id, url, events, owner in conn.execute(stmt.order_by(WebhookEndpoint.id)):
        if event.type in check.split_set(events):
            targets.setdefault(url, (endpoint_id, owner))
    for url in event.urls:
        targets.setdefault(url, (None, event.api_key_id))
    if targets:
        conn.execute(
            insert(WebhookDelivery),
            [
                {
                    "event_id": event.id,
                    "endpoint_id": endpoint_id,
                    "api_key_id": owner,
                    "url": url,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for url, (endpoint_id, owner) in targets.items()
            ],
        )
    return EventInfo(event.id, event.type, event.api_key_id, body, now, len(targets))


class WebhookRepository:
    """Webhook endpoints, events and deliveries in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def create_endpoint(
        self, api_key_id: int, url: str, secret: str, events: Iterable[str]
    ) -> EndpointInfo:
        """Register a webhook endpoint for a key.

        Raises:
            InvalidInputError: when a field is invalid.
            StoreError: when the database fails.
        """
        check.require_int("api_key_id", api_key_id, 1, None)
        values = {
            "api_key_id": api_key_id,
            "url": check.url(url),
            "secret": secret,
            "events": ",".join(sorted(check.subset("events", events, EVENT_TYPES))),
            "created_at": utcnow(),
        }
        if not isinstance(secret, str) or not 16 <= len(secret) <= 128:
            raise InvalidInputError("secret: expected 16 to 128 characters")
        with translated("register a webhook endpoint"), self._db.begin() as conn:
            endpoint_id = conn.execute(
                insert(WebhookEndpoint).values(**values).returning(WebhookEndpoint.id)
            ).scalar_one()
        return self.get_endpoint(endpoint_id)

    _ENDPOINT_COLUMNS: Final = (
        WebhookEndpoint.id,
        WebhookEndpoint.api_key_id,
        WebhookEndpoint.url,
        WebhookEndpoint.events,
        WebhookEndpoint.created_at,
        WebhookEndpoint.disabled_at,
    )

    @staticmethod
    def _endpoint(row: Sequence[Any]) -> EndpointInfo:
        values = list(row)
        values[3] = check.split_set(values[3])
        return EndpointInfo(*values)

    def get_endpoint(self, endpoint_id: int) -> EndpointInfo:
        """One endpoint, active or disabled.

        Raises:
            NotFoundError: when there is none.
            StoreError: when the database fails.
        """
        check.require_int("endpoint_id", endpoint_id, 1, None)
        stmt = select(*self._ENDPOINT_COLUMNS).where(WebhookEndpoint.id == endpoint_id)
        with translated("read a webhook endpoint"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"webhook endpoint {endpoint_id} does not exist")
        return self._endpoint(row)

    def endpoints(self, api_key_id: int | None) -> list[EndpointInfo]:
        """The active endpoints of one key (or of every key when None), oldest first.

        Raises:
            StoreError: when the database fails.
        """
        stmt = (
            select(*self._ENDPOINT_COLUMNS)
            .where(WebhookEndpoint.disabled_at.is_(None))
            .order_by(WebhookEndpoint.id)
        )
        if api_key_id is not None:
            stmt = stmt.where(WebhookEndpoint.api_key_id == api_key_id)
        with translated("list webhook endpoints"), self._db.connect() as conn:
            return [self._endpoint(row) for row in conn.execute(stmt)]

    def disable_endpoint(self, endpoint_id: int) -> None:
        """Stop sending new events to an endpoint; its delivery log is kept.

        Pending deliveries to it are marked failed, so a removed receiver is not retried.

        Raises:
            NotFoundError: when there is no such endpoint.
            StoreError: when the database fails.
        """
        check.require_int("endpoint_id", endpoint_id, 1, None)
        now = utcnow()
        with translated("disable a webhook endpoint"), self._db.begin() as conn:
            done = conn.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(disabled_at=func.coalesce(WebhookEndpoint.disabled_at, now))
            ).rowcount
            if done != 1:
                raise NotFoundError(f"webhook endpoint {endpoint_id} does not exist")
            conn.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.state == "pending",
                )
                .values(state="failed", last_error="endpoint removed", updated_at=now)
            )

    # -- events and deliveries ------------------------------------------------------

    def enqueue_event(self, event: NewEvent) -> EventInfo:
        """Store an event and one pending delivery per target, in one transaction.

        Targets are the active endpoints subscribed to the event's type (those of the
        event's key, or every subscriber for a keyless event) and ``event.urls``. A URL
        is delivered to once per event even when it is listed twice.

        Raises:
            InvalidInputError: when the event is not a :class:`NewEvent`.
            StoreError: when the database fails.
        """
        if not isinstance(event, NewEvent):
            raise InvalidInputError(f"event: expected a NewEvent, got {type(event).__name__}")
        with translated(f"queue a {event.type} event"), self._db.begin() as conn:
            return insert_event(conn, event, utcnow())

    def claim_delivery(self, owner: str, lease_seconds: float) -> DeliveryTask | None:
        """Lease the oldest due delivery to ``owner`` and count the attempt.

        Raises:
            StoreError: when the database fails.
        """
        check.lease_owner(owner)
        lease = timedelta(seconds=check.positive_seconds("lease_seconds", lease_seconds))
        now = utcnow()
        due = and_(
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at < now,
            ),
        )
        candidates = (
            select(WebhookDelivery.id)
            .where(due)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        )
        take = (
            update(WebhookDelivery)
            .values(
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=WebhookDelivery.attempts + 1,
                updated_at=now,
            )
            .where(due)
        )
        with translated("claim a webhook delivery"):
            if self._db.dialect == "postgresql":
                with self._db.begin() as conn:
                    found = conn.execute(
                        candidates.limit(1).with_for_update(skip_locked=True)
                    ).scalar()
                    if found is None:
                        return None
                    conn.execute(take.where(WebhookDelivery.id == found))
                    return self._task(conn, found)
            with self._db.connect() as conn:
                ids = conn.execute(candidates.limit(8)).scalars().all()
            for delivery_id in ids:
                with self._db.begin() as conn:
                    if conn.execute(take.where(WebhookDelivery.id == delivery_id)).rowcount:
                        return self._task(conn, delivery_id)
        return None

    @staticmethod
    def _task(conn: Connection, delivery_id: int) -> DeliveryTask:
        row = conn.execute(
            select(
                WebhookDelivery.id.label("delivery_id"),
                WebhookEvent.id.label("event_id"),
                WebhookEvent.type.label("event_type"),
                WebhookEvent.payload.label("body"),
                WebhookDelivery.url,
                WebhookEndpoint.secret,
                WebhookDelivery.attempts.label("attempt"),
                WebhookDelivery.lease_owner,
            )
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
        ).one()
        return DeliveryTask(**row._mapping)

    def record_attempt(
        self,
        task: DeliveryTask,
        *,
        started_at: datetime,
        duration_ms: float,
        status_code: int | None,
        error: str | None,
        outcome: Literal["delivered", "retry", "failed"],
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Log one attempt and move the delivery on, if ``task``'s lease is still held.

        Args:
            task: the claimed delivery.
            started_at: when the request started.
            duration_ms: how long it took.
            status_code: the receiver's status, or None when no response came.
            error: what went wrong, if anything.
            outcome: ``delivered`` (2xx), ``retry`` (at ``next_attempt_at``) or
                ``failed`` (attempts exhausted, or the target is refused).
            next_attempt_at: when to retry; required with ``retry``.

        Returns:
            False when the lease was lost (another dispatcher took over); the attempt
            is logged either way, since it happened.

        Raises:
            InvalidInputError: when a field is invalid.
            StoreError: when the database fails.
        """
        if outcome not in ("delivered", "retry", "failed"):
            raise InvalidInputError(f"outcome: unexpected {outcome!r}")
        if outcome == "retry" and next_attempt_at is None:
            raise InvalidInputError("next_attempt_at: required to retry")
        check.as_aware("started_at", started_at)
        now = utcnow()
        values: dict[str, Any] = {
            "state": "pending" if outcome == "retry" else outcome,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_status_code": status_code,
            "last_error": error,
            "updated_at": now,
        }
        if outcome == "retry" and next_attempt_at is not None:
            values["next_attempt_at"] = check.as_aware("next_attempt_at", next_attempt_at)
        if outcome == "delivered":
            values["delivered_at"] = now
        with translated("log a webhook attempt"), self._db.begin() as conn:
            conn.execute(
                insert(WebhookAttempt).values(
                    delivery_id=task.delivery_id,
                    attempt=task.attempt,
                    started_at=started_at,
                    duration_ms=float(duration_ms),
                    status_code=status_code,
                    error=error,
                )
            )
            return (
                conn.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == task.delivery_id,
                        WebhookDelivery.lease_owner == task.lease_owner,
                        WebhookDelivery.state == "pending",
                    )
                    .values(**values)
                ).rowcount
                == 1
            )

    def deliveries(
        self,
        api_key_id: int | None,
        *,
        event_id: str | None = None,
        state: str | None = None,
        limit: int = 50,
    ) -> list[DeliveryInfo]:
        """The newest deliveries of one key (or all when None) with their attempt logs.

        Raises:
            InvalidInputError: when a filter is invalid.
            StoreError: when the database fails.
        """
        stmt = (
            select(
                WebhookDelivery.id,
                WebhookDelivery.event_id,
                WebhookEvent.type.label("event_type"),
                WebhookDelivery.endpoint_id,
                WebhookDelivery.url,
                WebhookDelivery.state,
                WebhookDelivery.attempts,
                WebhookDelivery.next_attempt_at,
                WebhookDelivery.last_status_code,
                WebhookDelivery.last_error,
                WebhookDelivery.created_at,
                WebhookDelivery.delivered_at,
            )
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(check.list_limit(limit))
        )
        if api_key_id is not None:
            stmt = stmt.where(WebhookDelivery.api_key_id == api_key_id)
        if event_id is not None:
            stmt = stmt.where(WebhookDelivery.event_id == event_id)
        if state is not None:
            stmt = stmt.where(WebhookDelivery.state == state)
        with translated("list webhook deliveries"), self._db.connect() as conn:
            rows = conn.execute(stmt).all()
            ids = [row[0] for row in rows]
            logs: dict[int, list[AttemptInfo]] = {}
            if ids:
                for attempt in conn.execute(
                    select(
                        WebhookAttempt.delivery_id,
                        WebhookAttempt.attempt,
                        WebhookAttempt.started_at,
                        WebhookAttempt.duration_ms,
                        WebhookAttempt.status_code,
                        WebhookAttempt.error,
                    )
                    .where(WebhookAttempt.delivery_id.in_(ids))
                    .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
                ):
                    values = dict(attempt._mapping)
                    delivery_id = values.pop("delivery_id")
                    logs.setdefault(delivery_id, []).append(AttemptInfo(**values))
        return [DeliveryInfo(**row._mapping, log=tuple(logs.get(row.id, ()))) for row in rows]

    def delivery_counts(self) -> dict[str, int]:
        """How many deliveries are in each state.

        Raises:
            StoreError: when the database fails.
        """
        stmt = select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        with translated("count webhook deliveries"), self._db.connect() as conn:
            counts = {state: int(n) for state, n in conn.execute(stmt)}
        return {state: counts.get(state, 0) for state in ("pending", "delivered", "failed")}

    def purge_events(self, before: datetime) -> int:
        """Delete events (and their deliveries and logs) created before ``before``.

        Only events with no pending delivery are removed.

        Raises:
            StoreError: when the database fails.
        """
        check.as_aware("before", before)
        pending = select(WebhookDelivery.event_id).where(WebhookDelivery.state == "pending")
        stmt = delete(WebhookEvent).where(
            WebhookEvent.created_at < before, WebhookEvent.id.not_in(pending)
        )
        with translated("purge webhook events"), self._db.begin() as conn:
            return conn.execute(stmt).rowcount
