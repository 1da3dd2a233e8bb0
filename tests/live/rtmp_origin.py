"""A real RTMP server on 127.0.0.1 for the live tests: Debian's nginx with nginx-rtmp.

The broadcaster publishes to it (``broadcast.py --format rtmp``) and mediaguard plays the
stream from it, as a platform's ingest server is watched. ``play_restart on`` makes the
server tell its players when the publisher leaves; with nginx-rtmp's default a player is
told nothing, which no player can tell from a stalled server.
``tools/with-services.sh`` installs the packages.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from .servers import Broadcaster, free_port

MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
INSTALL = "apt-get install --no-install-recommends nginx libnginx-mod-rtmp"

_CONFIG = """\
load_module {module};
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{ worker_connections 64; }}
rtmp {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        application live {{ live on; record off; play_restart on; }}
    }}
}}
"""


@cache
def nginx_rtmp_missing() -> str | None:
    """Why nginx-rtmp cannot run on this machine, or None when it can."""
    if shutil.which("nginx") is None:
        return f"nginx is not installed; install: {INSTALL}"
    if not MODULE.exists():
        return f"{MODULE} does not exist; install: {INSTALL}"
    return None


def _accepting(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def nginx_rtmp(folder: Path, *, timeout: float = 15) -> Iterator[str]:
    """nginx-rtmp serving ``rtmp://127.0.0.1:PORT/live/<stream>``; yields that prefix."""
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(_CONFIG.format(module=MODULE, folder=folder, port=port))
    process = subprocess.Popen(
        ["nginx", "-c", str(config), "-p", str(folder), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _accepting(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"nginx-rtmp did not start: {log}")
            time.sleep(0.05)
        yield f"rtmp://127.0.0.1:{port}/live"
    finally:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def rtmp_broadcast(folder: Path, schedule: str) -> Iterator[tuple[str, Broadcaster]]:
    """nginx-rtmp and a broadcaster publishing ``schedule`` to it; yields the stream URL.

    The URL is handed over once the first photo is going out, so a player joins the
    broadcast at its live edge (nginx-rtmp starts a player at the next keyframe).
    """
    with nginx_rtmp(folder) as prefix:
        url = f"{prefix}/test"
        caster = Broadcaster("rtmp", schedule, url=url)
        try:
            deadline = time.monotonic() + 15
            while not caster.shown:
                if caster.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the broadcast to nginx-rtmp did not start")
                time.sleep(0.02)
            yield url, caster
        finally:
            caster.close()
