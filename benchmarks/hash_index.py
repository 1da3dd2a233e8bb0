"""Benchmark mediaguard's PDQIndex against threatexchange's PDQIndex, side by side.

Random 256-bit hashes plus planted queries at known distances (0-31 must match,
32-39 must not). Ground truth is exact brute force (faiss ``IndexBinaryFlat``
range search). Reports build time, memory (RSS growth and, for mediaguard, the bytes
its arrays hold), p50/p99 single-query latency, batch throughput, recall and false
positives, then the ratios against the goals: recall 1.0, p50 <= 1/3 of
threatexchange's, and at most 64 bytes per hash.

    python benchmarks/hash_index.py --n 10000000
    python benchmarks/hash_index.py --n 1000000 --skip-threatexchange

Needs psutil and, for the anchor, threatexchange (with its faiss-cpu); `make setup`
installs both.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import psutil

from mediaguard.match.index import PDQIndex

RADIUS = 31


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def planted_queries(
    codes: np.ndarray, n_queries: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Queries at distances 0..39 from random rows (0-31 match, 32-39 must not)."""
    base = rng.choice(codes.shape[0], size=n_queries, replace=False)
    dist = np.arange(n_queries) % 40
    order = np.argsort(rng.random((n_queries, 256)), axis=1)
    flips = np.zeros((n_queries, 256), dtype=np.uint8)
    for i in range(n_queries):
        flips[i, order[i, : dist[i]]] = 1
    masks = np.packbits(flips, axis=1)
    return codes[base] ^ masks, dist


def ground_truth(codes: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    import faiss

    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    lims, _, ids = flat.range_search(queries, RADIUS + 1)  # faiss: strictly below
    return [set(ids[lims[i] : lims[i + 1]].tolist()) for i in range(queries.shape[0])]


def latencies(fn: Callable[[int], object], n: int, warmup: int = 20) -> list[float]:
    for i in range(min(warmup, n)):
        fn(i)
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p)) * 1e3


def score(found: list[set[int]], truth: list[set[int]]) -> tuple[float, int]:
    tp = sum(len(f & t) for f, t in zip(found, truth, strict=True))
    total = sum(len(t) for t in truth)
    fp = sum(len(f - t) for f, t in zip(found, truth, strict=True))
    return (tp / total if total else 1.0), fp


def bench_mediaguard(
    codes: np.ndarray, queries: np.ndarray, truth: list[set[int]], batch: int
) -> dict[str, float]:
    n = codes.shape[0]
    before = rss()
    t = time.perf_counter()
    index = PDQIndex.build(np.arange(n), codes)
    build = time.perf_counter() - t
    grown = rss() - before
    qbytes = [q.tobytes() for q in queries]
    found: list[set[int]] = [set() for _ in range(len(qbytes))]

    def one(i: int) -> None:
        found[i] = {r for r, _ in index.query(qbytes[i], RADIUS)}

    lat = latencies(one, len(qbytes))
    recall, fp = score(found, truth)
    t = time.perf_counter()
    for lo in range(0, len(queries), batch):
        index.query_arrays(queries[lo : lo + batch], RADIUS)
    qps = len(queries) / (time.perf_counter() - t)
    result = {
        "build_s": build,
        "rss_b_per_hash": grown / n,
        "array_b_per_hash": index.nbytes / n,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "batch_qps": qps,
        "recall": recall,
        "false_pos": fp,
    }
    return result


def bench_threatexchange(
    codes: np.ndarray, queries: np.ndarray, truth: list[set[int]], batch: int
) -> dict[str, float]:
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex as TEIndex

    n = codes.shape[0]
    hexes = [c.tobytes().hex() for c in codes]
    before = rss()
    t = time.perf_counter()
    index = TEIndex((h, i) for i, h in enumerate(hexes))
    build = time.perf_counter() - t
    grown = rss() - before  # includes the (hash, id) tuples it keeps, not our hex list
    qhex = [q.tobytes().hex() for q in queries]
    found: list[set[int]] = [set() for _ in range(len(qhex))]

    def one(i: int) -> None:
        found[i] = {m.metadata for m in index.query(qhex[i])}

    lat = latencies(one, len(qhex))
    recall, fp = score(found, truth)
    t = time.perf_counter()
    for lo in range(0, len(qhex), batch):
        index.index.search_with_distance_in_result(qhex[lo : lo + batch], RADIUS)
    qps = len(qhex) / (time.perf_counter() - t)
    result = {
        "build_s": build,
        "rss_b_per_hash": grown / n,
        "array_b_per_hash": float("nan"),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "batch_qps": qps,
        "recall": recall,
        "false_pos": fp,
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="hashes in the index")
    ap.add_argument("--queries", type=int, default=1000, help="planted queries")
    ap.add_argument("--batch", type=int, default=100, help="queries per batch call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-threatexchange", action="store_true", help="mediaguard only")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    codes = rng.integers(0, 256, size=(args.n, 32), dtype=np.uint8)
    queries, dist = planted_queries(codes, args.queries, rng)
    truth = ground_truth(codes, queries)
    print(
        f"n={args.n:,} queries={args.queries} (distances 0-39, radius {RADIUS}) "
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} python={platform.python_version()} "
        f"numpy={np.__version__}"
    )
    rows = {"mediaguard": bench_mediaguard(codes, queries, truth, args.batch)}
    if not args.skip_threatexchange:
        rows["threatexchange"] = bench_threatexchange(codes, queries, truth, args.batch)
        # A second mediaguard latency pass right after, so both saw similar machine load.
        rows["mediaguard (again)"] = bench_mediaguard(codes, queries, truth, args.batch)
    cols = [
        "build_s",
        "rss_b_per_hash",
        "array_b_per_hash",
        "p50_ms",
        "p99_ms",
        "batch_qps",
        "recall",
        "false_pos",
    ]
    print(f"{'index':<20}" + "".join(f"{c:>17}" for c in cols))
    for name, r in rows.items():
        print(f"{name:<20}" + "".join(f"{r[c]:>17.4g}" for c in cols))
    mg = rows["mediaguard"]
    print("\ngoals:")
    print(
        f"  recall 1.0                 : {mg['recall']:.4f}, false positives {mg['false_pos']:.0f}"
    )
    print(
        f"  <= 64 bytes per hash       : arrays {mg['array_b_per_hash']:.1f} B, "
        f"RSS growth {mg['rss_b_per_hash']:.1f} B -> {mg['array_b_per_hash'] / 64:.2f}x the goal"
    )
    if "threatexchange" in rows:
        te = rows["threatexchange"]
        p50 = statistics.median(
            [rows["mediaguard"]["p50_ms"], rows["mediaguard (again)"]["p50_ms"]]
        )
        print(
            f"  p50 <= 1/3 of anchor       : {p50:.3f} ms vs {te['p50_ms']:.3f} ms "
            f"-> ratio {p50 / te['p50_ms']:.3f} (goal 0.333)"
        )
        print(f"  batch throughput vs anchor : {mg['batch_qps'] / te['batch_qps']:.2f}x")
        print(
            f"  memory vs anchor           : "
            f"{mg['rss_b_per_hash'] / te['rss_b_per_hash']:.3f}x RSS growth"
        )
    print(f"planted distances checked: {int(dist.min())}..{int(dist.max())}")


if __name__ == "__main__":
    main()
