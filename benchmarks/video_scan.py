"""Video scanning speed (x realtime) and memory (peak RSS) on real footage.

What runs per video: streaming PyAV decode, sampling at 1 frame per second plus scene
cuts, PDQ and open_nsfw on every sample. When the scanner scans video (its verdict says
``media.kind == "video"``), ``Scanner().scan(path)`` is timed, digests and policy
included; otherwise the same work is done directly over
:func:`mediaguard.media.sampling.sample_frames`.

Memory: the file is also looped (packets remuxed, nothing re-encoded) into a 1-minute and
a 10-minute video in /tmp, each scanned in a fresh process; peak RSS must not grow with
the length, since frames are streamed and never accumulated.

Target: >= 40x realtime on 2 cores for 768 x 576 footage at 1 sample/s.

Usage: python benchmarks/video_scan.py FILE [--repeat N]
       (real footage: Debian's opencv-doc vtest.avi, see docs/performance.md)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def loop_video(source: Path, target: Path, seconds: int) -> None:
    """Write ``seconds`` of ``source`` played in a loop, by remuxing its video packets."""
    with av.open(str(source)) as first:
        duration = Fraction(first.duration or 0, av.time_base)
    if duration <= 0:
        sys.exit(f"{source}: unknown duration, cannot loop it")
    with av.open(str(target), "w") as out:
        written = Fraction(0)
        stream_out = None
        while written < seconds:
            with av.open(str(source)) as inp:
                stream_in = inp.streams.video[0]
                if stream_out is None:
                    stream_out = out.add_stream_from_template(stream_in)
                assert stream_in.time_base is not None
                offset = round(written / stream_in.time_base)
                for packet in inp.demux(stream_in):
                    if packet.dts is None or packet.pts is None:
                        continue
                    if (packet.pts * stream_in.time_base) + written >= seconds:
                        break
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = stream_out
                    out.mux(packet)
            written += duration


def measure(path: Path, repeat: int) -> dict[str, float | str | int]:
    """Scan ``path`` ``repeat`` times in this process; return timings and peak RSS."""
    from mediaguard.media.video import open_video
    from mediaguard.scanner import Scanner

    scanner = Scanner()
    info = open_video(path)
    duration = float(info.duration or 0)
    probe = scanner.scan(path)
    through = "Scanner.scan" if probe.media.kind == "video" else "direct loop"
    best = float("inf")
    samples = 0
    for _ in range(repeat):
        start = time.perf_counter()
        if through == "Scanner.scan":
            verdict = scanner.scan(path)
            samples = verdict.media.sampled_frames
        else:
            samples = _direct(path, scanner)
        best = min(best, time.perf_counter() - start)
    return {
        "through": through,
        "duration_s": duration,
        "seconds": best,
        "realtime": duration / best,
        "samples": samples,
        "peak_rss_mb": peak_rss_mb(),
    }


def _direct(path: Path, scanner: object) -> int:
    """The scan's work without the scanner: sample, PDQ, open_nsfw in batches of 16."""
    from mediaguard.media.sampling import sample_frames
    from mediaguard.signals.detectors.sexual import OpenNSFW
    from mediaguard.signals.hashes import pdq

    detector = OpenNSFW()
    count = 0
    batch = []
    with sample_frames(path, working_size=512) as stream:
        for frame in stream:
            pdq(frame)
            batch.append(frame)
            if len(batch) == 16:
                detector.detect(batch)
                count += len(batch)
                batch = []
    if batch:
        detector.detect(batch)
        count += len(batch)
    return count


def child(path: Path, repeat: int) -> dict[str, float | str | int]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float | str | int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="best of N scans")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.file, args.repeat)))
        return
    result = child(args.file, args.repeat)
    print(
        f"{args.file.name}: {result['duration_s']:.1f} s of video, {result['samples']} samples, "
        f"scanned in {result['seconds']:.2f} s = {result['realtime']:.0f}x realtime "
        f"({result['through']}; target >= 40x), peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    with tempfile.TemporaryDirectory(prefix="video-scan-", dir="/tmp") as folder:
        rss = {}
        for minutes in (1, 10):
            looped = Path(folder) / f"loop{minutes}m{args.file.suffix}"
            loop_video(args.file, looped, 60 * minutes)
            result = child(looped, 1)
            rss[minutes] = float(result["peak_rss_mb"])
            print(
                f"looped to {minutes:>2} min: {result['realtime']:.0f}x realtime, "
                f"{result['samples']} samples, peak RSS {rss[minutes]:.0f} MB"
            )
        growth = rss[10] - rss[1]
        print(f"peak RSS growth from 1 to 10 minutes: {growth:+.0f} MB (target: about 0)")


if __name__ == "__main__":
    main()
