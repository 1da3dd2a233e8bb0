"""The store: hash lists, their entries, scanned items and match hits.

Design note: :class:`Store` is the only door to the database. Its public methods validate
their input and name the offending field, then call a private implementation; they take
and return frozen dataclasses, never ORM objects, so no session or connection escapes
and callers cannot lazy-load behind the store's back. The same code runs on SQLite (the
default, one file, no server) and PostgreSQL (production); the single dialect branch is
the choice of ``INSERT ... ON CONFLICT`` construct, which both backends support but
SQLAlchemy exposes per dialect.

Large data never sits in memory: :meth:`Store.add_entries` consumes its iterable in
batches, and the ``iter_*`` methods page by primary key (keyset pagination) with a
short-lived connection per page, so a slow consumer holds no transaction or server-side
cursor open and a ten-million-entry list streams in constant memory.

The store holds no business logic. Matching, distances, quarantine thresholds and policy
belong to ``match/`` and ``policy/``; the store only records and counts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Self, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Engine,
    Select,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute

from mediaguard.errors import MediaguardError
from mediaguard.iterutil import chunks
from mediaguard.paths import data_dir
from mediaguard.signals.protected import check_name
from mediaguard.store import audit
from mediaguard.store.base import utcnow
from mediaguard.store.models import (
    ACTIONS,
    DECISIONS,
    DEFAULT_PDQ_DISTANCE,
    MAX_PDQ_DISTANCE,
    SIGNAL_TYPES,
    HashEntry,
    HashList,
    MatchHit,
    ScannedItem,
    VpdqFrame,
)

#: Environment variable naming the database when no URL is passed to :meth:`Store.open`.
ENV_DATABASE_URL: Final = "MEDIAGUARD_DATABASE_URL"

_MIGRATIONS: Final = Path(__file__).resolve().with_name("migrations")
_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HEX_RE: Final = re.compile(r"[0-9a-f]+")
# Lengths (inclusive range) of each signal type's hex value. A vPDQ value identifies the
# video (its MD5 or SHA-256, say), so anything from 128 to 512 bits is accepted.
_HEX_LENGTHS: Final[dict[str, tuple[int, int]]] = {
    "pdq": (64, 64),
    "md5": (32, 32),
    "sha256": (64, 64),
    "vpdq": (32, 128),
}
_ITEM_SIGNALS: Final = ("pdq", "md5", "sha256")
_MAX_BATCH: Final = 100_000
_MAX_ITEM_KEY: Final = 512
# SQLite waits this long for another writer's lock before failing with "database is locked".
_SQLITE_BUSY_TIMEOUT_MS: Final = 30_000

_T = TypeVar("_T")

# Every scanned-item column, in ItemInfo's field order.
_ITEM_COLUMNS: Final[tuple[InstrumentedAttribute[Any], ...]] = (
    ScannedItem.id,
    ScannedItem.item_key,
    ScannedItem.source,
    ScannedItem.md5,
    ScannedItem.sha256,
    ScannedItem.pdq,
    ScannedItem.pdq_quality,
    ScannedItem.decision,
    ScannedItem.policy_version,
    ScannedItem.scanned_at,
)


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


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class HashListInfo:
    """A hash list as stored, detached from any session."""

    id: int
    name: str
    category: str
    source: str
    description: str
    action: str
    pdq_distance: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FrameHash:
    """One sampled frame of a vPDQ entry: its index, time, PDQ hash and quality.

    Raises:
        InvalidInputError: when a field is out of range; the message names it.
    """

    frame_index: int
    time_ms: int
    pdq: str
    quality: int

    def __post_init__(self) -> None:
        """Check ranges and normalise the hash to lowercase."""
        require_int("frame_index", self.frame_index, 0, None)
        require_int("time_ms", self.time_ms, 0, None)
        require_int("quality", self.quality, 0, 100)
        object.__setattr__(self, "pdq", _hex("frame pdq", self.pdq, 64, 64))


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A hash to add to a list; validated and normalised when constructed.

    Validation happens here rather than in :meth:`Store.add_entries` so that a parser
    reading a ten-million-line file reports the bad line where it read it.

    Attributes:
        signal_type: ``pdq``, ``md5``, ``sha256`` or ``vpdq``.
        value: the hash as hex; lowercased. For ``vpdq``, an identifier of the video
            (for example its MD5); the frame hashes go in ``frames``.
        external_id: the id the list's publisher gave the hash, if any.
        note: free text for reviewers.
        added_at: when the publisher added it; defaults to the time of the import.
        frames: the frame hashes of a ``vpdq`` entry (at least one); empty otherwise.

    Raises:
        InvalidInputError: when a field is invalid; the message names it.
    """

    signal_type: str
    value: str
    external_id: str | None = None
    note: str | None = None
    added_at: datetime | None = None
    frames: Sequence[FrameHash] = ()

    def __post_init__(self) -> None:
        """Validate every field and normalise ``value`` and ``frames``."""
        signal_type = _choice("signal_type", self.signal_type, SIGNAL_TYPES)
        low, high = _HEX_LENGTHS[signal_type]
        object.__setattr__(self, "value", _hex(f"{signal_type} value", self.value, low, high))
        _optional_str("external_id", self.external_id)
        _optional_str("note", self.note)
        if self.added_at is not None:
            as_aware("added_at", self.added_at)
        frames = tuple(self.frames)
        if signal_type == "vpdq":
            if not frames:
                raise InvalidInputError("frames: a vpdq entry needs at least one frame hash")
            if not all(isinstance(f, FrameHash) for f in frames):
                raise InvalidInputError("frames: each frame must be a FrameHash")
            if len({f.frame_index for f in frames}) != len(frames):
                raise InvalidInputError("frames: frame_index values must be unique")
        elif frames:
            raise InvalidInputError(f"frames: only vpdq entries carry frames, not {signal_type}")
        object.__setattr__(self, "frames", frames)


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """A stored hash-list entry, with its list's name and (for vPDQ) its frames."""

    id: int
    list_id: int
    list_name: str
    signal_type: str
    value: str
    external_id: str | None
    note: str | None
    added_at: datetime
    frames: tuple[FrameHash, ...] = ()


@dataclass(frozen=True, slots=True)
class AddResult:
    """What :meth:`Store.add_entries` did.

    Attributes:
        added: entries inserted.
        duplicates: entries skipped because the list already held them or the input
            repeated them.
        added_ids: ids of the inserted entries when asked for, else None (ten million
            ids are not free).
    """

    added: int
    duplicates: int
    added_ids: list[int] | None = None


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """A scanned item's digests and decision, as recorded for retroactive matching."""

    id: int
    item_key: str
    source: str
    md5: str | None
    sha256: str | None
    pdq: str | None
    pdq_quality: int | None
    decision: str | None
    policy_version: str | None
    scanned_at: datetime


# ---------------------------------------------------------------------- validation


def require_int(field: str, value: object, low: int | None, high: int | None) -> int:
    """Return ``value`` when it is an int within [low, high]; bool is refused."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{field}: expected an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
        raise InvalidInputError(f"{field}: {value} is outside {bounds}")
    return value


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` when it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _hex(field: str, value: object, low: int, high: int) -> str:
    """Return ``value`` lowercased when it is hex of an allowed length."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected a hex string, got {value!r}")
    lowered = value.lower()
    if not low <= len(lowered) <= high or not _HEX_RE.fullmatch(lowered):
        size = str(low) if low == high else f"{low} to {high}"
        raise InvalidInputError(f"{field}: expected {size} hex digits, got {value!r}")
    return lowered


def _optional_hex(field: str, value: str | None, length: int) -> str | None:
    """Return ``value`` lowercased when it is None or hex of ``length`` digits."""
    return None if value is None else _hex(field, value, length, length)


def _optional_str(field: str, value: object) -> None:
    """Refuse anything but a str or None."""
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected text, got {value!r}")


def _text(field: str, value: object) -> str:
    """Return ``value`` when it is a str."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected text, got {value!r}")
    return value


def _name(field: str, value: object) -> str:
    """Return ``value`` when it is a valid list name or category."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidInputError(
            f"{field}: {value!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def _category(value: object) -> str:
    """Return a valid category that names no protected trait of a person."""
    category = _name("category", value)
    check_name("hash-list category", category)
    return category


def as_aware(field: str, value: object) -> datetime:
    """Return ``value`` when it is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{field}: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{field}: {value.isoformat()} is naive; pass an aware datetime")
    return value


def _batch_size(value: object) -> int:
    """Return ``value`` when it is a sensible page or batch size."""
    return require_int("batch_size", value, 1, _MAX_BATCH)


# ------------------------------------------------------------------------- engines


def resolve_url(url: str | None = None) -> URL:
    """Resolve the database URL the way :meth:`Store.open` does.

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


# --------------------------------------------------------------------------- store


#: Up to this many entries added at once are named in their audit record; a bulk import
#: is recorded by its counts (its file is the record of what it held).
_AUDIT_VALUES: Final = 20


def _added(batch: list[NewEntry], inserted: list[int]) -> dict[str, Any]:
    """The audit data of one committed batch of new entries."""
    data: dict[str, Any] = {"added": len(inserted), "duplicates": len(batch) - len(inserted)}
    if len(batch) <= _AUDIT_VALUES:
        data["entries"] = [f"{e.signal_type}:{e.value}" for e in batch]
    return data


def _entry_select() -> Select[int, int, str, str, str, str | None, str | None, datetime]:
    """The columns of :class:`EntryInfo` (less frames), joined to the list's name."""
    return select(
        HashEntry.id,
        HashEntry.list_id,
        HashList.name,
        HashEntry.signal_type,
        HashEntry.value,
        HashEntry.external_id,
        HashEntry.note,
        HashEntry.added_at,
    ).join(HashList, HashList.id == HashEntry.list_id)


class Store:
    """Hash lists, scanned items and match hits in SQLite or PostgreSQL.

    Build one with :meth:`open`; it owns a connection pool, so make one per process and
    :meth:`close` it (or use it as a context manager). It is safe to share between
    threads. Opening does not migrate: call :meth:`upgrade` (``mediaguard db upgrade``)
    or check with :meth:`check_current` at start-up.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap ``engine``; prefer :meth:`open`, which also configures it."""
        self._engine = engine
        name = engine.dialect.name
        self._insert: Callable[..., sqlite.Insert | postgresql.Insert]
        if name == "sqlite":
            self._insert = sqlite.insert
        elif name == "postgresql":
            self._insert = postgresql.insert
        else:
            raise InvalidInputError(f"database url: dialect {name!r} is not supported")

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None) -> Self:
        """Connect to the database at ``url`` (see :func:`resolve_url` for the default).

        Args:
            url: a SQLAlchemy URL; None uses ``$MEDIAGUARD_DATABASE_URL`` or the default
                SQLite file in the user's data directory.

        Returns:
            A store whose connection was tried once, so a wrong URL fails here.

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
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        """Return the store itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """Show the URL without its password."""
        return f"Store({self.url!r})"

    # -- schema ---------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        """An Alembic config pointing at the migrations shipped in this package."""
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
        self._migrate(command.upgrade, _text("revision", revision))

    def downgrade(self, revision: str) -> None:
        """Migrate the schema back to ``revision`` (``base`` drops every table).

        Raises:
            SchemaError: when the revision is unknown.
            StoreError: when the database fails.
        """
        self._migrate(command.downgrade, _text("revision", revision))

    def _migrate(self, step: Callable[[Config, str], None], revision: str) -> None:
        """Run an Alembic command on this store's engine inside one transaction."""
        config = self._alembic_config()
        with translated(f"migrate to {revision}"), self._engine.begin() as conn:
            config.attributes["connection"] = conn
            try:
                step(config, revision)
            except CommandError as err:
                raise SchemaError(f"cannot migrate to {revision!r}: {err}") from err

    def current_revision(self) -> str | None:
        """The schema revision the database is at, or None when it was never migrated."""
        with translated("read the schema revision"), self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        """The latest schema revision this version of mediaguard ships."""
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package always ships revisions
            raise SchemaError("no schema revisions are installed")
        return head

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

    # -- hash lists -----------------------------------------------------------------

    def create_list(
        self,
        name: str,
        category: str,
        action: str,
        *,
        source: str = "",
        description: str = "",
        pdq_distance: int = DEFAULT_PDQ_DISTANCE,
    ) -> HashListInfo:
        """Create an empty hash list.

        Args:
            name: unique name, 1-64 of ``a-z 0-9 . _ -``.
            category: the content category its matches count towards (same alphabet);
                a category naming a protected trait of a person is refused.
            action: ``block``, ``review`` or ``allow``; a hint the policy may override.
            source: where the list comes from (publisher, URL), for audits.
            description: free text.
            pdq_distance: PDQ match threshold for this list, 0..64.

        Returns:
            The created list.

        Raises:
            InvalidInputError: when a field is invalid; the message names it.
            ProtectedTraitError: when the category names a protected trait.
            AlreadyExistsError: when a list of that name exists.
            StoreError: when the database fails.
        """
        values = {
            "name": _name("name", name),
            "category": _category(category),
            "action": _choice("action", action, ACTIONS),
            "source": _text("source", source),
            "description": _text("description", description),
            "pdq_distance": require_int("pdq_distance", pdq_distance, 0, MAX_PDQ_DISTANCE),
        }
        with translated(f"create hash list {name!r}"):
            return self._create_list(values)

    def _create_list(self, values: dict[str, Any]) -> HashListInfo:
        now = utcnow()
        stmt = insert(HashList).values(**values, created_at=now, updated_at=now)
        try:
            with self._engine.begin() as conn:
                list_id = conn.execute(stmt.returning(HashList.id)).scalar_one()
                audit.append(conn, "hashlist.create", values["name"], values)
        except IntegrityError as err:
            raise AlreadyExistsError(f"hash list {values['name']!r} already exists") from err
        return HashListInfo(id=list_id, created_at=now, updated_at=now, **values)

    def get_list(self, name: str) -> HashListInfo:
        """Return the list called ``name``.

        Raises:
            InvalidInputError: when ``name`` is not a valid list name.
            NotFoundError: when no such list exists.
            StoreError: when the database fails.
        """
        _name("name", name)
        with translated(f"read hash list {name!r}"), self._engine.connect() as conn:
            found = self._lists(conn, HashList.name == name)
        if not found:
            raise NotFoundError(f"hash list {name!r} does not exist")
        return found[0]

    def lists(self) -> list[HashListInfo]:
        """Every hash list, ordered by name.

        Raises:
            StoreError: when the database fails.
        """
        with translated("list hash lists"), self._engine.connect() as conn:
            return self._lists(conn, None)

    @staticmethod
    def _lists(conn: Connection, where: ColumnElement[bool] | None) -> list[HashListInfo]:
        stmt = select(
            HashList.id,
            HashList.name,
            HashList.category,
            HashList.source,
            HashList.description,
            HashList.action,
            HashList.pdq_distance,
            HashList.created_at,
            HashList.updated_at,
        ).order_by(HashList.name)
        if where is not None:
            stmt = stmt.where(where)
        return [HashListInfo(*row) for row in conn.execute(stmt)]

    def update_list(
        self,
        name: str,
        *,
        category: str | None = None,
        action: str | None = None,
        source: str | None = None,
        description: str | None = None,
        pdq_distance: int | None = None,
    ) -> HashListInfo:
        """Change a list's attributes; a field left as None is kept.

        Raises:
            InvalidInputError: when a field is invalid; the message names it.
            ProtectedTraitError: when the new category names a protected trait.
            NotFoundError: when no such list exists.
            StoreError: when the database fails.
        """
        _name("name", name)
        values: dict[str, Any] = {}
        if category is not None:
            values["category"] = _category(category)
        if action is not None:
            values["action"] = _choice("action", action, ACTIONS)
        if source is not None:
            values["source"] = _text("source", source)
        if description is not None:
            values["description"] = _text("description", description)
        if pdq_distance is not None:
            values["pdq_distance"] = require_int("pdq_distance", pdq_distance, 0, MAX_PDQ_DISTANCE)
        with translated(f"update hash list {name!r}"):
            self._update_list(name, values)
        return self.get_list(name)

    def _update_list(self, name: str, values: dict[str, Any]) -> None:
        stmt = update(HashList).where(HashList.name == name).values(**values, updated_at=utcnow())
        with self._engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFoundError(f"hash list {name!r} does not exist")
            audit.append(conn, "hashlist.update", name, values)

    def delete_list(self, name: str) -> None:
        """Delete a list with its entries, their frames and their hits.

        Raises:
            InvalidInputError: when ``name`` is not a valid list name.
            NotFoundError: when no such list exists.
            StoreError: when the database fails.
        """
        _name("name", name)
        with translated(f"delete hash list {name!r}"), self._engine.begin() as conn:
            # ON DELETE CASCADE (enforced on SQLite by the foreign_keys pragma) removes
            # entries, frames and hits in the same statement.
            if conn.execute(delete(HashList).where(HashList.name == name)).rowcount == 0:
                raise NotFoundError(f"hash list {name!r} does not exist")
            audit.append(conn, "hashlist.delete", name, {})

    # -- entries --------------------------------------------------------------------

    def add_entries(
        self,
        list_name: str,
        entries: Iterable[NewEntry],
        *,
        batch_size: int = 5000,
        return_ids: bool = False,
        atomic: bool = False,
    ) -> AddResult:
        """Add entries to a list, streaming, skipping and counting duplicates.

        ``entries`` is consumed ``batch_size`` at a time, so a generator over a
        ten-million-line file never sits in memory. By default each batch commits on its
        own: an import never holds SQLite's write lock for minutes (the service keeps
        writing during a backfill), and an import cut short can simply be run again, as
        the entries already added count as duplicates. ``atomic=True`` commits once at
        the end instead, so a failure leaves the list untouched.

        Args:
            list_name: the list to add to.
            entries: the entries, each a validated :class:`NewEntry`.
            batch_size: entries per insert (and per commit unless ``atomic``).
            return_ids: also return the ids of the inserted entries.
            atomic: one transaction for the whole input.

        Returns:
            How many were added and how many were duplicates.

        Raises:
            InvalidInputError: when an item is not a :class:`NewEntry` (its position is
                named) or ``batch_size`` is out of range.
            NotFoundError: when the list does not exist.
            StoreError: when the database fails; without ``atomic``, the batches before
                the failure stay committed.
        """
        _name("list_name", list_name)
        _batch_size(batch_size)
        with translated(f"add entries to hash list {list_name!r}"):
            return self._add_entries(list_name, entries, batch_size, return_ids, atomic)

    def _add_entries(
        self,
        list_name: str,
        entries: Iterable[NewEntry],
        batch_size: int,
        return_ids: bool,
        atomic: bool,
    ) -> AddResult:
        added = duplicates = 0
        ids: list[int] | None = [] if return_ids else None
        position = 0
        with self._engine.connect() as conn:
            list_id = self._list_id(conn, list_name)
            for batch in chunks(entries, batch_size):
                for offset, entry in enumerate(batch):
                    if not isinstance(entry, NewEntry):
                        raise InvalidInputError(
                            f"entries[{position + offset}]: expected a NewEntry, "
                            f"got {type(entry).__name__}"
                        )
                position += len(batch)
                inserted = self._insert_batch(conn, list_id, batch)
                added += len(inserted)
                duplicates += len(batch) - len(inserted)
                if ids is not None:
                    ids.extend(inserted)
                if inserted:
                    conn.execute(
                        update(HashList).where(HashList.id == list_id).values(updated_at=utcnow())
                    )
                    audit.append(conn, "hashlist.entries_add", list_name, _added(batch, inserted))
                if not atomic:
                    conn.commit()
            conn.commit()
        return AddResult(added=added, duplicates=duplicates, added_ids=ids)

    def _insert_batch(self, conn: Connection, list_id: int, batch: list[NewEntry]) -> list[int]:
        """Insert one batch, skipping entries the list already holds; return new ids."""
        groups: dict[str, dict[str, NewEntry]] = {}
        for entry in batch:
            groups.setdefault(entry.signal_type, {}).setdefault(entry.value, entry)
        ids: list[int] = []
        for signal_type, by_value in groups.items():
            ids.extend(self._insert_group(conn, list_id, signal_type, by_value))
        return ids

    def _insert_group(
        self, conn: Connection, list_id: int, signal_type: str, by_value: dict[str, NewEntry]
    ) -> list[int]:
        """Insert the batch's entries of one signal type; return the ids of the new ones.

        ``RETURNING`` tells exactly which rows were new (``rowcount`` after an
        ``executemany`` is unreliable across drivers) and gives vPDQ frames their entry
        ids. Every bound parameter costs the driver time, so what is the same for the
        whole group (list id, signal type) is inlined, and an optional column is sent only
        when an entry in the group sets it; an entry without ``added_at`` gets the
        database's ``CURRENT_TIMESTAMP``.
        """
        # Both inlined values come from a closed set (a database id, a validated type).
        if signal_type not in SIGNAL_TYPES:  # pragma: no cover - NewEntry validated it
            raise InvalidInputError(f"signal_type: {signal_type!r} is not a signal type")
        entries = by_value.values()
        with_external_id = any(e.external_id is not None for e in entries)
        with_note = any(e.note is not None for e in entries)
        with_added_at = any(e.added_at is not None for e in entries)
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for e in entries:
            row: dict[str, Any] = {"value": e.value}
            if with_external_id:
                row["external_id"] = e.external_id
            if with_note:
                row["note"] = e.note
            if with_added_at:
                row["added_at"] = e.added_at or now
            rows.append(row)
        stmt = (
            self._insert(HashEntry)
            .values(
                list_id=literal_column(str(int(list_id))),
                signal_type=literal_column(f"'{signal_type}'"),
            )
            .on_conflict_do_nothing(index_elements=["list_id", "signal_type", "value"])
            .returning(HashEntry.id, HashEntry.value)
        )
        inserted = conn.execute(stmt, rows).all()
        if signal_type == "vpdq" and inserted:
            frames = [
                {
                    "entry_id": entry_id,
                    "frame_index": f.frame_index,
                    "time_ms": f.time_ms,
                    "pdq": f.pdq,
                    "quality": f.quality,
                }
                for entry_id, value in inserted
                for f in by_value[value].frames
            ]
            conn.execute(insert(VpdqFrame), frames)
        return [entry_id for entry_id, _ in inserted]

    @staticmethod
    def _list_id(conn: Connection, name: str) -> int:
        list_id = conn.execute(select(HashList.id).where(HashList.name == name)).scalar()
        if list_id is None:
            raise NotFoundError(f"hash list {name!r} does not exist")
        return list_id

    def remove_entries(
        self, list_name: str, values: Iterable[str], *, signal_type: str | None = None
    ) -> int:
        """Remove entries by value (of any signal type unless one is given), in one transaction.

        Returns:
            How many entries were removed; values the list does not hold are ignored.

        Raises:
            InvalidInputError: when a value is not hex or the signal type is unknown.
            NotFoundError: when the list does not exist.
            StoreError: when the database fails.
        """
        _name("list_name", list_name)
        if signal_type is not None:
            _choice("signal_type", signal_type, SIGNAL_TYPES)
        # Validated lazily, chunk by chunk, so the values may stream too.
        checked = (_hex("value", v, 1, 128) for v in values)
        with translated(f"remove entries from hash list {list_name!r}"):
            return self._remove_entries(list_name, checked, signal_type)

    def _remove_entries(
        self, list_name: str, values: Iterable[str], signal_type: str | None
    ) -> int:
        removed = 0
        with self._engine.begin() as conn:
            list_id = self._list_id(conn, list_name)
            for chunk in chunks(values, 500):
                stmt = delete(HashEntry).where(
                    HashEntry.list_id == list_id, HashEntry.value.in_(chunk)
                )
                if signal_type is not None:
                    stmt = stmt.where(HashEntry.signal_type == signal_type)
                removed += conn.execute(stmt).rowcount
            if removed:
                conn.execute(
                    update(HashList).where(HashList.id == list_id).values(updated_at=utcnow())
                )
                audit.append(conn, "hashlist.entries_remove", list_name, {"removed": removed})
        return removed

    def iter_entries(
        self,
        list_name: str | None = None,
        signal_type: str | None = None,
        *,
        batch_size: int = 5000,
    ) -> Iterator[EntryInfo]:
        """Stream entries in id order, of one list or all, of one signal type or all.

        Pages of ``batch_size`` are read by keyset pagination, each on a connection
        that is closed before the page is yielded, so memory stays bounded and nothing
        is held open while the caller works.

        Raises:
            InvalidInputError: when a filter or ``batch_size`` is invalid.
            NotFoundError: when the named list does not exist.
            StoreError: when the database fails.
        """
        if list_name is not None:
            _name("list_name", list_name)
        if signal_type is not None:
            _choice("signal_type", signal_type, SIGNAL_TYPES)
        _batch_size(batch_size)
        list_id = None
        if list_name is not None:
            # Resolved now, so a missing list fails at the call, not at the first next().
            with translated(f"read hash list {list_name!r}"), self._engine.connect() as conn:
                list_id = self._list_id(conn, list_name)
        return self._guarded_iter(
            "read hash-list entries",
            lambda: self._iter_entries(list_id, signal_type, 0, batch_size),
        )

    def entries_since(self, entry_id: int, *, batch_size: int = 5000) -> Iterator[EntryInfo]:
        """Stream entries with an id above ``entry_id``, for incremental index updates.

        A caller remembers the largest id it has indexed and asks for what came after.
        Removals are not reported here; rebuild or compare counts for those. On
        PostgreSQL, ids are handed out before commit, so an entry committed late by a
        concurrent import can carry an id below one already seen; run imports and index
        updates from one process, or rebuild periodically, when that matters.

        Raises:
            InvalidInputError: when ``entry_id`` or ``batch_size`` is invalid.
            StoreError: when the database fails.
        """
        require_int("entry_id", entry_id, 0, None)
        _batch_size(batch_size)
        return self._guarded_iter(
            "read new hash-list entries",
            lambda: self._iter_entries(None, None, entry_id, batch_size),
        )

    def get_entries(self, ids: Iterable[int]) -> list[EntryInfo]:
        """The entries with these ids (those that still exist), in id order.

        Matchers keep only entry ids in memory and fetch the few entries that matched.

        Raises:
            InvalidInputError: when an id is not a positive integer.
            StoreError: when the database fails.
        """
        wanted = sorted({require_int("entry id", i, 1, None) for i in ids})
        found: list[EntryInfo] = []
        with translated("read hash-list entries"), self._engine.connect() as conn:
            for chunk in chunks(wanted, 500):
                rows = conn.execute(
                    _entry_select().where(HashEntry.id.in_(chunk)).order_by(HashEntry.id)
                ).all()
                frames = (
                    self._frames(conn, [HashEntry.id.in_(chunk)], rows[-1][0])
                    if any(row[3] == "vpdq" for row in rows)
                    else {}
                )
                found.extend(EntryInfo(*row, frames=frames.get(row[0], ())) for row in rows)
        return found

    def _guarded_iter(self, action: str, make: Callable[[], Iterator[_T]]) -> Iterator[_T]:
        """Run a generator with database errors translated, including during iteration."""
        with translated(action):
            yield from make()

    def _iter_entries(
        self, list_id: int | None, signal_type: str | None, after_id: int, batch_size: int
    ) -> Iterator[EntryInfo]:
        filters: list[ColumnElement[bool]] = []
        if list_id is not None:
            filters.append(HashEntry.list_id == list_id)
        if signal_type is not None:
            filters.append(HashEntry.signal_type == signal_type)
        last = after_id
        while True:
            page_filters = [*filters, HashEntry.id > last]
            stmt = _entry_select().where(*page_filters).order_by(HashEntry.id).limit(batch_size)
            with self._engine.connect() as conn:
                rows = conn.execute(stmt).all()
                frames = (
                    self._frames(conn, page_filters, rows[-1][0])
                    if any(row[3] == "vpdq" for row in rows)
                    else {}
                )
            for row in rows:
                yield EntryInfo(*row, frames=frames.get(row[0], ()))
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    @staticmethod
    def _frames(
        conn: Connection, page_filters: list[ColumnElement[bool]], last_id: int
    ) -> dict[int, tuple[FrameHash, ...]]:
        """The frames of the vPDQ entries on one page, by a range query (no huge IN list)."""
        stmt = (
            select(
                VpdqFrame.entry_id,
                VpdqFrame.frame_index,
                VpdqFrame.time_ms,
                VpdqFrame.pdq,
                VpdqFrame.quality,
            )
            .join(HashEntry, HashEntry.id == VpdqFrame.entry_id)
            .where(*page_filters, HashEntry.id <= last_id, HashEntry.signal_type == "vpdq")
            .order_by(VpdqFrame.entry_id, VpdqFrame.frame_index)
        )
        grouped: dict[int, list[FrameHash]] = {}
        for entry_id, index, time_ms, pdq, quality in conn.execute(stmt):
            grouped.setdefault(entry_id, []).append(FrameHash(index, time_ms, pdq, quality))
        return {entry_id: tuple(frames) for entry_id, frames in grouped.items()}

    def count_entries(self, list_name: str | None = None, signal_type: str | None = None) -> int:
        """Count the entries of one list or all, of one signal type or all.

        Raises:
            InvalidInputError: when a filter is invalid.
            NotFoundError: when the named list does not exist.
            StoreError: when the database fails.
        """
        if list_name is not None:
            _name("list_name", list_name)
        if signal_type is not None:
            _choice("signal_type", signal_type, SIGNAL_TYPES)
        with translated("count hash-list entries"), self._engine.connect() as conn:
            stmt = select(func.count()).select_from(HashEntry)
            if list_name is not None:
                stmt = stmt.where(HashEntry.list_id == self._list_id(conn, list_name))
            if signal_type is not None:
                stmt = stmt.where(HashEntry.signal_type == signal_type)
            return conn.execute(stmt).scalar_one()

    # -- scanned items --------------------------------------------------------------

    def max_entry_id(self) -> int:
        """The largest entry id in use (0 when there are none); new entries get larger ids.

        Raises:
            StoreError: when the database fails.
        """
        with translated("read hash-list entries"), self._engine.connect() as conn:
            return int(conn.execute(select(func.max(HashEntry.id))).scalar() or 0)

    def record_item(
        self,
        item_key: str,
        *,
        source: str = "",
        md5: str | None = None,
        sha256: str | None = None,
        pdq: str | None = None,
        pdq_quality: int | None = None,
        decision: str | None = None,
        policy_version: str | None = None,
        scanned_at: datetime | None = None,
    ) -> int:
        """Record a scanned item's digests and decision; a known ``item_key`` is replaced.

        A rescan replaces every field, so the row always describes one scan (under one
        policy version) rather than a mixture.

        Args:
            item_key: the caller's unique key, such as the SHA-256 or a platform's
                content id (1-512 characters).
            source: where the item came from (path, upload, platform).
            md5: MD5 of the bytes, 32 hex digits.
            sha256: SHA-256 of the bytes, 64 hex digits.
            pdq: PDQ hash of the image, 64 hex digits.
            pdq_quality: PDQ quality, 0..100.
            decision: ``allow``, ``review`` or ``block``.
            policy_version: version of the policy that decided.
            scanned_at: when it was scanned (aware); defaults to now.

        Returns:
            The item's id (the same id on a rescan).

        Raises:
            InvalidInputError: when a field is invalid; the message names it.
            StoreError: when the database fails.
        """
        key = _text("item_key", item_key)
        if not 1 <= len(key) <= _MAX_ITEM_KEY:
            raise InvalidInputError(f"item_key: must be 1 to {_MAX_ITEM_KEY} characters")
        _optional_str("policy_version", policy_version)
        values: dict[str, Any] = {
            "item_key": key,
            "source": _text("source", source),
            "md5": _optional_hex("md5", md5, 32),
            "sha256": _optional_hex("sha256", sha256, 64),
            "pdq": _optional_hex("pdq", pdq, 64),
            "pdq_quality": (
                None if pdq_quality is None else require_int("pdq_quality", pdq_quality, 0, 100)
            ),
            "decision": None if decision is None else _choice("decision", decision, DECISIONS),
            "policy_version": policy_version,
            "scanned_at": utcnow() if scanned_at is None else as_aware("scanned_at", scanned_at),
        }
        with translated(f"record item {key!r}"):
            return self._record_item(values)

    def _record_item(self, values: dict[str, Any]) -> int:
        stmt = self._insert(ScannedItem).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["item_key"],
            set_={name: stmt.excluded[name] for name in values if name != "item_key"},
        )
        with self._engine.begin() as conn:
            item_id: int = conn.execute(stmt.returning(ScannedItem.id)).scalar_one()
        return item_id

    def iter_items(
        self,
        *,
        signal_type: str | None = None,
        after_id: int = 0,
        batch_size: int = 5000,
    ) -> Iterator[ItemInfo]:
        """Stream recorded items in id order, e.g. to match a new list retroactively.

        Args:
            signal_type: only items carrying this digest (``pdq``, ``md5`` or
                ``sha256``); items record no vPDQ.
            after_id: only items with a larger id, to resume.
            batch_size: rows per page.

        Raises:
            InvalidInputError: when a filter or ``batch_size`` is invalid.
            StoreError: when the database fails.
        """
        if signal_type is not None:
            _choice("signal_type", signal_type, _ITEM_SIGNALS)
        require_int("after_id", after_id, 0, None)
        _batch_size(batch_size)
        return self._guarded_iter(
            "read scanned items", lambda: self._iter_items(signal_type, after_id, batch_size)
        )

    def _iter_items(
        self, signal_type: str | None, after_id: int, batch_size: int
    ) -> Iterator[ItemInfo]:
        last = after_id
        while True:
            stmt = select(*_ITEM_COLUMNS).where(ScannedItem.id > last)
            if signal_type is not None:
                stmt = stmt.where(getattr(ScannedItem, signal_type).is_not(None))
            stmt = stmt.order_by(ScannedItem.id).limit(batch_size)
            with self._engine.connect() as conn:
                items = [ItemInfo(*row) for row in conn.execute(stmt)]
            yield from items
            if len(items) < batch_size:
                return
            last = items[-1].id

    def find_items_by_digest(
        self, md5: str | None = None, sha256: str | None = None
    ) -> list[ItemInfo]:
        """Items whose MD5 or SHA-256 equals a given one, ordered by id.

        When both are given, an item matching either is returned.

        Raises:
            InvalidInputError: when neither digest is given or one is not hex.
            StoreError: when the database fails.
        """
        md5 = _optional_hex("md5", md5, 32)
        sha256 = _optional_hex("sha256", sha256, 64)
        conditions: list[ColumnElement[bool]] = []
        if md5 is not None:
            conditions.append(ScannedItem.md5 == md5)
        if sha256 is not None:
            conditions.append(ScannedItem.sha256 == sha256)
        if not conditions:
            raise InvalidInputError("md5, sha256: give at least one digest")
        stmt = select(*_ITEM_COLUMNS).where(or_(*conditions)).order_by(ScannedItem.id)
        with translated("find items by digest"), self._engine.connect() as conn:
            return [ItemInfo(*row) for row in conn.execute(stmt)]

    # -- hits -----------------------------------------------------------------------

    def record_hit(
        self,
        entry_id: int,
        item_id: int,
        distance: int,
        *,
        matched_at: datetime | None = None,
    ) -> int:
        """Record that an entry matched an item at ``distance``.

        Args:
            entry_id: the matching hash-list entry.
            item_id: the item, as returned by :meth:`record_item`.
            distance: Hamming distance for PDQ, 0 for exact matches.
            matched_at: when (aware); defaults to now.

        Returns:
            The hit's id.

        Raises:
            InvalidInputError: when a field is invalid.
            NotFoundError: when the entry or the item does not exist.
            StoreError: when the database fails.
        """
        values = {
            "entry_id": require_int("entry_id", entry_id, 1, None),
            "item_id": require_int("item_id", item_id, 1, None),
            "distance": require_int("distance", distance, 0, None),
            "matched_at": utcnow() if matched_at is None else as_aware("matched_at", matched_at),
        }
        with translated("record a match hit"):
            return self._record_hit(values)

    def _record_hit(self, values: dict[str, Any]) -> int:
        with self._engine.begin() as conn:
            # Checked first so the error names what is missing; the foreign keys still
            # guard against a concurrent delete.
            for model, field in ((HashEntry, "entry_id"), (ScannedItem, "item_id")):
                if conn.execute(select(model.id).where(model.id == values[field])).first() is None:
                    raise NotFoundError(f"{field}: {values[field]} does not exist")
            hit_id: int = conn.execute(
                insert(MatchHit).values(**values).returning(MatchHit.id)
            ).scalar_one()
        return hit_id

    def count_hits(self, entry_id: int, since: datetime) -> int:
        """Count the distinct items an entry matched at or after ``since``.

        Distinct items, not hits, so a rescan of the same item does not push a hash
        towards quarantine.

        Raises:
            InvalidInputError: when ``entry_id`` is invalid or ``since`` is naive.
            StoreError: when the database fails.
        """
        require_int("entry_id", entry_id, 1, None)
        as_aware("since", since)
        stmt = select(func.count(func.distinct(MatchHit.item_id))).where(
            MatchHit.entry_id == entry_id, MatchHit.matched_at >= since
        )
        with translated("count match hits"), self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one()


def engine_of(store: Store) -> Engine:
    """The engine of ``store``, shared by the service's and review's stores.

    One process keeps one connection pool and one set of SQLite pragmas, however many
    repositories sit on the same database.
    """
    return store._engine
