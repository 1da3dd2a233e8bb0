"""Cost of the hash-chained audit log, against a plain append-only table.

Every review decision, reveal and list change appends one audit record in its own
transaction, so the figure that matters is appends per second with one commit each.
The anchor is the same rows written to an unchained table of the same shape (same
columns, same JSON text, one commit each): the ratio is what the chain (the head-row
update that orders writers, and the SHA-256) costs. Then ``verify`` walks the whole chain,
reported in records per second, and the queue query a reviewer's page runs is timed on
the same database with 100,000 waiting items.

Usage: python benchmarks/audit_log.py [--records 5000] [--database URL] [--items 100000]
       (default: a SQLite file in a temporary folder; pass a PostgreSQL URL to
       measure that backend)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

from mediaguard.store import Store
from mediaguard.store.base import utcnow
from mediaguard.store.review_models import ReviewItem

PLAIN = Table(
    "bench_plain_log",
    MetaData(),
    Column("seq", Integer, primary_key=True),
    Column("at", String(40)),
    Column("actor", String(160)),
    Column("action", String(64)),
    Column("subject", String(256)),
    Column("data", Text),
)


def _data(n: int) -> dict[str, object]:
    return {"item": f"{n:032x}", "action": "remove", "reason_code": "sexual_content", "note": ""}


def plain_appends(store: Store, count: int) -> float:
    PLAIN.create(store.db.engine, checkfirst=True)
    clock = time.perf_counter()
    for n in range(count):
        with store.db.begin() as conn:
            conn.execute(
                insert(PLAIN).values(
                    at=utcnow().isoformat(),
                    actor="reviewer:bench",
                    action="decision.create",
                    subject=f"d_{n:032x}",
                    data=json.dumps(_data(n), sort_keys=True, separators=(",", ":")),
                )
            )
    return count / (time.perf_counter() - clock)


def chained_appends(store: Store, count: int) -> float:
    clock = time.perf_counter()
    for n in range(count):
        store.audit.audit_event("decision.create", f"d_{n:032x}", _data(n))
    return count / (time.perf_counter() - clock)


def queue_latency(store: Store, items: int) -> tuple[float, float]:
    now = utcnow()
    rows = [
        {
            "id": hashlib.md5(str(n).encode()).hexdigest(),
            "source": f"upload-{n}.jpg",
            "job_id": None,
            "sha256": hashlib.sha256(str(n).encode()).hexdigest(),
            "media_kind": "image",
            "machine_decision": "review",
            "categories": "sexual" if n % 3 else "violence",
            "lists": "known" if n % 7 == 0 else "",
            "priority": n % 100,
            "state": "open",
            "verdict": "{}",
            "has_preview": False,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(items)
    ]
    with store.db.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(ReviewItem), rows[start : start + 5000])
    times_all: list[float] = []
    times_filtered: list[float] = []
    for _ in range(20):
        clock = time.perf_counter()
        store.review.queue(None, limit=100)
        times_all.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        store.review.queue(None, category="violence", limit=100)
        times_filtered.append(time.perf_counter() - clock)
    return statistics.median(times_all), statistics.median(times_filtered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Store.open(url) as store:
            store.upgrade()
            print(f"database: {store.url}")
            plain = plain_appends(store, args.records)
            chained = chained_appends(store, args.records)
            print(f"plain append-only table: {plain:9.0f} appends/s (one commit each)")
            print(f"hash-chained audit log : {chained:9.0f} appends/s (one commit each)")
            print(f"ratio chained/plain    : {chained / plain:9.2f}")
            clock = time.perf_counter()
            report = store.audit.verify_audit()
            elapsed = time.perf_counter() - clock
            assert report.ok, report.problem
            print(
                f"verify                 : {report.checked / elapsed:9.0f} records/s "
                f"({report.checked} records, {elapsed:.2f} s)"
            )
            everything, filtered = queue_latency(store, args.items)
            print(
                f"queue page, {args.items} waiting items: {everything * 1000:.1f} ms; "
                f"filtered by category: {filtered * 1000:.1f} ms (median of 20)"
            )
            with store.db.begin() as conn:
                PLAIN.drop(conn, checkfirst=True)


if __name__ == "__main__":
    main()
