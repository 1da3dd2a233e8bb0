"""Live stream intake: sampled frames of a stream that has no end, with its gaps.

Why separate: a stored video is read once to its end; a live stream is read from its live
edge for as long as it runs, drops and comes back, and must never make its reader wait
without a deadline. :class:`LiveStream` keeps the sampling rule of stored video (a fixed
rate on the stream's own clock plus scene cuts, :mod:`.scenes`) and adds what time brings:
a watchdog on every read (:mod:`.feed`), reconnection with exponential backoff and jitter,
a :class:`StreamGap` for each outage, and a clean stop at the end of the stream.

Memory is bounded however long a stream runs: frames are sampled on the reader thread and
only working-size samples cross to the caller, through a mailbox of a few samples that
drops the oldest when the caller falls behind (:attr:`LiveStream.dropped` counts them).

Stream time is exact (``Fraction`` of the source's pts and time base), counted from the
first frame. When a reconnection's clock carries on from where the last one stopped (HLS
and MPEG-TS keep their timestamps) the source's clock is kept; when it restarts (an RTMP
publisher that reconnects starts at 0) the new connection is placed after the gap as the
wall clock measured it, so stream time never runs backwards.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from types import TracebackType
from typing import Final

from av.video.frame import VideoFrame

from mediaguard.errors import ConfigError, StreamLost, StreamUnavailable
from mediaguard.media.feed import Connection, Egress, Mailbox, Opened, check_stream_url
from mediaguard.media.limits import VideoLimits, check_video_pixels
from mediaguard.media.sampling import Sampling, to_working
from mediaguard.media.scenes import Thumbnail, thumbnail, thumbnail_difference
from mediaguard.media.types import Frame, FrameTime

__all__ = ["LiveOptions", "LiveSample", "LiveStream", "StreamGap"]

# How far ahead of the expected time a reconnected source's clock may be and still count
# as the same clock; beyond it (or behind) the connection is re-based on the wall clock.
_CLOCK_SLACK: Final = Fraction(30)
#: The drop reason of a connection that a stream server closed: the stream's end or the
#: server's crash, until a reconnection tells which.
_SERVER_CLOSED: Final = "the server closed the connection"
#: Streams played from a stream server (an RTSP server, an RTMP server such as nginx-rtmp
#: when mediaguard dials it as a player): the server outlives each stream it plays. An
#: HTTP download of unknown length is treated the same way (``Connection.unbounded``).
_SERVER_SCHEMES: Final = frozenset({"rtsp", "rtmp", "rtmps"})


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How a live stream is read.

    Attributes:
        sampling: rate and scene cuts, as for stored video (``max_samples`` is ignored:
            a live stream has no end to share samples over).
        open_timeout_s: longest wait for a connection to deliver its first frame.
        read_timeout_s: longest silence (no packet) before a connection counts as dropped.
        reconnect_attempts: consecutive failed reconnections before the stream is lost.
        backoff_s: first wait before reconnecting; doubles per failure up to
            ``backoff_max_s``, each wait spread by up to ``jitter`` of itself either way
            so many watchers of one source do not reconnect in step.
        listen: wait for the source to connect to us (RTMP ingest) instead of dialling it.
        max_drops_per_minute: more drops than this within 60 s and the stream is lost,
            even when every reconnection succeeds: a source that fails the same way each
            time (a recorded file whose codec changes part-way, replayed from its start on
            every reconnection) must not be watched in a loop for ever.
        buffer: samples held for a caller that falls behind before the oldest is dropped.
        egress: the guard consulted before each connection (the service's, which keeps
            a stream and its HLS segments off private addresses); None connects
            wherever the URL and the source lead.
    """

    sampling: Sampling = field(default_factory=Sampling)
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    reconnect_attempts: int = 5
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0
    jitter: float = 0.25
    listen: bool = False
    max_drops_per_minute: int = 10
    buffer: int = 8
    egress: Egress | None = None

    def __post_init__(self) -> None:
        for name in ("open_timeout_s", "read_timeout_s", "backoff_s", "backoff_max_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"stream.{name}: expected a positive number, got {value!r}")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"stream.jitter: expected a number in [0, 1), got {self.jitter!r}")
        if not isinstance(self.reconnect_attempts, int) or self.reconnect_attempts < 0:
            raise ConfigError("stream.reconnect_attempts: expected a non-negative integer")
        if not isinstance(self.max_drops_per_minute, int) or self.max_drops_per_minute < 1:
            raise ConfigError("stream.max_drops_per_minute: expected a positive integer")
        if not isinstance(self.buffer, int) or self.buffer < 1:
            raise ConfigError("stream.buffer: expected a positive integer")

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait before reconnection attempt ``failures + 1``."""
        base = min(self.backoff_max_s, self.backoff_s * (2 ** min(failures, 30)))
        return float(base * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True, slots=True)
class LiveSample:
    """A sampled frame of a live stream.

    Attributes:
        frame: the picture at working size; ``frame.time`` is the exact stream time.
        wall: Unix time at which it was decoded, to measure alert latency against.
        cut: sampled for a scene cut rather than for the fixed rate.
    """

    frame: Frame
    wall: float
    cut: bool = False

    @property
    def time(self) -> FrameTime:
        assert self.frame.time is not None, "live frames always have a time"
        return self.frame.time


@dataclass(frozen=True, slots=True)
class StreamGap:
    """An outage: the stream dropped after ``start`` and came back at ``end`` (stream time).

    ``seconds`` is the outage as the wall clock measured it; ``reason`` why the connection
    was judged dead; ``attempts`` how many reconnections it took.
    """

    start: FrameTime
    end: FrameTime
    seconds: float
    reason: str
    attempts: int


@dataclass(slots=True)
class _Clock:
    """Maps one connection's pts onto stream time, and decides which frames are samples."""

    rate: Fraction
    scene_cuts: bool
    threshold: float
    working_size: int
    limits: VideoLimits
    origin: int | None = None
    first_pts: int | None = None
    offset: Fraction = Fraction(0)
    expected: Fraction | None = None
    last: FrameTime | None = None
    next_due: FrameTime = Fraction(0)
    thumb: Thumbnail | None = None
    size: tuple[int, int] = (0, 0)
    decoded: int = 0
    rebased_at: float = 0.0

    def rebase(self, expected: Fraction) -> None:
        """A new connection: its first pts decides whether its clock carries on.

        ``expected`` is the stream time now; the wall time that passes before the
        connection's first frame (opening, probing) is added to it then, so a source
        whose own clock restarts is placed where the broadcast really is.
        """
        self.origin = None
        self.expected = expected
        self.rebased_at = time.monotonic()
        self.thumb = None

    def sample(self, frame: VideoFrame, time_base: Fraction) -> LiveSample | None:
        if frame.pts is None:
            return None
        self.decoded += 1
        if (frame.width, frame.height) != self.size:
            check_video_pixels(frame.width, frame.height, self.limits)
            self.size = (frame.width, frame.height)
        if self.origin is None:
            self._place(frame.pts, time_base)
        assert self.origin is not None
        time_ = self.offset + Fraction(frame.pts - self.origin) * time_base
        if self.last is not None and time_ <= self.last:
            return None  # a repeated or reordered frame across a reconnect
        due = self.last is None or time_ >= self.next_due
        cut = False
        if self.scene_cuts:
            thumb = thumbnail(frame)
            if not due and self.thumb is not None:
                cut = thumbnail_difference(thumb, self.thumb) > self.threshold
            self.thumb = thumb
        self.last = time_
        if not (due or cut):
            return None
        if due:
            self.next_due = Fraction(math.floor(time_ * self.rate) + 1) / self.rate
        pixels, scale = to_working(frame, 0, self.working_size)
        picture = Frame(index=self.decoded - 1, time=time_, pixels=pixels, scale=scale)
        return LiveSample(frame=picture, wall=time.time(), cut=cut and not due)

    def _place(self, pts: int, time_base: Fraction) -> None:
        if self.first_pts is None:  # the first connection: time 0 is its first frame
            self.first_pts, self.origin, self.offset = pts, pts, Fraction(0)
            return
        own = Fraction(pts - self.first_pts) * time_base
        if self.expected is not None:
            opening = round((time.monotonic() - self.rebased_at) * 1000)
            expected = self.expected + Fraction(opening, 1000)
        else:
            expected = self.last or Fraction(0)
        if self.last is not None and self.last < own <= expected + _CLOCK_SLACK:
            self.origin, self.offset = self.first_pts, Fraction(0)
        else:
            self.origin, self.offset = pts, expected


class LiveStream:
    """The samples of one live stream, with its gaps, as they arrive.

    Iterate it once: items are :class:`LiveSample` and :class:`StreamGap`. Iteration ends
    when the source ends its stream (an HLS playlist's end tag, a closed progressive
    download) or :meth:`stop` is called, from any thread. It raises
    :class:`StreamUnavailable` when the first connection never delivers a frame and
    :class:`StreamLost` when a dropped stream cannot be reconnected.
    """

    def __init__(
        self,
        url: str,
        options: LiveOptions | None = None,
        *,
        working_size: int = 512,
        limits: VideoLimits | None = None,
        seed: int | None = None,
    ) -> None:
        self._scheme = check_stream_url(url)
        self.url = url
        self.options = options or LiveOptions()
        sampling = self.options.sampling
        self._clock = _Clock(
            rate=Fraction(sampling.rate),
            scene_cuts=sampling.scene_cuts,
            threshold=sampling.scene_threshold,
            working_size=working_size,
            limits=limits or VideoLimits(),
        )
        self._mailbox: Mailbox[LiveSample] = Mailbox(self.options.buffer)
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._iterated = False
        self.connection: Connection[LiveSample] | None = None
        self.opened: Opened | None = None
        self.gaps: list[StreamGap] = []
        self.samples = 0
        self.ended_reason: str | None = None

    @property
    def dropped(self) -> int:
        """Samples dropped because the caller fell behind the live edge."""
        return self._mailbox.dropped

    @property
    def decoded(self) -> int:
        return self._clock.decoded

    def stop(self) -> None:
        """End the iteration at the next sample or deadline; safe from any thread."""
        self._stop.set()
        self._mailbox.notify()

    def __enter__(self) -> LiveStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self.connection is not None:
            self.connection.cancel()

    def _connect(self) -> Connection[LiveSample]:
        options = self.options
        conn: Connection[LiveSample] = Connection(
            self.url,
            mailbox=self._mailbox,
            on_frame=self._clock.sample,
            open_timeout_s=options.open_timeout_s,
            read_timeout_s=options.read_timeout_s,
            listen=options.listen,
            egress=options.egress,
            keyframes_only=options.sampling.keyframes_only,
        )
        self.connection = conn
        conn.start()
        return conn

    def __iter__(self) -> Iterator[LiveSample | StreamGap]:
        if self._iterated:
            raise RuntimeError("a LiveStream can be iterated only once")
        self._iterated = True
        try:
            yield from self._run()
        finally:
            self.close()

    def _closed(self, conn: Connection[LiveSample], reason: str | None) -> str | None:
        """Why ``conn`` dropped, counting a stream server's close as a drop.

        FFmpeg ends an RTSP read the same way whether the server said the session is
        over (RTCP BYE) or the server died and its TCP connection closed, an RTMP play
        the same way whether the server said the stream stopped (nginx-rtmp with
        ``play_restart on``) or closed the connection, and an HTTP download of unknown
        length (HTTP-FLV, low-latency MP4) the same way whether the origin sent its last
        chunk or went down mid-stream. Only trying again tells which:
        :meth:`_run` reconnects, and a server that answers but refuses, or sends nothing
        within the open timeout, or answers that the stream does not exist (an HTTP
        origin's 404), has ended the stream, while one whose port refuses the
        connection (a restarting server) may come back. A connection that went silent
        (a stalled server, or nginx-rtmp's default of telling a player nothing when its
        publisher leaves) is an ordinary drop: it is retried until it is lost.
        """
        served = (self._scheme in _SERVER_SCHEMES or conn.unbounded) and not self.options.listen
        if served and reason is None and conn.status == "ended" and not self._stop.is_set():
            return _SERVER_CLOSED
        return reason

    def _run(self) -> Iterator[LiveSample | StreamGap]:
        conn = self._connect()
        reason = self._closed(conn, (yield from self._drain(conn, first=True)))
        drops: deque[float] = deque()
        while reason is not None and not self._stop.is_set():
            now = time.monotonic()
            drops.append(now)
            while drops and drops[0] < now - 60:
                drops.popleft()
            if len(drops) > self.options.max_drops_per_minute:
                raise StreamLost(
                    f"{self.url}: dropped {len(drops)} times within 60 s, the last with: {reason}"
                )
            # The outage began with the last packet, not when it was noticed.
            dropped_at, wall_drop = self._clock.last or Fraction(0), conn.last_packet
            attempts, last_error = 0, reason
            while True:
                if attempts >= self.options.reconnect_attempts:
                    if self.options.listen:  # an ingest ends when its publisher leaves
                        self.ended_reason = f"the publisher disconnected ({reason})"
                        return
                    raise StreamLost(
                        f"{self.url}: lost ({reason}); {attempts} reconnection(s) failed, "
                        f"the last with: {last_error}"
                    )
                if self._stop.wait(self.options.backoff(attempts, self._rng)):
                    return
                attempts += 1
                outage = Fraction(round((time.monotonic() - wall_drop) * 1000), 1000)
                self._clock.rebase(dropped_at + outage)
                conn = self._connect()
                if self._wait_open(conn):
                    break
                if reason == _SERVER_CLOSED and not (conn.status == "failed" and not conn.answered):
                    # The server is there, and refuses (a 404 among others) or sends
                    # nothing: it ended the session. Only one that cannot be reached may
                    # be coming back.
                    self.ended_reason = "end of stream"
                    return
                if conn.gone:  # the origin no longer has the stream: it ended
                    self.ended_reason = f"the source is gone ({conn.error})"
                    return
                last_error = conn.error or f"no data within {self.options.open_timeout_s:g} s"
            seconds = time.monotonic() - wall_drop
            gap_open = _Pending(dropped_at, seconds, reason, attempts)
            reason = self._closed(conn, (yield from self._drain(conn, first=False, gap=gap_open)))
        if reason is None and self.ended_reason is None:
            self.ended_reason = "stopped" if self._stop.is_set() else "end of stream"

    def _wait_open(self, conn: Connection[LiveSample]) -> bool:
        """Wait, under the open deadline, for a connection's first packet or its failure."""
        deadline = time.monotonic() + self.options.open_timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            if conn.packets > 0 or len(self._mailbox):
                return True
            if not conn.is_alive() and conn.status != "running":
                return conn.status == "ended" and conn.packets > 0
            time.sleep(0.02)
        conn.cancel()
        return False

    def _drain(
        self, conn: Connection[LiveSample], *, first: bool, gap: _Pending | None = None
    ) -> Generator[LiveSample | StreamGap, None, str | None]:
        """Yield one connection's samples; return why it dropped, or None at its end."""
        options = self.options
        deadline = time.monotonic() + options.open_timeout_s
        got_frame = False
        while not self._stop.is_set():
            sample = self._mailbox.get(min(0.25, options.read_timeout_s))
            if sample is not None:
                if gap is not None:
                    yield gap.close(sample.time, self.gaps)
                    gap = None
                got_frame = True
                self.samples += 1
                if self.opened is None:
                    self.opened = conn.opened
                yield sample
                continue
            if conn.status == "ended" and not len(self._mailbox):
                if first and not got_frame and self._clock.last is None:
                    raise StreamUnavailable(f"{self.url}: the stream ended before any frame")
                return None
            if conn.status == "failed" and not len(self._mailbox):
                if first and self._clock.last is None:
                    raise StreamUnavailable(f"{self.url}: {conn.error}")
                return conn.error or "connection failed"
            now = time.monotonic()
            if self._clock.last is None and now > deadline:
                conn.cancel()
                if first:
                    raise StreamUnavailable(
                        f"{self.url}: no frame within {options.open_timeout_s:g} s"
                    )
                return f"no frame within {options.open_timeout_s:g} s of reconnecting"
            if self._clock.last is not None and now - conn.last_packet > options.read_timeout_s:
                conn.cancel()
                return f"no data for {options.read_timeout_s:g} s"
        return None


@dataclass(slots=True)
class _Pending:
    """A gap whose end is known when the first sample after it arrives."""

    start: FrameTime
    seconds: float
    reason: str
    attempts: int

    def close(self, end: FrameTime, into: list[StreamGap]) -> StreamGap:
        gap = StreamGap(self.start, end, round(self.seconds, 3), self.reason, self.attempts)
        into.append(gap)
        return gap
