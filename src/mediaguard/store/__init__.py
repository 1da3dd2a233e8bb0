"""Persistent storage: one :class:`Store` facade over a repository per aggregate.

Design note: callers see one narrow :class:`Store` whose attributes are the repositories
(``store.lists``, ``store.list_media``, ``store.items``, ``store.keys``, ``store.limits``,
``store.jobs``, ``store.webhooks``, ``store.reviewers``, ``store.review``,
``store.audit``, ``store.retention``, ``store.exchanges``, ``store.streams``) and frozen
value types; the ORM models and Alembic migrations behind it are private to this
package. SQLite is the default and PostgreSQL the production backend; both run the same
code and the same contract tests. Importing this package builds no engine and touches no database.
"""

from mediaguard.store.database import ENV_DATABASE_URL, resolve_url
from mediaguard.store.errors import (
    AlreadyExistsError,
    ConflictError,
    IdempotencyConflict,
    InvalidInputError,
    NotFoundError,
    PermissionDenied,
    SchemaError,
    StoreError,
)
from mediaguard.store.facade import Store
from mediaguard.store.items import ItemInfo
from mediaguard.store.list_types import AddResult, EntryInfo, HashListInfo, NewEntry

__all__ = [
    "ENV_DATABASE_URL",
    "AddResult",
    "AlreadyExistsError",
    "ConflictError",
    "EntryInfo",
    "HashListInfo",
    "IdempotencyConflict",
    "InvalidInputError",
    "ItemInfo",
    "NewEntry",
    "NotFoundError",
    "PermissionDenied",
    "SchemaError",
    "Store",
    "StoreError",
    "resolve_url",
]
