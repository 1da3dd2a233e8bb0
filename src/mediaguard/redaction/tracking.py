"""Which boxes to mask on every video frame: faces kept hidden across missed frames.

Why separate: the detector looks at one picture at a time, and its detections flicker:
a face found on one frame is missed on the next, or found a few frames late. The planner
turns them into masks for every frame: tracks followed by small window searches between
whole-frame searches, held for a while after a miss, and followed backwards through the
buffered frames when a face is found late. It sees frames only through two callables, so
it needs neither the model nor a video and is tested on stub detections.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

import numpy as np

from mediaguard.redaction.boxes import FloatArray, Located, grown_box, iou

_T = TypeVar("_T")

# A face followed backwards is given up after this many frames in a row without it.
_BACK_MISSES: Final = 2
_MAX_EXTRAPOLATION: Final = 3
# Held (not re-found) boxes grow by this fraction per missed frame, up to _MAX_GROWTH.
_GROWTH: Final = 0.1
_MAX_GROWTH: Final = 1.5


@dataclass(slots=True)
class _Track:
    box: FloatArray
    seen: int
    velocity: FloatArray

    def predict(self, index: int) -> FloatArray:
        # Motion is extrapolated a few frames at most: beyond that a lost face is as
        # likely to have stopped or turned as to have kept going.
        frames = min(index - self.seen, _MAX_EXTRAPOLATION)
        predicted: FloatArray = self.box + self.velocity * np.float32(frames)
        return predicted

    def update(self, index: int, box: FloatArray) -> None:
        step = np.float32(max(1, index - self.seen))
        # Half the new motion, half the old: walking faces bob from frame to frame.
        self.velocity = ((self.velocity + (box - self.box) / step) / 2.0).astype(np.float32)
        self.box, self.seen = box.astype(np.float32), index

    def held(self, index: int) -> list[FloatArray]:
        """Boxes for a frame on which the face was not re-found: where it was, grown,
        and where it was heading."""
        factor = min(_MAX_GROWTH, 1.0 + _GROWTH * (index - self.seen))
        return [grown_box(self.box, factor), grown_box(self.predict(index), factor)]


@dataclass(slots=True)
class _Pending(Generic[_T]):
    index: int
    item: _T
    boxes: list[FloatArray] = field(default_factory=list)


class MaskPlanner(Generic[_T]):
    """Decides which boxes to mask on every frame of a video, from flickering detections.

    Frames are pushed in presentation order and come back in the same order, each
    exactly once, with the boxes to mask, after a delay of ``lookback`` frames.

    * Every ``every``-th frame (and the last) is searched whole with ``detect``.
    * Faces found become tracks. On the frames in between, each track is searched for
      only in a small window around where it is heading (``search``), which costs a
      fraction of a whole-frame search and follows faces the size of a few pixels.
    * A track not re-found is *held*: its last box, growing a little with each missed
      frame, and its predicted box stay masked for ``hold`` frames, so a face missed
      on a frame or two is still hidden and the mask does not flicker.
    * A face first found on a whole-frame search is followed *backwards* through the
      frames still buffered (up to ``lookback``), so the frames before it was found are
      covered too.

    Args:
        detect: boxes (K, 4) of the faces on a whole frame.
        search: for one frame and (T, 4) predicted boxes, the faces re-found near them
            and any other face found on the way (:class:`Located`).
        every: whole-frame search stride in frames (1 = every frame).
        hold: frames a track is held after it was last found.
        lookback: frames a new track is followed backwards; also the output delay.
    """

    def __init__(
        self,
        detect: Callable[[_T], FloatArray],
        search: Callable[[_T, FloatArray], Located],
        *,
        every: int,
        hold: int,
        lookback: int,
    ) -> None:
        if every < 1 or hold < 0 or lookback < 0:
            raise ValueError("every must be >= 1, and hold and lookback >= 0")
        self._detect = detect
        self._search = search
        self.every = every
        self.hold = hold
        self.lookback = lookback
        self._pending: deque[_Pending[_T]] = deque()
        self._tracks: list[_Track] = []
        self._count = 0

    def push(self, item: _T) -> list[tuple[_T, FloatArray]]:
        """Add the next frame; returns the frames whose boxes are now final, in order."""
        entry = _Pending(self._count, item)
        self._count += 1
        self._pending.append(entry)
        live = [t for t in self._tracks if entry.index - t.seen <= self.hold]
        if entry.index % self.every == 0:
            self._whole(entry, live)
        elif live:
            self._follow(entry, live)
        for track in live:
            if track.seen != entry.index:
                entry.boxes.extend(track.held(entry.index))
        self._tracks = _distinct([t for t in self._tracks if entry.index - t.seen <= self.hold])
        return self._release(self._count - 1 - self.lookback)

    def finish(self) -> list[tuple[_T, FloatArray]]:
        """Release every remaining frame; the last is searched whole first."""
        if self._pending and self._pending[-1].index % self.every:
            entry = self._pending[-1]
            live = [t for t in self._tracks if t.seen == entry.index]
            self._whole(entry, live, known=entry.boxes)
        return self._release(self._count)

    def _whole(
        self, entry: _Pending[_T], live: list[_Track], known: list[FloatArray] | None = None
    ) -> None:
        found = np.asarray(self._detect(entry.item), np.float32).reshape(-1, 4)
        predicted = np.stack([t.predict(entry.index) for t in live]) if live else found[:0]
        located = Located.pair(predicted, found)
        for track, box in zip(live, located.boxes, strict=True):
            if np.isfinite(box).all():
                track.update(entry.index, box)
        already = np.stack(known) if known else found[:0]
        fresh = [b for b in located.others if not len(already) or iou(b, already).max() <= 0.5]
        self._start(entry, fresh)
        entry.boxes.extend(found)

    def _follow(self, entry: _Pending[_T], live: list[_Track]) -> None:
        predicted = np.stack([t.predict(entry.index) for t in live])
        located = self._search(entry.item, predicted)
        for track, box in zip(live, located.boxes, strict=True):
            if np.isfinite(box).all():
                track.update(entry.index, box)
                entry.boxes.append(box)
        self._start(entry, list(located.others))
        entry.boxes.extend(located.others)

    def _start(self, entry: _Pending[_T], boxes: list[FloatArray]) -> None:
        """Start a track for each new face and follow them back through buffered frames.

        The new faces are searched for together, one network call per earlier frame,
        until each has been missed on :data:`_BACK_MISSES` frames in a row (then its
        box, grown, covers those frames too) or the buffered frames run out.
        """
        if not boxes:
            return
        current = np.stack([np.asarray(box, np.float32) for box in boxes])
        for box in current:
            self._tracks.append(_Track(box.copy(), entry.index, np.zeros(4, np.float32)))
        misses = np.zeros(len(current), np.intp)
        for earlier in reversed(self._pending):
            if earlier.index >= entry.index:
                continue
            active = np.flatnonzero(misses < _BACK_MISSES)
            if earlier.index < entry.index - self.lookback or not len(active):
                break
            located = self._search(earlier.item, current[active])
            earlier.boxes.extend(located.others)
            for row, box in zip(active, located.boxes, strict=True):
                if np.isfinite(box).all():
                    current[row], misses[row] = box, 0
                    earlier.boxes.append(box)
                else:
                    misses[row] += 1
                    growth = min(_MAX_GROWTH, 1.0 + _GROWTH * float(misses[row]))
                    earlier.boxes.append(grown_box(current[row], growth))

    def _release(self, before: int) -> list[tuple[_T, FloatArray]]:
        done: list[tuple[_T, FloatArray]] = []
        while self._pending and self._pending[0].index < before:
            entry = self._pending.popleft()
            boxes = np.stack(entry.boxes) if entry.boxes else np.zeros((0, 4), np.float32)
            done.append((entry.item, boxes.astype(np.float32)))
        return done


def _distinct(tracks: list[_Track]) -> list[_Track]:
    """Drop a track that has merged into an older one (two tracks on one face)."""
    kept: list[_Track] = []
    for track in tracks:
        if kept and iou(track.box, np.stack([k.box for k in kept])).max() > 0.6:
            continue
        kept.append(track)
    return kept
