"""What a hash list and its entries look like outside the database: frozen values.

Kept apart from the repository because the list-file parsers build :class:`NewEntry`
values line by line, long before anything touches the database: validation happens
when an entry is constructed, so a parser reading a ten-million-line file reports the
bad line where it read it, and reading these types needs no engine or table. A vPDQ
entry's frames are :class:`mediaguard.match.video.FrameHash`, the type vPDQ matching
uses, with exact times; only the repository turns a time into the integer milliseconds
of its column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from mediaguard.match.video import FrameHash
from mediaguard.store import validation as check
from mediaguard.store.errors import InvalidInputError
from mediaguard.store.models import SIGNAL_TYPES

# Lengths (inclusive range) of each signal type's hex value. A vPDQ value identifies the
# video (its MD5 or SHA-256, say), so anything from 128 to 512 bits is accepted.
_HEX_LENGTHS: Final[dict[str, tuple[int, int]]] = {
    "pdq": (64, 64),
    "md5": (32, 32),
    "sha256": (64, 64),
    "vpdq": (32, 128),
}


@dataclass(frozen=True, slots=True)
class HashListInfo:
    """A hash list as stored, detached from any session."""

    id: int
    name: str
    category: str
    source: str
    description: str
    action: str
    pdq_distance: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A hash to add to a list; validated and normalised when constructed.

    Validation happens here rather than in :meth:`HashListRepository.add_entries` so that a parser
    reading a ten-million-line file reports the bad line where it read it.

    Attributes:
        signal_type: ``pdq``, ``md5``, ``sha256`` or ``vpdq``.
        value: the hash as hex; lowercased. For ``vpdq``, an identifier of the video
            (for example its MD5); the frame hashes go in ``frames``.
        external_id: the id the list's publisher gave the hash, if any.
        note: free text for reviewers.
        added_at: when the publisher added it; defaults to the time of the import.
        frames: the frame hashes of a ``vpdq`` entry (at least one); empty otherwise.

    Raises:
        InvalidInputError: when a field is invalid; the message names it.
    """

    signal_type: str
    value: str
    external_id: str | None = None
    note: str | None = None
    added_at: datetime | None = None
    frames: Sequence[FrameHash] = ()

    def __post_init__(self) -> None:
        """Validate every field and normalise ``value`` and ``frames``."""
        signal_type = check.choice("signal_type", self.signal_type, SIGNAL_TYPES)
        low, high = _HEX_LENGTHS[signal_type]
        object.__setattr__(
            self, "value", check.hex_digits(f"{signal_type} value", self.value, low, high)
        )
        check.optional_str("external_id", self.external_id)
        check.optional_str("note", self.note)
        if self.added_at is not None:
            check.as_aware("added_at", self.added_at)
        frames = tuple(self.frames)
        if signal_type == "vpdq":
            if not frames:
                raise InvalidInputError("frames: a vpdq entry needs at least one frame hash")
            if not all(isinstance(f, FrameHash) for f in frames):
                raise InvalidInputError("frames: each frame must be a FrameHash")
            if len({f.index for f in frames}) != len(frames):
                raise InvalidInputError("frames: frame index values must be unique")
        elif frames:
            raise InvalidInputError(f"frames: only vpdq entries carry frames, not {signal_type}")
        object.__setattr__(self, "frames", frames)


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """A stored hash-list entry, with its list's name and (for vPDQ) its frames."""

    id: int
    list_id: int
    list_name: str
    signal_type: str
    value: str
    external_id: str | None
    note: str | None
    added_at: datetime
    frames: tuple[FrameHash, ...] = ()


@dataclass(frozen=True, slots=True)
class AddResult:
    """What :meth:`HashListRepository.add_entries` did.

    Attributes:
        added: entries inserted.
        duplicates: entries skipped because the list already held them or the input
            repeated them.
        added_ids: ids of the inserted entries when asked for, else None (ten million
            ids are not free).
    """

    added: int
    duplicates: int
    added_ids: list[int] | None = None
