"""API keys: how they are made, stored, checked, scoped and rate limited.

Design note: a key is ``mg_<key id>_<secret>``: 12 hex digits that are public and
index the row, then 32 random bytes (base64url). Only the SHA-256 of the whole token is
stored, so a leaked database does not leak working keys, and it is compared with
:func:`hmac.compare_digest`. A plain hash (not a password KDF) is right here because
the secret is 256 random bits: there is nothing to brute-force, and checking must be
cheap on every request.

Scopes are ``scan`` (sync scans, jobs, job webhooks), ``lists`` (hash lists, lookups,
retro-match webhooks), ``review`` (reserved for the review queue) and ``admin`` (all
of the above, and everyone's jobs and deliveries). Every route names the scope it
needs.

The rate limit is a bucket per key kept in the store (:mod:`mediaguard.store.limits`),
so several ``serve`` processes and hosts on one database share each key's budget, at
one database round trip per request. So do the review UI's failed log-ins, per account
and per client address.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from mediaguard.service.errors import ApiError
from mediaguard.store.errors import NotFoundError
from mediaguard.store.keys import KeyRepository
from mediaguard.store.limits import LimitRepository, Rate
from mediaguard.store.service_types import ApiKeyInfo

TOKEN_PREFIX: Final = "mg"
_TOKEN_RE: Final = re.compile(r"mg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# Hashed when the key id is unknown, so an unknown key costs what a wrong secret costs.
_DUMMY_SHA256: Final = hashlib.sha256(b"mediaguard: no such key").hexdigest()
_BEARER: Final = {"WWW-Authenticate": "Bearer"}


class Scope(enum.StrEnum):
    """What an API key may do."""

    SCAN = "scan"
    LISTS = "lists"
    REVIEW = "review"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: its key, and what the key may do."""

    key: ApiKeyInfo

    @property
    def is_admin(self) -> bool:
        """Whether the key carries ``admin``."""
        return Scope.ADMIN.value in self.key.scopes

    def has(self, scope: Scope) -> bool:
        """Whether the key may act in ``scope`` (``admin`` may do everything)."""
        return self.is_admin or scope.value in self.key.scopes

    @property
    def owner_filter(self) -> int | None:
        """The key id to filter listings by, or None for an admin, who sees all."""
        return None if self.is_admin else self.key.id


def token_sha256(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(key id, token)`` pair; the token is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def parse_scopes(values: Iterable[str]) -> frozenset[str]:
    """Scopes from user input such as ``["scan", "lists"]`` or ``["scan,lists"]``.

    Raises:
        ApiError: naming an unknown scope.
    """
    scopes = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(scopes - {s.value for s in Scope})
    if unknown or not scopes:
        raise ApiError(
            400,
            "invalid_scopes",
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; "
            f"expected any of {', '.join(s.value for s in Scope)}",
        )
    return frozenset(scopes)


def create_key(
    keys: KeyRepository,
    scopes: Iterable[str],
    *,
    name: str = "",
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKeyInfo, str]:
    """Create a key and return it with its token (the only time the token exists).

    Raises:
        ApiError: when a scope is unknown.
        InvalidInputError: when the name or rate limit is invalid.
        StoreError: when the database fails.
    """
    valid = parse_scopes(scopes)
    key_id, token = new_token()
    info = keys.create_key(
        key_id,
        token_sha256(token),
        valid,
        name=name,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return info, token


def authenticate(keys: KeyRepository, token: str | None) -> Principal:
    """The principal for a bearer token.

    Raises:
        ApiError: 401 ``missing_api_key`` or ``invalid_api_key`` (unknown, wrong or
            revoked keys are not told apart, so a caller cannot probe key ids).
    """
    if not token:
        raise ApiError(
            401,
            "missing_api_key",
            "send an API key as `Authorization: Bearer mg_...`",
            headers=_BEARER,
        )
    invalid = ApiError(401, "invalid_api_key", "the API key is invalid or revoked", headers=_BEARER)
    found = _TOKEN_RE.fullmatch(token)
    if found is None:
        raise invalid
    try:
        key: ApiKeyInfo | None = keys.get_key(found.group(1))
    except NotFoundError:
        key = None
    expected = key.secret_sha256 if key is not None else _DUMMY_SHA256
    matches = hmac.compare_digest(token_sha256(token), expected)
    if key is None or not matches or not key.active:
        raise invalid
    return Principal(key)


def require(principal: Principal, scope: Scope) -> Principal:
    """Return ``principal`` when it may act in ``scope``.

    Raises:
        ApiError: 403 ``insufficient_scope``.
    """
    if not principal.has(scope):
        raise ApiError(
            403,
            "insufficient_scope",
            f"this API key lacks the {scope.value!r} scope needed here",
        )
    return principal


class RateLimiter:
    """Requests per minute per API key, counted in the store for every process alike.

    Args:
        limits: the store's shared buckets.
        default_per_minute: the limit of keys that set none; 0 disables limiting.
    """

    def __init__(self, limits: LimitRepository, default_per_minute: int) -> None:
        """Limit through ``limits``."""
        self._limits = limits
        self.default_per_minute = default_per_minute

    def check(self, key: ApiKeyInfo) -> None:
        """Charge one request to ``key``.

        A changed limit applies at once: the bucket keeps its state and refills at the
        new rate.

        Raises:
            ApiError: 429 ``rate_limited`` with ``Retry-After`` (whole seconds, the time
                one request's share takes to refill: the longest a refused caller waits).
            StoreError: when the database fails.
        """
        limit = (
            key.rate_limit_per_minute
            if key.rate_limit_per_minute is not None
            else self.default_per_minute
        )
        if limit <= 0:
            return
        rate = Rate.per(limit, 60.0)
        if self._limits.take(f"api-key:{key.key_id}", rate, time.time()):
            return
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {limit} requests per minute exceeded for this key",
            headers={"Retry-After": str(max(1, math.ceil(rate.interval)))},
        )


def _private(kind: str, value: str) -> str:
    # User names and addresses are kept only as digests: a bucket must not store what a
    # user typed into the name field (sometimes a password) or a client's address.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


class LoginThrottle:
    """Failed log-ins per account and per client address, shared by every process.

    Each failure costs the attacker one scrypt check (~50 ms), which alone would allow
    thousands of guesses an hour. ``per_account`` failures for one user name, or
    ``per_address`` from one address, may come at once; after that one more attempt is
    allowed per ``window_seconds / limit``, so over any ``window_seconds`` an account
    sees at most about twice ``per_account`` guesses. Further attempts are refused
    without checking the password. Counts are buckets in the store, so several
    ``serve`` processes share them.
    """

    def __init__(
        self,
        limits: LimitRepository,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window_seconds: float = 900.0,
    ) -> None:
        """Count through ``limits``."""
        self._limits = limits
        self.per_account = per_account
        self.per_address = per_address
        self._account = Rate.per(per_account, window_seconds)
        self._address = Rate.per(per_address, window_seconds)

    def _buckets(self, username: str, address: str) -> list[tuple[str, Rate]]:
        return [
            (_private("login-user", username), self._account),
            (_private("login-addr", address), self._address),
        ]

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed, or 0 when it is allowed now.

        Raises:
            StoreError: when the database fails.
        """
        return math.ceil(self._limits.wait(self._buckets(username, address), time.time()))

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt against the account and the address.

        Raises:
            StoreError: when the database fails.
        """
        self._limits.charge(self._buckets(username, address), time.time())

    def succeeded(self, username: str) -> None:
        """Forget the account's failures once its owner got in.

        Raises:
            StoreError: when the database fails.
        """
        self._limits.forget(_private("login-user", username))
