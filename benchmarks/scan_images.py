"""Speed of the ``mediaguard scan DIR`` command against NudeNet's own, process start to exit.

Main figure: the user's own command, each timed as a subprocess from start to exit on the
same folder, alternating (anchor, mediaguard, anchor, ...) so that both see the same load:
  * the anchor: a ``python -c`` that builds ``nudenet.NudeDetector()`` and calls
    ``detect(path)`` on every file (NudeNet decodes the full image with OpenCV, then runs
    its 320 px YOLO model, with onnxruntime's default threads);
  * ``mediaguard scan DIR`` with its defaults: MD5, SHA-256, PDQ, open_nsfw, hash-list
    matching (against an empty list store in a scratch data directory), recording each
    item's hashes in SQLite, and the policy, with one worker per core.
Both include interpreter start, imports, model loading and (for mediaguard) the worker
pool's start. The folder is the photos repeated ``--repeat`` times (hard links, or copies
across file systems). Prints every round, the ratio's min/median/max, CPU seconds (user +
system of the process and its workers) and the load average, since the ratio on a shared
machine moves with the load.

Second figure (``--in-process``): the same work inside this process, pool start included
but interpreter start and imports excluded, and mediaguard's steady state on one worker.

Target: mediaguard >= 2x NudeNet's throughput, process start included.

``--baseline SRC`` adds a third command to every round: ``mediaguard scan`` importing
mediaguard from the source folder SRC (another version's ``src/``), to compare versions
under the same load.

Usage: python benchmarks/scan_images.py DIR [--repeat N] [--rounds N] [--in-process]
                                            [--baseline SRC]
       (benchmarks/fetch_photos.sh fetches Debian's wallpaper photos into build/photos)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUDENET = """
import os, sys
from nudenet import NudeDetector
detector = NudeDetector()
for root, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        detector.detect(os.path.join(root, name))
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, with its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # mediaguard exits 1 when something is flagged
        sys.exit(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def build_folder(source: Path, target: Path, repeat: int) -> list[Path]:
    """``source``'s files ``repeat`` times under ``target`` (hard links where possible)."""
    originals = sorted(p for p in source.rglob("*") if p.is_file())
    files = []
    for round_ in range(repeat):
        for path in originals:
            link = target / f"{round_}_{path.name}"
            try:
                os.link(path, link)
            except OSError:
                shutil.copyfile(path, link)
            files.append(link)
    return files


def mediaguard_command(folder: Path) -> list[str]:
    exe = Path(sys.executable).with_name("mediaguard")
    return [str(exe), "scan", str(folder)]


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def commands(folder: Path, rounds: int, baseline: Path | None) -> None:
    """The main figure: both commands from process start to exit, alternating.

    The list stores and recorded hashes go to scratch data directories inside ``folder``'s
    parent, removed with it.
    """
    env = dict(os.environ, MEDIAGUARD_DATA_DIR=tempfile.mkdtemp(dir=folder.parent))
    runs = {
        "NudeNet": ([sys.executable, "-c", NUDENET, str(folder)], env),
        "mediaguard scan": (mediaguard_command(folder), env),
    }
    if baseline is not None:
        other = dict(env, MEDIAGUARD_DATA_DIR=tempfile.mkdtemp(dir=folder.parent))
        other["PYTHONPATH"] = str(baseline)
        runs["baseline scan"] = (mediaguard_command(folder), other)
    n = sum(1 for p in folder.iterdir() if p.is_file())
    # One untimed run of each: the page cache, .pyc files and the store's migration.
    for command, environment in runs.values():
        timed(command, environment)
    print(f"load average before: {load()}")
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(rounds):
        cells = []
        for name, (command, environment) in runs.items():
            wall, cpu = timed(command, environment)
            walls[name].append(wall)
            cpus[name].append(cpu)
            cells.append(f"{name} {wall:5.2f} s ({n / wall:5.1f} img/s, {cpu:5.2f} CPU-s)")
        ratio = walls["NudeNet"][-1] / walls["mediaguard scan"][-1]
        print(f"round {i + 1}: {'  '.join(cells)}  ratio {ratio:.2f}x  load {load()}")
    for name in list(runs)[1:]:
        ratios = [a / m for a, m in zip(walls["NudeNet"], walls[name], strict=True)]
        cpu_ratio = statistics.median(cpus["NudeNet"]) / statistics.median(cpus[name])
        print(
            f"ratio {name} / NudeNet, process start to exit, {rounds} alternating rounds: "
            f"min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
            f"max {max(ratios):.2f}x (target >= 2x); CPU-time ratio (medians) {cpu_ratio:.2f}x"
        )
    print(f"load average after: {load()}")


def in_process(files: list[Path], data: Path) -> None:
    """The second figure: the same work in this process, imports excluded."""
    from nudenet import NudeDetector

    from mediaguard.config import ScanConfig
    from mediaguard.engines.local import default_workers, scan_paths
    from mediaguard.policy.model import Policy

    os.environ["MEDIAGUARD_DATA_DIR"] = str(data)
    start = time.perf_counter()
    detector = NudeDetector()
    for path in files:
        detector.detect(str(path))
    nudenet_s = time.perf_counter() - start
    config, policy = ScanConfig(hashlists=True, record=True), Policy.default_policy()
    timings = {}
    for workers in (default_workers(), 1):
        start = time.perf_counter()
        results = list(scan_paths(files, config=config, policy=policy, workers=workers))
        timings[workers] = time.perf_counter() - start
        assert all(hasattr(r, "decision") for r in results), "every file scanned"
    n = len(files)
    print(f"in process (models loaded in the run, imports excluded), {n} images:")
    print(f"  NudeNet {n / nudenet_s:.1f} img/s")
    for workers, seconds in timings.items():
        print(
            f"  mediaguard, {workers} worker(s) {n / seconds:.1f} img/s = "
            f"{nudenet_s / seconds:.2f}x NudeNet"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=4, help="the folder N times")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds")
    parser.add_argument("--in-process", action="store_true", help="also the in-process figure")
    parser.add_argument("--baseline", type=Path, help="also mediaguard from this src/ folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scan-images-") as scratch:
        photos = Path(scratch, "photos")
        photos.mkdir()
        files = build_folder(args.folder, photos, args.repeat)
        if not files:
            raise SystemExit(f"no files in {args.folder}")
        from PIL import Image

        megapixels = []
        for path in files[: len(files) // args.repeat]:
            with Image.open(path) as image:
                megapixels.append(image.width * image.height / 1e6)
        print(
            f"{len(files)} images ({args.repeat} x {len(megapixels)}), mean "
            f"{statistics.mean(megapixels):.1f} MP, {len(os.sched_getaffinity(0))} cores"
        )
        commands(photos, args.rounds, args.baseline)
        if args.in_process:
            in_process(files, Path(tempfile.mkdtemp(dir=scratch)))


if __name__ == "__main__":
    main()
