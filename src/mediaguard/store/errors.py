"""The store's errors: one tree under :class:`StoreError` for every repository.

Kept in a module of their own because every repository raises them and every front end
(the CLI, the HTTP service's error mapping) catches them; a caller can import the errors
without importing any repository, and no repository has to import another for them.
"""

from __future__ import annotations

from mediaguard.errors import MediaguardError


class StoreError(MediaguardError):
    """The store refused an operation or the database failed; the message says why."""


class InvalidInputError(StoreError):
    """A value passed to the store is invalid; the message names the field."""


class NotFoundError(StoreError):
    """A named hash list, entry or item does not exist."""


class AlreadyExistsError(StoreError):
    """A hash list with that name already exists."""


class SchemaError(StoreError):
    """The database schema is not the one this version of mediaguard expects."""


class IdempotencyConflict(StoreError):
    """The idempotency key was used before by the same API key for a different request."""


class ConflictError(StoreError):
    """The item is not in a state that allows this (e.g. someone else decided it first)."""


class PermissionDenied(StoreError):
    """This reviewer may not do this (e.g. decide the appeal of their own decision)."""
