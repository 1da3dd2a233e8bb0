"""The database every repository shares: URL, engine, connections, errors, migrations.

Design note: one process keeps one :class:`Database` (one connection pool, one set of
SQLite pragmas) however many repositories sit on it; the :class:`~mediaguard.store.Store`
facade opens it once and hands it to each repository. Everything that depends on the
backend is here: resolving the URL, the SQLite pragmas, the dialect's ``INSERT ... ON
CONFLICT`` construct (both backends support it, SQLAlchemy exposes it per dialect) and
the Alembic migrations. The repositories only write SQL against the tables and wrap each
operation in :func:`translated`, so a driver error never escapes as anything but a
:class:`~mediaguard.store.errors.StoreError` that says what was being done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import sqlalchemy
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mediaguard.paths import data_dir
from mediaguard.store.errors import InvalidInputError, SchemaError, StoreError
from mediaguard.store.migrations import HEAD
from mediaguard.store.validation import text

if TYPE_CHECKING:
    from alembic.config import Config

#: Environment variable naming the database when no URL is passed to :meth:`Database.open`.
ENV_DATABASE_URL: Final = "MEDIAGUARD_DATABASE_URL"

_MIGRATIONS: Final = Path(__file__).resolve().with_name("migrations")
#: Alembic's default version table, which the migrations' env.py keeps.
_VERSION_TABLE: Final = "alembic_version"
# SQLite waits this long for another writer's lock before failing with "database is locked".
_SQLITE_BUSY_TIMEOUT_MS: Final = 30_000

_T = TypeVar("_T")


def resolve_url(url: str | None = None) -> URL:
    """Resolve the database URL the way :meth:`Database.open` does.

    An explicit ``url`` wins, then ``$MEDIAGUARD_DATABASE_URL``, then a SQLite file in
    the user's data directory (created if missing). ``postgresql://`` and
    ``postgres://`` select the psycopg 3 driver, the one mediaguard depends on.

    Args:
        url: a SQLAlchemy URL, or None for the default.

    Returns:
        The parsed URL, whose password is hidden when it is printed.

    Raises:
        InvalidInputError: when the URL cannot be parsed or names another database.
    """
    if url is None:
        url = os.environ.get(ENV_DATABASE_URL) or None
    if url is None:
        return URL.create("sqlite", database=str(data_dir() / "mediaguard.db"))
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise InvalidInputError(f"database url: cannot parse {url!r}") from err
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInputError(
            f"database url: {parsed.drivername!r} is not supported; use sqlite:// or postgresql://"
        )
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on what SQLite leaves off, on every new connection.

    WAL lets the service read while an import writes; foreign keys are off by default in
    SQLite, and without them ``ON DELETE CASCADE`` silently does nothing; the busy
    timeout makes a second writer wait instead of failing at once.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        # Safe under WAL (a power cut can lose the last commit, never corrupt the file).
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _make_engine(url: URL) -> Engine:
    """Build an engine for ``url`` with the settings each backend needs."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a pooled connection that PostgreSQL closed (restart, idle timeout) is
    # replaced instead of failing the next request.
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn a database failure into a :class:`StoreError` that says what was being done."""
    try:
        yield
    except StoreError:
        raise
    except SQLAlchemyError as err:
        detail = getattr(err, "orig", None) or err
        raise StoreError(f"database error while trying to {action}: {detail}") from err


def guarded_iter(action: str, make: Callable[[], Iterator[_T]]) -> Iterator[_T]:
    """Run a generator with database errors translated, including during iteration."""
    with translated(action):
        yield from make()


#: The advisory-lock key that orders writers of list entries (see
#: :meth:`Database.serialize_entry_writes`); "mgentry" in ASCII.
_ENTRY_WRITES = 0x6D67656E747279


class Database:
    """One engine on SQLite or PostgreSQL, its connections and its schema migrations.

    Build one with :meth:`open`; it owns a connection pool, so make one per process and
    :meth:`close` it. It is safe to share between threads. Opening does not migrate:
    call :meth:`upgrade` (``mediaguard db upgrade``) or check with :meth:`check_current`.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap ``engine``; prefer :meth:`open`, which also configures it."""
        self.engine = engine
        name = engine.dialect.name
        self.insert: Callable[..., sqlite.Insert | postgresql.Insert]
        if name == "sqlite":
            self.insert = sqlite.insert
        elif name == "postgresql":
            self.insert = postgresql.insert
        else:
            raise InvalidInputError(f"database url: dialect {name!r} is not supported")

    @classmethod
    def open(cls, url: str | None = None) -> Self:
        """Connect to the database at ``url`` (see :func:`resolve_url` for the default).

        Args:
            url: a SQLAlchemy URL; None uses ``$MEDIAGUARD_DATABASE_URL`` or the default
                SQLite file in the user's data directory.

        Returns:
            A database whose connection was tried once, so a wrong URL fails here.

        Raises:
            InvalidInputError: when the URL is malformed or names another database.
            StoreError: when the database cannot be reached.
        """
        resolved = resolve_url(url)
        engine = _make_engine(resolved)
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as err:
            engine.dispose()
            shown = resolved.render_as_string(hide_password=True)
            detail = getattr(err, "orig", None) or err
            raise StoreError(f"cannot open database {shown}: {detail}") from err
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL with its password hidden, for logs and messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def connect(self) -> Connection:
        """A connection for reads (or for work that commits by itself), used as ``with``."""
        return self.engine.connect()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction that commits when the block ends, else rolls back."""
        with self.engine.begin() as conn:
            yield conn

    def serialize_entry_writes(self, conn: Connection) -> None:
        """Order this transaction's new list entries after every other writer's, until commit.

        Readers follow lists by id (``entries_since``): they remember the highest id seen
        and ask for what came after. On PostgreSQL ids come from a sequence at insert
        time, so a writer that took id 9 and commits after one that took id 10 would be
        skipped for good. A transaction-scoped advisory lock taken before the insert
        makes id order the commit order. SQLite already admits one writer at a time.
        """
        if self.dialect == "postgresql":
            lock = sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)")
            conn.execute(lock, {"key": _ENTRY_WRITES})

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------

    # Alembic is imported by the methods that migrate, never at module level: an
    # up-to-date database is recognised from its version row alone (see HEAD).

    def _alembic_config(self) -> Config:
        """An Alembic config pointing at the migrations shipped in this package."""
        from alembic.config import Config

        config = Config()
        # ConfigParser interpolates "%", which a site-packages path may contain.
        config.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema to ``revision`` (the latest by default), in one transaction.

        Raises:
            SchemaError: when the revision is unknown.
            StoreError: when the database fails.
        """
        from alembic import command

        self._migrate(command.upgrade, text("revision", revision))

    def downgrade(self, revision: str) -> None:
        """Migrate the schema back to ``revision`` (``base`` drops every table).

        Raises:
            SchemaError: when the revision is unknown.
            StoreError: when the database fails.
        """
        from alembic import command

        self._migrate(command.downgrade, text("revision", revision))

    def _migrate(self, step: Callable[[Config, str], None], revision: str) -> None:
        """Run an Alembic command on this database's engine inside one transaction."""
        from alembic.util import CommandError

        config = self._alembic_config()
        with translated(f"migrate to {revision}"), self.engine.begin() as conn:
            config.attributes["connection"] = conn
            try:
                step(config, revision)
            except CommandError as err:
                raise SchemaError(f"cannot migrate to {revision!r}: {err}") from err

    def current_revision(self) -> str | None:
        """The schema revision the database is at, or None when it was never migrated.

        Read from Alembic's version table directly, as Alembic itself would read it.
        """
        with translated("read the schema revision"), self.engine.connect() as conn:
            if not sqlalchemy.inspect(conn).has_table(_VERSION_TABLE):
                return None
            rows = conn.execute(sqlalchemy.text(f"SELECT version_num FROM {_VERSION_TABLE}"))
            versions = rows.scalars().all()
        if len(versions) > 1:
            raise SchemaError(f"database schema has several revisions: {sorted(versions)}")
        return versions[0] if versions else None

    def head_revision(self) -> str:
        """The latest schema revision this version of mediaguard ships."""
        return HEAD

    def is_current(self) -> bool:
        """Whether the database schema is exactly at :meth:`head_revision`."""
        return self.current_revision() == self.head_revision()

    def check_current(self) -> None:
        """Refuse to go on with a schema that is not the one this code expects.

        Raises:
            SchemaError: when the schema is behind (``mediaguard db upgrade`` fixes it) or
                at a revision this version does not know (the database was migrated by a
                newer mediaguard).
        """
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic_config())
        known = current is None or any(rev.revision == current for rev in script.walk_revisions())
        if not known:
            raise SchemaError(
                f"database schema is at revision {current!r}, which this version of "
                "mediaguard does not know; it was migrated by a newer mediaguard"
            )
        raise SchemaError(
            f"database schema is behind (at {current or 'empty'}, expected {head}); "
            "run `mediaguard db upgrade`"
        )
