"""Face redaction of a video: `mediaguard redact` against the `deface` CLI, plus coverage.

Runs, on the same file and in one run:
  * the anchor: ``deface FILE -o OUT`` with deface's default settings (CenterFace on every
    frame at full resolution, threshold 0.2, blurred ellipses, libx264 via imageio);
  * ``mediaguard redact FILE OUT`` with its defaults.

Both are timed from process start to exit (model loading included) and reported as
frames per second of the input, with the ratio. The two run alternately ``--repeat``
times (deface, mediaguard, deface, ...), which keeps other load on a shared machine from
favouring either; the ratio of each pair of neighbouring runs is printed with its
minimum, median and maximum, next to the best run of each and the load average before
and after. CPU time (user + system, all threads) is printed too: it is what another
load on a shared machine distorts least. Target: >= 5x deface's fps.

Coverage: the reference faces are those CenterFace finds at full resolution, threshold
0.5, on every original frame (a confident, full-detail search, with the same weights
deface and mediaguard use). A reference face counts as covered when at least 90% of its
box's area lies inside the union of the mask rectangles mediaguard paints on that frame
(the rectangles come from :func:`mediaguard.redaction.mask_rectangles`, the same
decoding, detection and tracking code ``redact`` runs; they are counted, never stored).
Coverage = covered / reference faces. Target: >= 0.99.

Usage: python benchmarks/redact_video.py FILE [--repeat N] [--skip-deface] [--keep]
       (real footage: Debian's opencv-doc vtest.avi, see docs/performance.md)
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

from mediaguard.media.geometry import upright as to_upright
from mediaguard.media.video import FrameDecoder, VideoInput, open_video, pick_video_stream
from mediaguard.redaction import FaceDetector, covered_fraction, mask_rectangles

COVERED = 0.9
REFERENCE_THRESHOLD = 0.5


def count_frames(path: Path) -> int:
    info = open_video(path)
    with VideoInput(path, info.format) as opened:
        stream = pick_video_stream(opened.container)
        stream.thread_type = "AUTO"
        return sum(1 for _ in FrameDecoder(opened.container, stream))


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def report(name: str, runs: list[tuple[float, float]], frames: int) -> tuple[float, float]:
    """Print a tool's best run; return its fps (wall) and CPU seconds of that run."""
    wall, cpu = min(runs)
    listed = ", ".join(f"{w:.1f}" for w, _ in runs)
    print(
        f"{name}: best {wall:.1f} s of [{listed}] = {frames / wall:.1f} fps; "
        f"{cpu:.1f} CPU-s = {frames / cpu:.1f} frames per CPU-second"
    )
    return frames / wall, cpu


def mediaguard_command() -> list[str]:
    """`mediaguard redact` if the CLI has it, else the command function run by Typer."""
    exe = Path(sys.executable).with_name("mediaguard")
    helped = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    if " redact " in helped.stdout or "│ redact" in helped.stdout:
        return [str(exe), "redact"]
    return [
        sys.executable,
        "-c",
        "import sys, typer; from mediaguard.commands.redact import redact_command; "
        "sys.argv[0] = 'mediaguard redact'; typer.run(redact_command)",
    ]


def coverage(path: Path) -> tuple[int, int, int]:
    """(covered reference faces, reference faces, frames) for mediaguard's masks."""
    detector = FaceDetector()
    info = open_video(path)
    turns = info.rotation // 90
    masks = mask_rectangles(path, face_detector=detector)
    covered = total = frames = 0
    with VideoInput(path, info.format) as opened:
        stream = pick_video_stream(opened.container)
        stream.thread_type = "AUTO"
        for frame, rects in zip(FrameDecoder(opened.container, stream), masks, strict=True):
            frames += 1
            pixels = to_upright(frame.to_ndarray(format="rgb24"), turns)
            reference = detector.detect(pixels, threshold=REFERENCE_THRESHOLD)
            for box in reference.xyxy:
                total += 1
                covered += covered_fraction(box, rects) >= COVERED
    return covered, total, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--skip-deface", action="store_true", help="time mediaguard only")
    parser.add_argument("--keep", action="store_true", help="keep the outputs in /tmp")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each")
    args = parser.parse_args()
    source: Path = args.file
    frames = count_frames(source)
    info = open_video(source)
    print(
        f"{source.name}: {info.width}x{info.height}, {frames} frames, "
        f"{float(info.duration or 0):.1f} s"
    )
    folder = Path(tempfile.mkdtemp(prefix="redact-bench-", dir="/tmp"))
    try:
        ours_cmd = [*mediaguard_command(), str(source), str(folder / "mediaguard.mp4")]
        deface = Path(sys.executable).with_name("deface")
        anchor_cmd = [str(deface), str(source), "-o", str(folder / "deface.mp4")]
        ours_runs: list[tuple[float, float]] = []
        anchor_runs: list[tuple[float, float]] = []
        load_before = os.getloadavg()
        for _ in range(args.repeat):
            if not args.skip_deface:
                anchor_runs.append(timed(anchor_cmd))
            ours_runs.append(timed(ours_cmd))
        load_after = os.getloadavg()
        ours_fps, ours_cpu = report("mediaguard redact", ours_runs, frames)
        if anchor_runs:
            anchor_fps, anchor_cpu = report("deface (anchor)  ", anchor_runs, frames)
            print(
                f"ratio of the best runs: {ours_fps / anchor_fps:.2f}x deface's fps "
                f"(target >= 5x); {anchor_cpu / ours_cpu:.2f}x less CPU time per frame"
            )
            pairs = [a[0] / o[0] for a, o in zip(anchor_runs, ours_runs, strict=True)]
            listed = ", ".join(f"{r:.2f}" for r in pairs)
            print(
                f"ratio per pair of runs: min {min(pairs):.2f}x, median "
                f"{statistics.median(pairs):.2f}x, max {max(pairs):.2f}x of [{listed}]"
            )
        print(
            "load average (1, 5, 15 min): before "
            + ", ".join(f"{v:.2f}" for v in load_before)
            + "; after "
            + ", ".join(f"{v:.2f}" for v in load_after)
        )
        covered, total, _ = coverage(source)
        ratio = covered / total if total else 1.0
        print(
            f"coverage: {covered}/{total} reference faces (CenterFace, full resolution, "
            f"threshold {REFERENCE_THRESHOLD}) >= {COVERED:.0%} inside a mask = {ratio:.3f} "
            "(target >= 0.99)"
        )
    finally:
        if args.keep:
            print(f"outputs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
