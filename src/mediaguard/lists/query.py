"""What the scanner asks a list matcher, and what it gets back.

These types sit with the lists rather than in the scanner because the scanner consumes
them and the list matcher produces them: kept beside the scanner they made the lists
import the pipeline that imports the lists. Here both depend on them, and the arrow
between the two points one way, from the scanner down to the lists.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mediaguard.match.textmatch import TextMatch
from mediaguard.match.types import Match
from mediaguard.policy.model import ListAction
from mediaguard.signals import hashes
from mediaguard.signals.variants import Box, Level
from mediaguard.verdict import CodeFound, TextFound, Verdict


@dataclass(frozen=True, slots=True)
class EditHash:
    """The PDQ hash of one edited-copy region of a frame (see signals/variants.py).

    ``box`` is the region as shares of the frame, so that verification crops the region
    that matched rather than comparing the whole frame (a collage's other half would
    take most of its keypoints).
    """

    frame: int
    variant: str
    level: Level
    hex: str
    box: Box


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """What a matcher is asked about one item.

    ``variants`` holds extra PDQ hashes (frame index, transform name, hex) when dihedral
    matching is on; ``edits`` the PDQ hashes of edited-copy regions of each frame;
    ``frames`` reduced pixels of a still's frames, by index, so that a near-threshold
    edited copy can be checked against the listed picture. ``texts`` and ``codes`` are
    the lines of text and the codes read, as the verdict will hold them, so a term or URL
    list match can name its line or code by index.
    """

    digests: hashes.Digests
    pdq: tuple[hashes.PDQHash, ...]
    variants: tuple[tuple[int, str, str], ...] = ()
    edits: tuple[EditHash, ...] = ()
    frames: Mapping[int, npt.NDArray[np.uint8]] = field(default_factory=dict)
    texts: tuple[TextFound, ...] = ()
    codes: tuple[CodeFound, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """What a matcher found, plus what the policy needs to judge it."""

    matches: tuple[Match, ...] = ()
    text_matches: tuple[TextMatch, ...] = ()
    list_actions: Mapping[str, ListAction] = field(default_factory=dict)
    quarantined: Collection[int] = frozenset()
    notes: tuple[str, ...] = ()


class Matcher(Protocol):
    """Matches an item's hashes against hash lists, and its texts and codes against term
    and URL lists."""

    def match(self, query: MatchQuery) -> MatchOutcome:
        """Return the list matches for one item."""
        ...

    def record(self, verdict: Verdict) -> None:
        """Remember a scanned item, for retroactive matching and quarantine."""
        ...
