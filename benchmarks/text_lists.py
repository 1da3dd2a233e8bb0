"""Term and URL list matching: what a scan pays per item, by list size.

    python benchmarks/text_lists.py [--lines 50] [--sizes 100,1000,10000]

For each size, a term list of that many phrases (1 in 100 a regular expression) and a URL
list of that many domains are stored in a SQLite store in a temporary folder; the
matcher compiles them (timed), then matches an item of ``--lines`` lines of text and one
QR payload (timed, the median of 20 runs). The lines hold a few listed phrases and URLs
among filler, as an ad would. Lists are made of pseudo-words from a fixed seed, so runs
compare; what is measured is mediaguard's own matching, which has no third-party anchor
(RE2 and the public-suffix list are its parts).
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mediaguard.lists.termlists import TextListMatcher, import_file
from mediaguard.signals.base import Box
from mediaguard.store import Store
from mediaguard.store.termlist_repo import TextListStore
from mediaguard.verdict import CodeFound, TextFound


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))


def _lists(size: int, rng: random.Random) -> tuple[str, str]:
    phrases = []
    for i in range(size):
        words = " ".join(_word(rng) for _ in range(rng.randint(1, 3)))
        phrases.append(f"re:{words.split()[0]}\\d{{2,4}}" if i % 100 == 0 else words)
    domains = [
        f"{_word(rng)}.{rng.choice(['com', 'net', 'example', 'co.uk'])}" for _ in range(size)
    ]
    return "\n".join(phrases) + "\n", "\n".join(domains) + "\n"


def _item(lines: int, phrases: list[str], domains: list[str], rng: random.Random):
    texts = []
    for i in range(lines):
        words = [_word(rng) for _ in range(8)]
        if i % 10 == 0:
            words.insert(3, phrases[rng.randrange(len(phrases))])
        if i % 15 == 0:
            words.append(f"https://www.{domains[rng.randrange(len(domains))]}/login")
        box = Box(x=0, y=i * 20, width=300, height=18)
        texts.append(TextFound(text=" ".join(words), confidence=0.9, box=box, frame=0))
    payload = f"https://pay.{domains[0]}/x?id=1"
    code = CodeFound(symbology="qr_code", content="text", payload=payload,
                     length=len(payload), truncated=False, box=Box(x=0, y=0, width=50, height=50),
                     frame=0)  # fmt: skip
    return texts, [code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    print(f"{'entries':>8} {'compile ms':>11} {'match ms/item':>14} {'matches':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        rng = random.Random(size)
        terms, links = _lists(size, rng)
        with (
            tempfile.TemporaryDirectory() as folder,
            Store.open(f"sqlite:///{folder}/bench.db") as store,
        ):
            store.upgrade()
            lists = TextListStore(store)
            lists.create_list("terms", "term", "spam", "block")
            lists.create_list("links", "url", "fraud", "block")
            import_file(lists, "terms", io.StringIO(terms))
            import_file(lists, "links", io.StringIO(links))
            started = time.perf_counter()
            matcher = TextListMatcher(lists)
            compiled = (time.perf_counter() - started) * 1000
            phrases = [p for p in terms.splitlines() if not p.startswith("re:")]
            texts, codes = _item(args.lines, phrases, links.splitlines(), rng)
            runs, found = [], 0
            for _ in range(20):
                started = time.perf_counter()
                found = len(matcher.match(texts, codes))
                runs.append((time.perf_counter() - started) * 1000)
        print(f"{size:>8} {compiled:>11.1f} {statistics.median(runs):>14.2f} {found:>8}")


if __name__ == "__main__":
    main()
