"""Watch one live stream: sample it, scan each sample, decide over the window, report.

Why separate: this is the loop that joins the stages for a live source, the counterpart
of :meth:`~mediaguard.scanner.Scanner.scan` for a stored one, and the one place that turns
what happened into :class:`~mediaguard.live.events.StreamEvent` values: ``started`` on the
first sample, ``alert`` when the decision in force rises (to review or block), ``cleared``
when it falls back, ``gap`` after an outage, and ``ended`` or ``failed`` last. Every sample
is scanned as it arrives, one at a time, so an alert follows its frame by one inference.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from mediaguard.errors import MediaguardError
from mediaguard.live.events import EventKind, GapInfo, StreamEvent, times
from mediaguard.live.state import StreamState
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream, StreamGap
from mediaguard.media.types import Frame
from mediaguard.policy.model import Decision
from mediaguard.policy.window import RollingDecision
from mediaguard.scanner import Scanner

__all__ = ["Watch", "watch"]


class Watch:
    """The events of one watched stream; iterate once. :meth:`stop` ends it from any thread.

    Args:
        url: the stream (http, https, rtmp, rtmps or rtsp).
        scanner: what scans each sample and the policy that decides; a default
            :class:`Scanner` when None.
        options: how the stream is read; :class:`LiveOptions` defaults when None (one
            sample a second plus scene cuts).
        until: stop once the decision in force reaches this (e.g. block).
        max_duration_s: stop after this many seconds of watching (wall clock).
        samples: also yield a ``sample`` event per scanned sample.
        scan_slot: held around each sample's scan (the service's scan slots), so that
            streams share the process's scan concurrency with uploads and jobs.

    After iteration, :attr:`state` holds the stream's final state and :attr:`alert_frame`
    the frame that raised the latest alert.
    """

    def __init__(
        self,
        url: str,
        *,
        scanner: Scanner | None = None,
        options: LiveOptions | None = None,
        until: Decision | None = None,
        max_duration_s: float | None = None,
        samples: bool = False,
        scan_slot: AbstractContextManager[object] | None = None,
    ) -> None:
        self.scanner = scanner or Scanner()
        self._slot = scan_slot if scan_slot is not None else nullcontext()
        options = options or LiveOptions(sampling=self.scanner.config.sampling)
        self.stream = LiveStream(
            url,
            options,
            working_size=self.scanner.working_size,
            limits=self.scanner.config.video_limits,
        )
        self.url = url
        self.until = until
        self.max_duration_s = max_duration_s
        self.emit_samples = samples
        self.state = StreamState()
        self.alert_frame: Frame | None = None
        self.last_alert: StreamEvent | None = None
        self._window = RollingDecision(self.scanner.policy)
        self._stopped = threading.Event()
        self._iterated = False

    def stop(self) -> None:
        self._stopped.set()
        self.stream.stop()

    def _event(self, kind: EventKind, **fields: Any) -> StreamEvent:
        fields.setdefault("decision", self.state.decision)
        if "time_s" not in fields:
            fields.update(times(self.state.last_time))
        fields.setdefault("dropped", self.stream.dropped)
        return StreamEvent(
            kind=kind, url=self.url, at=datetime.now(UTC), samples=self.state.samples, **fields
        )

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iterated:
            raise RuntimeError("a Watch can be iterated only once")
        self._iterated = True
        started = time.monotonic()
        timer: threading.Timer | None = None
        if self.max_duration_s is not None:
            timer = threading.Timer(self.max_duration_s, self.stop)
            timer.daemon = True
            timer.start()
        reason = "end of stream"
        try:
            with self.stream:
                for item in self.stream:
                    if isinstance(item, StreamGap):
                        yield self._gap(item)
                        continue
                    yield from self._sample(item)
                    if self.until is not None and (
                        self.state.decision.severity >= self.until.severity
                    ):
                        reason = f"the decision reached {self.until.value}"
                        break
            if self._stopped.is_set():
                elapsed = time.monotonic() - started
                limit = self.max_duration_s
                reason = (
                    f"max duration ({limit:g} s) reached"
                    if limit is not None and elapsed >= limit
                    else "stopped"
                )
            elif reason == "end of stream":
                reason = self.stream.ended_reason or reason
        except MediaguardError as err:
            yield self._final(EventKind.FAILED, f"{type(err).__name__}: {err}")
            raise
        finally:
            if timer is not None:
                timer.cancel()
        yield self._final(EventKind.ENDED, reason)

    def _final(self, kind: EventKind, why: str) -> StreamEvent:
        return self._event(
            kind, error=why, segments=self.state.segments, matches=self.state.matches
        )

    def _gap(self, gap: StreamGap) -> StreamEvent:
        info = GapInfo(
            start_s=float(gap.start),
            end_s=float(gap.end),
            seconds=gap.seconds,
            reason=gap.reason,
            attempts=gap.attempts,
        )
        return self._event(EventKind.GAP, gap=info, **times(gap.start))

    def _sample(self, sample: LiveSample) -> Iterator[StreamEvent]:
        with self._slot:
            findings = self.scanner.scan_frames([sample.frame])
        outcome = findings.outcome
        window = self._window.update(
            findings.detections,
            outcome.matches,
            list_actions=outcome.list_actions,
            quarantined=outcome.quarantined,
        )
        previous = self.state.decision
        self.state.update(sample.time, window, outcome.matches)
        at = times(sample.time)
        if self.state.samples == 1:
            yield self._event(EventKind.STARTED, **at, frame=sample.frame.index)
        flagged = [r for r in window.reasons if r.decision is not Decision.ALLOW]
        if self.emit_samples:
            yield self._event(EventKind.SAMPLE, **at, frame=sample.frame.index, reasons=flagged)
        current = self.state.decision
        if current.severity > previous.severity:
            self.alert_frame = sample.frame
            event = self._event(
                EventKind.ALERT,
                **at,
                previous=previous,
                reasons=flagged,
                frame=sample.frame.index,
                latency_s=round(time.time() - sample.wall, 3),
                matches=self.state.matches,
            )
            self.last_alert = event
            yield event
        elif current.severity < previous.severity:
            yield self._event(EventKind.CLEARED, **at, previous=previous, reasons=flagged)


def watch(url: str, **options: Any) -> Watch:
    """Watch a live stream; iterate the result for its events.

    Keyword arguments are those of :class:`Watch`. Iteration raises
    :class:`~mediaguard.errors.StreamUnavailable` or :class:`~mediaguard.errors.StreamLost`
    after yielding a ``failed`` event; it ends with an ``ended`` event otherwise.

    Raises:
        UnsupportedMedia: the URL is not a stream protocol mediaguard opens.
    """
    return Watch(url, **options)
