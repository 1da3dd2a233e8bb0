"""One connection to a live source: a reader thread, its bounded mailbox and its watchdog.

Why separate: FFmpeg's own read timeouts cannot be trusted to fire (an HLS playlist that
stops updating, an RTMP server that accepts and never sends), so reading happens on a
thread the caller never waits on blindly. The thread demuxes, decodes and samples; the
caller waits on :class:`Mailbox` with a deadline and declares the connection stalled when
no packet has arrived for ``read_timeout_s``. A stalled thread is cancelled and abandoned
(it is a daemon, and FFmpeg's ``rw_timeout`` ends its read eventually); it can no longer
hand anything over, so a late packet from a dead connection never reaches the caller.

This module knows how to read and when a connection is dead; what to do next (reconnect,
give up, record the gap) is :mod:`.live`'s.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import av
import av.error
from av.container import InputContainer
from av.video.frame import VideoFrame

from mediaguard.errors import MediaguardError, UnsupportedMedia
from mediaguard.media.video import pick_video_stream

__all__ = [
    "DEFAULT_PORTS",
    "LOCAL_SCHEMES",
    "SCHEMES",
    "Connection",
    "Egress",
    "Mailbox",
    "Opened",
    "Status",
    "check_stream_url",
]

#: URL schemes mediaguard opens as live streams, and the FFmpeg protocols each may use.
#: The whitelist stops an HLS playlist from naming ``file:`` or ``concat:`` segments.
SCHEMES: Final[Mapping[str, str]] = {
    "http": "http,https,tcp,tls,crypto",
    "https": "http,https,tcp,tls,crypto",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tcp,tls",
    "rtsp": "rtsp,rtp,srtp,tcp,udp,tls",
}
#: The port a stream URL without one connects to, per scheme.
DEFAULT_PORTS: Final[Mapping[str, int]] = {
    "http": 80,
    "https": 443,
    "rtmp": 1935,
    "rtmps": 443,
    "rtsp": 554,
}


class Egress(Protocol):
    """A guard on where a connection may reach, consulted before every connection.

    The service's (:class:`mediaguard.service.egress.StreamEgress`) keeps a watched
    stream, its redirects and its HLS segments off private addresses; the CLI and the
    library watch with none, because there the user is the one who chose the URL.
    """

    def route(self, url: str) -> tuple[str, Mapping[str, str]]:
        """The URL to open instead of ``url``, and FFmpeg options to open it with.

        Raises:
            MediaguardError: the connection must not be made at all.
        """
        ...

    def refusal(self) -> str | None:
        """Why a connection FFmpeg attempted was refused since the last call, if one was."""
        ...


#: Local live sources, which only the CLI and the library open (never the service):
#: ``-`` is standard input, and a path that is a named pipe (``mkfifo``) is read as one.
#: Either is read until its writer closes it, which is the end of the stream.
LOCAL_SCHEMES: Final[Mapping[str, str]] = {"pipe": "pipe", "fifo": "file"}


def check_stream_url(url: str) -> str:
    """The scheme of a stream URL mediaguard may open, refusing anything else.

    ``-`` (standard input) is ``pipe`` and a named pipe's path is ``fifo``
    (:data:`LOCAL_SCHEMES`).

    Raises:
        UnsupportedMedia: not a URL, a scheme that is not a stream protocol (``file:``,
            ``concat:``, ``data:`` and the like), or no host.
    """
    if not isinstance(url, str) or len(url) > 2048 or any(ord(c) < 32 for c in url):
        raise UnsupportedMedia("stream URL: expected a URL of at most 2048 printable characters")
    if url == "-":
        return "pipe"
    if _is_fifo(url):
        return "fifo"
    if " " in url:
        raise UnsupportedMedia("stream URL: expected a URL of at most 2048 printable characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsupportedMedia(
            f"stream URL: scheme {scheme or '(none)'!r} is not a stream protocol; "
            f"expected one of {', '.join(SCHEMES)}"
        )
    if not parts.hostname:
        raise UnsupportedMedia("stream URL: no host")
    return scheme


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class Opened:
    """What a connection found when the source opened."""

    container: str
    codec: str
    width: int
    height: int


T = TypeVar("T")

Status = Literal["running", "ended", "failed"]

# Samples a slow consumer may fall behind by before the oldest is dropped: live video is
# watched at the live edge, so a backlog is dropped, not queued without bound.
DEFAULT_MAILBOX: Final = 8
_ANALYZE_US: Final = 500_000
_PROBE_BYTES: Final = 256 * 1024


class Mailbox(Generic[T]):
    """A bounded hand-over from the reader thread: newest samples kept, oldest dropped."""

    def __init__(self, size: int = DEFAULT_MAILBOX) -> None:
        self._items: deque[T] = deque(maxlen=size)
        self._lock = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self._lock.notify_all()

    def notify(self) -> None:
        """Wake the consumer without an item: the connection's state changed."""
        with self._lock:
            self._lock.notify_all()

    def get(self, timeout: float) -> T | None:
        """The oldest item, or None when none arrived within ``timeout`` seconds."""
        with self._lock:
            if not self._items:
                self._lock.wait(timeout)
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class Connection(threading.Thread, Generic[T]):
    """Reads one connection to a live source on its own thread.

    Each decoded frame goes to ``on_frame`` (which samples it and may return an item for
    the mailbox) under the connection's lock, and only while the connection is not
    cancelled. :attr:`status` says how the thread ended: ``ended`` at a clean end of
    stream, ``failed`` on an error (:attr:`error` says which). :attr:`last_packet` is
    the monotonic time of the last packet read, which the watchdog compares with now.
    """

    def __init__(
        self,
        url: str,
        *,
        mailbox: Mailbox[T],
        on_frame: Callable[[VideoFrame, Fraction], T | None],
        open_timeout_s: float,
        read_timeout_s: float,
        listen: bool = False,
        keyframes_only: bool = False,
        egress: Egress | None = None,
    ) -> None:
        super().__init__(name=f"mediaguard-stream {urlsplit(url).hostname}", daemon=True)
        self.url = url
        self._mailbox = mailbox
        self._on_frame = on_frame
        self._open_timeout = open_timeout_s
        self._read_timeout = read_timeout_s
        self._listen = listen
        self._keyframes_only = keyframes_only
        self._egress = egress
        self._cancelled = threading.Event()
        self.lock = threading.Lock()
        self.opened: Opened | None = None
        self.status: Status = "running"
        self.error: str | None = None
        #: The source answered that the stream does not exist (HTTP 404): it has ended.
        self.gone = False
        #: The connection failed on the source's answer (a protocol error, or an RTMP
        #: server's silence after the play), not on the network: the source is there.
        self.answered = False
        self.last_packet = time.monotonic()
        self.packets = 0
        #: The URL's scheme, once :meth:`_open` has checked it.
        self._scheme: str | None = None
        #: An HTTP download of unknown length (chunked, or read until the server closes):
        #: a live origin's stream, whose clean end FFmpeg reports just as it reports the
        #: origin going down mid-stream.
        self.unbounded = False

    def cancel(self) -> None:
        """Stop handing anything over; the thread ends at its next packet."""
        with self.lock:
            self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _open(self) -> InputContainer:
        scheme = self._scheme = check_stream_url(self.url)
        url, routed = (self.url, {}) if self._egress is None else self._egress.route(self.url)
        if scheme == "pipe":
            url = "pipe:0"
        options = {
            "protocol_whitelist": SCHEMES.get(scheme) or LOCAL_SCHEMES[scheme],
            # Microseconds; FFmpeg's own guard on a network read, behind the watchdog.
            "rw_timeout": str(int(self._read_timeout * 1_000_000)),
        }
        # A live source is read from its edge: probing only until the codec is known,
        # not FFmpeg's default five seconds, is what keeps the first alert fast.
        options["analyzeduration"] = str(_ANALYZE_US)
        options["probesize"] = str(_PROBE_BYTES)
        if scheme == "rtsp":
            # RTP interleaved on the RTSP connection: no UDP ports to open or lose packets
            # on, and all of the stream's traffic goes to the one address that was dialled.
            options["rtsp_transport"] = "tcp"
        if self._listen:
            options["listen"] = "1"
            # Seconds to wait for the publisher, so an unused listener ends its thread.
            options["timeout"] = str(max(1, round(self._open_timeout)))
        options.update(routed)
        timeout = None if self._listen else (self._open_timeout, self._read_timeout)
        return av.open(url, "r", options=options, timeout=timeout, metadata_errors="replace")

    def run(self) -> None:
        container: InputContainer | None = None
        try:
            container = self._open()
            stream = pick_video_stream(container)
            stream.thread_type = "AUTO"
            if self._keyframes_only:
                stream.codec_context.skip_frame = "NONKEY"
            self.unbounded = (
                self._scheme in ("http", "https")
                and container.format.name != "hls"
                and container.size < 0
            )
            with self.lock:
                self.opened = Opened(
                    container=container.format.name,
                    codec=stream.codec_context.name,
                    width=stream.codec_context.width,
                    height=stream.codec_context.height,
                )
            self._mailbox.notify()
            for packet in container.demux(stream):
                self.last_packet = time.monotonic()
                self.packets += 1
                if self.cancelled:
                    return
                for frame in stream.decode(packet):
                    time_base = stream.time_base or Fraction(1, 90_000)
                    with self.lock:
                        if self.cancelled:
                            return
                        item = self._on_frame(frame, time_base)
                    if item is not None:
                        self._mailbox.put(item)
            self.status = "ended"
        except av.error.HTTPNotFoundError as err:
            self.error, self.gone, self.answered = _describe(err), True, True
            self.status = "failed"
        except (av.error.FFmpegError, ValueError, OSError, MediaguardError) as err:
            self.error = _describe(err)
            # An RTMP server answers the handshake and the play before any media, and
            # FFmpeg reports the silence after it (a read past rw_timeout) as EIO: the
            # server is there (nginx-rtmp keeps a player of an unpublished stream waiting
            # so). Elsewhere, RTSP among them, EIO may be a server that never answered.
            rtmp = self._scheme in ("rtmp", "rtmps") and not self._listen
            silent = rtmp and getattr(err, "errno", None) == errno.EIO
            protocol = isinstance(err, av.error.FFmpegError) and not isinstance(err, OSError)
            self.answered = protocol or silent
            self.status = "failed"
        except Exception as err:  # a bug must still end the connection, not hang it
            self.error = f"{type(err).__name__}: {err}"
            self.status = "failed"
        finally:
            if self._egress is not None and self.status == "failed":
                refused = self._egress.refusal()
                if refused is not None:  # what FFmpeg saw as "403 Forbidden", with why
                    self.error = f"refused: {refused}"
            if container is not None:
                container.close()
            self._mailbox.notify()


def _describe(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return f"{type(err).__name__}: {str(text).strip()}"
