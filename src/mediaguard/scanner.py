"""The pipeline: source → media → signals → matches → policy → verdict.

Design note: a :class:`Scanner` loads its models once and is then reused for any number
of items; each call runs the stages in one direction, passing immutable values, and
never reaches back. Hash-list matching is a pluggable :class:`Matcher` so the scanner
runs without a database (the embedded default) and with one (the service, hash lists).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from importlib.metadata import version
from itertools import islice
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mediaguard import media
from mediaguard.config import ScanConfig
from mediaguard.errors import CorruptMedia
from mediaguard.lists.query import EditHash, Matcher, MatchOutcome, MatchQuery
from mediaguard.match import urls, verify
from mediaguard.match.textmatch import TextMatch
from mediaguard.media.sampling import sample_frames
from mediaguard.media.sniff import sniff
from mediaguard.media.source import peek, read_source
from mediaguard.media.types import Frame, MediaFacts, MediaKind
from mediaguard.policy.engine import category_scores, decide, list_action
from mediaguard.policy.model import ListAction, Policy
from mediaguard.signals import hashes, runtime
from mediaguard.signals.base import Detection, Detector, ModelInfo
from mediaguard.signals.codes import CodeRead, CodeReader
from mediaguard.signals.detectors import registry
from mediaguard.signals.text import TextLine, TextReader
from mediaguard.signals.variants import Level
from mediaguard.timeline import Segment, build_timeline
from mediaguard.verdict import (
    CodeFound,
    Hashes,
    MediaInfo,
    ModelVersion,
    PDQInfo,
    PolicyRef,
    TextFound,
    Timings,
    Verdict,
)


def open_list_matcher(config: ScanConfig, policy: Policy) -> Matcher:
    """A matcher over the store's hash lists; an embedded SQLite store is migrated here.

    Engines call it once before starting workers, so that the migration and the index
    build happen once, not in every worker at the same time.
    """
    from mediaguard.lists.hashlists import ListMatcher
    from mediaguard.store import Store

    store = Store.open(config.database_url)
    if store.dialect == "sqlite" and not store.is_current():
        store.upgrade()
    return ListMatcher(
        store,
        quarantine=policy.quarantine,
        record=config.record,
        variant_level=policy.variant_level,
    )


#: Frames of an image kept (reduced, grey) for verifying edited-copy matches.
_FRAMES_KEPT = 4


@dataclass(frozen=True, slots=True)
class FrameFindings:
    """What :meth:`Scanner.scan_frames` found in a batch of frames, before any policy."""

    detections: tuple[Detection, ...]
    pdqs: tuple[hashes.PDQHash, ...]
    outcome: MatchOutcome
    timings: dict[str, float]


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
        _readers: tuple[TextReader | None, CodeReader | None] | None = None,
    ) -> None:
        self.config = config or ScanConfig()
        self.policy = policy or Policy.default_policy()
        if matcher is None and self.config.hashlists:
            matcher = open_list_matcher(self.config, self.policy)
        self.matcher = matcher
        #: Intra-op threads of this scanner's onnxruntime sessions (None: all cores).
        self.threads = runtime.threads()
        self.detectors: tuple[Detector, ...] = tuple(
            _detectors
            if _detectors is not None
            else (
                registry.create(spec.name, spec.options, base_dir=self.config.base_dir)
                for spec in self.config.detectors
            )
        )
        if _readers is None:
            _readers = (_text_reader(self.config), _code_reader(self.config))
        self.text_reader, self.code_reader = _readers
        needs = [self.config.limits.working_size, *(d.input_size for d in self.detectors)]
        if self.text_reader is not None:
            needs.append(self.text_reader.input_size)
        self.working_size = max(needs)
        self._versions = [
            ModelVersion(name=m.name, version=m.version, sha256=m.sha256) for m in self.models
        ]
        self._mediaguard_version = version("mediaguard")

    def with_policy(self, policy: Policy, *, matcher: Matcher | None = None) -> Scanner:
        """A scanner sharing these loaded models but applying another policy."""
        shared = Scanner(
            self.config,
            policy,
            matcher=matcher or self.matcher,
            _detectors=self.detectors,
            _readers=(self.text_reader, self.code_reader),
        )
        shared.threads = self.threads
        return shared

    @property
    def models(self) -> list[ModelInfo]:
        """Every model and reading library a scan runs: detectors, OCR, code reader."""
        models = [d.model for d in self.detectors]
        if self.text_reader is not None:
            models += self.text_reader.models
        if self.code_reader is not None:
            models.append(self.code_reader.model)
        return models

    def scan(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> Verdict:
        """Scan one image or video, given as a path or as its bytes.

        The format is recognised from the bytes. An image is read whole and decoded once;
        a video is streamed, sampled (fixed rate plus scene cuts) and never held in
        memory, and its verdict carries a timeline.

        Args:
            source: a file path, or the encoded bytes.
            name: recorded as the verdict's ``source``; defaults to the path or ``<bytes>``.
            progress: called with the fraction of a video scanned so far (0 to 1).

        Raises:
            UnsupportedMedia: the bytes are not a supported format.
            MediaTooLarge: a limit was exceeded.
            CorruptMedia: the media cannot be decoded (for a video: nothing readable).
            UnreadableSource: the path cannot be read.
        """
        started = time.perf_counter()
        label = name or ("<bytes>" if isinstance(source, bytes) else str(Path(source)))
        head, _size = peek(source)
        work = _Work(timings={"read_ms": _ms(started)})
        if sniff(head).kind is MediaKind.VIDEO:
            self._video(source, work, progress)
        else:
            self._image(source, work)
        return self._finish(label, work, started)

    def scan_frames(self, frames: Sequence[Frame]) -> FrameFindings:
        """Hash, score and match frames that arrived on their own (a live stream's samples).

        There is no file, so nothing is recorded for retroactive matching and the exact
        digests are of the frames' pixels, which only an identical decoded picture
        shares; perceptual (PDQ) matching is what finds a listed frame in a stream.
        """
        work = _Work(timings={})
        self._hash_and_detect(frames, work)
        outcome = MatchOutcome()
        if self.matcher is not None and frames:
            digests = hashes.digests_of(f.pixels.tobytes() for f in frames)
            query = MatchQuery(digests, tuple(work.pdqs), tuple(work.variants), tuple(work.edits))
            outcome = self.matcher.match(query)
        return FrameFindings(tuple(work.detections), tuple(work.pdqs), outcome, work.timings)

    def _hash_and_detect(self, frames: Sequence[Frame], work: _Work) -> None:
        self._hash(frames, work)
        work.detected(self._detect(frames))
        self._read(frames, work)

    def _hash(self, frames: Sequence[Frame], work: _Work) -> None:
        """PDQ hashes of the frames, with their dihedral and edited-copy variants."""
        mark = time.perf_counter()
        pdqs = [hashes.pdq(frame) for frame in frames]
        work.pdqs.extend(pdqs)
        if self.config.dihedral and self.matcher is not None:
            work.variants.extend(
                (frame.index, transform, hex_)
                for frame, p in zip(frames, pdqs, strict=True)
                if p.usable
                for transform, hex_ in hashes.pdq_dihedral(frame).items()
                if transform is not None
            )
        level = self.policy.widest_variants
        if level > Level.EXACT and self.matcher is not None:
            work.edits.extend(
                EditHash(frame.index, region.name, region.level, h.hex, box)
                for frame, p in zip(frames, pdqs, strict=True)
                if p.usable
                for region, box, h in hashes.pdq_regions(frame, level)
                if h.usable
            )
        work.add("hash_ms", mark)

    def _detect(self, frames: Sequence[Frame]) -> tuple[list[Detection], float]:
        """Every detector's findings on the frames, and the milliseconds they took.

        Touches nothing shared, so that a video's batch can be scored on another thread
        while the next batch is decoded and hashed (see :meth:`_video`).
        """
        mark = time.perf_counter()
        found = [
            detection
            for detector in self.detectors
            for per_frame in detector.detect(frames)
            for detection in per_frame
        ]
        return found, _ms(mark)

    def _read(self, frames: Sequence[Frame], work: _Work) -> None:
        """Text and codes in the frames, when the policy reads them."""
        if self.text_reader is not None:
            mark = time.perf_counter()
            for lines in self.text_reader.read(frames):
                work.texts.extend(lines)
            work.add("text_ms", mark)
        if self.code_reader is not None:
            mark = time.perf_counter()
            for reads in self.code_reader.read(frames):
                work.codes.extend(reads)
            work.add("codes_ms", mark)

    def _image(self, source: str | os.PathLike[str] | bytes, work: _Work) -> None:
        mark = time.perf_counter()
        data = read_source(source, self.config.limits)
        work.add("read_ms", mark)
        mark = time.perf_counter()
        decoded = media.load(data, self.config.limits, self.working_size)
        work.add("decode_ms", mark)
        mark = time.perf_counter()
        work.digests = hashes.digests(data)
        work.add("hash_ms", mark)
        work.facts = decoded.facts
        work.samples = [(f.time or Fraction(0), f.index) for f in decoded.frames]
        self._hash_and_detect(decoded.frames, work)
        if self.matcher is not None:
            # Kept for checking an edited-copy match against a listed picture; a still
            # has few frames, a video's are streamed and not kept.
            work.frames = {f.index: verify.grey(f.pixels) for f in decoded.frames[:_FRAMES_KEPT]}

    def _video(
        self,
        source: str | os.PathLike[str] | bytes,
        work: _Work,
        progress: Callable[[float], None] | None,
    ) -> None:
        mark = time.perf_counter()
        stream = sample_frames(
            source if isinstance(source, bytes) else Path(source),
            self.config.video_limits,
            self.config.sampling,
            self.working_size,
            digest=True,
        )
        # The detectors (onnxruntime, which releases the GIL) score each batch on a
        # thread of their own while this thread decodes, hashes and reads the next one,
        # so one video keeps two cores busy. At most one batch is being scored, and its
        # findings are taken before the next is handed over, so they stay in order.
        with stream, ThreadPoolExecutor(1, thread_name_prefix="detect") as scoring:
            duration = stream.info.duration
            frames = iter(stream)
            scored: Future[tuple[list[Detection], float]] | None = None
            while batch := list(islice(frames, _VIDEO_BATCH)):
                work.add("decode_ms", mark)
                if scored is not None:
                    work.detected(scored.result())  # raises what the detectors raised
                scored = scoring.submit(self._detect, batch)
                self._hash(batch, work)
                self._read(batch, work)
                if progress is not None and duration:
                    progress(min(1.0, float((batch[-1].time or 0) / duration)))
                mark = time.perf_counter()
            if scored is not None:
                work.detected(scored.result())
        work.add("decode_ms", mark)
        mark = time.perf_counter()
        if isinstance(source, bytes):
            work.digests = hashes.digests(source)
        else:
            # From the bytes FFmpeg read (media.digesting): the file is not read again.
            assert stream.digests is not None, "the stream was iterated to its end"
            work.digests = hashes.Digests(md5=stream.digests.md5, sha256=stream.digests.sha256)
        work.add("hash_ms", mark)
        work.facts = stream.info.facts(stream.decoded)
        work.samples = list(stream.samples)
        work.incomplete_reason = stream.reason if stream.incomplete else None
        if not work.pdqs:
            raise CorruptMedia("video: no frame could be decoded")

    def _timeline(self, work: _Work, outcome: MatchOutcome) -> list[Segment]:
        """Segments per category, each built at the policy's lowest flagging threshold.

        A term or URL list match (not on an allow-list) counts as a detection of its
        list's category scoring 1 on its frame, so a slogan on screen from 0:12 to 0:31 is
        a segment like any other; a category only lists flag has no threshold, and then
        only those matches make its segments.
        """
        if work.facts is None or work.facts.format.kind is not MediaKind.VIDEO:
            return []
        detections = work.detections + [
            _as_detection(m)
            for m in outcome.text_matches
            if list_action(self.policy, m.list, outcome.list_actions) is not ListAction.ALLOW
        ]
        segments: list[Segment] = []
        for category in sorted({d.category for d in detections}):
            limits = self.policy.thresholds(category)
            floor = limits.review if limits.review is not None else limits.block
            listed = any(d.detector == _LISTED for d in detections if d.category == category)
            if floor is None and not listed:
                continue
            segments += build_timeline(
                work.samples,
                [d for d in detections if d.category == category],
                min_score=floor if floor is not None else 1.0,
                duration=work.facts.duration,
            )
        return sorted(segments, key=lambda s: (Fraction(s.start), s.category))

    def _finish(self, label: str, work: _Work, started: float) -> Verdict:
        assert work.facts is not None, "a media stage ran"
        assert work.digests is not None, "digests were taken"
        pdqs = tuple(work.pdqs)
        capped: list[str] = []
        texts, codes = _found(work, capped)
        mark = time.perf_counter()
        outcome = MatchOutcome()
        if self.matcher is not None:
            query = MatchQuery(
                work.digests,
                pdqs,
                tuple(work.variants),
                tuple(work.edits),
                work.frames,
                texts=tuple(texts),
                codes=tuple(codes),
            )
            outcome = self.matcher.match(query)
        work.add("match_ms", mark)

        mark = time.perf_counter()
        decision = decide(
            self.policy,
            work.detections,
            outcome.matches,
            list_actions=outcome.list_actions,
            quarantined=outcome.quarantined,
            text_matches=outcome.text_matches,
        )
        timeline = self._timeline(work, outcome)
        work.add("policy_ms", mark)

        notes = list(outcome.notes)
        weak = [p for p in pdqs if not p.usable]
        if weak:
            notes.append(
                f"PDQ quality of {len(weak)} of {len(pdqs)} frame(s) is below "
                f"{hashes.MIN_PDQ_QUALITY} (lowest {min(p.quality for p in weak)}, frame "
                f"{weak[0].frame}): too flat to match perceptually (exact digests still match)"
            )
        if work.incomplete_reason:
            notes.append(f"incomplete: {work.incomplete_reason}")
        notes += capped
        facts = work.facts
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
                frame_count=max(facts.frame_count, len(pdqs)),
                sampled_frames=len(pdqs),
                animated=facts.animated,
                duration_s=float(facts.duration) if facts.duration is not None else None,
            ),
            hashes=Hashes(
                md5=work.digests.md5,
                sha256=work.digests.sha256,
                pdq=[
                    PDQInfo(
                        frame=p.frame,
                        time_s=float(p.time) if p.time is not None else None,
                        hash=p.hex,
                        quality=p.quality,
                        usable=p.usable,
                    )
                    for p in pdqs
                ],
            ),
            detections=work.detections,
            scores=category_scores(work.detections),
            matches=list(outcome.matches),
            texts=texts,
            codes=codes,
            text_matches=list(outcome.text_matches),
            decision=decision.decision,
            reasons=list(decision.reasons),
            timeline=timeline,
            incomplete=work.incomplete_reason is not None,
            incomplete_reason=work.incomplete_reason,
            notes=notes,
            models=self._versions,
            policy=PolicyRef(
                name=self.policy.name, version=self.policy.version, sha256=self.policy.sha256
            ),
            timings=Timings(**work.timings, total_ms=_ms(started)),
        )
        if self.matcher is not None:
            self.matcher.record(verdict)
        return verdict


_VIDEO_BATCH = 8
# Lines and codes kept per item: a long video of a news ticker must not make a verdict
# of millions of lines.
MAX_TEXTS = 2_000
MAX_CODES = 500


#: The detector name a term or URL list match carries as a timeline detection.
_LISTED = "text-list"


def _as_detection(match: TextMatch) -> Detection:
    return Detection(
        detector=_LISTED, category=match.category, label=match.list, score=1.0, frame=match.frame
    )


def _text_reader(config: ScanConfig) -> TextReader | None:
    options = config.text
    if not options.enabled:
        return None
    return TextReader(
        min_confidence=options.min_confidence,
        upright=options.upright,
        input_size=options.input_size,
        detect_size=options.detect_size,
    )


def _code_reader(config: ScanConfig) -> CodeReader | None:
    return CodeReader() if config.codes.enabled else None


def _found(work: _Work, notes: list[str]) -> tuple[list[TextFound], list[CodeFound]]:
    """The verdict's texts and codes, with frame times and URLs, capped per item."""
    video = work.facts is not None and work.facts.format.kind is MediaKind.VIDEO
    times = {index: float(time) for time, index in work.samples} if video else {}
    for kind, found, cap in (
        ("lines of text", len(work.texts), MAX_TEXTS),
        ("codes", len(work.codes), MAX_CODES),
    ):
        if found > cap:
            notes.append(f"{found} {kind} were read; the verdict keeps the first {cap}")
    texts = [
        TextFound(
            text=line.text,
            confidence=line.confidence,
            box=line.box,
            frame=line.frame,
            time_s=times.get(line.frame),
            urls=[u.url.url for u in urls.extract(line.text)],
        )
        for line in work.texts[:MAX_TEXTS]
    ]
    codes = [
        CodeFound(
            symbology=read.symbology,
            content=read.content,
            payload=read.payload,
            length=read.length,
            truncated=read.truncated,
            box=read.box,
            frame=read.frame,
            time_s=times.get(read.frame),
            urls=[u.url.url for u in urls.extract(read.payload)] if read.content == "text" else [],
        )
        for read in work.codes[:MAX_CODES]
    ]
    return texts, codes


@dataclass
class _Work:
    """What the media and signal stages produced for one item, gathered for the verdict."""

    timings: dict[str, float]
    facts: MediaFacts | None = None
    digests: hashes.Digests | None = None
    pdqs: list[hashes.PDQHash] = field(default_factory=list)
    variants: list[tuple[int, str, str]] = field(default_factory=list)
    edits: list[EditHash] = field(default_factory=list)
    frames: dict[int, npt.NDArray[np.uint8]] = field(default_factory=dict)
    detections: list[Detection] = field(default_factory=list)
    texts: list[TextLine] = field(default_factory=list)
    codes: list[CodeRead] = field(default_factory=list)
    samples: list[tuple[Fraction, int]] = field(default_factory=list)
    incomplete_reason: str | None = None

    def add(self, stage: str, since: float) -> None:
        self.add_ms(stage, _ms(since))

    def add_ms(self, stage: str, ms: float) -> None:
        self.timings[stage] = round(self.timings.get(stage, 0.0) + ms, 3)

    def detected(self, found: tuple[list[Detection], float]) -> None:
        """Keep a batch's findings and the milliseconds its detectors took on it."""
        detections, ms = found
        self.detections.extend(detections)
        self.add_ms("detect_ms", ms)
