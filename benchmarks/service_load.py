"""Load test of `mediaguard serve`: concurrent image scans over HTTP on loopback.

Starts the real service (`mediaguard serve`, uvicorn, SQLite in a temporary data
directory, production settings, one API key), then runs N concurrent clients (httpx,
asyncio) that POST the photos to `/v1/scan` as raw bodies, round-robin, for a fixed time.
Prints requests/s, p50/p99 latency and the error count (target: 0), then scans the
same photos in-process with the CLI's engine (`mediaguard.engines.local.scan_paths`,
one worker process per core, the same pipeline: digests, PDQ, open_nsfw, hash-list
matching and recording) and prints the service's throughput as a ratio of the
engine's: the cost of HTTP, uploads and the shared-session thread pool.

The load generator runs on the same machine, so on a small VM it takes CPU from the
service; the ratio is a floor.

Usage: python benchmarks/service_load.py [DIR] [--seconds 20] [--clients 8] [--scan-threads N]
       (DIR defaults to build/photos, from benchmarks/fetch_photos.sh, else the photos
       shipped in scikit-image and matplotlib)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mediaguard.config import ScanConfig
from mediaguard.engines.local import default_workers, iter_files, scan_paths
from mediaguard.policy.model import Policy
from mediaguard.store import Store
from mediaguard.verdict import ScanFailure

COMMAND = [sys.executable, "-m", "mediaguard.commands.service"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def photo_files(folder: Path | None, scratch: Path) -> list[Path]:
    if folder is None and Path("build/photos").is_dir():
        folder = Path("build/photos")
    if folder is not None:
        files = sorted(iter_files([folder]))
        if not files:
            raise SystemExit(f"no files in {folder}")
        return files
    from mediaguard.samples import build

    return sorted(build(scratch / "samples"))


def start_service(
    data: Path, port: int, scan_threads: int
) -> tuple[subprocess.Popen[bytes], str, Path]:
    settings = data / "settings.toml"
    settings.write_text(
        f'data_dir = "{data}"\n'
        f'webhook_signing_secret = "{secrets.token_urlsafe(32)}"\n'
        f"port = {port}\n"
        f"scan_threads = {scan_threads}\n"
        "rate_limit_per_minute = 0\n"
        'log_level = "warning"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGUARD_")}
    subprocess.run([*COMMAND, "db", "upgrade", "--settings", str(settings)], env=env, check=True)
    token = subprocess.run(
        [*COMMAND, "keys", "create", "--scopes", "scan", "--settings", str(settings)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    log = data / "serve.log"
    process = subprocess.Popen(
        [*COMMAND, "serve", "--settings", str(settings)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, token, log
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not become ready")


async def load(
    base: str, token: str, images: list[bytes], clients: int, seconds: float
) -> tuple[list[float], int, dict[str, int]]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def client(index: int) -> None:
            n = index
            while time.perf_counter() < stop_at:
                data = images[n % len(images)]
                n += clients
                start = time.perf_counter()
                try:
                    response = await http.post("/v1/scan", content=data, headers=headers)
                    if response.status_code == 200:
                        latencies.append(time.perf_counter() - start)
                        continue
                    key = f"HTTP {response.status_code}"
                except httpx.HTTPError as err:
                    key = type(err).__name__
                errors[key] = errors.get(key, 0) + 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, sum(errors.values()), errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def engine_rate(files: list[Path], count: int) -> tuple[float, int]:
    """Images/s of the CLI engine over ``count`` images (the photos, cycled)."""
    os.environ["MEDIAGUARD_DATA_DIR"] = tempfile.mkdtemp(prefix="mediaguard-bench-engine-")
    # Migrate first: the pool's workers would otherwise race to create the tables.
    with Store.open(None) as store:
        store.upgrade()
    cycled = [files[i % len(files)] for i in range(count)]
    config, policy = ScanConfig(hashlists=True, record=True), Policy.default_policy()
    start = time.perf_counter()
    failures = sum(
        isinstance(r, ScanFailure)
        for r in scan_paths(cycled, config=config, policy=policy, workers=default_workers())
    )
    return count / (time.perf_counter() - start), failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--scan-threads", type=int, default=0, help="the service's scan_threads (0: per core)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mediaguard-bench-") as tmp:
        scratch = Path(tmp)
        files = photo_files(args.folder, scratch)
        images = [p.read_bytes() for p in files]
        mean_mb = statistics.mean(len(b) for b in images) / 1e6
        print(
            f"{len(images)} photos (mean {mean_mb:.2f} MB), {args.clients} clients, "
            f"{args.seconds:.0f} s, {default_workers()} cores, scan_threads={args.scan_threads}"
        )
        data = scratch / "data"
        data.mkdir()
        port = free_port()
        process, token, log = start_service(data, port, args.scan_threads)
        try:
            base = f"http://127.0.0.1:{port}"
            # Warm-up: first requests pay for lazy imports and thread start-up.
            asyncio.run(load(base, token, images[:2], 2, 2.0))
            latencies, error_count, errors = asyncio.run(
                load(base, token, images, args.clients, args.seconds)
            )
        finally:
            process.terminate()
            process.wait(60)
        ok = len(latencies)
        rate = ok / args.seconds
        print(f"service: {ok} scans in {args.seconds:.0f} s = {rate:.2f} requests/s")
        if latencies:
            print(
                f"latency: p50 {percentile(latencies, 0.50) * 1000:.0f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
            )
        print(f"errors: {error_count} (target 0) {errors or ''}")
        if error_count:
            print(log.read_text()[-4000:])

        engine, failures = engine_rate(files, max(len(files), ok))
        print(
            f"CLI engine (scan_paths, {default_workers()} worker processes): "
            f"{engine:.2f} images/s ({failures} failures)"
        )
        print(f"ratio service / CLI engine: {rate / engine:.2f}x")


if __name__ == "__main__":
    main()
