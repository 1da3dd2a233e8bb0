"""Shared rate-limit buckets: the cell rate algorithm on each backend, with a fixed clock."""

from __future__ import annotations

import threading

import pytest

from mediaguard.store import Store
from mediaguard.store.errors import InvalidInputError
from mediaguard.store.limits import Rate

T0 = 1_800_000_000.0  # a clock in 2027, where float rounding of epoch seconds is ~4e-7 s


def test_a_bucket_allows_its_burst_then_one_per_interval(store: Store) -> None:
    rate = Rate.per(3, 60.0)  # 3 at once, then one every 20 s
    limits = store.limits
    assert [limits.take("api-key:a", rate, T0 + i * 0.01) for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert not limits.take("api-key:a", rate, T0 + 19.0)
    assert limits.take("api-key:a", rate, T0 + 20.1)
    assert not limits.take("api-key:a", rate, T0 + 20.2)
    # Another bucket has its own budget.
    assert limits.take("api-key:b", rate, T0 + 20.2)


def test_a_refused_request_does_not_spend_the_budget(store: Store) -> None:
    rate = Rate.per(1, 10.0)
    assert store.limits.take("api-key:a", rate, T0)
    for i in range(20):  # hammering while refused must not push the refill back
        assert not store.limits.take("api-key:a", rate, T0 + 1 + i * 0.1)
    assert store.limits.take("api-key:a", rate, T0 + 10.0)


def test_charges_count_after_the_fact_and_wait_says_how_long(store: Store) -> None:
    account = Rate.per(2, 100.0)  # 2 at once, then one per 50 s
    address = Rate.per(4, 100.0)  # 4 at once, then one per 25 s
    buckets = [("login-user:x", account), ("login-addr:y", address)]
    assert store.limits.wait(buckets, T0) == 0.0
    store.limits.charge(buckets, T0)
    assert store.limits.wait(buckets, T0) == 0.0
    store.limits.charge(buckets, T0)
    # The account is spent until its first charge's share has refilled.
    assert store.limits.wait(buckets, T0) == pytest.approx(50.0, abs=0.01)
    assert store.limits.wait(buckets, T0 + 49.0) == pytest.approx(1.0, abs=0.01)
    assert store.limits.wait(buckets, T0 + 50.0) == 0.0
    store.limits.forget("login-user:x")
    assert store.limits.wait(buckets, T0) == 0.0


def test_spent_buckets_are_pruned_and_live_ones_kept(store: Store) -> None:
    rate = Rate.per(1, 60.0)
    store.limits.take("api-key:old", rate, T0)
    store.limits.take("api-key:new", rate, T0 + 100)
    assert store.limits.prune_spent(T0 + 61, dry_run=True) == 1
    assert store.limits.prune_spent(T0 + 61) == 1
    assert store.limits.prune_spent(T0 + 61) == 0
    # The live bucket still refuses: its charge was kept.
    assert not store.limits.take("api-key:new", rate, T0 + 101)


def test_concurrent_takes_never_spend_more_than_the_budget(store: Store) -> None:
    rate = Rate.per(10, 3600.0)
    results: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            allowed = store.limits.take("api-key:shared", rate, T0)
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 40
    assert results.count(True) == 10


@pytest.mark.parametrize(
    "bucket", ["", "no-kind", "Key:x", "api-key:" + "x" * 64, "api-key:a b", "api-key:é"]
)
def test_a_malformed_bucket_name_is_refused(store: Store, bucket: str) -> None:
    with pytest.raises(InvalidInputError, match="bucket"):
        store.limits.take(bucket, Rate.per(1, 1.0), T0)


@pytest.mark.parametrize(("count", "seconds"), [(0, 60.0), (-1, 60.0), (5, 0.0)])
def test_a_rate_needs_a_positive_count_and_period(count: int, seconds: float) -> None:
    with pytest.raises(InvalidInputError, match="rate"):
        Rate.per(count, seconds)
