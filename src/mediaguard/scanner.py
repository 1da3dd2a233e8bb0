"""The pipeline: source → media → signals → matches → policy → verdict.

Design note: a :class:`Scanner` loads its models once and is then reused for any number
of items; each call runs the stages in one direction, passing immutable values, and
never reaches back. Hash-list matching is a pluggable :class:`Matcher` so the scanner
runs without a database (the embedded default) and with one (the service, hash lists).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from mediaguard import media
from mediaguard.config import ScanConfig
from mediaguard.match.types import Match
from mediaguard.media.image import read_source
from mediaguard.policy.engine import category_scores, decide
from mediaguard.policy.model import ListAction, Policy
from mediaguard.signals import hashes
from mediaguard.signals.base import Detection, Detector, ModelInfo
from mediaguard.signals.detectors import registry
from mediaguard.verdict import (
    Hashes,
    MediaInfo,
    ModelVersion,
    PDQInfo,
    PolicyRef,
    Timings,
    Verdict,
)


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """What a matcher is asked about one item.

    ``variants`` holds extra PDQ hashes (frame index, transform name, hex) when dihedral
    matching is on.
    """

    digests: hashes.Digests
    pdq: tuple[hashes.PDQHash, ...]
    variants: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """What a matcher found, plus what the policy needs to judge it."""

    matches: tuple[Match, ...] = ()
    list_actions: Mapping[str, ListAction] = field(default_factory=dict)
    quarantined: Collection[int] = frozenset()
    notes: tuple[str, ...] = ()


class Matcher(Protocol):
    """Matches an item's hashes against hash lists."""

    def match(self, query: MatchQuery) -> MatchOutcome:
        """Return the list matches for one item."""
        ...

    def record(self, verdict: Verdict) -> None:
        """Remember a scanned item, for retroactive matching and quarantine."""
        ...


def _list_matcher(config: ScanConfig, policy: Policy) -> Matcher:
    """A matcher over the store's hash lists; an embedded SQLite store is migrated here."""
    from mediaguard.match.lists import ListMatcher
    from mediaguard.store import Store

    store = Store.open(config.database_url)
    if store.dialect == "sqlite":
        store.upgrade()
    return ListMatcher(store, quarantine=policy.quarantine, record=config.record)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


class Scanner:
    """Scans images with one set of loaded models; reuse it for many items.

    Args:
        config: what runs (limits, detectors); defaults to :class:`ScanConfig`'s defaults.
        policy: what the results mean; defaults to the policy shipped with mediaguard.
        matcher: hash-list matcher, or None to scan without lists.

    Raises:
        ConfigError: when a detector cannot be built from the config.
        ProtectedTraitError: when a detector's category names a protected trait.
    """

    def __init__(
        self,
        config: ScanConfig | None = None,
        policy: Policy | None = None,
        *,
        matcher: Matcher | None = None,
        _detectors: Sequence[Detector] | None = None,
    ) -> None:
        self.config = config or ScanConfig()
        self.policy = policy or Policy.default_policy()
        if matcher is None and self.config.hashlists:
            matcher = _list_matcher(self.config, self.policy)
        self.matcher = matcher
        self.detectors: tuple[Detector, ...] = tuple(
            _detectors
            if _detectors is not None
            else (
                registry.create(spec.name, spec.options, base_dir=self.config.base_dir)
                for spec in self.config.detectors
            )
        )
        needs = [self.config.limits.working_size, *(d.input_size for d in self.detectors)]
        self.working_size = max(needs)
        self._versions = [
            ModelVersion(name=d.model.name, version=d.model.version, sha256=d.model.sha256)
            for d in self.detectors
        ]
        self._mediaguard_version = version("mediaguard")

    def with_policy(self, policy: Policy, *, matcher: Matcher | None = None) -> Scanner:
        """A scanner sharing these loaded models but applying another policy."""
        return Scanner(
            self.config, policy, matcher=matcher or self.matcher, _detectors=self.detectors
        )

    @property
    def models(self) -> list[ModelInfo]:
        return [d.model for d in self.detectors]

    def scan(self, source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> Verdict:
        """Scan one image, given as a path or as its bytes.

        Args:
            source: a file path, or the encoded bytes.
            name: recorded as the verdict's ``source``; defaults to the path or ``<bytes>``.

        Raises:
            UnsupportedMedia: the bytes are not a supported format (or are video).
            MediaTooLarge: a limit was exceeded.
            CorruptMedia: the media cannot be decoded.
            UnreadableSource: the path cannot be read.
        """
        started = time.perf_counter()
        label = name or ("<bytes>" if isinstance(source, bytes) else str(Path(source)))
        data = read_source(source, self.config.limits)
        read_ms = _ms(started)

        mark = time.perf_counter()
        decoded = media.load(data, self.config.limits, self.working_size)
        decode_ms = _ms(mark)

        mark = time.perf_counter()
        digests = hashes.digests(data)
        pdqs = tuple(hashes.pdq(frame) for frame in decoded.frames)
        variants: tuple[tuple[int, str, str], ...] = ()
        if self.config.dihedral and self.matcher is not None:
            variants = tuple(
                (frame.index, transform, hex_)
                for frame in decoded.frames
                for transform, hex_ in hashes.pdq_dihedral(frame).items()
                if transform is not None
            )
        hash_ms = _ms(mark)

        mark = time.perf_counter()
        detections: list[Detection] = []
        for detector in self.detectors:
            for per_frame in detector.detect(decoded.frames):
                detections.extend(per_frame)
        detect_ms = _ms(mark)

        mark = time.perf_counter()
        outcome = MatchOutcome()
        if self.matcher is not None:
            outcome = self.matcher.match(MatchQuery(digests, pdqs, variants))
        match_ms = _ms(mark)

        mark = time.perf_counter()
        decision = decide(
            self.policy,
            detections,
            outcome.matches,
            list_actions=outcome.list_actions,
            quarantined=outcome.quarantined,
        )
        policy_ms = _ms(mark)

        notes = list(outcome.notes)
        notes += [
            f"PDQ quality {p.quality} of frame {p.frame} is below {hashes.MIN_PDQ_QUALITY}: "
            "the frame is too flat to match perceptually (exact digests still match)"
            for p in pdqs
            if not p.usable
        ]
        facts = decoded.facts
        verdict = Verdict(
            mediaguard_version=self._mediaguard_version,
            source=label,
            scanned_at=datetime.now(UTC),
            media=MediaInfo(
                format=facts.format.name,
                mime=facts.format.mime,
                kind=facts.format.kind.value,
                size_bytes=facts.size_bytes,
                width=facts.width,
                height=facts.height,
                frame_count=facts.frame_count,
                sampled_frames=len(decoded.frames),
                animated=facts.animated,
                duration_s=float(facts.duration) if facts.duration is not None else None,
            ),
            hashes=Hashes(
                md5=digests.md5,
                sha256=digests.sha256,
                pdq=[
                    PDQInfo(frame=p.frame, hash=p.hex, quality=p.quality, usable=p.usable)
                    for p in pdqs
                ],
            ),
            detections=detections,
            scores=category_scores(detections),
            matches=list(outcome.matches),
            decision=decision.decision,
            reasons=list(decision.reasons),
            notes=notes,
            models=self._versions,
            policy=PolicyRef(
                name=self.policy.name, version=self.policy.version, sha256=self.policy.sha256
            ),
            timings=Timings(
                read_ms=read_ms,
                decode_ms=decode_ms,
                hash_ms=hash_ms,
                detect_ms=detect_ms,
                match_ms=match_ms,
                policy_ms=policy_ms,
                total_ms=_ms(started),
            ),
        )
        if self.matcher is not None:
            self.matcher.record(verdict)
        return verdict
