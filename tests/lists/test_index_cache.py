"""The on-disk index cache shared by every process that scans with the same store.

The CLI's worker pool, several ``serve`` processes and ``worker`` all keep a
:class:`ListMatcher` over one store and one cache folder, and each saves the cache when
the lists change. Two saves at once must not fail, and a load must never see files of
two different saves (an index newer than its state file would hide entries).
"""

from __future__ import annotations

import multiprocessing
import secrets
from pathlib import Path

from mediaguard.lists.hashlists import ListMatcher
from mediaguard.store import Store
from mediaguard.store.list_types import NewEntry

ROUNDS = 150


def _save_repeatedly(url: str, index_dir: str, rounds: int) -> None:
    with Store.open(url) as store:
        matcher = ListMatcher(store, index_dir=Path(index_dir), record=False)
        for _ in range(rounds):
            matcher._save()  # the save itself is what races


def _load_repeatedly(url: str, index_dir: str, rounds: int) -> None:
    with Store.open(url) as store:
        matcher = ListMatcher(store, index_dir=Path(index_dir), record=False)
        for _ in range(rounds):
            loaded = matcher._load()  # the load itself is what races
            held = len(loaded.md5) + len(loaded.sha256) + len(loaded.pdq)
            if loaded.count and held != loaded.count:
                raise AssertionError(f"state says {loaded.count} entries, indexes hold {held}")


def test_concurrent_saves_and_loads_stay_consistent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lists.db'}"
    index_dir = tmp_path / "index"
    with Store.open(url) as store:
        store.upgrade()
        store.lists.create_list("tvec", category="terrorism", action="block")
        store.lists.add_entries(
            "tvec", [NewEntry("pdq", secrets.token_hex(32)) for _ in range(300)]
        )
        ListMatcher(store, index_dir=index_dir, record=False)  # writes the cache once
        store.lists.add_entries(
            "tvec", [NewEntry("md5", secrets.token_hex(16)) for _ in range(300)]
        )

    # Two savers hold different generations (300 and 600 entries) of the same cache.
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_save_repeatedly, args=(url, str(index_dir), ROUNDS)),
        context.Process(target=_save_repeatedly, args=(url, str(index_dir), ROUNDS)),
        context.Process(target=_load_repeatedly, args=(url, str(index_dir), ROUNDS)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [w.exitcode for w in workers] == [0, 0, 0]
    with Store.open(url) as store:
        matcher = ListMatcher(store, index_dir=index_dir, record=False)
        assert len(matcher._indexes.pdq) + len(matcher._indexes.md5) == 600
