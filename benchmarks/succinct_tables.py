"""What Elias-Fano chunk tables would cost the PDQ index's queries, against today's tables.

The PDQ index (``mediaguard.match.index.multiindex``) keeps, per chunk, a permutation of
row numbers whose high part is a ``uint8`` array read with one gather per candidate. The
only encoding of its 16 x 16 layout that could bring the index under 64 B per hash
(docs/hash-lists.md) replaces that array with Elias-Fano high parts: per bucket, one bit
per row plus one per possible high value, decoded for every probed bucket of every query.
This script builds 15 such tables over random rows at the index's size, decodes the 255
buckets a query probes (15 chunks x 17 keys) both ways, checks that both give the same
high parts, and prints the p50 of each over many random queries, side by side.

Usage: python benchmarks/succinct_tables.py [--n 10000000] [--queries 300]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

BUCKETS = 1 << 16
TABLES = 15
PROBES = 17  # a chunk's key and the 16 keys one bit away
Ints = npt.NDArray[np.int64]


class Tables:
    """15 chunk tables over ``n`` random rows, in both encodings of their high parts."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.high_values = -(-n // BUCKETS)  # zeros per bucket in the Elias-Fano bits
        sizes = rng.multinomial(n, np.full(BUCKETS, 1 / BUCKETS), size=TABLES)
        self.offsets = np.zeros((TABLES, BUCKETS + 1), dtype=np.int64)
        np.cumsum(sizes, axis=1, out=self.offsets[:, 1:])
        nbits = n + BUCKETS * self.high_values
        self.width = (nbits + 7) // 8 + 8
        self.ef_high = np.zeros((TABLES, self.width), dtype=np.uint8)
        self.perm_high = np.empty((TABLES, n), dtype=np.uint8)
        for table in range(TABLES):
            bucket = np.repeat(np.arange(BUCKETS), sizes[table])
            rows = rng.permutation(n)
            rows = rows[np.lexsort((rows, bucket))]  # by bucket, then by row
            high = rows >> 16
            self.perm_high[table] = high
            # A row's one sits at its bucket's first bit + its rank in the bucket + high.
            first = np.repeat(
                self.offsets[table, :-1] + np.arange(BUCKETS) * self.high_values, sizes[table]
            )
            rank = np.arange(n) - np.repeat(self.offsets[table, :-1], sizes[table])
            bits = np.zeros(nbits, dtype=np.uint8)
            bits[first + rank + high] = 1
            self.ef_high[table, : (nbits + 7) // 8] = np.packbits(bits, bitorder="little")

    def spans(self, keys: Ints) -> tuple[Ints, Ints]:
        table = np.arange(TABLES)[:, None]
        starts = self.offsets[table, keys].reshape(-1)
        return starts, self.offsets[table, keys + 1].reshape(-1) - starts

    def gather(self, keys: Ints) -> Ints:
        """Today's way: positions from the offsets, then one ``uint8`` gather each."""
        starts, lens = self.spans(keys)
        ends = np.cumsum(lens)
        base = np.repeat(np.arange(TABLES), PROBES) * self.n + starts
        pos = np.repeat(base - (ends - lens), lens) + np.arange(int(ends[-1]))
        out: Ints = np.take(self.perm_high.reshape(-1), pos).astype(np.int64)
        return out

    def decode(self, keys: Ints) -> Ints:
        """Elias-Fano: unpack each probed bucket's bits; a one's high part is the number
        of zeros before it in its bucket."""
        starts, lens = self.spans(keys)
        table = np.repeat(np.arange(TABLES), PROBES)
        first_bit = starts + keys.reshape(-1) * self.high_values
        nbits = lens + self.high_values
        byte_lo = (first_bit >> 3) + table * self.width
        nbytes = ((first_bit + nbits + 7) >> 3) + table * self.width - byte_lo
        byte_ends = np.cumsum(nbytes)
        total = int(byte_ends[-1])
        index = np.repeat(byte_lo - (byte_ends - nbytes), nbytes) + np.arange(total)
        bits = np.unpackbits(np.take(self.ef_high.reshape(-1), index), bitorder="little")
        lo = (first_bit & 7) + (byte_ends - nbytes) * 8  # each bucket's first unpacked bit
        inside = np.zeros(total * 8 + 1, dtype=np.int8)
        np.add.at(inside, lo, 1)
        np.add.at(inside, lo + nbits, -1)
        ones = np.flatnonzero(bits.astype(bool) & (np.cumsum(inside[:-1]) > 0))
        ends = np.cumsum(lens)
        bucket = np.repeat(np.arange(lens.size), lens)
        out: Ints = (ones - lo[bucket]) - (np.arange(ones.size) - (ends - lens)[bucket])
        return out


def p50_ms(way: Callable[[Ints], Ints], queries: list[Ints]) -> float:
    times = []
    for keys in queries:
        start = time.perf_counter()
        way(keys)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="rows in the index")
    parser.add_argument("--queries", type=int, default=300, help="random queries timed")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    tables = Tables(args.n, rng)
    flips = np.concatenate(([0], 1 << np.arange(16)))
    queries = [rng.integers(0, BUCKETS, TABLES)[:, None] ^ flips for _ in range(args.queries)]
    entries = tables.gather(queries[0]).size
    for keys in queries[:20]:
        assert np.array_equal(tables.gather(keys), tables.decode(keys)), "same high parts"
    rounds = [(p50_ms(tables.gather, queries), p50_ms(tables.decode, queries)) for _ in range(2)]
    print(
        f"n={args.n:,} tables={TABLES} probed buckets={TABLES * PROBES} entries/query~{entries:,}"
    )
    for number, (gathered, decoded) in enumerate(rounds, 1):
        print(
            f"round {number}: uint8 gather p50 {gathered:.3f} ms, Elias-Fano decode p50 "
            f"{decoded:.3f} ms, ratio {decoded / gathered:.2f}x"
        )


if __name__ == "__main__":
    main()
