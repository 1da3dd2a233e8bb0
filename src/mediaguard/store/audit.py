"""The tamper-evident audit log: append inside a transaction, verify, export.

Design note: every decision, preview reveal, hash-list change, API-key change and
policy change is appended in the same transaction as the change itself, so the log can
never say something happened that did not commit, nor miss something that did.

Each record's hash is ``SHA-256(prev_hash + "\\n" + canonical JSON of the record)``, the
canonical JSON being sorted keys and no whitespace over ``seq``, ``at``, ``actor``,
``action``, ``subject`` and ``data``. Editing any field breaks that record's hash;
deleting or reordering records breaks the sequence or the link to the predecessor;
truncating the tail is caught by the head row, which names the last sequence number and
hash. Someone with write access to the whole database could still rewrite the chain and
the head together, which is why :func:`verify` reports the head hash: publish or store
it elsewhere (a ticket, a WORM bucket) and a rewrite no longer matches.

Who acted comes from a context variable set by the entry point (``cli:<user>``,
``key:<id>``, ``reviewer:<name>``) so the store's methods need no actor argument and no
caller can forget to pass one.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, select, update

from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.review_models import AuditHead, AuditRecord

GENESIS: Final = "0" * 64

_actor: ContextVar[str] = ContextVar("mediaguard_audit_actor", default="system")


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute every audit record appended inside the block to ``actor``."""
    token = _actor.set(actor[:160])
    try:
        yield
    finally:
        _actor.reset(token)


def attribute_to(actor: str) -> None:
    """Attribute the records of the rest of the current context (e.g. one request) to ``actor``.

    For entry points that cannot wrap their work in :func:`acting_as`, such as an async
    web dependency whose context the request handler then runs in.
    """
    _actor.set(actor[:160])


def current_actor() -> str:
    """Who the records appended now are attributed to."""
    return _actor.get()


def cli_actor() -> str:
    """The actor of a command run by hand: the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. a container's arbitrary uid
        user = "unknown"
    return f"cli:{user}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of the log, as stored."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The record as one JSON object (the export format)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(
    prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, data: str
) -> str:
    """The hash of one record; ``data`` is the stored canonical JSON text."""
    body = _canonical(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "data": json.loads(data),
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(conn: Connection, action: str, subject: str, data: dict[str, Any]) -> int:
    """Append one record inside the caller's transaction; return its sequence number.

    The head row is updated first: that write takes the lock that orders concurrent
    appenders (see :mod:`mediaguard.store.review_models`), and it must come before the
    read of the previous hash so the read sees the latest committed head.
    """
    bumped = conn.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    seq, prev_hash = int(bumped[0]), str(bumped[1])
    at = utcnow().isoformat(timespec="microseconds")
    actor = current_actor()
    text = _canonical(data)
    digest = record_hash(prev_hash, seq, at, actor, action, subject[:256], text)
    conn.execute(
        insert(AuditRecord).values(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            subject=subject[:256],
            data=text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    return seq


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify`: how many records checked, and the first bad one."""

    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """Whether the whole chain and the head agree."""
        return self.problem is None


_COLUMNS: Final = (
    AuditRecord.seq,
    AuditRecord.at,
    AuditRecord.actor,
    AuditRecord.action,
    AuditRecord.subject,
    AuditRecord.data,
    AuditRecord.prev_hash,
    AuditRecord.hash,
)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(row[0]),
        at=row[1],
        actor=row[2],
        action=row[3],
        subject=row[4],
        data=_loads(row[5]),
        prev_hash=row[6],
        hash=row[7],
    )


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"_unparseable": text}
    return value if isinstance(value, dict) else {"_not_an_object": value}


def verify(conn: Connection, anchors: Mapping[int, str] | None = None) -> VerifyReport:
    """Walk the chain from the first record and name the first one that does not fit.

    Args:
        conn: the connection to read with.
        anchors: head hashes recorded earlier, outside the database, by sequence number.
            A chain rewritten as a whole (records and head together) is consistent in
            itself, but no longer passes through these hashes.
    """
    anchors = anchors or {}
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    head_seq, head_hash = int(head[0]), str(head[1])
    expected_seq, prev = 1, GENESIS
    checked = 0

    def bad(seq: int, problem: str) -> VerifyReport:
        return VerifyReport(checked, head_seq, head_hash, seq, problem)

    stmt = select(*_COLUMNS).order_by(AuditRecord.seq)
    # A server-side cursor on PostgreSQL; closed on the early returns too.
    with conn.execution_options(yield_per=1000).execute(stmt) as rows:
        for seq, at, actor, action, subject, data, prev_hash, digest in rows:
            if seq != expected_seq:
                return bad(expected_seq, f"record {expected_seq} is missing (the next is {seq})")
            if prev_hash != prev:
                return bad(seq, f"record {seq} does not link to record {seq - 1}")
            try:
                computed = record_hash(prev_hash, seq, at, actor, action, subject, data)
            except ValueError:
                return bad(seq, f"record {seq} holds data that is not JSON")
            if computed != digest:
                return bad(seq, f"record {seq} was altered (its hash does not match its content)")
            if seq in anchors and anchors[seq] != digest:
                return bad(seq, f"record {seq} is not the one anchored: the log was rewritten")
            checked += 1
            expected_seq, prev = seq + 1, digest
    missing = [seq for seq in anchors if seq > checked]
    if missing:
        return bad(
            min(missing), f"anchored record {min(missing)} is no longer in the log (it was cut)"
        )
    if checked != head_seq or prev != head_hash:
        return bad(
            checked + 1,
            f"the head names record {head_seq} but the chain ends at record {checked}: "
            "records were removed from the end, or the head was altered",
        )
    return VerifyReport(checked, head_seq, head_hash, None, None)


def entries(conn: Connection, since: datetime | None = None) -> Iterator[AuditEntry]:
    """Every record in order (from ``since``, when given), streamed."""
    stmt = select(*_COLUMNS).order_by(AuditRecord.seq)
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since.isoformat(timespec="microseconds"))
    with conn.execution_options(yield_per=1000).execute(stmt) as rows:
        for row in rows:
            yield _entry(row)


def last_entry(conn: Connection, action: str, subject: str | None = None) -> AuditEntry | None:
    """The latest record of ``action`` (about ``subject``, when given)."""
    stmt = select(*_COLUMNS).where(AuditRecord.action == action)
    if subject is not None:
        stmt = stmt.where(AuditRecord.subject == subject)
    row = conn.execute(stmt.order_by(AuditRecord.seq.desc()).limit(1)).first()
    return None if row is None else _entry(row)


def exists(conn: Connection, action: str, subject: str, actor: str) -> bool:
    """Whether ``actor`` has a record of ``action`` about ``subject`` (e.g. a reveal)."""
    stmt = select(AuditRecord.seq).where(
        AuditRecord.action == action, AuditRecord.subject == subject, AuditRecord.actor == actor
    )
    return conn.execute(stmt.limit(1)).first() is not None


class AuditLog:
    """The audit chain as a repository (``store.audit``): append, verify and read it.

    For records about something outside the database (a policy loaded) and for reading
    the chain; a change inside the database appends its own record with :func:`append`
    in the change's transaction.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def audit_event(self, action: str, subject: str, data: dict[str, Any]) -> int:
        """Append a record about something outside the database (e.g. a policy loaded)."""
        with translated("append to the audit log"), self._db.begin() as conn:
            return append(conn, action, subject, data)

    def verify_audit(self, anchors: Mapping[int, str] | None = None) -> VerifyReport:
        """Check the whole audit chain (see :func:`verify`)."""
        with translated("verify the audit log"), self._db.connect() as conn:
            return verify(conn, anchors)

    def audit_entries(self, since: datetime | None = None) -> Iterator[AuditEntry]:
        """The audit records in order, from ``since`` when given, streamed."""
        with translated("read the audit log"), self._db.connect() as conn:
            yield from entries(conn, since)

    def last_audit(self, action: str, subject: str | None = None) -> AuditEntry | None:
        """The latest audit record of ``action``."""
        with translated("read the audit log"), self._db.connect() as conn:
            return last_entry(conn, action, subject)
