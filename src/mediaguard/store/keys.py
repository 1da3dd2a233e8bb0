"""API keys: stored as the hash of their token, with scopes and a rate limit.

Design note: :class:`KeyRepository` (``store.keys``) is the only door to the key table.
It is apart from jobs and webhooks because a key is an account, not work: keys are made
and revoked by an operator at the command line and read on every request, while jobs
and deliveries churn. A key's creation and revocation are audited; its secret never is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mediaguard.store import audit
from mediaguard.store import validation as check
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, translated
from mediaguard.store.errors import InvalidInputError, NotFoundError
from mediaguard.store.service_models import ApiKey
from mediaguard.store.service_types import ApiKeyInfo

#: Scopes an API key may carry. ``admin`` implies every other scope.
SCOPES: Final = ("scan", "lists", "review", "admin")

_KEY_ID_RE: Final = re.compile(r"[0-9a-f]{8,32}")


def _key_id(value: object) -> str:
    if not isinstance(value, str) or not _KEY_ID_RE.fullmatch(value):
        raise InvalidInputError(f"key_id: expected 8 to 32 lowercase hex digits, got {value!r}")
    return value


_KEY_COLUMNS: Final = (
    ApiKey.id,
    ApiKey.key_id,
    ApiKey.name,
    ApiKey.secret_sha256,
    ApiKey.scopes,
    ApiKey.rate_limit_per_minute,
    ApiKey.created_at,
    ApiKey.revoked_at,
)


def _key_info(row: Sequence[Any]) -> ApiKeyInfo:
    values = list(row)
    values[4] = check.split_set(values[4])
    return ApiKeyInfo(*values)


class KeyRepository:
    """API keys in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def create_key(
        self,
        key_id: str,
        secret_sha256: str,
        scopes: Iterable[str],
        *,
        name: str = "",
        rate_limit_per_minute: int | None = None,
    ) -> ApiKeyInfo:
        """Store a new API key (its hash; the token itself is never stored).

        Raises:
            InvalidInputError: when a field is invalid, or the key id is taken.
            StoreError: when the database fails.
        """
        values = {
            "key_id": _key_id(key_id),
            "secret_sha256": secret_sha256,
            "scopes": ",".join(sorted(check.subset("scopes", scopes, SCOPES))),
            "name": name,
            "rate_limit_per_minute": rate_limit_per_minute,
        }
        if not check.is_sha256(secret_sha256):
            raise InvalidInputError("secret_sha256: expected 64 lowercase hex digits")
        if not isinstance(name, str) or len(name) > 128:
            raise InvalidInputError("name: expected at most 128 characters")
        if rate_limit_per_minute is not None:
            check.require_int("rate_limit_per_minute", rate_limit_per_minute, 0, 1_000_000)
        with translated("create an API key"):
            try:
                with self._db.begin() as conn:
                    conn.execute(insert(ApiKey).values(**values, created_at=utcnow()))
                    audit.append(
                        conn,
                        "key.create",
                        str(values["key_id"]),
                        {k: v for k, v in values.items() if k != "secret_sha256"},
                    )
            except IntegrityError as err:
                raise InvalidInputError(f"key_id: {key_id!r} is already in use") from err
        return self.get_key(key_id)

    def get_key(self, key_id: str) -> ApiKeyInfo:
        """The key with this public id, revoked or not.

        Raises:
            NotFoundError: when there is none (including a malformed id).
            StoreError: when the database fails.
        """
        if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
            raise NotFoundError("no such API key")
        with translated("read an API key"), self._db.connect() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(ApiKey.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"API key {key_id!r} does not exist")
        return _key_info(row)

    def keys(self) -> list[ApiKeyInfo]:
        """Every API key, oldest first.

        Raises:
            StoreError: when the database fails.
        """
        with translated("list API keys"), self._db.connect() as conn:
            rows = conn.execute(select(*_KEY_COLUMNS).order_by(ApiKey.id)).all()
        return [_key_info(row) for row in rows]

    def revoke_key(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key; its jobs and deliveries are kept. Revoking twice is a no-op.

        Raises:
            NotFoundError: when there is no such key.
            StoreError: when the database fails.
        """
        _key_id(key_id)
        stmt = (
            update(ApiKey)
            .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        with translated("revoke an API key"), self._db.begin() as conn:
            if conn.execute(stmt).rowcount:
                audit.append(conn, "key.revoke", key_id, {})
        return self.get_key(key_id)
