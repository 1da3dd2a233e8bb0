"""Scaling of the Ray engine against the embedded process pool, and per-stage costs.

Runs on the same real photos, each engine as ``mediaguard scan`` configures it by
default (MD5, SHA-256, PDQ, open_nsfw, hash-list matching against an empty store,
recording each item's hashes in SQLite, the policy):
  * the embedded process pool with 1 and 2 workers;
  * the Ray engine on a local Ray cluster it starts itself, with 1, 2 and 4 workers.

Prints, per run: time to the first result (start-up: cluster, worker processes, model
loading, first image), steady throughput (images/s from the first result to the last)
and scaling efficiency, throughput / (workers x the same engine's 1-worker throughput).
Then the mean per-stage cost of one image from ``Verdict.timings`` (1-worker pool run),
and the per-sample cost of video: decoding an H.264 stream (every frame must be decoded
to sample one a second) and scanning one sampled frame. These feed the sizing in
docs/deployment.md.

On the project's 2-core VM, 4 workers oversubscribe the cores: that row shows the cost
of oversubscription, not scaling. One worker lets onnxruntime use every core for the
model (the engines give each worker cores // workers threads), so 1 -> 2 workers gains
less than 2x even on an idle machine.

Usage: python benchmarks/scale.py DIR [--repeat N] [--rounds N] [--video-seconds S]
       (benchmarks/fetch_photos.sh fetches Debian's wallpaper photos into build/photos)
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from mediaguard import media
from mediaguard.config import ScanConfig
from mediaguard.engines.local import default_workers, iter_files, scan_paths
from mediaguard.engines.ray import scan_paths_ray
from mediaguard.media.types import Frame
from mediaguard.policy.model import Policy
from mediaguard.scanner import Scanner
from mediaguard.signals import hashes, runtime
from mediaguard.verdict import ScanFailure, ScanResult, Verdict

STAGES = ("read_ms", "decode_ms", "hash_ms", "detect_ms", "match_ms", "policy_ms", "total_ms")


def timed(results: Iterator[ScanResult]) -> tuple[float, float, list[ScanResult]]:
    """(seconds to the first result, seconds from the first to the last, results)."""
    start = time.perf_counter()
    out = [next(results)]
    first = time.perf_counter()
    out += list(results)
    return first - start, time.perf_counter() - first, out


def video_clip(photo: Path, seconds: int, size: tuple[int, int], fps: int = 30) -> bytes:
    """An H.264 clip panning slowly across a real photo, encoded in memory."""
    import av

    with Image.open(photo) as img:
        still = img.convert("RGB")
        still.draft("RGB", (size[0] * 2, size[1] * 2))
    scale = max(size[0] * 1.5 / still.width, size[1] * 1.5 / still.height)
    big = np.asarray(still.resize((int(still.width * scale), int(still.height * scale))))
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": str(2 * fps)}
        frames = seconds * fps
        for i in range(frames):
            x = int((big.shape[1] - size[0]) * i / frames)
            y = int((big.shape[0] - size[1]) * i / frames)
            crop = np.ascontiguousarray(big[y : y + size[1], x : x + size[0]])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")))
        container.mux(stream.encode(None))
    return out.getvalue()


def best_of(runs: int, work: Callable[[], float]) -> float:
    return min(work() for _ in range(runs))


def video_costs(photo: Path, seconds: int, scanner: Scanner) -> list[tuple[str, float]]:
    """Per video-second decode cost at 720p and 1080p, and per-sample scan cost (ms)."""
    import av

    rows: list[tuple[str, float]] = []
    sample: np.ndarray | None = None
    for label, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        clip = video_clip(photo, seconds, size)

        def decode(clip: bytes = clip, keyframes_only: bool = False) -> float:
            nonlocal sample
            start = time.process_time()
            with av.open(io.BytesIO(clip), mode="r") as container:
                stream = container.streams.video[0]
                stream.thread_type = "NONE"  # one core: the per-core cost
                if keyframes_only:
                    stream.codec_context.skip_frame = "NONKEY"
                for i, frame in enumerate(container.decode(stream)):
                    if keyframes_only or i % 30 == 0:  # one sample a second, at 512 px
                        sample = frame.reformat(width=512, height=288, format="rgb24").to_ndarray()
            return time.process_time() - start

        rows.append(
            (
                f"H.264 {label} 30 fps, decode every frame",
                1000 * best_of(3, decode) / seconds,
            )
        )

        def keyframes(clip: bytes = clip) -> float:
            return decode(clip, keyframes_only=True)

        rows.append(
            (
                f"H.264 {label} 30 fps, keyframes only (GOP 2 s)",
                1000 * best_of(3, keyframes) / seconds,
            )
        )
    assert sample is not None
    frame = Frame(index=0, time=Fraction(0), pixels=sample, scale=1.0)

    def pdq() -> float:
        start = time.process_time()
        for _ in range(20):
            hashes.pdq(frame)
        return (time.process_time() - start) / 20

    def detect() -> float:
        start = time.process_time()
        for _ in range(20):
            for detector in scanner.detectors:
                detector.detect([frame])
        return (time.process_time() - start) / 20

    rows.append(("PDQ of one 512 px sample", 1000 * best_of(3, pdq)))
    rows.append(("open_nsfw on one sample", 1000 * best_of(3, detect)))
    return rows


def stage_cpu_costs(photos: list[Path], scanner: Scanner) -> dict[str, list[float]]:
    """CPU ms of each stage per photo, on one thread, before any worker exists.

    CPU time rather than wall time, so other jobs on a shared machine do not inflate
    it; list matching is left out (an empty store; see docs/performance.md).
    """
    costs: dict[str, list[float]] = {"decode": [], "digests": [], "pdq": [], "detect": []}
    for path in photos:
        data = path.read_bytes()
        mark = time.process_time()
        decoded = media.load(data, scanner.config.limits, scanner.working_size)
        costs["decode"].append(time.process_time() - mark)
        mark = time.process_time()
        hashes.digests(data)
        costs["digests"].append(time.process_time() - mark)
        mark = time.process_time()
        for frame in decoded.frames:
            hashes.pdq(frame)
        costs["pdq"].append(time.process_time() - mark)
        mark = time.process_time()
        for detector in scanner.detectors:
            detector.detect(decoded.frames)
        costs["detect"].append(time.process_time() - mark)
    return {stage: [1000 * v for v in values] for stage, values in costs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=4, help="scan the folder N times")
    parser.add_argument("--rounds", type=int, default=2, help="best of N interleaved runs")
    parser.add_argument("--video-seconds", type=int, default=10)
    args = parser.parse_args()
    # The list store and the recorded hashes go to a scratch data directory; Ray's
    # workers inherit it from this process's environment.
    os.environ["MEDIAGUARD_DATA_DIR"] = tempfile.mkdtemp(prefix="mediaguard-scale-")
    photos = list(iter_files([args.folder]))
    files = photos * args.repeat
    if not files:
        raise SystemExit(f"no files in {args.folder}")
    config, policy = ScanConfig(hashlists=True, record=True), Policy.default_policy()
    print(f"{len(files)} images ({len(photos)} photos x {args.repeat}), {default_workers()} cores")

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # One thread in this process for the per-stage CPU costs; the engines set their
    # workers' threads themselves.
    runtime.configure(threads=1)
    scanner = Scanner(config=ScanConfig(), policy=policy)
    scanner.scan(photos[0])  # warm-up: first-call allocations are not a per-image cost
    cpu = stage_cpu_costs(photos, scanner)
    runtime.configure(threads=None)  # the 1-worker pool run scans here, as the CLI does

    configs = [("process pool", w) for w in (1, 2)] + [
        ("ray (local cluster)", w) for w in (1, 2, 4)
    ]
    best: dict[tuple[str, int], tuple[float, float]] = {}
    stage_source: list[ScanResult] = []
    # Rounds interleave the configurations so a burst of load from other jobs on a shared
    # machine hits all of them alike; the best round of each is reported.
    for _ in range(args.rounds):
        for engine, workers in configs:
            results_iter = (
                scan_paths(files, config=config, policy=policy, workers=workers)
                if engine == "process pool"
                else scan_paths_ray(
                    files, config=config, policy=policy, address=None, workers=workers
                )
            )
            first, rest, results = timed(results_iter)
            assert not any(isinstance(r, ScanFailure) for r in results), "a photo failed"
            rate = len(files[1:]) / rest
            old_first, old_rate = best.get((engine, workers), (first, 0.0))
            best[engine, workers] = (min(first, old_first), max(rate, old_rate))
            if (engine, workers) == ("process pool", 1):
                stage_source += results
    runs = [(engine, workers, *best[engine, workers]) for engine, workers in configs]

    single = {engine: rate for engine, workers, _, rate in runs if workers == 1}
    print(
        f"\n{'engine':22} {'workers':>7} {'first result s':>15} {'images/s':>9} {'efficiency':>11}"
    )
    for engine, workers, first, rate in runs:
        efficiency = rate / (workers * single[engine])
        note = "  (oversubscribed)" if workers > default_workers() else ""
        print(f"{engine:22} {workers:7} {first:15.1f} {rate:9.1f} {efficiency:11.2f}{note}")
    pool2 = next(r for e, w, _, r in runs if e == "process pool" and w == 2)
    ray2 = next(r for e, w, _, r in runs if e != "process pool" and w == 2)
    print(f"ray / process pool at 2 workers: {ray2 / pool2:.2f}x")

    print(f"\nper-stage CPU cost of one photo, one thread, {len(photos)} photos (ms)")
    print(f"{'stage':10} {'mean':>8} {'median':>8} {'p90':>8}")
    total = [sum(parts) for parts in zip(*cpu.values(), strict=True)]
    for stage, values in [*cpu.items(), ("total", total)]:
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(
            f"{stage:10} {statistics.mean(ordered):8.1f} {statistics.median(ordered):8.1f} "
            f"{p90:8.1f}"
        )

    verdicts = [r for r in stage_source if isinstance(r, Verdict)]
    print(
        f"\nper-stage wall time from Verdict.timings, 1-worker pool runs, "
        f"{len(verdicts)} images (ms)"
    )
    print(f"{'stage':10} {'mean':>8} {'median':>8} {'p90':>8}")
    for stage in STAGES:
        values = sorted(getattr(v.timings, stage) for v in verdicts)
        p90 = values[int(0.9 * (len(values) - 1))]
        print(
            f"{stage:10} {statistics.mean(values):8.1f} {statistics.median(values):8.1f} {p90:8.1f}"
        )

    print(f"\nvideo, CPU ms per video-second and per sample ({args.video_seconds} s clips)")
    for label, ms in video_costs(photos[0], args.video_seconds, scanner):
        print(f"{label:48} {ms:8.1f}")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
