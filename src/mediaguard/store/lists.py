"""Hash lists and their entries (with the frames of vPDQ entries).

Design note: :class:`HashListRepository` (``store.lists``) is the only door to the
hash-list tables. Its public methods validate their input and name the offending field,
then call a private implementation; they take and return frozen dataclasses, never ORM
objects, so no session or connection escapes and callers cannot lazy-load behind the
store's back.
It is apart from the scanned items because lists change by import and export while
items change with every scan; only hits join the two, and they live with the items.

Large data never sits in memory: :meth:`HashListRepository.add_entries` consumes its
iterable in batches, and the ``iter_*`` methods page by primary key (keyset pagination)
with a short-lived connection per page, so a slow consumer holds no transaction or
server-side cursor open and a ten-million-entry list streams in constant memory.

The store holds no business logic. Matching, distances, quarantine thresholds and policy
belong to ``match/`` and ``policy/``; the store only records and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from mediaguard.iterutil import chunks
from mediaguard.store import audit
from mediaguard.store import validation as check
from mediaguard.store.base import utcnow
from mediaguard.store.database import Database, guarded_iter, translated
from mediaguard.store.entry_rows import entry_select, insert_batch, page_frames
from mediaguard.store.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from mediaguard.store.list_types import AddResult, EntryInfo, HashListInfo, NewEntry
from mediaguard.store.models import (
    ACTIONS,
    DEFAULT_PDQ_DISTANCE,
    MAX_PDQ_DISTANCE,
    SIGNAL_TYPES,
    DerivedEntry,
    HashEntry,
    HashList,
)

#: Up to this many entries added at once are named in their audit record; a bulk import
#: is recorded by its counts (its file is the record of what it held).
_AUDIT_VALUES: Final = 20


def _added(batch: list[NewEntry], inserted: list[int]) -> dict[str, Any]:
    """The audit data of one committed batch of new entries."""
    data: dict[str, Any] = {"added": len(inserted), "duplicates": len(batch) - len(inserted)}
    if len(batch) <= _AUDIT_VALUES:
        data["entries"] = [f"{e.signal_type}:{e.value}" for e in batch]
    return data


class HashListRepository:
    """Hash lists and their entries in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

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
            "name": check.name("name", name),
            "category": check.category(category),
            "action": check.choice("action", action, ACTIONS),
            "source": check.text("source", source),
            "description": check.text("description", description),
            "pdq_distance": check.require_int("pdq_distance", pdq_distance, 0, MAX_PDQ_DISTANCE),
        }
        with translated(f"create hash list {name!r}"):
            return self._create_list(values)

    def _create_list(self, values: dict[str, Any]) -> HashListInfo:
        now = utcnow()
        stmt = insert(HashList).values(**values, created_at=now, updated_at=now)
        try:
            with self._db.begin() as conn:
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
        check.name("name", name)
        with translated(f"read hash list {name!r}"), self._db.connect() as conn:
            found = self._lists(conn, HashList.name == name)
        if not found:
            raise NotFoundError(f"hash list {name!r} does not exist")
        return found[0]

    def lists(self) -> list[HashListInfo]:
        """Every hash list, ordered by name.

        Raises:
            StoreError: when the database fails.
        """
        with translated("list hash lists"), self._db.connect() as conn:
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
        check.name("name", name)
        values: dict[str, Any] = {}
        if category is not None:
            values["category"] = check.category(category)
        if action is not None:
            values["action"] = check.choice("action", action, ACTIONS)
        if source is not None:
            values["source"] = check.text("source", source)
        if description is not None:
            values["description"] = check.text("description", description)
        if pdq_distance is not None:
            values["pdq_distance"] = check.require_int(
                "pdq_distance", pdq_distance, 0, MAX_PDQ_DISTANCE
            )
        with translated(f"update hash list {name!r}"):
            self._update_list(name, values)
        return self.get_list(name)

    def _update_list(self, name: str, values: dict[str, Any]) -> None:
        stmt = update(HashList).where(HashList.name == name).values(**values, updated_at=utcnow())
        with self._db.begin() as conn:
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
        check.name("name", name)
        with translated(f"delete hash list {name!r}"), self._db.begin() as conn:
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
        check.name("list_name", list_name)
        check.batch_size(batch_size)
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
        with self._db.connect() as conn:
            list_id = self._list_id(conn, list_name)
            for batch in chunks(entries, batch_size):
                for offset, entry in enumerate(batch):
                    if not isinstance(entry, NewEntry):
                        raise InvalidInputError(
                            f"entries[{position + offset}]: expected a NewEntry, "
                            f"got {type(entry).__name__}"
                        )
                position += len(batch)
                self._db.serialize_entry_writes(conn)
                inserted = insert_batch(self._db, conn, list_id, batch)
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
        check.name("list_name", list_name)
        if signal_type is not None:
            check.choice("signal_type", signal_type, SIGNAL_TYPES)
        # Validated lazily, chunk by chunk, so the values may stream too.
        checked = (check.hex_digits("value", v, 1, 128) for v in values)
        with translated(f"remove entries from hash list {list_name!r}"):
            return self._remove_entries(list_name, checked, signal_type)

    def _remove_entries(
        self, list_name: str, values: Iterable[str], signal_type: str | None
    ) -> int:
        removed = 0
        with self._db.begin() as conn:
            list_id = self._list_id(conn, list_name)
            for chunk in chunks(values, 500):
                chosen = [HashEntry.list_id == list_id, HashEntry.value.in_(chunk)]
                if signal_type is not None:
                    chosen.append(HashEntry.signal_type == signal_type)
                # A listed picture's stored crops go with it, or they would still match.
                parents = select(HashEntry.id).where(*chosen)
                crops = select(DerivedEntry.entry_id).where(DerivedEntry.parent_id.in_(parents))
                conn.execute(delete(HashEntry).where(HashEntry.id.in_(crops)))
                removed += conn.execute(delete(HashEntry).where(*chosen)).rowcount
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
            check.name("list_name", list_name)
        if signal_type is not None:
            check.choice("signal_type", signal_type, SIGNAL_TYPES)
        check.batch_size(batch_size)
        list_id = None
        if list_name is not None:
            # Resolved now, so a missing list fails at the call, not at the first next().
            with translated(f"read hash list {list_name!r}"), self._db.connect() as conn:
                list_id = self._list_id(conn, list_name)
        return guarded_iter(
            "read hash-list entries",
            lambda: self._iter_entries(list_id, signal_type, 0, batch_size),
        )

    def entries_since(self, entry_id: int, *, batch_size: int = 5000) -> Iterator[EntryInfo]:
        """Stream entries with an id above ``entry_id``, for incremental index updates.

        A caller remembers the largest id it has indexed and asks for what came after.
        Removals are not reported here; rebuild or compare counts for those. Entry ids
        commit in id order (every entry writer takes the store's entry-write lock before
        inserting), so an entry committed late by a concurrent import is never below one
        already seen.

        Raises:
            InvalidInputError: when ``entry_id`` or ``batch_size`` is invalid.
            StoreError: when the database fails.
        """
        check.require_int("entry_id", entry_id, 0, None)
        check.batch_size(batch_size)
        return guarded_iter(
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
        wanted = sorted({check.require_int("entry id", i, 1, None) for i in ids})
        found: list[EntryInfo] = []
        with translated("read hash-list entries"), self._db.connect() as conn:
            for chunk in chunks(wanted, 500):
                rows = conn.execute(
                    entry_select().where(HashEntry.id.in_(chunk)).order_by(HashEntry.id)
                ).all()
                frames = (
                    page_frames(conn, [HashEntry.id.in_(chunk)], rows[-1][0])
                    if any(row[3] == "vpdq" for row in rows)
                    else {}
                )
                found.extend(EntryInfo(*row, frames=frames.get(row[0], ())) for row in rows)
        return found

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
            stmt = entry_select().where(*page_filters).order_by(HashEntry.id).limit(batch_size)
            with self._db.connect() as conn:
                rows = conn.execute(stmt).all()
                frames = (
                    page_frames(conn, page_filters, rows[-1][0])
                    if any(row[3] == "vpdq" for row in rows)
                    else {}
                )
            for row in rows:
                yield EntryInfo(*row, frames=frames.get(row[0], ()))
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def count_entries(self, list_name: str | None = None, signal_type: str | None = None) -> int:
        """Count the entries of one list or all, of one signal type or all.

        Raises:
            InvalidInputError: when a filter is invalid.
            NotFoundError: when the named list does not exist.
            StoreError: when the database fails.
        """
        if list_name is not None:
            check.name("list_name", list_name)
        if signal_type is not None:
            check.choice("signal_type", signal_type, SIGNAL_TYPES)
        with translated("count hash-list entries"), self._db.connect() as conn:
            stmt = select(func.count()).select_from(HashEntry)
            if list_name is not None:
                stmt = stmt.where(HashEntry.list_id == self._list_id(conn, list_name))
            if signal_type is not None:
                stmt = stmt.where(HashEntry.signal_type == signal_type)
            return conn.execute(stmt).scalar_one()

    def max_entry_id(self) -> int:
        """The largest entry id in use (0 when there are none); new entries get larger ids.

        Raises:
            StoreError: when the database fails.
        """
        with translated("read hash-list entries"), self._db.connect() as conn:
            return int(conn.execute(select(func.max(HashEntry.id))).scalar() or 0)
