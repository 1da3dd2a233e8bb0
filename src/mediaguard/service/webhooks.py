"""Signed, retried, logged webhooks, and the guard that keeps them off private networks.

Design note: an event is written to the database first, with one pending delivery per
target, in the same transaction as the change it announces (a job's completion); a
dispatcher thread then POSTs it. So an event is never lost to a crash and never
announced for a change that did not commit. Delivery is *at least once*: a dispatcher
that dies after the receiver answered but before the attempt was logged will send
again after its lease expires. Every delivery of an event carries the same
``Mediaguard-Event-Id``, which is what a receiver deduplicates on.

Signing follows the scheme popularised by Stripe: ``Mediaguard-Signature: t=<unix
time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``. The timestamp is inside the MAC so a
captured request cannot be replayed later than the receiver's tolerance; see
:func:`verify_signature`, which receivers may copy. Registered endpoints are signed
with their own secret (returned once, when registered); a job's one-off
``callback_url`` is signed with the server's ``webhook_signing_secret``.

Targets are checked when registered and again at every connection: the host is
resolved, *every* address it resolves to must be public (not private, loopback,
link-local, multicast, reserved or unspecified), and the connection is made to one
of the checked addresses, so DNS cannot be switched to an internal address between the
check and the connect. ``webhook_allow_private = true`` lifts the private-address rule
for on-premises receivers. Redirects are never followed (a 3xx is a failed attempt),
proxies from the environment are not used, and the response body is not read beyond a
few bytes.

Failed attempts are retried with exponential back-off and "equal jitter" (a random
delay between half and all of ``base * 2**(attempt-1)``, capped), up to
``webhook_max_attempts``; every attempt is recorded in the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpcore

from mediaguard.errors import MediaguardError
from mediaguard.store import Store
from mediaguard.store.base import utcnow
from mediaguard.store.errors import StoreError
from mediaguard.store.service_types import DeliveryTask, NewEvent
from mediaguard.store.webhooks import WebhookRepository

log = logging.getLogger("mediaguard.service.webhooks")

SIGNATURE_HEADER: Final = "Mediaguard-Signature"
EVENT_ID_HEADER: Final = "Mediaguard-Event-Id"
EVENT_TYPE_HEADER: Final = "Mediaguard-Event-Type"
ATTEMPT_HEADER: Final = "Mediaguard-Delivery-Attempt"
#: Retro-match events carry at most this many matches each; more are split over events.
RETRO_MATCHES_PER_EVENT: Final = 500
_RESPONSE_BYTES: Final = 4096


class TargetRefused(MediaguardError):
    """A webhook URL is malformed or points at an address that is not allowed."""


class StreamTargetRefused(TargetRefused):
    """A stream URL is not a stream protocol or points at an address that is not allowed.

    A subclass because the rule is the webhook targets' (the same address guard), while
    the API names the refusal after what was refused.
    """


# ----------------------------------------------------------------------- signatures


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Mediaguard-Signature`` header value."""
    return f"t={int(timestamp)},v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """Check a ``Mediaguard-Signature`` header, as a receiver should.

    Args:
        secret: the endpoint's secret (or the server's, for a job callback).
        header: the header's value, ``t=<ts>,v1=<hex>`` (several ``v1`` are allowed,
            for secret rotation).
        body: the raw request body, exactly as received.
        tolerance_seconds: how old a timestamp may be; older ones are replays.
        now: the current Unix time (for tests); defaults to the clock.

    Returns:
        Whether one ``v1`` signature matches and the timestamp is fresh.
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


# -------------------------------------------------------------------- target guard


def _address_allowed(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool
) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return False
    return allow_private or ip.is_global


def resolve_allowed(
    host: str, port: int, *, allow_private: bool, what: str = "webhook host"
) -> list[str]:
    """Every address ``host`` resolves to, if all are allowed.

    Raises:
        TargetRefused: when the host does not resolve or any address is not allowed.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as err:
        raise TargetRefused(f"{what} {host!r} does not resolve: {err}") from err
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        raw = str(sockaddr[0]).split("%", 1)[0]
        ip = ipaddress.ip_address(raw)
        if not _address_allowed(ip, allow_private):
            raise TargetRefused(
                f"{what} {host!r} resolves to {ip}, a private, loopback, link-local or "
                f"reserved address; set {what.split()[0]}_allow_private = true for on-prem "
                "servers"
            )
        if raw not in addresses:
            addresses.append(raw)
    if not addresses:
        raise TargetRefused(f"{what} {host!r} resolves to no address")
    return addresses


def check_target(url: str, *, allow_private: bool) -> str:
    """Return ``url`` when it is an acceptable webhook target.

    Raises:
        TargetRefused: when the URL is malformed, carries credentials, or resolves to an
            address that is not allowed.
    """
    if len(url) > 2048:
        raise TargetRefused("webhook URL: longer than 2048 characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise TargetRefused("webhook URL: control characters or spaces are not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as err:
        raise TargetRefused(f"webhook URL: {err}") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("webhook URL: expected http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("webhook URL: credentials in the URL are not allowed")
    if parts.fragment:
        raise TargetRefused("webhook URL: a fragment (#...) is not allowed")
    resolve_allowed(parts.hostname, port, allow_private=allow_private)
    return url


class GuardedBackend(httpcore.SyncBackend):
    """A network backend that connects only to addresses the target guard allows.

    The check runs at connect time on the addresses actually used, which closes the
    window in which DNS could be rebound between a check and the connection. TLS still
    verifies the certificate against the URL's host name: httpcore passes the origin's
    host, not the connected address, as the server name.
    """

    def __init__(self, *, allow_private: bool) -> None:
        """Remember whether private addresses are allowed."""
        super().__init__()
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve and check ``host``, then connect to its first allowed address."""
        addresses = resolve_allowed(host, port, allow_private=self.allow_private)
        return super().connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )


# ------------------------------------------------------------------------ enqueuing


def enqueue_event(
    store: Store,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    api_key_id: int | None = None,
    urls: Sequence[str] = (),
) -> str:
    """Queue an event for every subscribed endpoint; usable outside any request.

    A dispatcher (inside ``mediaguard serve`` or ``mediaguard worker``) delivers it;
    until one runs, the deliveries wait in the database.

    Args:
        store: an open store (migrated to the current schema).
        event_type: ``job.completed``, ``job.failed`` or ``hashlist.retro_match``.
        payload: the event's ``data``; must serialise to JSON.
        api_key_id: the owning key's row id, or None for an event about shared state,
            delivered to every endpoint subscribed to ``event_type``.
        urls: extra one-off targets (signed with the server's secret).

    Returns:
        The event id (the ``Mediaguard-Event-Id`` of its deliveries).

    Raises:
        InvalidInputError: when the type is unknown or the payload is not JSON.
        StoreError: when the database fails.
    """
    event = NewEvent(event_type, dict(payload), api_key_id, tuple(urls))
    return store.webhooks.enqueue_event(event).id


def retro_match_events(list_name: str, matches: Sequence[Any]) -> list[dict[str, Any]]:
    """The payloads announcing retroactive matches of a list, split into bounded parts.

    Args:
        list_name: the list that gained entries.
        matches: :class:`mediaguard.lists.hashlists.RetroMatch` values.
    """
    rows = [
        {
            "item": {
                "id": m.item.id,
                "item_key": m.item.item_key,
                "source": m.item.source,
                "sha256": m.item.sha256,
                "decision": m.item.decision,
                "scanned_at": m.item.scanned_at.isoformat(),
            },
            "entry": {
                "id": m.entry.id,
                "list": m.entry.list_name,
                "signal_type": m.entry.signal_type,
                "value": m.entry.value,
                "external_id": m.entry.external_id,
            },
            "distance": m.distance,
        }
        for m in matches
    ]
    size = RETRO_MATCHES_PER_EVENT
    parts = max(1, -(-len(rows) // size))
    return [
        {
            "list": list_name,
            "match_count": len(rows),
            "part": i + 1,
            "parts": parts,
            "matches": rows[i * size : (i + 1) * size],
        }
        for i in range(parts)
        if rows
    ]


def enqueue_retro_matches(store: Store, list_name: str, matches: Sequence[Any]) -> list[str]:
    """Queue ``hashlist.retro_match`` events for an import's retroactive matches.

    Returns:
        The event ids (none when there were no matches).

    Raises:
        StoreError: when the database fails.
    """
    return [
        enqueue_event(store, "hashlist.retro_match", payload)
        for payload in retro_match_events(list_name, matches)
    ]


# ---------------------------------------------------------------------- dispatching


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before the attempt after ``attempt``: equal jitter over an exponential."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return rng.uniform(ceiling / 2.0, ceiling)


class Dispatcher:
    """Delivers pending webhook deliveries, one at a time, until stopped.

    Args:
        webhooks: the store's webhook deliveries.
        signing_secret: the server's secret, for one-off callback URLs.
        allow_private: allow private, loopback and link-local targets.
        max_attempts: attempts before a delivery is marked failed.
        backoff_base: first retry delay, seconds (before jitter).
        backoff_max: largest retry delay, seconds.
        timeout: per-request connect/read/write timeout, seconds.
        poll_interval: how long an idle dispatcher sleeps.
        on_attempt: called with ``(outcome, status)`` after each attempt (metrics).
    """

    def __init__(
        self,
        webhooks: WebhookRepository,
        *,
        signing_secret: str,
        allow_private: bool,
        max_attempts: int,
        backoff_base: float,
        backoff_max: float,
        timeout: float,
        poll_interval: float,
        on_attempt: Any = None,
    ) -> None:
        """Build a connection pool guarded against private targets."""
        self.webhooks = webhooks
        self.signing_secret = signing_secret
        self.allow_private = allow_private
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.on_attempt = on_attempt
        self.owner = f"{socket.gethostname()}:dispatch:{uuid.uuid4().hex[:12]}"
        self._rng = random.Random()
        self._pool = httpcore.ConnectionPool(
            network_backend=GuardedBackend(allow_private=allow_private),
            max_connections=4,
            retries=0,
        )
        self._user_agent = f"mediaguard-webhooks/{version('mediaguard')}"

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Deliver until ``stop`` is set; a database outage is logged and waited out."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except StoreError as err:
                log.warning("webhook dispatcher: %s", err)
                busy = False
            except Exception:  # top of a worker thread: log, keep the thread alive
                log.exception("webhook dispatcher failed; continuing")
                busy = False
            if not busy:
                if wake is not None:
                    wake.wait(self.poll_interval)
                    wake.clear()
                else:
                    stop.wait(self.poll_interval)
        self.close()

    def run_once(self) -> bool:
        """Make one delivery attempt, if one is due.

        Returns:
            Whether an attempt was made.

        Raises:
            StoreError: when the database fails.
        """
        lease = self.timeout * 3 + 30.0
        task = self.webhooks.claim_delivery(self.owner, lease)
        if task is None:
            return False
        self.deliver(task)
        return True

    def deliver(self, task: DeliveryTask) -> None:
        """POST one delivery, log the attempt, and schedule a retry if it failed."""
        secret = task.secret or self.signing_secret
        body = task.body.encode("utf-8")
        timestamp = int(time.time())
        headers = [
            (b"Content-Type", b"application/json"),
            (b"User-Agent", self._user_agent.encode()),
            (EVENT_ID_HEADER.encode(), task.event_id.encode()),
            (EVENT_TYPE_HEADER.encode(), task.event_type.encode()),
            (ATTEMPT_HEADER.encode(), str(task.attempt).encode()),
            (SIGNATURE_HEADER.encode(), signature_header(secret, timestamp, body).encode()),
        ]
        started = utcnow()
        clock = time.perf_counter()
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            check_target(task.url, allow_private=self.allow_private)
            extensions = {
                "timeout": {
                    "connect": self.timeout,
                    "read": self.timeout,
                    "write": self.timeout,
                    "pool": self.timeout,
                }
            }
            with self._pool.stream(
                "POST", task.url, headers=headers, content=body, extensions=extensions
            ) as response:
                status = response.status
                _drain(response)
        except TargetRefused as err:
            error, permanent = str(err), True
        except httpcore.TimeoutException as err:
            error = f"timed out: {type(err).__name__}"
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as err:
            error = f"{type(err).__name__}: {err}"
        duration_ms = (time.perf_counter() - clock) * 1000.0
        outcome: Literal["delivered", "retry", "failed"]
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
        elif permanent or task.attempt >= self.max_attempts:
            outcome = "failed"
        else:
            outcome = "retry"
        if status is not None and not 200 <= status < 300:
            error = f"receiver answered {status}" + (
                " (redirects are not followed)" if 300 <= status < 400 else ""
            )
        next_at: datetime | None = None
        if outcome == "retry":
            delay = backoff_seconds(task.attempt, self.backoff_base, self.backoff_max, self._rng)
            next_at = utcnow() + timedelta(seconds=delay)
        kept = self.webhooks.record_attempt(
            task,
            started_at=started,
            duration_ms=duration_ms,
            status_code=status,
            error=error,
            outcome=outcome,
            next_attempt_at=next_at,
        )
        if not kept:
            log.warning("delivery %d: lease lost while delivering", task.delivery_id)
        if self.on_attempt is not None:
            self.on_attempt(outcome, status)


def _drain(response: httpcore.Response) -> None:
    """Read at most a few KiB of the receiver's answer; its content is not used."""
    read = 0
    for chunk in response.iter_stream():
        read += len(chunk)
        if read >= _RESPONSE_BYTES:
            break
