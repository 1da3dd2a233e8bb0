"""The one public entry to persistence: :class:`Store` opens the database once.

Design note: every repository works on the same :class:`~mediaguard.store.database.Database`
(one connection pool per process, the same SQLite pragmas); the facade builds them all
on it, so a caller opens one thing, passes one thing around and closes one thing, and
cannot end up with two pools on one SQLite file. Each repository owns one aggregate of
the schema and is an attribute named after it. The facade holds no queries itself; its
schema methods hand over to the database, which owns the migrations.
"""

from __future__ import annotations

from typing import Self

from mediaguard.store.audit import AuditLog
from mediaguard.store.database import Database
from mediaguard.store.exchanges import ExchangeRepository
from mediaguard.store.items import ItemRepository
from mediaguard.store.jobs import JobRepository
from mediaguard.store.keys import KeyRepository
from mediaguard.store.limits import LimitRepository
from mediaguard.store.list_media import ListMediaRepository
from mediaguard.store.lists import HashListRepository
from mediaguard.store.retention import RetentionRepository
from mediaguard.store.review import ReviewRepository
from mediaguard.store.reviewers import ReviewerRepository
from mediaguard.store.streams import StreamRepository
from mediaguard.store.webhooks import WebhookRepository


class Store:
    """Hash lists, items, keys, jobs, webhooks, review and audit in SQLite or PostgreSQL.

    Build one with :meth:`open`; it owns a connection pool, so make one per process and
    :meth:`close` it (or use it as a context manager). It is safe to share between
    threads. Opening does not migrate: call :meth:`upgrade` (``mediaguard db upgrade``)
    or check with :meth:`check_current` at start-up.

    Attributes:
        lists: hash lists and their entries.
        list_media: the crops and reduced copies of pictures added to lists.
        items: scanned items and match hits.
        keys: API keys.
        limits: rate-limit buckets shared by every process (API keys, log-ins).
        jobs: the job queue and its leases.
        webhooks: webhook endpoints, events and deliveries.
        reviewers: reviewer accounts and sessions.
        review: the review queue, decisions and appeals.
        audit: the audit chain.
        retention: pruning by age (never the audit chain or decisions).
        exchanges: HMA bank ratios and hash-exchange cursors.
        streams: watched live streams, their leases, events and review links.
    """

    def __init__(self, db: Database) -> None:
        """Build every repository on ``db``; prefer :meth:`open`."""
        self.db = db
        self.lists = HashListRepository(db)
        self.list_media = ListMediaRepository(db)
        self.items = ItemRepository(db)
        self.keys = KeyRepository(db)
        self.limits = LimitRepository(db)
        self.jobs = JobRepository(db)
        self.webhooks = WebhookRepository(db)
        self.reviewers = ReviewerRepository(db)
        self.review = ReviewRepository(db, self.reviewers)
        self.audit = AuditLog(db)
        self.retention = RetentionRepository(db)
        self.exchanges = ExchangeRepository(db)
        self.streams = StreamRepository(db)

    @classmethod
    def open(cls, url: str | None = None) -> Self:
        """Connect to the database at ``url`` (see :func:`~mediaguard.store.resolve_url`).

        Args:
            url: a SQLAlchemy URL; None uses ``$MEDIAGUARD_DATABASE_URL`` or the default
                SQLite file in the user's data directory.

        Returns:
            A store whose connection was tried once, so a wrong URL fails here.

        Raises:
            InvalidInputError: when the URL is malformed or names another database.
            StoreError: when the database cannot be reached.
        """
        return cls(Database.open(url))

    @property
    def url(self) -> str:
        """The database URL with its password hidden, for logs and messages."""
        return self.db.url

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    def close(self) -> None:
        """Close every pooled connection."""
        self.db.close()

    def __enter__(self) -> Self:
        """Return the store itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """Show the URL without its password."""
        return f"Store({self.url!r})"

    # -- schema (see Database) ------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema to ``revision`` (the latest by default) in one transaction."""
        self.db.upgrade(revision)

    def downgrade(self, revision: str) -> None:
        """Migrate the schema back to ``revision``; see :meth:`Database.downgrade`."""
        self.db.downgrade(revision)

    def current_revision(self) -> str | None:
        """The schema revision the database is at, or None when it was never migrated."""
        return self.db.current_revision()

    def head_revision(self) -> str:
        """The latest schema revision this version of mediaguard ships."""
        return self.db.head_revision()

    def is_current(self) -> bool:
        """Whether the database schema is exactly at :meth:`head_revision`."""
        return self.db.is_current()

    def check_current(self) -> None:
        """Refuse to go on with a schema that is not the one this code expects.

        Raises:
            SchemaError: when the schema is behind or at a revision this version does not
                know; see :meth:`Database.check_current`.
        """
        self.db.check_current()
