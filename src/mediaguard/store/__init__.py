"""Persistent storage: hash lists, their entries, scanned items and match hits.

Design note: callers see one narrow :class:`Store` and frozen value types; the ORM
models and Alembic migrations behind it are private to this package. SQLite is the
default and PostgreSQL the production backend; both run the same code and the same
contract tests. Importing this package builds no engine and touches no database.
"""

from mediaguard.store.repo import (
    ENV_DATABASE_URL,
    AddResult,
    AlreadyExistsError,
    EntryInfo,
    FrameHash,
    HashListInfo,
    InvalidInputError,
    ItemInfo,
    NewEntry,
    NotFoundError,
    SchemaError,
    Store,
    StoreError,
    resolve_url,
)

__all__ = [
    "ENV_DATABASE_URL",
    "AddResult",
    "AlreadyExistsError",
    "EntryInfo",
    "FrameHash",
    "HashListInfo",
    "InvalidInputError",
    "ItemInfo",
    "NewEntry",
    "NotFoundError",
    "SchemaError",
    "Store",
    "StoreError",
    "resolve_url",
]
