"""The address guard on every connection a watched stream makes, not only on its URL.

Design note: :func:`~mediaguard.service.streams.check_stream_target` checks the host of
a stream's URL, but FFmpeg then resolves that name again itself (a name with a short TTL
can be rebound to an internal address in between), follows HTTP redirects, and reads an
HLS playlist that may name its segments on any host at all. So a stream the service
watches gets a :class:`StreamEgress`, which FFmpeg consults before each connection:

* **http and https**: every request goes through a forward proxy that the egress runs
  on 127.0.0.1 for that one stream (FFmpeg's ``http_proxy``; HLS hands it on to every
  playlist and segment request, and a redirect is a new request). The proxy resolves the
  host, checks every address as for webhook targets, and connects to the checked address
  itself, so nothing can be rebound between check and connect. A plain request is sent
  on with ``Connection: close`` (one request per connection, so a kept-alive connection
  cannot carry a second request to another host); https is a ``CONNECT`` tunnel, and
  FFmpeg's TLS runs end to end through it. A refused host gets ``403`` and the reason is
  kept, so the stream's failure says which address was refused rather than "Forbidden".
* **rtsp and rtmp**, which FFmpeg cannot proxy: the host is resolved and checked here,
  and FFmpeg is given the checked address in place of the name. RTSP is read
  interleaved on that one TCP connection (see :mod:`mediaguard.media.feed`).

What stays outside the guard, and is documented in docs/api.md: an RTSP server's
``3xx`` redirect, which FFmpeg follows by itself; an ``rtmps`` host, which keeps its
name for TLS and is checked only before FFmpeg resolves it; and a playlist that names a
segment as ``httpproxy://HOST/...``, which FFmpeg opens directly when https is allowed
through the proxy (a bare ``CONNECT`` line to that host; nothing it answers is read).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from mediaguard.media.feed import DEFAULT_PORTS, SCHEMES
from mediaguard.service.webhooks import TargetRefused, resolve_allowed

__all__ = ["EgressProxy", "Resolve", "StreamEgress", "guard"]

log = logging.getLogger("mediaguard.service.egress")

#: A request head longer than this is refused (FFmpeg's are a few hundred bytes).
_MAX_HEAD: Final = 16 * 1024
#: Hop-by-hop headers a proxy must not pass on (RFC 9110, 7.6.1), plus the proxy's own.
_HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
    }
)
_CHUNK: Final = 64 * 1024


#: A host and port to the addresses that may be dialled; raises TargetRefused otherwise.
Resolve = Callable[[str, int], list[str]]


def guard(*, allow_private: bool) -> Resolve:
    """The webhook targets' rule for stream hosts: every address public, unless
    ``allow_private`` (the service's ``stream_allow_private``); unspecified and
    multicast addresses never."""
    return partial(resolve_allowed, allow_private=allow_private, what="stream host")


class _Refused(Exception):
    """A request the proxy answers itself, with ``status`` and ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EgressProxy:
    """A forward HTTP proxy on 127.0.0.1 that connects only where the guard allows.

    One listening socket and one thread per connection; it runs until :meth:`close`.

    Args:
        resolve: a host and port to the addresses that may be dialled, raising
            :class:`TargetRefused` for a host that must not be (:func:`guard`).
        connect_timeout_s: longest wait for the upstream TCP connection.
        idle_timeout_s: a connection with no byte in either direction for this long is
            closed (FFmpeg's own read timeout is normally far shorter).
    """

    def __init__(
        self,
        resolve: Resolve,
        *,
        connect_timeout_s: float = 10.0,
        idle_timeout_s: float = 120.0,
    ) -> None:
        """Listen on an ephemeral port of 127.0.0.1 and start accepting."""
        self._resolve = resolve
        self._connect_timeout = connect_timeout_s
        self._idle_timeout = idle_timeout_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._refusal: str | None = None
        host, port = self._listener.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        self._acceptor = threading.Thread(
            target=self._accept, name="mediaguard-egress", daemon=True
        )
        self._acceptor.start()

    def take_refusal(self) -> str | None:
        """Why the guard last refused a connection, once; None when it refused none."""
        with self._lock:
            reason, self._refusal = self._refusal, None
        return reason

    def close(self) -> None:
        """Stop accepting and cut every connection still open."""
        self._closed.set()
        with self._lock:
            sockets = [self._listener, *self._open]
            self._open.clear()
        for sock in sockets:
            # shutdown, not only close: it is what wakes a thread blocked in accept()
            # or recv() on the socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            _close(sock)
        self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._track(client):
                _close(client)
                return
            threading.Thread(
                target=self._serve, args=(client,), name="mediaguard-egress-conn", daemon=True
            ).start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._open.add(sock)
            return True

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)
        for sock in socks:
            _close(sock)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(self._idle_timeout)
            head, rest = _read_head(client)
            method, target, version, headers = _parse_head(head)
            if method == b"CONNECT":
                host, port = _authority(target)
                upstream = self._dial(host, port)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:
                parts = urlsplit(target.decode("ascii"))
                if parts.scheme != "http" or not parts.hostname:
                    raise _Refused(400, "expected an absolute http:// URL")
                upstream = self._dial(parts.hostname, parts.port or 80)
                path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
                upstream.sendall(_forward_head(method, path.encode("ascii"), version, headers))
                if rest:
                    upstream.sendall(rest)
            _relay(client, upstream, self._idle_timeout)
        except _Refused as refused:
            _answer(client, refused.status, refused.reason)
        except (OSError, UnicodeError, ValueError) as err:
            log.debug("stream egress: connection ended: %s", err)
        finally:
            self._untrack(client, *(() if upstream is None else (upstream,)))

    def _dial(self, host: str, port: int) -> socket.socket:
        """Connect to ``host``'s first allowed address, checked now, or refuse."""
        try:
            addresses = self._resolve(host, port)
        except TargetRefused as err:
            with self._lock:
                self._refusal = str(err)
            log.warning("stream egress refused: %s", err)
            raise _Refused(403, str(err)) from err
        try:
            upstream = socket.create_connection((addresses[0], port), timeout=self._connect_timeout)
        except OSError as err:
            raise _Refused(502, f"cannot connect to {host}:{port}: {err}") from err
        if not self._track(upstream):
            _close(upstream)
            raise _Refused(503, "the stream's egress is closing")
        upstream.settimeout(self._idle_timeout)
        return upstream


class StreamEgress:
    """The guard for one watched stream: a proxy of its own for http(s), pinned
    addresses for rtsp and rtmp. Implements :class:`mediaguard.media.feed.Egress`.

    Its own proxy, rather than one per process, ties each refusal to the stream that
    made it and ends with the stream: :meth:`close` when the watch is over.
    """

    def __init__(self, resolve: Resolve) -> None:
        """Start the stream's proxy; ``resolve`` is :class:`EgressProxy`'s."""
        self._resolve = resolve
        self._proxy = EgressProxy(resolve)

    def route(self, url: str) -> tuple[str, Mapping[str, str]]:
        """The URL FFmpeg opens for ``url`` and the options that keep it guarded.

        Raises:
            TargetRefused: an rtsp or rtmp host that resolves to a refused address.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            # https tunnels with CONNECT, which FFmpeg's TLS opens as "httpproxy".
            allowed = SCHEMES[scheme] + (",httpproxy" if scheme == "https" else "")
            return url, {"http_proxy": self._proxy.url, "protocol_whitelist": allowed}
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS[scheme]
        addresses = self._resolve(host, port)
        if scheme == "rtmps":  # TLS needs the name; checked, not pinned
            return url, {}
        address = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
        netloc = f"{address}:{parts.port}" if parts.port else address
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {}

    def refusal(self) -> str | None:
        """Why the proxy refused a connection since the last call, if it did."""
        return self._proxy.take_refusal()

    def close(self) -> None:
        """Stop the stream's proxy."""
        self._proxy.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request head up to its blank line, and whatever was read beyond it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            raise _Refused(431, "request head too large")
        chunk = sock.recv(_CHUNK)
        if not chunk:
            raise ValueError("the client closed before a full request head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]]:
    line, *fields = head.split(b"\r\n")
    words = line.split(b" ")
    if len(words) != 3 or not words[2].startswith(b"HTTP/1."):
        raise _Refused(400, "malformed request line")
    headers: list[tuple[bytes, bytes]] = []
    for field in fields:
        name, sep, value = field.partition(b":")
        if not sep or not name or name != name.strip():
            raise _Refused(400, "malformed header")
        headers.append((name, value.strip()))
    return words[0], words[1], words[2], headers


def _authority(target: bytes) -> tuple[str, int]:
    """``host`` and ``port`` of a CONNECT target (``host:port`` or ``[v6]:port``)."""
    parts = urlsplit(f"//{target.decode('ascii')}")
    if not parts.hostname or parts.port is None:
        raise _Refused(400, "CONNECT needs host:port")
    return parts.hostname, parts.port


def _forward_head(
    method: bytes, path: bytes, version: bytes, headers: list[tuple[bytes, bytes]]
) -> bytes:
    named = {  # headers a Connection header names are hop-by-hop too
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in _HOP_BY_HOP and name.lower() not in named
    ]
    lines = [b"%s %s %s" % (method, path, version)]
    lines += [b"%s: %s" % field for field in kept]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _relay(client: socket.socket, upstream: socket.socket, idle_s: float) -> None:
    """Copy bytes both ways until both sides have finished sending, or all is idle."""
    peer = {client: upstream, upstream: client}
    open_ends = {client, upstream}
    with selectors.DefaultSelector() as selector:
        for end in open_ends:
            selector.register(end, selectors.EVENT_READ, end)
        while open_ends:
            ready = selector.select(idle_s)
            if not ready:
                return  # idle: cut both
            for key, _ in ready:
                sock: socket.socket = key.data
                data = sock.recv(_CHUNK)
                if data:
                    peer[sock].sendall(data)
                    continue
                selector.unregister(sock)
                open_ends.discard(sock)
                if sock is upstream:
                    return  # the response is complete (Connection: close) or the tunnel ended
                peer[sock].shutdown(socket.SHUT_WR)


def _answer(client: socket.socket, status: int, reason: str) -> None:
    titles = {400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large"}
    title = titles.get(status, "Bad Gateway" if status == 502 else "Service Unavailable")
    body = reason.encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {title}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    with contextlib.suppress(OSError):  # the client may have gone already
        client.sendall(head + body)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
