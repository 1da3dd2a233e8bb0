"""``entries_since`` misses no entry while two imports overlap (PostgreSQL).

A list matcher remembers the highest entry id it has indexed and asks only for what
came after. Two imports at once on PostgreSQL take ids from one sequence at insert
time; if the one holding the lower id committed later, a reader in between would move
past it and never see it.

The window is narrow in a real import (an import's audit record already queues it behind
any other writer's, but only after its insert), so the test holds it open: a second
connection locks the first list's row, which the first import updates right after its
insert. The first import then sits with its id taken and uncommitted while a second
import, into another list, runs; a reader reads in between, and every entry must still
be seen.
"""

from __future__ import annotations

import secrets
import threading

import pytest
from sqlalchemy import text

from mediaguard.store import Store
from mediaguard.store.list_types import NewEntry
from service._support import wait_for


def _waiting_on_locks(store: Store) -> int:
    """How many other sessions of this database are waiting for a lock now."""
    with store.db.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(conn.execute(query).scalar_one())


def test_an_entry_committed_late_is_still_seen(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite admits one writer at a time")
    store.lists.create_list("tvec", "terrorism", "block")
    store.lists.create_list("gifct", "terrorism", "block")
    second_done = threading.Event()

    def second_import() -> None:
        store.lists.add_entries("gifct", [NewEntry("md5", secrets.token_hex(16))])
        second_done.set()

    first = threading.Thread(
        target=store.lists.add_entries, args=("tvec", [NewEntry("md5", secrets.token_hex(16))])
    )
    second = threading.Thread(target=second_import)
    with store.db.connect() as holder:
        holder.execute(text("SELECT id FROM hash_lists WHERE name = 'tvec' FOR UPDATE"))
        first.start()
        # The first import has inserted its entry and waits on the row held here.
        wait_for(lambda: _waiting_on_locks(store) >= 1)
        second.start()
        # The second import either commits (ids would commit out of order) or is held
        # behind the first; either way the reader looks once it has settled.
        wait_for(lambda: second_done.is_set() or _waiting_on_locks(store) >= 2)
        seen = [e.id for e in store.lists.entries_since(0)]
        holder.rollback()
    first.join(30)
    second.join(30)
    seen += [e.id for e in store.lists.entries_since(max(seen, default=0))]

    stored = [e.id for name in ("tvec", "gifct") for e in store.lists.iter_entries(name)]
    assert len(stored) == 2
    assert sorted(seen) == sorted(stored)
