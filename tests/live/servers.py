"""Real servers on 127.0.0.1 for the live-stream tests, started and stopped by the tests.

* :class:`FolderServer`: a threaded ``http.server`` over a folder. HLS playlists and
  segments are served as files; ``/live.ts`` is served as a live progressive download
  that starts at the live edge of the growing file and follows it, as a live MPEG-TS
  origin does. Setting :attr:`FolderServer.stall` makes every response stop sending
  while keeping the connection open: the outage the watchdog must notice.
* :func:`silent_listener`: a TCP socket that accepts and never answers.
* :class:`Broadcaster`: ``broadcast.py`` in its own process, pushing photos in real time.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BROADCAST = Path(__file__).with_name("broadcast.py")
_TS_PACKET = 188
#: The growing files a broadcast writes (``broadcast.py``), served live, and their types.
_LIVE_TYPES = {"live.ts": "video/mp2t", "live.flv": "video/x-flv", "live.mp4": "video/mp4"}


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read their own output."""

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.server.stall.is_set():
            self._hold()
            return
        name = self.path.split("?")[0].lstrip("/")
        if name in _LIVE_TYPES:
            live = Path(self.directory) / name
            if live.with_suffix(".done").exists():
                self.send_error(404, "the broadcast has ended")
                return
            self._follow(live)
            return
        super().do_GET()

    def _hold(self) -> None:
        while self.server.stall.is_set() and not self.server.closing.is_set():
            time.sleep(0.05)
        self.close_connection = True

    def _follow(self, path: Path) -> None:
        """Send a growing file as it grows, as a live origin does.

        MPEG-TS is joined at the live edge and sent without a length, ending when the
        connection closes: FFmpeg reads that end as a dropped connection (so these tests
        see reconnects, and the 404 that follows the broadcast's end). FLV and MP4 need
        their header first, so they are sent from the start, in HTTP/1.1 chunks as
        HTTP-FLV and low-latency MP4 origins send them: the last chunk (length 0) after
        the broadcast is done is the end of the stream, which FFmpeg then reads to its
        last frame.
        """
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        chunked = path.suffix != ".ts"
        if chunked:
            self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", _LIVE_TYPES[path.name])
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        with path.open("rb") as fh:
            if not chunked:
                fh.seek((path.stat().st_size // _TS_PACKET) * _TS_PACKET)
            done = path.with_suffix(".done")
            while not self.server.closing.is_set():
                if self.server.stall.is_set():
                    self._hold()
                    return
                if self.server.drop.is_set():  # as a crashing origin: no last chunk
                    self.server.drop.clear()
                    return
                # Marked done before this read means the read reaches the file's end.
                finished = done.exists()
                chunk = fh.read(64 * 1024)
                if chunk:
                    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
                    if not self._send(framed):
                        return
                elif finished:
                    if chunked:
                        self._send(b"0\r\n\r\n")
                    return
                else:
                    time.sleep(0.05)

    def _send(self, data: bytes) -> bool:
        """Write to the client; False when it has gone."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests = 0

    def __init__(self, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
        self.stall = threading.Event()
        #: Set to close the live download being sent as it stands, once.
        self.drop = threading.Event()
        self.closing = threading.Event()


class FolderServer:
    """An HTTP server over ``folder`` on 127.0.0.1 with a free port, in a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._server = _Server(folder)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    @property
    def stall(self) -> threading.Event:
        return self._server.stall

    @property
    def drop(self) -> threading.Event:
        return self._server.drop

    @property
    def requests(self) -> int:
        return self._server.requests

    def close(self) -> None:
        self._server.closing.set()
        self._server.stall.clear()
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never sends a byte."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broadcaster:
    """``broadcast.py`` in its own process; :meth:`shown` reads when each photo went out."""

    def __init__(self, fmt: str, schedule: str, *, out: Path | None = None, **kw: str) -> None:
        args = [sys.executable, str(BROADCAST), "--format", fmt, "--schedule", schedule]
        if out is not None:
            args += ["--out", str(out)]
        for key, value in kw.items():
            args += [f"--{key}", value]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.shown: list[tuple[str, float]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            _, name, at = line.split()
            self.shown.append((name, float(at)))

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self._reader.join(2)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait(10)


def wait_for(path: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)


@contextlib.contextmanager
def hls_broadcast(folder: Path, schedule: str) -> Iterator[tuple[FolderServer, Broadcaster]]:
    """An HLS broadcast of ``schedule`` written into ``folder`` and served from it over
    HTTP, once its playlist exists; both are stopped on exit."""
    folder.mkdir()
    server = FolderServer(folder)
    caster = Broadcaster("hls", schedule, out=folder)
    try:
        wait_for(folder / "index.m3u8")
        yield server, caster
    finally:
        caster.close()
        server.close()
