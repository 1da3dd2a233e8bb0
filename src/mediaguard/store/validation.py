"""The field checks that several repositories share, each naming the offending field.

Kept apart so that the list, item, key, job, webhook and review repositories check an
integer, a hex digest, a name or a timestamp the same way and word the error the same
way; a check that only one repository needs stays in that repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from mediaguard.signals.protected import check_name
from mediaguard.store.errors import InvalidInputError

# The most rows a page or insert batch may hold.
_MAX_BATCH: Final = 100_000
# The most rows a listing may return.
_MAX_LIST: Final = 500
# The longest URL (of a webhook endpoint or a job's callback) accepted.
_MAX_URL: Final = 2048

_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HEX_RE: Final = re.compile(r"[0-9a-f]+")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")


def require_int(field: str, value: object, low: int | None, high: int | None) -> int:
    """Return ``value`` when it is an int within [low, high]; bool is refused."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{field}: expected an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
        raise InvalidInputError(f"{field}: {value} is outside {bounds}")
    return value


def choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` when it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def hex_digits(field: str, value: object, low: int, high: int) -> str:
    """Return ``value`` lowercased when it is hex of an allowed length."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected a hex string, got {value!r}")
    lowered = value.lower()
    if not low <= len(lowered) <= high or not _HEX_RE.fullmatch(lowered):
        size = str(low) if low == high else f"{low} to {high}"
        raise InvalidInputError(f"{field}: expected {size} hex digits, got {value!r}")
    return lowered


def optional_hex(field: str, value: str | None, length: int) -> str | None:
    """Return ``value`` lowercased when it is None or hex of ``length`` digits."""
    return None if value is None else hex_digits(field, value, length, length)


def is_sha256(value: object) -> bool:
    """Whether ``value`` is a SHA-256 as 64 lowercase hex digits (as stored, never folded)."""
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


def optional_str(field: str, value: object) -> None:
    """Refuse anything but a str or None."""
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected text, got {value!r}")


def text(field: str, value: object) -> str:
    """Return ``value`` when it is a str."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected text, got {value!r}")
    return value


def name(field: str, value: object) -> str:
    """Return ``value`` when it is a valid list name or category."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidInputError(
            f"{field}: {value!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def category(value: object) -> str:
    """Return a valid category that names no protected trait of a person."""
    checked = name("category", value)
    check_name("hash-list category", checked)
    return checked


def as_aware(field: str, value: object) -> datetime:
    """Return ``value`` when it is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{field}: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{field}: {value.isoformat()} is naive; pass an aware datetime")
    return value


def batch_size(value: object) -> int:
    """Return ``value`` when it is a sensible page or batch size."""
    return require_int("batch_size", value, 1, _MAX_BATCH)


def list_limit(value: object) -> int:
    """Return ``value`` when it is a sensible number of rows for a listing."""
    return require_int("limit", value, 1, _MAX_LIST)


def url(value: object) -> str:
    """Return ``value`` when it is an http(s) URL of a sensible length."""
    if not isinstance(value, str) or not value or len(value) > _MAX_URL:
        raise InvalidInputError(f"url: expected 1 to {_MAX_URL} characters")
    if not value.startswith(("http://", "https://")):
        raise InvalidInputError(f"url: expected an http:// or https:// URL, got {value[:80]!r}")
    return value


def lease_owner(value: object) -> str:
    """Return ``value`` when it names a worker that may hold a lease."""
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise InvalidInputError("lease owner: expected 1 to 128 characters")
    return value


def positive_seconds(field: str, value: object) -> float:
    """Return ``value`` as a float when it is a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInputError(f"{field}: expected a positive number, got {value!r}")
    return float(value)


def split_set(text_value: str) -> frozenset[str]:
    """The names in a comma-separated column, as a set."""
    return frozenset(part for part in text_value.split(",") if part)


def subset(field: str, values: Iterable[str], allowed: tuple[str, ...]) -> frozenset[str]:
    """Return ``values`` as a set when it is a non-empty subset of ``allowed``."""
    chosen = frozenset(values)
    if not chosen or chosen - set(allowed):
        raise InvalidInputError(
            f"{field}: expected one or more of {', '.join(allowed)}, got {sorted(chosen)!r}"
        )
    return chosen
