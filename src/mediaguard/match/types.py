"""Values of the match stage: hash-list entries, their normalised values, and matches.

Design note: a hash list holds :class:`Entry` values whose ``value`` is normalised once,
on the way in (lowercase hex of a fixed length per signal type), so every later
comparison is a plain string or byte comparison and duplicates are detected reliably.
:class:`Match` is a frozen pydantic model because it goes into the verdict's JSON
unchanged; it describes the list entry that matched and how, never a person.
Errors are typed: a malformed hash is a :class:`HashFormatError` (a configuration
error: the list file is wrong), an unreadable or unknown index file an
:class:`IndexFormatError`.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field

from mediaguard.errors import ConfigError, MediaguardError

__all__ = [
    "HEX_LENGTHS",
    "Entry",
    "HashFormatError",
    "IndexFormatError",
    "Match",
    "SignalType",
    "parse_signal_type",
    "parse_value",
]


class HashFormatError(ConfigError):
    """A hash value or signal type is malformed; the message says what was expected."""


class IndexFormatError(MediaguardError):
    """An index file is corrupt, truncated, or of an unknown format or version."""


class SignalType(enum.StrEnum):
    """The hash types a list can hold.

    ``pdq`` and ``vpdq`` are perceptual (matched within a Hamming distance);
    ``md5`` and ``sha256`` are cryptographic (matched exactly).
    """

    PDQ = "pdq"
    MD5 = "md5"
    SHA256 = "sha256"
    VPDQ = "vpdq"


#: Hex digits of a normalised value, per fixed-length signal type.
HEX_LENGTHS: dict[SignalType, int] = {
    SignalType.PDQ: 64,
    SignalType.MD5: 32,
    SignalType.SHA256: 64,
}

# Names other tools use for the same signal types. ThreatExchange and HMA call their
# exact hashes "video_md5"/"video_sha256" (the bytes of the file); the value is the same
# digest, so they map onto ours.
_ALIASES: dict[str, SignalType] = {
    "pdq": SignalType.PDQ,
    "md5": SignalType.MD5,
    "video_md5": SignalType.MD5,
    "photo_md5": SignalType.MD5,
    "sha256": SignalType.SHA256,
    "sha-256": SignalType.SHA256,
    "video_sha256": SignalType.SHA256,
    "photo_sha256": SignalType.SHA256,
    "vpdq": SignalType.VPDQ,
}

_HEX = re.compile(r"[0-9a-f]*")


def parse_signal_type(raw: str) -> SignalType:
    """Parse a signal-type name, accepting the names ThreatExchange and HMA use.

    Raises:
        HashFormatError: when the name is not a known signal type.
    """
    key = raw.strip().lower()
    try:
        return _ALIASES[key]
    except KeyError:
        known = ", ".join(sorted(_ALIASES))
        raise HashFormatError(f"unknown signal type {raw!r}; expected one of: {known}") from None


def parse_value(signal: SignalType, raw: str) -> str:
    """Validate a hash value and return its normalised form.

    PDQ, MD5 and SHA-256 are lowercase hex of 64, 32 and 64 digits. A vPDQ value is
    ThreatExchange's serialisation: a JSON array of ``"<pdq hex>,<quality>,<seconds>"``
    strings; it is normalised to compact JSON with lowercase hex and seconds written
    with millisecond precision.

    Raises:
        HashFormatError: with a message saying what was expected.
    """
    if signal is SignalType.VPDQ:
        return _parse_vpdq(raw)
    value = raw.strip().lower()
    expected = HEX_LENGTHS[signal]
    if len(value) != expected or _HEX.fullmatch(value) is None:
        shown = raw if len(raw) <= 80 else raw[:77] + "..."
        raise HashFormatError(
            f"invalid {signal.value} hash {shown!r}: expected {expected} hex digits "
            f"(0-9, a-f), got {len(value)} characters"
        )
    return value


# Longer than any video (about 115 days); bounds the size of a normalised value, since a
# 40-byte exponent like 1e99999999 would otherwise format to megabytes of digits.
_MAX_VPDQ_SECONDS = 10_000_000


def _parse_vpdq(raw: str) -> str:
    try:
        items = json.loads(raw)
    except ValueError:
        raise HashFormatError(
            'invalid vpdq hash: expected a JSON array of "<pdq hex>,<quality>,<seconds>" strings'
        ) from None
    if not isinstance(items, list) or not items:
        raise HashFormatError(
            'invalid vpdq hash: expected a non-empty JSON array of "<pdq hex>,<quality>,<seconds>"'
        )
    out: list[str] = []
    for i, item in enumerate(items):
        parts = item.split(",") if isinstance(item, str) else []
        if len(parts) != 3:
            raise HashFormatError(
                f'invalid vpdq frame {i}: expected "<pdq hex>,<quality>,<seconds>", got {item!r}'
            )
        pdq = parse_value(SignalType.PDQ, parts[0])
        try:
            quality = int(parts[1])
            seconds = Decimal(parts[2].strip())
        except (ValueError, InvalidOperation):
            raise HashFormatError(
                f"invalid vpdq frame {i}: quality must be an integer and seconds a number, "
                f"got {item!r}"
            ) from None
        if (
            not 0 <= quality <= 100
            or not seconds.is_finite()
            or not 0 <= seconds <= _MAX_VPDQ_SECONDS
        ):
            shown = item if len(item) <= 80 else item[:77] + "..."
            raise HashFormatError(
                f"invalid vpdq frame {i}: quality must be 0-100 and seconds within "
                f"0..{_MAX_VPDQ_SECONDS}, got {shown!r}"
            )
        out.append(f"{pdq},{quality},{seconds:.3f}")
    return json.dumps(out, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One hash in a hash list, as imported or exported.

    Attributes:
        signal: the hash type.
        value: the normalised value (see :func:`parse_value`).
        external_id: the identifier the list's source gave the entry, if any.
        note: free text from the source, if any.
        added_at: when the source added the entry, if known.
    """

    signal: SignalType
    value: str
    external_id: str | None = None
    note: str | None = None
    added_at: datetime | None = None

    @classmethod
    def parse(
        cls,
        signal: SignalType | str,
        raw_value: str,
        external_id: str | None = None,
        note: str | None = None,
        added_at: datetime | None = None,
    ) -> Entry:
        """Build an entry from raw text, validating and normalising the value.

        Raises:
            HashFormatError: when the signal type or value is malformed.
        """
        sig = signal if isinstance(signal, SignalType) else parse_signal_type(signal)
        return cls(sig, parse_value(sig, raw_value), external_id, note, added_at)


class Match(BaseModel):
    """One hash-list entry that the scanned media matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    list: str = Field(description="Name of the hash list the entry belongs to.")
    category: str = Field(description="Content category of the list, as the policy sees it.")
    signal: str = Field(description="Hash type that matched: pdq, md5, sha256 or vpdq.")
    value: str = Field(description="The list entry's hash, normalised lowercase hex.")
    entry_id: int = Field(description="Store identifier of the list entry.")
    distance: int = Field(
        ge=0, le=256, description="Hamming distance between the hashes; 0 for exact hashes."
    )
    transform: str | None = Field(
        default=None,
        description=(
            "Dihedral variant under which the media matched (e.g. 'mirror_x', 'rot90'): "
            "the scanned image is the listed one transformed this way. None when the "
            "untransformed image matched."
        ),
    )
    frame: int | None = Field(
        default=None,
        ge=0,
        description="Index of the video or animation frame that matched; None for a still.",
    )
    variant: str | None = Field(
        default=None,
        description=(
            "Edited-copy variant under which the media matched (e.g. 'caption bar removed "
            "(top)', 'border removed', 'left part'): the listed image was found inside the "
            "scanned one once that edit was undone. None when the whole frame matched."
        ),
    )
    external_id: str | None = Field(
        default=None, description="Identifier the list's source gave the entry, if any."
    )
