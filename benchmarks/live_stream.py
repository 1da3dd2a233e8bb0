"""Live streams: alert latency through the service, streams per core, memory over time.

* ``latency``: a real-time HLS broadcast on 127.0.0.1 (``tests/live/broadcast.py``)
  alternates a photo on a hash list with others; the service (runtime, one stream worker,
  one webhook dispatcher, SQLite) watches it and a receiver on 127.0.0.1 records when
  each signed ``stream.alert`` arrives. Latency = arrival - the moment the broadcaster
  pushed the listed photo's first frame. Target: p50 <= 2 s, p99 <= 4 s at 1 sample/s.
* ``density``: N watchers of one 1280 x 720, 25 fps MPEG-TS broadcast, each decoding it
  on its own with the default pipeline (open_nsfw and PDQ at 1 sample/s), in one process;
  the process's CPU seconds per wall second and stream give streams per core, with full
  decoding and with ``keyframes_only`` (skip_frame=NONKEY).
* ``memory``: one watcher of a looped broadcast; RSS sampled over the run.

Usage: python benchmarks/live_stream.py latency [--alerts N]
       python benchmarks/live_stream.py density [--streams N] [--seconds S] [--keyframes]
       python benchmarks/live_stream.py memory [--seconds S]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "live"))

from broadcast import picture  # noqa: E402
from servers import FolderServer, wait_for  # noqa: E402

BROADCAST = ROOT / "tests" / "live" / "broadcast.py"


def _caster(fmt: str, schedule: str, out: Path, **kw: str) -> subprocess.Popen[str]:
    args = [sys.executable, str(BROADCAST), "--format", fmt, "--schedule", schedule]
    args += ["--out", str(out)]
    for key, value in kw.items():
        args += [f"--{key}", value]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def latency(alerts: int) -> dict[str, Any]:
    from mediaguard.lists.hashlists import import_file
    from mediaguard.service.jobs import BackgroundWorkers
    from mediaguard.service.runtime import ServiceRuntime
    from mediaguard.service.settings import ServiceSettings
    from mediaguard.service.streams import submit_stream
    from mediaguard.service.webhooks import verify_signature
    from mediaguard.store import Store

    work = Path(tempfile.mkdtemp(prefix="mg-live-"))
    url = f"sqlite:///{work / 'db.sqlite'}"
    with Store.open(url) as store:
        store.upgrade()
    secret = "benchmark-signing-secret-0123456789"
    settings = ServiceSettings.load(
        None,
        environment="production",
        database_url=url,
        data_dir=work / "data",
        webhook_signing_secret=secret,
        webhook_allow_private=True,
        stream_allow_private=True,
        stream_workers=0,
        worker_poll_interval=0.05,
        webhook_backoff_base_seconds=0.1,
        rate_limit_per_minute=0,
        hashlist_refresh_seconds=0.5,
    )
    runtime = ServiceRuntime.open(settings)
    arrivals: list[tuple[float, bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrivals.append((time.time(), body, self.headers["Mediaguard-Signature"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    # The listed photo as broadcast (640 x 480), hashed as an image.
    pixels = np.ascontiguousarray(picture("astronaut", 640, 480)[4:484, 4:644])
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    listed = runtime.scanner.scan(buffer.getvalue()).hashes.pdq[0].hash
    runtime.store.lists.create_list("bench", "bench", "block")
    import_file(runtime.store, "bench", io.StringIO(f"pdq {listed}\n"))
    assert runtime.matcher is not None
    runtime.matcher.mark_stale()
    folder = work / "hls"
    folder.mkdir()
    server = FolderServer(folder)
    # The match stays in force for the 5-sample window: 5 s of others before each return.
    caster = _caster(
        "hls", "chelsea:6,astronaut:1", folder, size="640x480", fps="25", loop=str(alerts)
    )
    shown: list[float] = []

    def read_shown() -> None:
        assert caster.stdout is not None
        for line in caster.stdout:
            _, name, at = line.split()
            if name == "astronaut":
                shown.append(float(at))

    threading.Thread(target=read_shown, daemon=True).start()
    wait_for(folder / "index.m3u8")
    from mediaguard.service.auth import create_key

    key, _ = create_key(runtime.store.keys, ["scan"], name="bench")
    info = submit_stream(
        runtime,
        api_key_id=key.id,
        url=server.url("index.m3u8"),
        callback_url=f"http://127.0.0.1:{receiver.server_address[1]}/hook",
        rate="1",
    )
    pool = BackgroundWorkers(runtime, workers=0, dispatchers=1, streams=1)
    pool.start()
    caster.wait()
    time.sleep(8)
    pool.stop()
    server.close()
    receiver.shutdown()
    runtime.close()
    alert_times = []
    for at, body, header in arrivals:
        event = json.loads(body)
        if event["type"] == "stream.alert" and event["data"]["stream_id"] == info.id:
            assert verify_signature(secret, header, body, now=at)  # as on arrival
            alert_times.append(at)
    latencies = []
    for at in alert_times:
        before = [s for s in shown if s <= at]
        if before:
            latencies.append(at - before[-1])
    latencies.sort()
    return {
        "benchmark": "alert latency (HLS, 1 s segments, 1 sample/s, service + webhook)",
        "shown": len(shown),
        "alerts": len(alert_times),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3)
        if latencies
        else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "latencies_s": [round(x, 3) for x in latencies],
    }


def _watchers(url: str, count: int, seconds: float, keyframes: bool) -> dict[str, Any]:
    from mediaguard.config import ScanConfig
    from mediaguard.live import Watch
    from mediaguard.media.live import LiveOptions
    from mediaguard.media.sampling import Sampling
    from mediaguard.scanner import Scanner

    scanner = Scanner(ScanConfig(hashlists=False))
    options = LiveOptions(sampling=Sampling(rate=Fraction(1), keyframes_only=keyframes))
    watches = [
        Watch(url, scanner=scanner, options=options, max_duration_s=seconds) for _ in range(count)
    ]
    counts = [0] * count
    rss: list[tuple[float, float]] = []

    def run(i: int) -> None:
        for event in watches[i]:
            counts[i] = event.samples

    start_cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        rss.append((round(time.monotonic() - started, 1), round(_rss_mb(), 1)))
        time.sleep(5)
    wall = time.monotonic() - started
    end_cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (end_cpu.ru_utime - start_cpu.ru_utime) + (end_cpu.ru_stime - start_cpu.ru_stime)
    per_stream = cpu / wall / count
    return {
        "streams": count,
        "keyframes_only": keyframes,
        "wall_s": round(wall, 1),
        "samples": counts,
        "dropped": [w.stream.dropped for w in watches],
        "cpu_s": round(cpu, 1),
        "cores_per_stream": round(per_stream, 3),
        "streams_per_core": round(1 / per_stream, 1) if per_stream else None,
        "rss_mb": rss,
    }


def density(streams: int, seconds: float, keyframes: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mg-live-"))
    server = FolderServer(work)
    loops = str(int(seconds // 12) + 3)
    caster = _caster(
        "mpegts", "coffee:4,rocket:4,camera:4", work, size="1280x720", fps="25", loop=loops
    )
    try:
        wait_for(work / "live.ts")
        result = _watchers(server.url("live.ts"), streams, seconds, keyframes)
    finally:
        caster.kill()
        server.close()
    result["benchmark"] = "streams per core (1280x720 25 fps H.264 MPEG-TS, open_nsfw + PDQ)"
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--alerts", type=int, default=10)
    den = sub.add_parser("density")
    den.add_argument("--streams", type=int, default=2)
    den.add_argument("--seconds", type=float, default=30)
    den.add_argument("--keyframes", action="store_true")
    mem = sub.add_parser("memory")
    mem.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()
    if args.what == "latency":
        result = latency(args.alerts)
    elif args.what == "density":
        result = density(args.streams, args.seconds, args.keyframes)
    else:
        result = density(1, args.seconds, False)
        result["benchmark"] = "memory of one watcher over time (RSS MB every 5 s)"
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
