"""The store of term lists and URL lists: lists, their entries, and audit records.

Design note: :class:`TextListStore` is to term and URL lists what :class:`Store` is to
hash lists, on the same database: it shares the store's engine (one pool, the same SQLite
pragmas), translates database failures into :class:`StoreError`, and appends an audit
record in the same transaction as every change, with the actions ``termlist.*`` and
``urllist.*`` beside ``hashlist.*``. It checks only shape (names, kinds, lengths); what an
entry *means* (does the pattern compile, is the domain a public suffix) is decided by
:mod:`mediaguard.lists.termlists` before an entry reaches it, where the line number of a
bad line is still known. Term lists are a few thousand entries, not ten million, so the
matcher reads them whole; pages are still read by key so an export streams.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mediaguard.iterutil import chunks
from mediaguard.store import audit
from mediaguard.store import validation as check
from mediaguard.store.base import utcnow
from mediaguard.store.database import translated
from mediaguard.store.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from mediaguard.store.facade import Store
from mediaguard.store.list_types import AddResult
from mediaguard.store.termlist_models import (
    ENTRY_TYPES_OF,
    LIST_KINDS,
    MAX_ENTRY_CHARS,
    TEXT_LIST_ACTIONS,
    TextList,
    TextListEntry,
)

_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
#: Up to this many entries added at once are named in their audit record.
_AUDIT_VALUES: Final = 20
_PAGE: Final = 2000


@dataclass(frozen=True, slots=True)
class TextListInfo:
    """A term or URL list as stored, detached from any session."""

    id: int
    name: str
    kind: str
    category: str
    source: str
    description: str
    action: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewTextEntry:
    """An entry to add: its type (phrase, regex, domain, prefix) and normalised value.

    Raises:
        InvalidInputError: when the type is unknown, the value empty, longer than
            :data:`MAX_ENTRY_CHARS` or holding control characters.
    """

    entry_type: str
    value: str
    external_id: str | None = None
    note: str | None = None
    added_at: datetime | None = None

    def __post_init__(self) -> None:
        """Check the shape of every field."""
        allowed = tuple(t for types in ENTRY_TYPES_OF.values() for t in types)
        if self.entry_type not in allowed:
            raise InvalidInputError(
                f"entry_type: expected one of {', '.join(allowed)}, got {self.entry_type!r}"
            )
        if not isinstance(self.value, str) or not self.value.strip():
            raise InvalidInputError("value: an entry needs a non-empty value")
        if len(self.value) > MAX_ENTRY_CHARS:
            raise InvalidInputError(
                f"value: {len(self.value)} characters; an entry holds at most {MAX_ENTRY_CHARS}"
            )
        if _CONTROL_RE.search(self.value):
            raise InvalidInputError("value: holds control characters")
        for field in ("external_id", "note"):
            got = getattr(self, field)
            if got is not None and not isinstance(got, str):
                raise InvalidInputError(f"{field}: expected text, got {got!r}")
        if self.added_at is not None:
            check.as_aware("added_at", self.added_at)


@dataclass(frozen=True, slots=True)
class TextEntryInfo:
    """A stored entry, with its list's name."""

    id: int
    list_id: int
    list_name: str
    entry_type: str
    value: str
    external_id: str | None
    note: str | None
    added_at: datetime


@dataclass(frozen=True, slots=True)
class TextListsState:
    """What changes whenever a list or an entry does; a matcher rebuilds when it differs."""

    lists: int
    last_update: datetime | None
    entries: int
    max_entry_id: int


def _kind(value: object) -> str:
    if value not in LIST_KINDS:
        raise InvalidInputError(f"kind: expected one of {', '.join(LIST_KINDS)}, got {value!r}")
    return str(value)


def _action(value: object) -> str:
    if value not in TEXT_LIST_ACTIONS:
        raise InvalidInputError(
            f"action: expected one of {', '.join(TEXT_LIST_ACTIONS)}, got {value!r}"
        )
    return str(value)


_LIST_COLUMNS: Final = (
    TextList.id,
    TextList.name,
    TextList.kind,
    TextList.category,
    TextList.source,
    TextList.description,
    TextList.action,
    TextList.created_at,
    TextList.updated_at,
)


class TextListStore:
    """Term lists and URL lists on the database of a :class:`Store`.

    Args:
        store: the store whose engine to share; it must be migrated to the current schema.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._engine = store.db.engine
        self._insert = store.db.insert

    # -- lists ----------------------------------------------------------------------

    def create_list(
        self,
        name: str,
        kind: str,
        category: str,
        action: str,
        *,
        source: str = "",
        description: str = "",
    ) -> TextListInfo:
        """Create an empty term list (``kind="term"``) or URL list (``kind="url"``).

        A name already used by a hash list is refused too, so that a policy's
        ``[lists.<name>]`` rule and a verdict's list name each mean one list.

        Raises:
            InvalidInputError: when a field is invalid; the message names it.
            ProtectedTraitError: when the category names a protected trait of a person.
            AlreadyExistsError: when a term, URL or hash list of that name exists.
            StoreError: when the database fails.
        """
        values = {
            "name": check.name("name", name),
            "kind": _kind(kind),
            "category": check.category(category),
            "action": _action(action),
            "source": check.text("source", source),
            "description": check.text("description", description),
        }
        if any(info.name == name for info in self.store.lists.lists()):
            raise AlreadyExistsError(f"a hash list is called {name!r}; choose another name")
        now = utcnow()
        with translated(f"create {kind} list {name!r}"):
            try:
                with self._engine.begin() as conn:
                    list_id = conn.execute(
                        insert(TextList)
                        .values(**values, created_at=now, updated_at=now)
                        .returning(TextList.id)
                    ).scalar_one()
                    audit.append(conn, f"{kind}list.create", name, values)
            except IntegrityError as err:
                raise AlreadyExistsError(f"a term or URL list {name!r} already exists") from err
        return TextListInfo(id=list_id, created_at=now, updated_at=now, **values)

    def get_list(self, name: str, kind: str | None = None) -> TextListInfo:
        """The list called ``name`` (of ``kind``, when given).

        Raises:
            InvalidInputError: when ``name`` or ``kind`` is invalid.
            NotFoundError: when no such list exists.
            StoreError: when the database fails.
        """
        check.name("name", name)
        what = f"{_kind(kind)} list" if kind is not None else "term or URL list"
        with translated(f"read {what} {name!r}"), self._engine.connect() as conn:
            row = conn.execute(select(*_LIST_COLUMNS).where(TextList.name == name)).first()
        if row is None or (kind is not None and row.kind != kind):
            raise NotFoundError(f"{what} {name!r} does not exist")
        return TextListInfo(*row)

    def lists(self, kind: str | None = None) -> list[TextListInfo]:
        """Every list (of ``kind``, when given), ordered by name.

        Raises:
            StoreError: when the database fails.
        """
        stmt = select(*_LIST_COLUMNS).order_by(TextList.name)
        if kind is not None:
            stmt = stmt.where(TextList.kind == _kind(kind))
        with translated("list term and URL lists"), self._engine.connect() as conn:
            return [TextListInfo(*row) for row in conn.execute(stmt)]

    def update_list(
        self,
        name: str,
        kind: str,
        *,
        category: str | None = None,
        action: str | None = None,
        source: str | None = None,
        description: str | None = None,
    ) -> TextListInfo:
        """Change a list's attributes; a field left as None is kept.

        Raises:
            InvalidInputError: when a field is invalid.
            ProtectedTraitError: when the new category names a protected trait.
            NotFoundError: when no such list exists.
            StoreError: when the database fails.
        """
        info = self.get_list(name, kind)
        values: dict[str, Any] = {}
        if category is not None:
            values["category"] = check.category(category)
        if action is not None:
            values["action"] = _action(action)
        if source is not None:
            values["source"] = check.text("source", source)
        if description is not None:
            values["description"] = check.text("description", description)
        stmt = update(TextList).where(TextList.id == info.id)
        with translated(f"update {kind} list {name!r}"), self._engine.begin() as conn:
            conn.execute(stmt.values(**values, updated_at=utcnow()))
            audit.append(conn, f"{kind}list.update", name, values)
        return self.get_list(name, kind)

    def delete_list(self, name: str, kind: str) -> None:
        """Delete a list with its entries.

        Raises:
            NotFoundError: when no such list exists.
            StoreError: when the database fails.
        """
        info = self.get_list(name, kind)
        with translated(f"delete {kind} list {name!r}"), self._engine.begin() as conn:
            conn.execute(delete(TextList).where(TextList.id == info.id))
            audit.append(conn, f"{kind}list.delete", name, {})

    # -- entries --------------------------------------------------------------------

    def add_entries(
        self, list_name: str, entries: Iterable[NewTextEntry], *, batch_size: int = 2000
    ) -> AddResult:
        """Add entries, skipping and counting those the list already holds.

        Each batch commits with its audit record (``<kind>list.entries_add``), as hash
        lists do, so an import cut short can be run again.

        Raises:
            InvalidInputError: when an item is not a :class:`NewTextEntry` or its type
                does not belong in this kind of list.
            NotFoundError: when the list does not exist.
            StoreError: when the database fails.
        """
        info = self.get_list(list_name)
        allowed = ENTRY_TYPES_OF[info.kind]
        added = duplicates = 0
        with (
            translated(f"add entries to {info.kind} list {list_name!r}"),
            self._engine.connect() as conn,
        ):
            for batch in chunks(entries, batch_size):
                for entry in batch:
                    if not isinstance(entry, NewTextEntry):
                        raise InvalidInputError(
                            f"entries: expected a NewTextEntry, got {type(entry).__name__}"
                        )
                    if entry.entry_type not in allowed:
                        raise InvalidInputError(
                            f"entry_type: a {info.kind} list holds {' or '.join(allowed)} "
                            f"entries, not {entry.entry_type!r}"
                        )
                inserted = self._insert_batch(conn, info.id, batch)
                added += inserted
                duplicates += len(batch) - inserted
                if inserted:
                    conn.execute(
                        update(TextList).where(TextList.id == info.id).values(updated_at=utcnow())
                    )
                    data: dict[str, Any] = {
                        "added": inserted,
                        "duplicates": len(batch) - inserted,
                    }
                    if len(batch) <= _AUDIT_VALUES:
                        data["entries"] = [f"{e.entry_type}:{e.value}" for e in batch]
                    audit.append(conn, f"{info.kind}list.entries_add", list_name, data)
                conn.commit()
        return AddResult(added=added, duplicates=duplicates)

    def _insert_batch(self, conn: Connection, list_id: int, batch: list[NewTextEntry]) -> int:
        unique: dict[tuple[str, str], NewTextEntry] = {}
        for entry in batch:
            unique.setdefault((entry.entry_type, entry.value), entry)
        now = utcnow()
        rows = [
            {
                "list_id": list_id,
                "entry_type": e.entry_type,
                "value": e.value,
                "external_id": e.external_id,
                "note": e.note,
                "added_at": e.added_at or now,
            }
            for e in unique.values()
        ]
        stmt = (
            self._insert(TextListEntry)
            .on_conflict_do_nothing(index_elements=["list_id", "entry_type", "value"])
            .returning(TextListEntry.id)
        )
        return len(conn.execute(stmt, rows).all())

    def remove_entries(self, list_name: str, values: Iterable[str]) -> int:
        """Remove entries by value (normalised, as stored); returns how many went.

        Raises:
            NotFoundError: when the list does not exist.
            StoreError: when the database fails.
        """
        info = self.get_list(list_name)
        removed = 0
        with (
            translated(f"remove entries from {info.kind} list {list_name!r}"),
            self._engine.begin() as conn,
        ):
            for chunk in chunks(values, 500):
                stmt = delete(TextListEntry).where(
                    TextListEntry.list_id == info.id, TextListEntry.value.in_(chunk)
                )
                removed += conn.execute(stmt).rowcount
            if removed:
                conn.execute(
                    update(TextList).where(TextList.id == info.id).values(updated_at=utcnow())
                )
                audit.append(
                    conn, f"{info.kind}list.entries_remove", list_name, {"removed": removed}
                )
        return removed

    def iter_entries(self, list_name: str | None = None) -> Iterator[TextEntryInfo]:
        """Stream entries in id order, of one list or of all, a page at a time.

        Raises:
            NotFoundError: when the named list does not exist (at the call).
            StoreError: when the database fails.
        """
        list_id = self.get_list(list_name).id if list_name is not None else None
        return self._pages(list_id)

    def _pages(self, list_id: int | None) -> Iterator[TextEntryInfo]:
        after = 0
        while True:
            stmt = (
                select(
                    TextListEntry.id,
                    TextListEntry.list_id,
                    TextList.name,
                    TextListEntry.entry_type,
                    TextListEntry.value,
                    TextListEntry.external_id,
                    TextListEntry.note,
                    TextListEntry.added_at,
                )
                .join(TextList, TextList.id == TextListEntry.list_id)
                .where(TextListEntry.id > after)
                .order_by(TextListEntry.id)
                .limit(_PAGE)
            )
            if list_id is not None:
                stmt = stmt.where(TextListEntry.list_id == list_id)
            with translated("read term and URL list entries"), self._engine.connect() as conn:
                page = [TextEntryInfo(*row) for row in conn.execute(stmt)]
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].id

    def count_entries(self, list_name: str | None = None) -> int:
        """Entries in one list, or in all term and URL lists.

        Raises:
            NotFoundError: when the named list does not exist.
            StoreError: when the database fails.
        """
        stmt = select(func.count()).select_from(TextListEntry)
        if list_name is not None:
            stmt = stmt.where(TextListEntry.list_id == self.get_list(list_name).id)
        with translated("count term and URL list entries"), self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def state(self) -> TextListsState:
        """What a matcher compares to know whether its compiled lists are stale.

        Raises:
            StoreError: when the database fails.
        """
        lists = select(func.count(), func.max(TextList.updated_at)).select_from(TextList)
        entries = select(func.count(), func.max(TextListEntry.id)).select_from(TextListEntry)
        with translated("read the term and URL lists' state"), self._engine.connect() as conn:
            count, last = conn.execute(lists).one()
            entry_count, max_id = conn.execute(entries).one()
        return TextListsState(int(count), last, int(entry_count), int(max_id or 0))


__all__ = [
    "NewTextEntry",
    "TextEntryInfo",
    "TextListInfo",
    "TextListStore",
    "TextListsState",
]
