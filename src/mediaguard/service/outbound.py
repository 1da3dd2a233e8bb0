"""Bounded, guarded outbound GETs: HMA's ``/h/hash?url=`` and the exchange feeds.

Design note: every fetch mediaguard makes on behalf of a caller or a feed follows the
rules of webhooks (:mod:`mediaguard.service.webhooks`): http or https only, no
credentials in the URL, no proxies from the environment, and every address a host
resolves to must be public, checked at connect time on the address actually used so DNS
cannot be rebound in between. A feed an operator configured on an internal host is
allowed by naming exactly its origin as trusted; where that origin redirects is checked
like any other URL, so a feed cannot bounce a fetch onto the internal network. A
redirect is followed at most a few times, each hop checked again.

A response is read in chunks against a byte cap and a deadline for the whole exchange,
so a 10 GB body or a server that trickles one byte per second ends in a typed error
rather than memory exhaustion or a stuck worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpcore

from mediaguard.errors import MediaguardError
from mediaguard.service.webhooks import TargetRefused, check_target, resolve_allowed

_MAX_REDIRECTS: Final = 3


class FetchError(MediaguardError):
    """An outbound fetch failed; the subclass says how."""


class FetchRefused(FetchError):
    """The URL, or a redirect, points somewhere mediaguard must not connect to."""


class FetchTooLarge(FetchError):
    """The response is larger than the cap."""


class FetchTimeout(FetchError):
    """The server did not answer, or not completely, in time."""


class FetchFailed(FetchError):
    """The server could not be reached or answered with an error status."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A complete response body with its status, final URL and headers (lowercased)."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


def origin_of(url: str) -> tuple[str, int]:
    """The ``(host, port)`` a URL connects to."""
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


class _Backend(httpcore.SyncBackend):
    """Connects only to public addresses, or to the origins named as trusted."""

    def __init__(self, *, allow_private: bool, trusted: frozenset[tuple[str, int]]) -> None:
        super().__init__()
        self.allow_private = allow_private
        self.trusted = trusted

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        private_ok = self.allow_private or (host, port) in self.trusted
        addresses = resolve_allowed(host, port, allow_private=private_ok)
        return super().connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )


@dataclass(slots=True)
class Fetcher:
    """GETs URLs under the guard, a byte cap and a deadline.

    Args:
        max_bytes: largest body accepted.
        timeout: seconds for the whole request, redirects and body included.
        allow_private: allow every private address (``url_fetch_allow_private``).
        trusted: origins ``(host, port)`` allowed even when private (a configured feed).
    """

    max_bytes: int
    timeout: float
    allow_private: bool = False
    trusted: frozenset[tuple[str, int]] = frozenset()
    headers: Mapping[str, str] = field(default_factory=dict)

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Fetched:
        """Fetch ``url``; a 2xx body within the cap (or a bodiless 304), else a typed error.

        ``headers`` are sent besides the fetcher's own (conditional requests).

        Raises:
            FetchRefused: a URL or redirect target is not allowed.
            FetchTooLarge: the body exceeds ``max_bytes``.
            FetchTimeout: the deadline passed.
            FetchFailed: a network error, too many redirects, or a non-2xx answer.
        """
        deadline = time.monotonic() + self.timeout
        backend = _Backend(allow_private=self.allow_private, trusted=self.trusted)
        with httpcore.ConnectionPool(network_backend=backend, retries=0) as pool:
            current = url
            for _hop in range(_MAX_REDIRECTS + 1):
                fetched = self._one(pool, current, deadline, headers or {})
                if fetched.status in (301, 302, 303, 307, 308):
                    location = fetched.headers.get("location")
                    if not location:
                        raise FetchFailed(f"{_safe(current)}: redirect without a Location")
                    current = urljoin(current, location)
                    continue
                if fetched.status != 304 and not 200 <= fetched.status < 300:
                    raise FetchFailed(f"{_safe(current)}: the server answered {fetched.status}")
                return fetched
        raise FetchFailed(f"{_safe(url)}: more than {_MAX_REDIRECTS} redirects")

    def _check(self, url: str) -> None:
        private_ok = self.allow_private or origin_of(url) in self.trusted
        try:
            check_target(url, allow_private=private_ok)
        except TargetRefused as err:
            raise FetchRefused(f"refused to fetch {_safe(url)}: {_reword(err)}") from err

    def _one(
        self,
        pool: httpcore.ConnectionPool,
        url: str,
        deadline: float,
        extra: Mapping[str, str],
    ) -> Fetched:
        self._check(url)
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchTimeout(f"{_safe(url)}: no complete answer within {self.timeout:g}s")
        headers = [(b"User-Agent", f"mediaguard/{version('mediaguard')}".encode())]
        headers += [(k.encode(), v.encode()) for k, v in {**self.headers, **extra}.items()]
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        try:
            with pool.stream(
                "GET", url, headers=headers, extensions={"timeout": timeouts}
            ) as response:
                found = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers
                }
                if response.status in (301, 302, 303, 304, 307, 308):
                    return Fetched(url, response.status, found, b"")
                declared = found.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchTooLarge(
                        f"{_safe(url)}: {declared} bytes declared, over the cap of {self.max_bytes}"
                    )
                body = bytearray()
                for chunk in response.iter_stream():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchTooLarge(f"{_safe(url)}: over the cap of {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise FetchTimeout(
                            f"{_safe(url)}: no complete answer within {self.timeout:g}s"
                        )
                return Fetched(url, response.status, found, bytes(body))
        except TargetRefused as err:
            raise FetchRefused(f"refused to fetch {_safe(url)}: {_reword(err)}") from err
        except httpcore.TimeoutException as err:
            raise FetchTimeout(
                f"{_safe(url)}: no complete answer within {self.timeout:g}s"
            ) from err
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as err:
            raise FetchFailed(f"{_safe(url)}: {type(err).__name__}: {err}") from err


def _reword(err: TargetRefused) -> str:
    """The guard's reason, without its advice on the webhook setting."""
    return str(err).split("; set webhook_allow_private", 1)[0].replace("webhook ", "")


def _safe(url: str) -> str:
    """A URL for logs and errors: scheme, host, port and path, never the query string.

    Feeds carry access tokens in their query strings (ThreatExchange's
    ``access_token``), and an error message ends up in logs and the audit log.
    """
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed URL>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


__all__ = [
    "FetchError",
    "FetchFailed",
    "FetchRefused",
    "FetchTimeout",
    "FetchTooLarge",
    "Fetched",
    "Fetcher",
    "origin_of",
]
