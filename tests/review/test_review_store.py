"""The review queue, decisions, appeals and the audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from mediaguard.store import InvalidInputError, NotFoundError, Store, audit, reviewers
from mediaguard.store.base import utcnow
from mediaguard.store.errors import ConflictError, PermissionDenied
from mediaguard.store.review_types import NewReviewItem
from mediaguard.store.reviewers import check_password, hash_password

PASSWORD = "correct horse battery"


def _item(
    n: int, *, priority: int = 50, categories: tuple[str, ...] = ("sexual",)
) -> NewReviewItem:
    return NewReviewItem(
        source=f"upload-{n}.jpg",
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        media_kind="image",
        machine_decision="review",
        categories=categories,
        lists=("known-bad",) if n % 2 else (),
        priority=priority,
        verdict_json='{"decision": "review"}',
    )


def test_password_hash_round_trip_and_rejects_wrong() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$")
    assert PASSWORD not in stored
    assert check_password(PASSWORD, stored)
    assert not check_password(PASSWORD + "x", stored)
    assert not check_password(PASSWORD, "not a hash")


def test_an_unknown_name_is_checked_against_a_hash_made_before_any_log_in(
    store: Store,
) -> None:
    # Made on the first unknown name instead, that first failed log-in would cost two
    # scrypt runs and tell that the name does not exist.
    reviewers._dummy_hash.cache_clear()
    store.reviewers.prepare_log_ins()
    made = reviewers._dummy_hash.cache_info()
    assert made.currsize == 1
    assert store.reviewers.authenticate("nobody-here", "a-long-password") is None
    after = reviewers._dummy_hash.cache_info()
    assert (after.misses, after.hits) == (made.misses, made.hits + 1)


def test_login_session_and_disable(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    assert store.reviewers.authenticate("alice", "wrong password!") is None
    assert store.reviewers.authenticate("nobody", PASSWORD) is None
    assert store.reviewers.authenticate("alice", PASSWORD) == alice
    token, csrf = store.reviewers.create_session(alice, timedelta(hours=1))
    live = store.reviewers.session(token)
    assert live is not None
    assert live.reviewer.username == "alice"
    assert live.csrf_token == csrf
    assert store.reviewers.session(token + "x") is None
    store.reviewers.disable_reviewer("alice")
    assert store.reviewers.session(token) is None
    assert store.reviewers.authenticate("alice", PASSWORD) is None


def test_expired_session_is_refused(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    token, _ = store.reviewers.create_session(alice, timedelta(seconds=-1))
    assert store.reviewers.session(token) is None


def test_reviewer_names_and_passwords_are_validated(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="username"):
        store.reviewers.create_reviewer("Alice Smith", PASSWORD)
    with pytest.raises(InvalidInputError, match="password"):
        store.reviewers.create_reviewer("alice", "short")
    store.reviewers.create_reviewer("alice", PASSWORD)
    with pytest.raises(InvalidInputError, match="already in use"):
        store.reviewers.create_reviewer("alice", PASSWORD)


def test_queue_order_filters_and_escalation(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    low = store.review.enqueue(_item(1, priority=10))
    high = store.review.enqueue(_item(2, priority=90, categories=("violence",)))
    mid = store.review.enqueue(_item(3, priority=50))
    assert [i.id for i in store.review.queue(alice.id)] == [high.id, mid.id, low.id]
    assert [i.id for i in store.review.queue(alice.id, category="violence")] == [high.id]
    assert [i.id for i in store.review.queue(alice.id, list_name="known-bad")] == [mid.id, low.id]
    assert store.review.facets() == (["sexual", "violence"], ["known-bad"])
    store.review.decide(low.id, alice, action="escalate", reason_code="needs_specialist")
    assert store.review.queue(alice.id)[0].id == low.id
    assert store.review.get_item(low.id).state == "escalated"


def test_decision_closes_item_and_second_decision_conflicts(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    bob = store.reviewers.create_reviewer("bob-2", PASSWORD)
    item = store.review.enqueue(_item(1))
    decision = store.review.decide(
        item.id, alice, action="remove", reason_code="sexual_content", note="clear case"
    )
    assert decision.reviewer == "alice"
    assert decision.automated_decision == "not"
    assert decision.automated_detection is True
    assert store.review.get_item(item.id).state == "closed"
    assert store.review.queue(alice.id) == []
    with pytest.raises(ConflictError):
        store.review.decide(item.id, bob, action="approve", reason_code="no_violation")


def test_concurrent_decisions_yield_exactly_one(store: Store) -> None:
    reviewers = [store.reviewers.create_reviewer(f"r{n}", PASSWORD) for n in range(4)]
    item = store.review.enqueue(_item(1))
    outcomes: list[str] = []
    barrier = threading.Barrier(len(reviewers))

    def decide(n: int) -> None:
        barrier.wait()
        try:
            store.review.decide(
                item.id, reviewers[n], action="remove", reason_code="sexual_content"
            )
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(len(reviewers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["ok"]
    assert len(store.review.decisions_for(item.id)) == 1
    assert store.audit.verify_audit().ok


def test_appeal_goes_to_a_different_reviewer(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    bob = store.reviewers.create_reviewer("bob", PASSWORD)
    item = store.review.enqueue(_item(1))
    removed = store.review.decide(item.id, alice, action="remove", reason_code="sexual_content")
    appeal = store.review.appeal(removed.id, "the uploader says this is a medical photo")
    assert appeal.state == "open"
    assert store.review.get_item(item.id).state == "appealed"
    assert store.review.queue(alice.id) == []
    assert [i.id for i in store.review.queue(bob.id)] == [item.id]
    with pytest.raises(PermissionDenied):
        store.review.decide(item.id, alice, action="approve", reason_code="no_violation")
    with pytest.raises(ConflictError):
        store.review.appeal(removed.id, "again")
    restored = store.review.decide(item.id, bob, action="approve", reason_code="no_violation")
    resolved = store.review.get_appeal(appeal.id)
    assert resolved.state == "resolved"
    assert resolved.outcome == "reversed"
    assert resolved.resolution_id == restored.id
    assert restored.appeal_id == appeal.id
    with pytest.raises(ConflictError, match="latest"):
        store.review.appeal(removed.id, "the old decision")


def test_upheld_appeal(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    bob = store.reviewers.create_reviewer("bob", PASSWORD)
    item = store.review.enqueue(_item(1))
    removed = store.review.decide(item.id, alice, action="remove", reason_code="sexual_content")
    appeal = store.review.appeal(removed.id, "")
    store.review.decide(item.id, bob, action="remove", reason_code="sexual_content")
    assert store.review.get_appeal(appeal.id).outcome == "upheld"


def test_automated_decision_is_closed_and_appealable(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    decision = store.review.record_automated(
        _item(1), action="remove", reason_code="known_csam_match"
    )
    assert decision.reviewer is None
    assert decision.automated_decision == "fully"
    assert store.review.queue(alice.id) == []
    store.review.appeal(decision.id, "")
    assert [i.id for i in store.review.queue(alice.id)] == [decision.item_id]


def test_decisions_since_returns_removals_with_items(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    start = utcnow()
    a = store.review.enqueue(_item(1))
    b = store.review.enqueue(_item(2))
    store.review.decide(a.id, alice, action="remove", reason_code="sexual_content")
    store.review.decide(b.id, alice, action="approve", reason_code="no_violation")
    found = store.review.decisions_since(start)
    assert [(d.action, i.id) for d, i in found] == [("remove", a.id)]
    assert store.review.decisions_since(utcnow() + timedelta(seconds=1)) == []


def test_unknown_ids_are_not_found(store: Store) -> None:
    for call in (
        lambda: store.review.get_item("nope"),
        lambda: store.review.get_item("0" * 32),
        lambda: store.review.get_decision("d_" + "0" * 32),
        lambda: store.review.get_appeal("x"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_reveal_is_logged_per_reviewer(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    bob = store.reviewers.create_reviewer("bob", PASSWORD)
    item = store.review.enqueue(_item(1))
    assert not store.review.has_revealed(item.id, alice)
    store.review.reveal(item.id, alice)
    assert store.review.has_revealed(item.id, alice)
    assert not store.review.has_revealed(item.id, bob)
    last = store.audit.last_audit("preview.reveal", item.id)
    assert last is not None
    assert last.actor == "reviewer:alice"


# ----------------------------------------------------------------------- audit chain


def _activity(store: Store) -> None:
    alice = store.reviewers.create_reviewer("alice", PASSWORD)
    store.lists.create_list("known-bad", "csam", "block")
    item = store.review.enqueue(_item(1))
    store.review.reveal(item.id, alice)
    store.review.decide(item.id, alice, action="remove", reason_code="sexual_content")
    store.lists.delete_list("known-bad")


def test_every_change_is_chained(store: Store) -> None:
    _activity(store)
    entries = list(store.audit.audit_entries())
    assert [e.action for e in entries] == [
        "reviewer.create",
        "hashlist.create",
        "item.enqueue",
        "preview.reveal",
        "decision.create",
        "hashlist.delete",
    ]
    assert [e.seq for e in entries] == list(range(1, 7))
    assert entries[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    report = store.audit.verify_audit()
    assert report.ok
    assert report.checked == 6
    assert report.head_hash == entries[-1].hash


def _tamper(store: Store, sql: str) -> None:
    with store.db.begin() as conn:
        conn.execute(text(sql))


@pytest.mark.parametrize(
    ("sql", "first_bad"),
    [
        ("UPDATE audit_log SET data = replace(data, 'remove', 'approve') WHERE seq = 5", 5),
        ("UPDATE audit_log SET actor = 'reviewer:mallory' WHERE seq = 4", 4),
        ("DELETE FROM audit_log WHERE seq = 3", 3),
        ("UPDATE audit_log SET seq = seq + 100 WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 6", 6),
    ],
    ids=["edited-data", "edited-actor", "deleted", "reordered", "truncated"],
)
def test_verify_names_the_first_bad_record(store: Store, sql: str, first_bad: int) -> None:
    _activity(store)
    _tamper(store, sql)
    report = store.audit.verify_audit()
    assert not report.ok
    assert report.first_bad_seq == first_bad, report.problem


def test_concurrent_appends_form_one_chain(store: Store) -> None:
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        barrier.wait()
        for k in range(5):
            store.audit.audit_event("policy.load", f"worker-{n}", {"k": k})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = store.audit.verify_audit()
    assert report.ok
    assert report.checked == 20


def _rewrite_from(store: Store, seq: int, **changes: str) -> None:
    """Change record ``seq`` and recompute every later hash and the head: a whole rewrite."""
    with store.db.begin() as conn:
        if changes:
            sets = ", ".join(f"{column} = :{column}" for column in changes)
            conn.execute(
                text(f"UPDATE audit_log SET {sets} WHERE seq = :seq"), {**changes, "seq": seq}
            )
        rows = conn.execute(
            text("SELECT seq, at, actor, action, subject, data FROM audit_log ORDER BY seq")
        ).all()
        prev = audit.GENESIS
        for number, at, actor, action, subject, data in rows:
            digest = audit.record_hash(prev, number, at, actor, action, subject, data)
            conn.execute(
                text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": number},
            )
            prev = digest
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
            {"s": rows[-1][0], "h": prev},
        )


def test_a_whole_rewrite_is_caught_only_by_an_anchor(store: Store) -> None:
    _activity(store)
    before = store.audit.verify_audit()
    anchors = {before.head_seq: before.head_hash}
    _rewrite_from(store, 3, actor="reviewer:mallory")
    assert store.audit.verify_audit().ok  # consistent in itself...
    report = store.audit.verify_audit(anchors)  # ...but no longer through the anchor
    assert not report.ok
    assert report.first_bad_seq == before.head_seq


def test_an_anchored_record_cut_from_the_end_is_caught(store: Store) -> None:
    _activity(store)
    before = store.audit.verify_audit()
    _tamper(store, f"DELETE FROM audit_log WHERE seq = {before.head_seq}")
    _rewrite_from(store, 1)
    assert store.audit.verify_audit().ok
    report = store.audit.verify_audit({before.head_seq: before.head_hash})
    assert not report.ok
    assert report.first_bad_seq == before.head_seq
    assert "no longer in the log" in (report.problem or "")
