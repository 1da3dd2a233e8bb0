"""Live streams in the service: the URL guard, submission, and the workers that watch.

Design note: a stream is a job that does not end by itself. It is stored
(``store.streams``, :class:`~mediaguard.store.streams.StreamRepository`) and leased like a job: a
:class:`StreamWorker` claims it, watches it with :class:`~mediaguard.live.Watch`, renews
the lease every third of its length and records each event. A worker that is killed
stops renewing; once the lease expires another worker's claim takes the stream over and
watches it again from the live edge (the attempt count shows the takeover). A worker
that finds its lease lost stops watching and writes nothing more. ``DELETE`` sets a stop
request that the holder reads with its next renewal.

Alerts, the end and a failure are also webhooks (``stream.alert``, ``stream.ended``,
``stream.failed``), queued like the jobs' so they are signed, retried and logged the same
way. A stream URL passes the same address guard as a webhook target: every address its
host resolves to must be public unless ``stream_allow_private`` is set, checked at
submission and again when a worker starts watching; while it watches, every connection
FFmpeg makes (redirects, HLS segments, reconnections) passes the same guard
(:mod:`mediaguard.service.egress`).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import uuid
from fractions import Fraction
from typing import Any, Final
from urllib.parse import urlsplit

from PIL import Image

from mediaguard.errors import MediaguardError, StreamError, UnsupportedMedia
from mediaguard.live import EventKind, StreamEvent, Watch
from mediaguard.media.feed import DEFAULT_PORTS, Egress, check_stream_url
from mediaguard.media.live import LiveOptions
from mediaguard.media.sampling import Sampling
from mediaguard.service.egress import StreamEgress, guard
from mediaguard.service.runtime import ServiceRuntime, run_until_stopped
from mediaguard.service.webhooks import (
    StreamTargetRefused,
    TargetRefused,
    check_target,
    enqueue_event,
    resolve_allowed,
)
from mediaguard.store.errors import StoreError
from mediaguard.store.streams import StreamInfo

__all__ = [
    "StreamWorker",
    "check_stream_target",
    "submit_stream",
]

log = logging.getLogger("mediaguard.service.streams")

_IDLE_POLL_S: Final = 0.5
#: Events that are also webhooks, and their webhook types.
_WEBHOOKS: Final = {
    EventKind.ALERT: "stream.alert",
    EventKind.ENDED: "stream.ended",
    EventKind.FAILED: "stream.failed",
}


def check_stream_target(url: str, *, allow_private: bool) -> str:
    """Return ``url`` when it is a stream URL whose host may be connected to.

    Raises:
        TargetRefused: not a stream protocol, credentials in the URL, or a host that
            resolves to a refused address (or to nothing).
    """
    try:
        scheme = check_stream_url(url)
        if scheme not in DEFAULT_PORTS:  # stdin or a named pipe on the server's disk
            raise UnsupportedMedia("stream URL: local pipes are watched with the CLI only")
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[scheme]
    except (UnsupportedMedia, ValueError) as err:
        raise StreamTargetRefused(str(err)) from err
    if parts.username is not None or parts.password is not None:
        raise StreamTargetRefused("stream URL: credentials in the URL are not allowed")
    assert parts.hostname is not None, "check_stream_url requires a host"
    try:
        resolve_allowed(parts.hostname, port, allow_private=allow_private, what="stream host")
    except TargetRefused as err:
        raise StreamTargetRefused(str(err)) from err
    return url


def submit_stream(
    runtime: ServiceRuntime,
    *,
    api_key_id: int,
    url: str,
    callback_url: str | None,
    rate: str,
) -> StreamInfo:
    """Check a stream submission and queue it for the stream workers.

    Raises:
        StreamTargetRefused: the stream URL is refused (the API answers 400).
        TargetRefused: the callback URL is refused (400).
        ConfigError: the sampling rate is invalid.
    """
    settings = runtime.settings
    check_stream_target(url, allow_private=settings.stream_allow_private)
    if callback_url is not None:
        check_target(callback_url, allow_private=settings.webhook_allow_private)
    Sampling(rate=Fraction(rate))
    info = runtime.store.streams.create_stream(
        api_key_id, url, callback_url=callback_url, options={"rate": rate}
    )
    return info


class StreamWorker:
    """Claims and watches streams until stopped; one per thread."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.streams = runtime.store.streams
        self.owner = f"{socket.gethostname()}:{os.getpid()}:stream-{uuid.uuid4().hex[:12]}"

    def run(self, stop: threading.Event) -> None:
        """Watch streams until ``stop`` is set; poll when none is waiting."""
        # Streams are submitted rarely and watched for long: a slower poll than the
        # jobs' keeps idle stream workers off the database.
        poll = max(self.runtime.settings.worker_poll_interval, _IDLE_POLL_S)
        run_until_stopped("stream worker", self.run_once, lambda: stop.wait(poll), stop, log)

    def run_once(self, stop: threading.Event | None = None) -> bool:
        """Claim one stream and watch it to its end; whether one was claimed."""
        lease = self.runtime.settings.job_lease_seconds
        info = self.streams.claim_stream(self.owner, lease)
        if info is None:
            return False
        log.info("stream %s: watching, attempt %d", info.id, info.attempts)
        self._watch(info, stop or threading.Event())
        return True

    def _watch(self, info: StreamInfo, stop: threading.Event) -> None:
        # Every connection the watch makes, not only the first, passes the address guard.
        egress = StreamEgress(guard(allow_private=self.runtime.settings.stream_allow_private))
        try:
            self._watch_through(info, stop, egress)
        finally:
            egress.close()

    def _watch_through(self, info: StreamInfo, stop: threading.Event, egress: Egress) -> None:
        settings = self.runtime.settings
        try:
            check_stream_target(info.url, allow_private=settings.stream_allow_private)
            rate = Fraction(str(info.options.get("rate", "1")))
            options = LiveOptions(sampling=Sampling(rate=rate), egress=egress)
            watcher = Watch(
                info.url,
                scanner=self.runtime.scanner,
                options=options,
                scan_slot=self.runtime.scan_slots,
            )
        except MediaguardError as err:
            self._record(info, EventKind.FAILED, {"kind": "failed", "error": str(err)})
            self.streams.finish(info.id, self.owner, "failed", str(err))
            return
        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(
            target=self._beat, args=(info, watcher, lost, done, stop), daemon=True
        )
        beat.start()
        state, error = "ended", None
        try:
            for event in watcher:
                if lost.is_set():
                    return
                if event.kind is not EventKind.SAMPLE:
                    self._record(info, event.kind, event.model_dump(mode="json"))
                if event.kind is EventKind.ALERT:
                    self._review(info, watcher, event)
                if event.kind is EventKind.ENDED:
                    error = event.error
        except StreamError as err:
            state, error = "failed", f"{type(err).__name__}: {err}"
        finally:
            done.set()
            beat.join()
        if lost.is_set():
            return
        if stop.is_set() and not self._stop_requested(info):
            # A worker shutting down is not the stream's end: leave it to the lease, so
            # another worker takes it over.
            return
        if state == "ended" and self._stop_requested(info):
            state = "stopped"
        self.streams.finish(info.id, self.owner, state, error)

    def _stop_requested(self, info: StreamInfo) -> bool:
        return self.streams.get_stream(info.id).stop_requested

    def _beat(
        self,
        info: StreamInfo,
        watcher: Watch,
        lost: threading.Event,
        done: threading.Event,
        stop: threading.Event,
    ) -> None:
        settings = self.runtime.settings
        while not done.wait(settings.heartbeat_seconds):
            if stop.is_set():
                watcher.stop()
            try:
                held, stop_requested = self.streams.heartbeat(
                    info.id,
                    self.owner,
                    settings.job_lease_seconds,
                    samples=watcher.state.samples,
                    decision=watcher.state.decision.value,
                )
            except StoreError as err:
                log.warning("stream %s: heartbeat failed: %s", info.id, err)
                continue
            if not held:
                log.warning("stream %s: lease lost; another worker has it", info.id)
                lost.set()
                watcher.stop()
                return
            if stop_requested:
                watcher.stop()
            try:
                self._announce(info)
            except StoreError as err:
                log.warning("stream %s: reading review decisions failed: %s", info.id, err)

    def _review(self, info: StreamInfo, watcher: Watch, event: StreamEvent) -> None:
        """Send an alert's frame to review, as a stored item's verdict would be.

        The frame is scanned as an image (its own verdict: hashes, scores, matches), and
        carries the stream's decision and reasons, which the window decided. A review
        decision queues an item with the usual previews (shielded first); a block is
        recorded as an automated removal. Queued items are linked to the stream so a
        reviewer's ``remove`` can be announced while it runs.
        """
        frame = watcher.alert_frame
        intake = self.runtime.intake
        if frame is None or intake is None:
            return
        buffer = io.BytesIO()
        Image.fromarray(frame.pixels).save(buffer, format="PNG")
        at = event.time_s or 0.0
        try:
            verdict = self.runtime.scan(buffer.getvalue(), name=f"{info.url} at {at:.3f} s")
            verdict = verdict.model_copy(
                update={"decision": event.decision, "reasons": list(event.reasons)}
            )
            item = intake.take(verdict, buffer.getvalue())
            if item is not None:
                self.streams.link_review_item(info.id, item.id, at)
        except (MediaguardError, StoreError) as err:
            log.error(
                "stream %s: could not send the alert at %.1f s to review: %s", info.id, at, err
            )

    def _announce(self, info: StreamInfo) -> None:
        """Send ``stream.action`` for each linked item a reviewer removed, once."""
        for item_id, at in self.streams.unannounced_items(info.id):
            removed = [
                d
                for d in self.runtime.store.review.decisions_for(item_id)
                if d.action == "remove" and d.reviewer is not None
            ]
            if not removed or not self.streams.mark_announced(item_id):
                continue
            decision = removed[-1]
            payload = {
                "stream_id": info.id,
                "url": info.url,
                "action": "remove",
                "item_id": item_id,
                "time_s": at,
                "decision_id": decision.id,
                "reason_code": decision.reason_code,
            }
            urls = [info.callback_url] if info.callback_url else []
            enqueue_event(
                self.runtime.store, "stream.action", payload, api_key_id=info.api_key_id, urls=urls
            )
            self.runtime.events_waiting.set()

    def _record(self, info: StreamInfo, kind: EventKind, body: dict[str, Any]) -> None:
        if not self.streams.add_event(info.id, self.owner, kind.value, body):
            return
        webhook = _WEBHOOKS.get(kind)
        if webhook is None:
            return
        payload = {"stream_id": info.id, "url": info.url, "event": body}
        urls = [info.callback_url] if info.callback_url else []
        enqueue_event(self.runtime.store, webhook, payload, api_key_id=info.api_key_id, urls=urls)
        self.runtime.events_waiting.set()
