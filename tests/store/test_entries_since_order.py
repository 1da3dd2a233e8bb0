"""``entries_since`` misses no entry while two imports overlap (PostgreSQL).

A list matcher remembers the highest entry id it has indexed and asks only for what
came after. Two imports at once on PostgreSQL take ids from one sequence at insert
time; if the one holding the lower id committed later, a reader in between would move
past it and never see it. Here one import holds its transaction open after inserting
while another runs and a reader reads in between; every entry must still be seen.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import pytest

from mediaguard.store import Store
from mediaguard.store.list_types import NewEntry


def test_an_entry_committed_late_is_still_seen(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite admits one writer at a time")
    store.lists.create_list("tvec", "terrorism", "block")
    inserted = threading.Event()
    release = threading.Event()

    def slow() -> Iterator[NewEntry]:
        yield NewEntry("md5", secrets.token_hex(16))
        inserted.set()  # the first batch is being inserted; hold the transaction open
        release.wait(30)

    first = threading.Thread(
        target=store.lists.add_entries,
        args=("tvec", slow()),
        kwargs={"batch_size": 1, "atomic": True},
    )
    second = threading.Thread(
        target=store.lists.add_entries, args=("tvec", [NewEntry("md5", secrets.token_hex(16))])
    )
    first.start()
    assert inserted.wait(30)
    time.sleep(0.3)  # the first insert runs once the generator asks for the next batch
    second.start()
    time.sleep(0.5)
    seen = [e.id for e in store.lists.entries_since(0)]
    release.set()
    first.join(30)
    second.join(30)
    seen += [e.id for e in store.lists.entries_since(max(seen, default=0))]

    assert sorted(seen) == sorted(e.id for e in store.lists.iter_entries("tvec"))
    assert len(seen) == 2
