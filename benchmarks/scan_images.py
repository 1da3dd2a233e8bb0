"""Throughput of `mediaguard scan` against NudeNet's own detector on the same photos.

Runs, in one process tree and on the same files:
  * the anchor: ``nudenet.NudeDetector().detect(path)`` for every file (NudeNet decodes
    the full image with OpenCV, then runs its 320 px YOLO model);
  * mediaguard's full default pipeline through the CLI's engine, configured as
    ``mediaguard scan`` is by default: MD5, SHA-256, PDQ, open_nsfw, hash-list matching
    (against an empty list store), recording each item's hashes in SQLite, and the
    policy; with one worker per core, and again with one worker.

Prints images per second for each, the ratios, and peak RSS (including child processes).
Target: mediaguard >= 1.5x NudeNet's throughput on multi-megapixel photos.

Usage: python benchmarks/scan_images.py DIR [--repeat N]
       (benchmarks/fetch_photos.sh fetches Debian's wallpaper photos into build/photos)
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from mediaguard.config import ScanConfig
from mediaguard.engines.local import default_workers, iter_files, scan_paths
from mediaguard.policy.model import Policy
from mediaguard.verdict import ScanFailure


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def run_nudenet(files: list[Path]) -> float:
    from nudenet import NudeDetector

    detector = NudeDetector()
    detector.detect(str(files[0]))  # warm-up, as for mediaguard's worker start
    start = time.perf_counter()
    for path in files:
        detector.detect(str(path))
    return time.perf_counter() - start


def run_mediaguard(files: list[Path], workers: int) -> tuple[float, int]:
    config, policy = ScanConfig(hashlists=True, record=True), Policy.default_policy()
    start = time.perf_counter()
    failures = sum(
        isinstance(r, ScanFailure)
        for r in scan_paths(files, config=config, policy=policy, workers=workers)
    )
    return time.perf_counter() - start, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="scan the folder N times")
    args = parser.parse_args()
    # The list store and recorded hashes go to a scratch data directory.
    os.environ["MEDIAGUARD_DATA_DIR"] = tempfile.mkdtemp(prefix="mediaguard-bench-")
    files = list(iter_files([args.folder])) * args.repeat
    if not files:
        raise SystemExit(f"no files in {args.folder}")
    from PIL import Image

    megapixels = []
    for path in files[: len(files) // args.repeat]:
        with Image.open(path) as image:
            megapixels.append(image.width * image.height / 1e6)
    print(
        f"{len(files)} images, mean {sum(megapixels) / len(megapixels):.1f} MP, "
        f"{default_workers()} cores"
    )

    nudenet_s = run_nudenet(files)
    rss_after_nudenet = peak_rss_mb()
    many = default_workers()
    mg_many_s, failed_many = run_mediaguard(files, many)
    mg_one_s, failed_one = run_mediaguard(files, 1)
    n = len(files)
    rows = [
        ("NudeNet NudeDetector().detect (anchor, 1 process)", nudenet_s),
        (f"mediaguard scan, {many} workers (default)", mg_many_s),
        ("mediaguard scan, 1 worker", mg_one_s),
    ]
    print(f"{'run':55} {'images/s':>10}")
    for label, seconds in rows:
        print(f"{label:55} {n / seconds:10.2f}")
    print(
        f"ratio mediaguard({many} workers) / NudeNet: {nudenet_s / mg_many_s:.2f}x (target >= 1.5x)"
    )
    print(f"ratio mediaguard(1 worker) / NudeNet:  {nudenet_s / mg_one_s:.2f}x")
    print(f"failures: {failed_many} / {failed_one}")
    print(
        f"peak RSS: {rss_after_nudenet:.0f} MB after NudeNet (this process); "
        f"{peak_rss_mb():.0f} MB overall (largest of this process and any worker)"
    )


if __name__ == "__main__":
    main()
