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

Read once (``--large-gb``, default 1): the footage's frames are written uncompressed
(rawvideo in AVI) until the file holds that many gigabytes, so that reading the bytes, not
decoding them, is the work. The media stage (open, demux, decode, sample at working size)
plus the file's MD5 and SHA-256 is then timed, alternating, in fresh processes, each run
starting with the file's pages evicted from the page cache (``posix_fadvise``, this file
only), as for a file not read recently:
  * anchor, read twice: the previous pipeline, which hashed the file in a second pass
    after decoding; the second pass then reads from the page cache;
  * anchor, read twice from disk: the same with the pages evicted again between the
    passes, as happens to a file larger than the page cache;
  * mediaguard, read once: the bytes are hashed as PyAV reads them
    (:mod:`mediaguard.media.digesting`).
All give the same digests (checked). A full ``Scanner().scan`` of the large file is timed
once as well.

Usage: python benchmarks/video_scan.py FILE [--repeat N] [--large-gb G]
       (real footage: Debian's opencv-doc vtest.avi, see docs/performance.md)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
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


def write_large(source: Path, target: Path, gigabytes: float) -> int:
    """Write ``source``'s frames, uncompressed and looped, until ``target`` holds ``gigabytes``."""
    goal = int(gigabytes * 1e9)
    with av.open(str(source)) as inp:
        stream = inp.streams.video[0]
        frames = [f.reformat(format="yuv420p") for f in inp.decode(stream)][:250]
        rate = stream.average_rate or 25
    per_frame = frames[0].width * frames[0].height * 3 // 2
    count = goal // per_frame + 1
    with av.open(str(target), "w", format="avi") as out:
        video = out.add_stream("rawvideo", rate=rate)
        video.width, video.height, video.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        for i in range(count):
            frame = frames[i % len(frames)]
            frame.pts = None
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return target.stat().st_size


def evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache, so that the next read is from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def media_stage(path: Path, way: str) -> dict[str, float | str]:
    """Open, decode and sample ``path`` at working size and take its digests, one of the
    three ways of :data:`WAYS`, starting from a cold page cache."""
    from mediaguard.media.sampling import sample_frames
    from mediaguard.signals.hashes import digests_of

    evict(path)
    start, cpu = time.perf_counter(), time.process_time()
    once = way == "once"
    with sample_frames(path, working_size=512, digest=once) as stream:
        samples = sum(1 for _ in stream)
    if once:
        assert stream.digests is not None
        md5, sha256 = stream.digests
    else:
        if way == "twice-disk":
            evict(path)
        with path.open("rb") as fh:
            digests = digests_of(iter(lambda: fh.read(1 << 20), b""))
        md5, sha256 = digests.md5, digests.sha256
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "samples": samples,
        "md5": md5,
        "sha256": sha256,
    }


WAYS = {
    "twice": "anchor, read twice (second pass from the page cache)",
    "twice-disk": "anchor, read twice from disk (evicted between the passes)",
    "once": "mediaguard, read once (digests from the bytes PyAV reads)",
}


def read_once(source: Path, gigabytes: float, rounds: int) -> None:
    """The time a single read saves on a large file (see the module note)."""
    with tempfile.TemporaryDirectory(prefix="video-large-", dir="/tmp") as folder:
        large = Path(folder) / "large.avi"
        size = write_large(source, large, gigabytes)
        with large.open("rb") as fh:
            md5 = hashlib.file_digest(fh, "md5").hexdigest()
        print(f"large file: {size / 1e9:.2f} GB of rawvideo AVI, load {load()}")
        runs: dict[str, list[dict[str, float | str]]] = {way: [] for way in WAYS}
        for _ in range(rounds):
            for way in WAYS:
                result = child_json([str(large), "--stage", way])
                assert result["md5"] == md5, "every way gives the file's own digest"
                runs[way].append(result)
        walls = {way: [float(r["seconds"]) for r in results] for way, results in runs.items()}
        for way, label in WAYS.items():
            cpu = statistics.median(float(r["cpu"]) for r in runs[way])
            print(
                f"  {label}: median {statistics.median(walls[way]):.2f} s "
                f"[{', '.join(f'{v:.2f}' for v in walls[way])}], median CPU {cpu:.2f} s"
            )
        for anchor in ("twice", "twice-disk"):
            saved = [t - o for t, o in zip(walls[anchor], walls["once"], strict=True)]
            print(
                f"  saved against {anchor}: min {min(saved):.2f} s, median "
                f"{statistics.median(saved):.2f} s, max {max(saved):.2f} s per scan"
            )
        print(f"  load {load()}")
        result = child(large, 1)
        print(
            f"  Scanner().scan of the large file: {result['seconds']:.2f} s, "
            f"{result['samples']} samples, {result['realtime']:.0f}x realtime"
        )


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


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


def child_json(arguments: list[str]) -> dict[str, float | str | int]:
    """Run this script with ``arguments`` in a fresh process; its last line of JSON."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True
    )
    result: dict[str, float | str | int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child(path: Path, repeat: int) -> dict[str, float | str | int]:
    return child_json(["--measure", str(path), "--repeat", str(repeat)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="best of N scans")
    parser.add_argument(
        "--large-gb", type=float, default=1.0, help="size of the read-once file (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating read-once rounds")
    parser.add_argument("--only-large", action="store_true", help="only the read-once figure")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stage", choices=tuple(WAYS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.file, args.repeat)))
        return
    if args.stage:
        print(json.dumps(media_stage(args.file, args.stage)))
        return
    if args.only_large:
        read_once(args.file, args.large_gb, args.rounds)
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
    if args.large_gb > 0:
        read_once(args.file, args.large_gb, args.rounds)


if __name__ == "__main__":
    main()
