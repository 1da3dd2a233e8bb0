"""HMA bank ratios and exchange cursors in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from mediaguard.store import InvalidInputError, NotFoundError, Store, audit
from mediaguard.store.exchanges import CursorConflict


def _audits(store: Store, action: str) -> list[audit.AuditEntry]:
    return [e for e in store.audit.audit_entries() if e.action == action]


def test_bank_ratios_default_to_one_and_go_with_their_list(store: Store) -> None:
    repo = store.exchanges
    first = store.lists.create_list("bank_a", "hma", "review")
    second = store.lists.create_list("bank_b", "hma", "review")
    assert repo.bank_ratios([first.id, second.id]) == {first.id: 1.0, second.id: 1.0}
    repo.set_bank_ratio("bank_a", 0.25)
    repo.set_bank_ratio("bank_a", 0.5)
    assert repo.bank_ratios([first.id, second.id]) == {first.id: 0.5, second.id: 1.0}
    assert [e.data for e in _audits(store, "hashlist.hma_ratio")] == [
        {"enabled_ratio": 0.25},
        {"enabled_ratio": 0.5},
    ]
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        repo.set_bank_ratio("bank_a", 1.5)
    with pytest.raises(NotFoundError):
        repo.set_bank_ratio("no_such", 0.5)
    store.lists.delete_list("bank_a")
    recreated = store.lists.create_list("bank_a", "hma", "review")
    assert repo.bank_ratios([recreated.id]) == {recreated.id: 1.0}


def test_cursor_moves_only_from_where_the_fetch_started(store: Store) -> None:
    repo = store.exchanges
    assert repo.status("feed") is None
    repo.record_success("feed", previous=None, cursor="10", data={"added": 3})
    with pytest.raises(CursorConflict):
        repo.record_success("feed", previous=None, cursor="20", data={"added": 1})
    repo.record_failure("feed", "FetchTimeout: slow", {"pages": 0})
    status = repo.status("feed")
    assert status is not None
    assert (status.cursor, status.fetches, status.last_error) == ("10", 2, "FetchTimeout: slow")
    repo.record_success("feed", previous="10", cursor="20", data={"added": 0})
    status = repo.status("feed")
    assert status is not None
    assert (status.cursor, status.fetches, status.last_error) == ("20", 3, None)
    outcomes = [(e.subject, e.data["outcome"]) for e in _audits(store, "exchange.fetch")]
    assert outcomes == [("feed", "ok"), ("feed", "failed"), ("feed", "ok")]
