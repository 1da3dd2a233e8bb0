"""Hash lists wired to the store: matching scanned items, imports, and retroactive matches.

Design note: the store is the source of truth for lists and entries; the indexes are a
cache of it. A :class:`ListMatcher` keeps only entry ids in its indexes (the few entries
that match are read back from the store), persists the indexes in the data directory in
the safe, versioned container format of :mod:`mediaguard.match.index`, and brings them
up to date incrementally: entries added since the saved state are indexed, and a removal
(detected because the store holds fewer entries than the saved count plus the additions)
triggers a rebuild. Scanned items' hashes are recorded so that a list that grows later
can be matched against the past ("retroactive matching"), and every match is recorded so
that a hash matching suspiciously many items can be quarantined.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import numpy as np
import numpy.typing as npt

from mediaguard.errors import MediaguardError
from mediaguard.iterutil import chunks
from mediaguard.lists import media
from mediaguard.lists.query import EditHash, MatchOutcome, MatchQuery
from mediaguard.lists.termlists import TextListMatcher
from mediaguard.match.formats import LineError, ListFormat, iter_entries, write_entries
from mediaguard.match.index import ExactIndex, PDQIndex, pdq_codes
from mediaguard.match.types import Entry, IndexFormatError, Match, SignalType
from mediaguard.match.video import FrameHash, VideoIndex, format_vpdq, parse_vpdq
from mediaguard.paths import data_dir
from mediaguard.policy.model import ListAction, Quarantine
from mediaguard.signals.hashes import MIN_PDQ_QUALITY
from mediaguard.signals.variants import Level
from mediaguard.store import Store
from mediaguard.store.items import ItemInfo
from mediaguard.store.list_types import EntryInfo, HashListInfo, NewEntry
from mediaguard.store.termlist_repo import TextListStore

if TYPE_CHECKING:
    from mediaguard.verdict import Verdict

_STATE_VERSION: Final = 1
_ITEM_BATCH: Final = 5000

#: Why an entry matched: (distance, dihedral transform, frame, edited-copy region).
_Hit = tuple[int, str | None, int | None, EditHash | None]


@dataclass(frozen=True, slots=True)
class _Indexes:
    md5: ExactIndex
    sha256: ExactIndex
    pdq: PDQIndex
    vpdq: VideoIndex
    max_id: int
    count: int


def to_new_entry(entry: Entry) -> NewEntry:
    """A parsed list line as a store entry; a vPDQ video is keyed by its hashes' SHA-256.

    HMA's vPDQ lines carry the frame hashes but no identifier for the video, so the
    SHA-256 of the normalised serialisation stands in for one: importing the same
    video twice is then a duplicate, as it should be.
    """
    frames: tuple[FrameHash, ...] = ()
    value = entry.value
    if entry.signal is SignalType.VPDQ:
        frames = tuple(parse_vpdq(entry.value))
        value = hashlib.sha256(entry.value.encode()).hexdigest()
    return NewEntry(
        signal_type=entry.signal.value,
        value=value,
        external_id=entry.external_id,
        note=entry.note,
        added_at=entry.added_at,
        frames=frames,
    )


def to_entry(info: EntryInfo) -> Entry:
    """A stored entry as a list line, for export (vPDQ written back as its frames)."""
    signal = SignalType(info.signal_type)
    value = format_vpdq(info.frames) if info.frames else info.value
    return Entry(signal, value, info.external_id, info.note, info.added_at)


class ListMatcher:
    """Matches items against every hash list in a store.

    Args:
        store: the store holding the lists; it must be migrated to the current schema.
        quarantine: when a listed hash counts as matching suspiciously often.
        record: record scanned items and their matches (for retroactive matching and
            quarantine). Turn off to keep no trace of scanned items.
        index_dir: where the indexes persist; a folder in the data directory by default.
    """

    def __init__(
        self,
        store: Store,
        *,
        quarantine: Quarantine | None = None,
        record: bool = True,
        index_dir: Path | None = None,
        variant_level: Callable[[str], Level] = lambda _list: Level.EXACT,
    ) -> None:
        store.check_current()
        self.store = store
        self.quarantine = quarantine or Quarantine()
        self.variant_level = variant_level
        self.record_items = record
        key = hashlib.sha256(store.url.encode()).hexdigest()[:16]
        self.index_dir = index_dir or data_dir() / "index" / key
        self._lists: dict[str, HashListInfo] = {}
        self._indexes = self._load()
        # Term and URL lists live in the same store, so the one matcher a scanner holds
        # covers them, refreshed with the hash lists.
        self.text_lists = TextListMatcher(TextListStore(store))
        self.refresh()

    # ------------------------------------------------------------------ indexes

    def _empty(self) -> _Indexes:
        return _Indexes(
            ExactIndex(SignalType.MD5), ExactIndex(SignalType.SHA256), PDQIndex(),
            VideoIndex(), 0, 0,
        )  # fmt: skip

    @contextmanager
    def _cache_lock(self, mode: int) -> Iterator[None]:
        """Hold the cache folder's lock: shared to load, exclusive to save.

        Every process scanning with this store shares the folder; without the lock two
        saves collide, and a load between the files of one save reads indexes of two
        generations, so entries could go unmatched.
        """
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with (self.index_dir / "lock").open("a") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self) -> _Indexes:
        try:
            with self._cache_lock(fcntl.LOCK_SH):
                return self._read_cache()
        except OSError:
            return self._empty()

    def _read_cache(self) -> _Indexes:
        state_file = self.index_dir / "state.json"
        try:
            state = json.loads(state_file.read_text())
            if state.get("version") != _STATE_VERSION:
                return self._empty()
            return _Indexes(
                ExactIndex.load(self.index_dir / "md5.idx"),
                ExactIndex.load(self.index_dir / "sha256.idx"),
                PDQIndex.load(self.index_dir / "pdq.idx"),
                VideoIndex.load(self.index_dir / "vpdq.idx"),
                int(state["max_id"]),
                int(state["count"]),
            )
        except (OSError, ValueError, KeyError, TypeError, IndexFormatError):
            # A missing, stale or damaged cache is rebuilt from the store.
            return self._empty()

    def _save(self) -> None:
        idx = self._indexes
        with self._cache_lock(fcntl.LOCK_EX):
            idx.md5.save(self.index_dir / "md5.idx")
            idx.sha256.save(self.index_dir / "sha256.idx")
            idx.pdq.save(self.index_dir / "pdq.idx")
            idx.vpdq.save(self.index_dir / "vpdq.idx")
            state = {"version": _STATE_VERSION, "max_id": idx.max_id, "count": idx.count}
            tmp = self.index_dir / "state.json.tmp"
            tmp.write_text(json.dumps(state))
            tmp.replace(self.index_dir / "state.json")

    def _index(self, base: _Indexes, entries: Iterable[EntryInfo]) -> _Indexes:
        max_id, count = base.max_id, base.count
        # PDQ rows are added once, at the end: each add beyond the index's small delta
        # rebuilds its sorted structure, so adding chunk by chunk made loading 10M
        # hashes quadratic (minutes), where one add is one rebuild (seconds). The codes
        # wait as 32-byte rows, 320 MB at 10M.
        pdq_ids: list[npt.NDArray[np.int64]] = []
        pdq_rows: list[npt.NDArray[np.uint8]] = []
        for chunk in chunks(entries, 50_000):
            by_type: dict[str, list[EntryInfo]] = {}
            for info in chunk:
                by_type.setdefault(info.signal_type, []).append(info)
            for signal, index in (("md5", base.md5), ("sha256", base.sha256)):
                if rows := by_type.get(signal):
                    index.add([r.id for r in rows], [r.value for r in rows])
            if rows := by_type.get("pdq"):
                pdq_ids.append(np.fromiter((r.id for r in rows), np.int64, len(rows)))
                pdq_rows.append(pdq_codes([r.value for r in rows]))
            if rows := by_type.get("vpdq"):
                base.vpdq.add((r.id, r.frames) for r in rows)
            max_id = max(max_id, chunk[-1].id)
            count += len(chunk)
        if pdq_rows:
            base.pdq.add(np.concatenate(pdq_ids), np.concatenate(pdq_rows))
        return _Indexes(base.md5, base.sha256, base.pdq, base.vpdq, max_id, count)

    def refresh(self) -> None:
        """Re-read the lists and bring the indexes up to date with the store.

        Raises:
            StoreError: when the database fails.
        """
        self._lists = {info.name: info for info in self.store.lists.lists()}
        self.text_lists.refresh()
        current = self._indexes
        added = self._index(current, self.store.lists.entries_since(current.max_id))
        if self.store.lists.count_entries() != added.count:
            # Something was removed since the indexes were saved: rebuild from scratch.
            added = self._index(self._empty(), self.store.lists.iter_entries())
        changed = added.count != current.count or added.max_id != current.max_id
        self._indexes = added
        if changed or not (self.index_dir / "state.json").is_file():
            self._save()

    # ----------------------------------------------------------------- matching

    @property
    def list_actions(self) -> dict[str, ListAction]:
        hash_lists = {name: ListAction(info.action) for name, info in self._lists.items()}
        return {**self.text_lists.list_actions, **hash_lists}

    def _max_distance(self) -> int:
        return max((info.pdq_distance for info in self._lists.values()), default=0)

    def _matches(self, hits: dict[int, _Hit]) -> list[Match]:
        """Matches for ``{entry id: hit}``, within each list's radius and variant level."""
        matches = []
        for info in self.store.lists.get_entries(hits):
            listed = self._lists.get(info.list_name)
            distance, transform, frame, edit = hits[info.id]
            if listed is None or distance > listed.pdq_distance:
                continue
            if edit is not None and edit.level > self.variant_level(info.list_name):
                continue
            matches.append(
                Match(
                    list=info.list_name,
                    category=listed.category,
                    signal=info.signal_type,
                    value=info.value,
                    entry_id=info.id,
                    distance=distance,
                    transform=transform,
                    frame=frame,
                    variant=edit.variant if edit else None,
                    external_id=info.external_id,
                )
            )
        return matches

    def match(self, query: MatchQuery) -> MatchOutcome:
        """Match one item's digests and PDQ hashes against every list."""

        idx = self._indexes
        hits: dict[int, _Hit] = {}

        def keep(
            entry_id: int,
            distance: int,
            transform: str | None,
            frame: int | None,
            edit: EditHash | None = None,
        ) -> None:
            if entry_id not in hits or distance < hits[entry_id][0]:
                hits[entry_id] = (distance, transform, frame, edit)

        for entry_id in idx.md5.query(query.digests.md5) + idx.sha256.query(query.digests.sha256):
            keep(entry_id, 0, None, None)
        usable = [p for p in query.pdq if p.usable]
        radius = self._max_distance()
        multi = len(query.pdq) > 1
        if usable and len(idx.pdq):
            found = idx.pdq.query_batch([p.hex for p in usable], radius)
            for p, per_hash in zip(usable, found, strict=True):
                for entry_id, distance in per_hash:
                    keep(entry_id, distance, None, p.frame if multi else None)
            usable_frames = {p.frame for p in usable}
            variants = [v for v in query.variants if v[0] in usable_frames]
            if variants:
                found = idx.pdq.query_batch([v[2] for v in variants], radius)
                for (frame, transform, _hex), per_hash in zip(variants, found, strict=True):
                    for entry_id, distance in per_hash:
                        keep(entry_id, distance, transform, frame if multi else None)
            self._match_edits(query.edits, radius, multi, hits)
        if multi and len(idx.vpdq):
            frames = [
                FrameHash(p.frame, p.time or Fraction(0), p.hex, p.quality) for p in query.pdq
            ]
            for video in idx.vpdq.query(frames, max_distance=radius):
                keep(video.entry_id, video.distance, None, video.frame)
        boxes = {(edit.frame, edit.variant): edit.box for edit in query.edits}
        resolved, dropped = media.resolve(self.store, self._matches(hits), query.frames, boxes)
        matches = tuple(resolved)
        notes = tuple(dropped)
        if query.pdq and not usable and len(idx.pdq):
            notes += (
                f"no frame has PDQ quality of at least {MIN_PDQ_QUALITY}: "
                "not matched against PDQ lists",
            )
        return MatchOutcome(
            matches=matches,
            text_matches=tuple(self.text_lists.match(query.texts, query.codes)),
            list_actions=self.list_actions,
            quarantined=self._quarantined(matches),
            notes=notes,
        )

    def _match_edits(
        self, edits: Sequence[EditHash], radius: int, multi: bool, hits: dict[int, _Hit]
    ) -> None:
        """Add the entries that only an edited-copy region matched.

        An entry the whole frame already matched keeps that hit: the plainer explanation
        wins, and a list that allows no variants still sees it. Regions come simplest
        edit first (border, then caption bars, then sub-regions), and an entry keeps the
        first that matched, so the verdict names the least edit that explains the copy.
        """
        if not edits:
            return
        found = self._indexes.pdq.query_batch([e.hex for e in edits], radius)
        best: dict[int, _Hit] = {}
        for edit, per_hash in zip(edits, found, strict=True):
            for entry_id, distance in per_hash:
                if entry_id not in hits and entry_id not in best:
                    best[entry_id] = (distance, None, edit.frame if multi else None, edit)
        hits.update(best)

    def _quarantined(self, matches: Sequence[Match]) -> frozenset[int]:
        since = datetime.now(UTC) - timedelta(hours=self.quarantine.window_hours)
        return frozenset(
            m.entry_id
            for m in matches
            if self.store.items.count_hits(m.entry_id, since) > self.quarantine.max_hits
        )

    def record(self, verdict: Verdict) -> None:
        """Record a scanned item's hashes and its matches (unless recording is off)."""
        if not self.record_items:
            return
        first = verdict.hashes.pdq[0] if verdict.hashes.pdq else None
        item_id = self.store.items.record_item(
            verdict.hashes.sha256,
            source=verdict.source,
            md5=verdict.hashes.md5,
            sha256=verdict.hashes.sha256,
            pdq=first.hash if first else None,
            pdq_quality=first.quality if first else None,
            decision=verdict.decision.value,
            policy_version=verdict.policy.version,
        )
        for match in verdict.matches:
            self.store.items.record_hit(match.entry_id, item_id, match.distance)

    def lookup(self, signal: SignalType, value: str) -> list[Match]:
        """Entries matching one hash (like HMA's ``/m/lookup``): exact, or PDQ by radius."""
        idx = self._indexes
        hits: dict[int, _Hit] = {}
        if signal is SignalType.PDQ:
            for entry_id, distance in idx.pdq.query(value, self._max_distance()):
                hits[entry_id] = (distance, None, None, None)
        elif signal in (SignalType.MD5, SignalType.SHA256):
            index = idx.md5 if signal is SignalType.MD5 else idx.sha256
            hits = dict.fromkeys(index.query(value), (0, None, None, None))
        return self._matches(hits)


# ---------------------------------------------------------------- import, export


@dataclass(frozen=True, slots=True)
class RetroMatch:
    """A past item that matches an entry a list has just gained."""

    item: ItemInfo
    entry: EntryInfo
    distance: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: entries added, duplicates skipped, bad lines, past matches."""

    added: int
    duplicates: int
    errors: tuple[LineError, ...]
    error_count: int
    retro_matches: tuple[RetroMatch, ...]


def import_file(
    store: Store,
    list_name: str,
    stream: TextIO,
    *,
    fmt: ListFormat | str | None = None,
    signal: SignalType | str | None = None,
    retro: bool = True,
    max_errors_kept: int = 100,
) -> ImportReport:
    """Stream a hash-list file into a list, then find past items that now match.

    Args:
        store: the store.
        list_name: an existing list.
        stream: the open text file.
        fmt: ``hma``, ``csv`` or ``plain``; detected from the first line when None.
        signal: the hash type of a ``plain`` file.
        retro: match the new entries against recorded items.
        max_errors_kept: bad lines kept in the report (all are counted).

    Raises:
        NotFoundError: when the list does not exist.
        HashFormatError: when the format or signal type is invalid.
        StoreError: when the database fails.
    """
    store.lists.get_list(list_name)
    return import_entries(
        store,
        list_name,
        iter_entries(stream, fmt, signal),
        retro=retro,
        max_errors_kept=max_errors_kept,
    )


def import_entries(
    store: Store,
    list_name: str,
    parsed: Iterable[Entry | LineError],
    *,
    retro: bool = True,
    max_errors_kept: int = 100,
    atomic: bool = False,
) -> ImportReport:
    """Add parsed entries to a list in batches, then find past items that now match.

    ``parsed`` is consumed lazily, so ten million lines never sit in memory. Bad lines
    are counted and the first ``max_errors_kept`` are kept with their line numbers;
    every good line is still imported. ``atomic=True`` adds everything in one
    transaction (an exchange fetch: all of a page or none of it).

    Raises:
        NotFoundError: when the list does not exist.
        StoreError: when the database fails.
    """
    errors: list[LineError] = []
    error_count = 0

    def good() -> Iterator[NewEntry]:
        nonlocal error_count
        for item in parsed:
            if isinstance(item, LineError):
                error_count += 1
                if len(errors) < max_errors_kept:
                    errors.append(item)
                continue
            try:
                yield to_new_entry(item)
            except (ValueError, MediaguardError) as err:
                error_count += 1
                if len(errors) < max_errors_kept:
                    errors.append(LineError(0, item.value[:200], str(err)))

    before = store.lists.max_entry_id()
    result = store.lists.add_entries(list_name, good(), atomic=atomic)
    matches: tuple[RetroMatch, ...] = ()
    if retro and result.added:
        new = [e for e in store.lists.entries_since(before) if e.list_name == list_name]
        matches = tuple(retro_match(store, new))
    return ImportReport(result.added, result.duplicates, tuple(errors), error_count, matches)


def retro_match(store: Store, entries: Sequence[EntryInfo]) -> Iterator[RetroMatch]:
    """Recorded items that match any of ``entries`` (new list entries).

    Exact digests are looked up directly; PDQ entries are indexed on their own and the
    recorded items' hashes are streamed past that small index in batches.

    Raises:
        StoreError: when the database fails.
    """
    lists = {info.name: info for info in store.lists.lists()}
    for entry in entries:
        if entry.signal_type in ("md5", "sha256"):
            digest = {entry.signal_type: entry.value}
            for item in store.items.find_items_by_digest(**digest):
                yield RetroMatch(item, entry, 0)
    pdq_entries = {e.id: e for e in entries if e.signal_type == "pdq"}
    if not pdq_entries:
        return
    index = PDQIndex.build(list(pdq_entries), [e.value for e in pdq_entries.values()])
    radius = max(lists[e.list_name].pdq_distance for e in pdq_entries.values())
    for batch in chunks(store.items.iter_items(signal_type="pdq"), _ITEM_BATCH):
        usable = [i for i in batch if i.pdq and (i.pdq_quality or 0) >= MIN_PDQ_QUALITY]
        if not usable:
            continue
        found = index.query_batch([i.pdq for i in usable if i.pdq], radius)
        for item, per_item in zip(usable, found, strict=True):
            for entry_id, distance in per_item:
                entry = pdq_entries[entry_id]
                if distance <= lists[entry.list_name].pdq_distance:
                    yield RetroMatch(item, entry, distance)


def export_file(
    store: Store,
    list_name: str,
    stream: TextIO,
    fmt: ListFormat | str = ListFormat.HMA,
    *,
    with_crops: bool = False,
) -> int:
    """Write a list's entries in one of the import formats; returns the count written.

    The crops stored with added pictures are left out unless ``with_crops``: another
    system receiving the list would take them for pictures of their own.

    Raises:
        NotFoundError: when the list does not exist.
    """
    crops = set() if with_crops else store.list_media.derived_ids(list_name)
    entries = (to_entry(e) for e in store.lists.iter_entries(list_name) if e.id not in crops)
    return write_entries(stream, entries, fmt)


__all__ = [
    "ImportReport",
    "ListMatcher",
    "RetroMatch",
    "export_file",
    "import_entries",
    "import_file",
    "retro_match",
    "to_entry",
    "to_new_entry",
]
