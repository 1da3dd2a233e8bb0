"""The repository of watched live streams: submission, leases, stop requests and events.

Why separate: streams are their own aggregate (a stream and its events), used only by the
service; like every repository they work on the facade's database and its error
translation, and follow the jobs' lease protocol: a claim is one conditional
``UPDATE`` (queued, or running with an expired lease), every later change is conditional
on the lease owner, so a worker presumed dead cannot overwrite the one that took over.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import InvalidInputError, NotFoundError
from mediaguard.store.stream_models import (
    STREAM_EVENT_KINDS,
    Stream,
    StreamEventRow,
    StreamReviewItem,
)

__all__ = ["StreamEventInfo", "StreamInfo", "StreamRepository"]

_FINAL = ("ended", "failed", "stopped")


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream as stored; ``options`` is the JSON object it was submitted with."""

    id: str
    api_key_id: int
    url: str
    callback_url: str | None
    options: dict[str, Any]
    state: str
    stop_requested: bool
    attempts: int
    samples: int
    decision: str
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class StreamEventInfo:
    id: int
    stream_id: str
    kind: str
    body: dict[str, Any]


def _info(row: RowMapping) -> StreamInfo:
    data = dict(row)
    data["options"] = json.loads(data["options"])
    return StreamInfo(**data)


class StreamRepository:
    """Streams and their events.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``; the facade builds this as ``store.streams``."""
        self._db = db

    def _read(self, conn: Connection, stream_id: str) -> StreamInfo:
        row = conn.execute(select(Stream.__table__).where(Stream.id == stream_id)).mappings()
        found = row.first()
        if found is None:
            raise NotFoundError(f"stream {stream_id!r} not found")
        return _info(found)

    def create_stream(
        self,
        api_key_id: int,
        url: str,
        *,
        callback_url: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> StreamInfo:
        """Queue a stream for watching.

        Raises:
            StoreError: when the database fails.
        """
        stream_id = uuid.uuid4().hex
        now = utcnow()
        with translated("submit a stream"), self._db.begin() as conn:
            conn.execute(
                insert(Stream).values(
                    id=stream_id,
                    api_key_id=api_key_id,
                    url=url,
                    callback_url=callback_url,
                    options=json.dumps(options or {}, sort_keys=True),
                    state="queued",
                    stop_requested=False,
                    attempts=0,
                    samples=0,
                    decision="allow",
                    created_at=now,
                    updated_at=now,
                )
            )
            return self._read(conn, stream_id)

    def get_stream(self, stream_id: str) -> StreamInfo:
        """Raises: NotFoundError when there is no such stream."""
        with translated("read a stream"), self._db.connect() as conn:
            return self._read(conn, stream_id)

    def list_streams(self, api_key_id: int | None, *, limit: int = 100) -> list[StreamInfo]:
        """The newest streams first, of one key (or of all when None)."""
        stmt = select(Stream.__table__).order_by(Stream.created_at.desc(), Stream.id).limit(limit)
        if api_key_id is not None:
            stmt = stmt.where(Stream.api_key_id == api_key_id)
        with translated("list streams"), self._db.connect() as conn:
            return [_info(row) for row in conn.execute(stmt).mappings()]

    def request_stop(self, stream_id: str) -> StreamInfo:
        """Stop a stream: a queued one at once, a running one by its worker's next renewal."""
        now = utcnow()
        with translated("stop a stream"), self._db.begin() as conn:
            conn.execute(
                update(Stream)
                .where(Stream.id == stream_id, Stream.state == "queued")
                .values(state="stopped", stop_requested=True, finished_at=now, updated_at=now)
            )
            conn.execute(
                update(Stream)
                .where(Stream.id == stream_id, Stream.state == "running")
                .values(stop_requested=True, updated_at=now)
            )
            return self._read(conn, stream_id)

    def claim_stream(self, owner: str, lease_seconds: float) -> StreamInfo | None:
        """Lease the oldest stream that is queued or whose worker's lease expired."""
        now = utcnow()
        runnable = or_(
            Stream.state == "queued",
            and_(Stream.state == "running", Stream.lease_expires_at < now),
        )
        with translated("claim a stream"):
            with self._db.connect() as conn:
                candidates = (
                    conn.execute(
                        select(Stream.id)
                        .where(runnable, Stream.stop_requested.is_(False))
                        .order_by(Stream.created_at, Stream.id)
                        .limit(8)
                    )
                    .scalars()
                    .all()
                )
            for stream_id in candidates:
                with self._db.begin() as conn:
                    taken = conn.execute(
                        update(Stream)
                        .where(Stream.id == stream_id, runnable)
                        .values(
                            state="running",
                            lease_owner=owner,
                            lease_expires_at=now + timedelta(seconds=lease_seconds),
                            attempts=Stream.attempts + 1,
                            updated_at=now,
                        )
                    ).rowcount
                    if taken == 1:
                        return self._read(conn, stream_id)
        return None

    def heartbeat(
        self, stream_id: str, owner: str, lease_seconds: float, *, samples: int, decision: str
    ) -> tuple[bool, bool]:
        """Renew ``owner``'s lease and record progress.

        Returns:
            Whether the lease is still held, and whether a stop was requested.
        """
        now = utcnow()
        with translated("renew a stream's lease"), self._db.begin() as conn:
            held = conn.execute(
                update(Stream)
                .where(
                    Stream.id == stream_id, Stream.lease_owner == owner, Stream.state == "running"
                )
                .values(
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    samples=samples,
                    decision=decision,
                    updated_at=now,
                )
            ).rowcount
            stop = conn.execute(
                select(Stream.stop_requested).where(Stream.id == stream_id)
            ).scalar()
        return held == 1, bool(stop)

    def add_event(self, stream_id: str, owner: str, kind: str, body: dict[str, Any]) -> bool:
        """Append an event while ``owner`` holds the lease; False when it does not."""
        if kind not in STREAM_EVENT_KINDS:
            raise InvalidInputError(f"stream event kind: unknown {kind!r}")
        with translated("record a stream event"), self._db.begin() as conn:
            holder = conn.execute(select(Stream.lease_owner).where(Stream.id == stream_id)).scalar()
            if holder != owner:
                return False
            conn.execute(
                insert(StreamEventRow).values(
                    stream_id=stream_id, kind=kind, body=json.dumps(body), created_at=utcnow()
                )
            )
        return True

    def finish(self, stream_id: str, owner: str, state: str, error: str | None) -> bool:
        """End a stream held by ``owner`` as ``ended``, ``failed`` or ``stopped``."""
        if state not in _FINAL:
            raise InvalidInputError(f"stream state: expected one of {_FINAL}, got {state!r}")
        now = utcnow()
        with translated("finish a stream"), self._db.begin() as conn:
            done = conn.execute(
                update(Stream)
                .where(
                    Stream.id == stream_id, Stream.lease_owner == owner, Stream.state == "running"
                )
                .values(
                    state=state,
                    error=error,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=now,
                    updated_at=now,
                )
            ).rowcount
        return done == 1

    def events(self, stream_id: str, *, after: int = 0, limit: int = 100) -> list[StreamEventInfo]:
        """Events of a stream in order, those with an id above ``after``."""
        stmt = (
            select(StreamEventRow.id, StreamEventRow.kind, StreamEventRow.body)
            .where(StreamEventRow.stream_id == stream_id, StreamEventRow.id > after)
            .order_by(StreamEventRow.id)
            .limit(limit)
        )
        with translated("read stream events"), self._db.connect() as conn:
            return [
                StreamEventInfo(row.id, stream_id, row.kind, json.loads(row.body))
                for row in conn.execute(stmt)
            ]

    def link_review_item(self, stream_id: str, item_id: str, time_s: float) -> None:
        """Remember that an alert of ``stream_id`` at ``time_s`` raised review item ``item_id``."""
        with translated("link a review item to its stream"), self._db.begin() as conn:
            conn.execute(
                insert(StreamReviewItem).values(
                    item_id=item_id, stream_id=stream_id, time_s=time_s, action_sent=False
                )
            )

    def unannounced_items(self, stream_id: str) -> list[tuple[str, float]]:
        """The stream's review items whose removal has not been announced: (id, time)."""
        stmt = select(StreamReviewItem.item_id, StreamReviewItem.time_s).where(
            StreamReviewItem.stream_id == stream_id, StreamReviewItem.action_sent.is_(False)
        )
        with translated("read a stream's review items"), self._db.connect() as conn:
            return [(row.item_id, row.time_s) for row in conn.execute(stmt)]

    def mark_announced(self, item_id: str) -> bool:
        """Mark an item's removal as announced; False when it already was (send once)."""
        with translated("mark a stream action sent"), self._db.begin() as conn:
            done = conn.execute(
                update(StreamReviewItem)
                .where(StreamReviewItem.item_id == item_id, StreamReviewItem.action_sent.is_(False))
                .values(action_sent=True)
            ).rowcount
        return done == 1
