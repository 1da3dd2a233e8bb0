"""Reviewer accounts, their passwords (scrypt) and their log-in sessions.

Design note: :class:`ReviewerRepository` (``store.reviewers``) is the only door to the
reviewer and session tables. It is apart from the review queue because accounts are
about who may act, managed by an operator at the command line and checked on every UI
request, while the queue is about what is decided; the queue only reads a reviewer's
id. Only hashes are stored: scrypt for a password, SHA-256 for a session token.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Final

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from mediaguard.store import audit
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import InvalidInputError, NotFoundError
from mediaguard.store.review_models import Reviewer, ReviewSession
from mediaguard.store.review_types import ReviewerInfo, SessionInfo

_USERNAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_MIN_PASSWORD: Final = 10
# scrypt at 16 MiB of memory: slow enough to make guessing costly, fast enough (~50 ms)
# for a log-in.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash in a self-describing text form."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash checked when the user does not exist, so a wrong name costs what a wrong
    password costs and timing does not reveal which usernames exist.

    Made by :meth:`ReviewerRepository.prepare_log_ins` when the service starts rather
    than at import: scrypt takes about 50 ms, which every ``mediaguard`` command would
    otherwise pay on start. (Were it made on the first unknown name instead, that first
    failed log-in would take twice as long as the others and tell the name is unknown.)
    """
    return hash_password(secrets.token_urlsafe(16))


def _username(value: object) -> str:
    if not isinstance(value, str) or not _USERNAME_RE.fullmatch(value):
        raise InvalidInputError(
            "username: expected 1 to 64 of a-z 0-9 . _ - starting with a letter or digit"
        )
    return value


def _password(value: object) -> str:
    if not isinstance(value, str) or not _MIN_PASSWORD <= len(value) <= 1024:
        raise InvalidInputError(f"password: expected at least {_MIN_PASSWORD} characters")
    return value


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ReviewerRepository:
    """Reviewer accounts and their sessions in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def create_reviewer(self, username: str, password: str) -> ReviewerInfo:
        """Create a reviewer account.

        Raises:
            InvalidInputError: when the name is malformed or taken, or the password short.
            StoreError: when the database fails.
        """
        values = {
            "username": _username(username),
            "password_hash": hash_password(_password(password)),
            "created_at": utcnow(),
        }
        with translated("create a reviewer"):
            try:
                with self._db.begin() as conn:
                    conn.execute(insert(Reviewer).values(**values))
                    audit.append(conn, "reviewer.create", username, {})
            except IntegrityError as err:
                raise InvalidInputError(f"username: {username!r} is already in use") from err
        return self.get_reviewer(username)

    def get_reviewer(self, username: str) -> ReviewerInfo:
        """The reviewer called ``username``.

        Raises:
            NotFoundError: when there is none.
            StoreError: when the database fails.
        """
        stmt = select(
            Reviewer.id, Reviewer.username, Reviewer.created_at, Reviewer.disabled_at
        ).where(Reviewer.username == username)
        with translated("read a reviewer"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"reviewer {username!r} does not exist")
        return ReviewerInfo(*row)

    def reviewers(self) -> list[ReviewerInfo]:
        """Every reviewer, oldest first."""
        stmt = select(
            Reviewer.id, Reviewer.username, Reviewer.created_at, Reviewer.disabled_at
        ).order_by(Reviewer.id)
        with translated("list reviewers"), self._db.connect() as conn:
            return [ReviewerInfo(*row) for row in conn.execute(stmt)]

    def disable_reviewer(self, username: str) -> ReviewerInfo:
        """Disable an account and end its sessions; its decisions stay attributed to it.

        Raises:
            NotFoundError: when there is no such reviewer.
            StoreError: when the database fails.
        """
        reviewer = self.get_reviewer(username)
        with translated("disable a reviewer"), self._db.begin() as conn:
            conn.execute(
                update(Reviewer)
                .where(Reviewer.id == reviewer.id, Reviewer.disabled_at.is_(None))
                .values(disabled_at=utcnow())
            )
            conn.execute(delete(ReviewSession).where(ReviewSession.reviewer_id == reviewer.id))
            audit.append(conn, "reviewer.disable", username, {})
        return self.get_reviewer(username)

    def prepare_log_ins(self) -> None:
        """Make the hash that an unknown name is checked against, before any log-in, so
        that the first failed log-in costs what every other does (see ``_dummy_hash``)."""
        _dummy_hash()

    def authenticate(self, username: str, password: str) -> ReviewerInfo | None:
        """The reviewer if the password is right and the account active, else None."""
        stmt = select(
            Reviewer.id,
            Reviewer.username,
            Reviewer.created_at,
            Reviewer.disabled_at,
            Reviewer.password_hash,
        ).where(Reviewer.username == username)
        with translated("check a log-in"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            check_password(password, _dummy_hash())
            return None
        if not check_password(password, row[4]) or row[3] is not None:
            return None
        return ReviewerInfo(*row[:4])

    # -- sessions -------------------------------------------------------------------

    def create_session(self, reviewer: ReviewerInfo, ttl: timedelta) -> tuple[str, str]:
        """Start a session; return its cookie token and its CSRF token.

        Only the token's SHA-256 is stored, so the database cannot be used to hijack it.
        """
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        with translated("start a session"), self._db.begin() as conn:
            conn.execute(delete(ReviewSession).where(ReviewSession.expires_at < now))
            conn.execute(
                insert(ReviewSession).values(
                    token_sha256=_token_sha256(token),
                    reviewer_id=reviewer.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            audit.append(conn, "reviewer.login", reviewer.username, {})
        return token, csrf

    def session(self, token: str) -> SessionInfo | None:
        """The live session of a cookie token, or None (unknown, expired or disabled)."""
        stmt = (
            select(
                Reviewer.id,
                Reviewer.username,
                Reviewer.created_at,
                Reviewer.disabled_at,
                ReviewSession.csrf_token,
                ReviewSession.expires_at,
            )
            .join(Reviewer, Reviewer.id == ReviewSession.reviewer_id)
            .where(ReviewSession.token_sha256 == _token_sha256(token))
        )
        with translated("read a session"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or row[3] is not None or row[5] <= utcnow():
            return None
        return SessionInfo(ReviewerInfo(*row[:4]), row[4], row[5])

    def end_session(self, token: str) -> None:
        """Log out: forget the session."""
        with translated("end a session"), self._db.begin() as conn:
            conn.execute(
                delete(ReviewSession).where(ReviewSession.token_sha256 == _token_sha256(token))
            )
