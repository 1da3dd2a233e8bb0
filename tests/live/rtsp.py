"""A real RTSP server on 127.0.0.1 for the live tests, fed by the real-time broadcaster.

Debian packages no standalone RTSP server, so the server is GStreamer's gst-rtsp-server
(``rtsp_server.py``), run by Debian's own Python, which has PyGObject; the broadcaster
(``broadcast.py --format rtp``) sends it H.264 in RTP over UDP on 127.0.0.1, as a camera's
encoder feeds the camera's RTSP server. ``tools/with-services.sh`` installs the packages.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from .servers import Broadcaster

SERVER = Path(__file__).with_name("rtsp_server.py")
#: Debian's Python: the one that has ``gi`` (python3-gi). The venv has no PyGObject.
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL = (
    "apt-get install --no-install-recommends python3-gi gir1.2-gst-rtsp-server-1.0 "
    "gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
)


@cache
def rtsp_server_missing() -> str | None:
    """Why the RTSP server cannot run on this machine, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} does not exist"
    check = subprocess.run(
        [SYSTEM_PYTHON, "-I", str(SERVER), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check.returncode == 0:
        return None
    return (check.stderr.strip() or f"exit status {check.returncode}") + f"; install: {INSTALL}"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtspServer:
    """``rtsp_server.py`` in its own process, serving ``rtsp://127.0.0.1:PORT/live``.

    ``port=0`` lets the server pick a free port; pass a port to restart one where it was.
    """

    def __init__(self, source_port: int, port: int = 0, *, timeout: float = 20) -> None:
        self.source_port = source_port
        args = [SYSTEM_PYTHON, "-I", str(SERVER), "--source-port", str(source_port)]
        self.process = subprocess.Popen(
            [*args, "--port", str(port)], stdout=subprocess.PIPE, text=True
        )
        self.port = self._ready(timeout)

    def _ready(self, timeout: float) -> int:
        """The port from the server's ``ready PORT`` line, read with a deadline."""
        assert self.process.stdout is not None
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("ready "):
            self.kill()
            raise RuntimeError(f"the RTSP server did not start: {line or 'no ready line'}")
        return int(line[0].split()[1])

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): its connections stay open and carry nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server at once: every connection it had is closed by the kernel."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def rtsp_broadcast(schedule: str, **kw: str) -> Iterator[tuple[RtspServer, Broadcaster]]:
    """An RTSP server and a broadcaster of ``schedule`` feeding it; both stopped on exit.

    The server is up before the broadcast starts; the broadcast starts at once, so a
    watcher joins it at its live edge a moment after its first frame.
    """
    source = free_udp_port()
    server = RtspServer(source)
    try:
        caster = Broadcaster("rtp", schedule, url=f"rtp://127.0.0.1:{source}", **kw)
        try:
            yield server, caster
        finally:
            caster.close()
    finally:
        server.kill()
