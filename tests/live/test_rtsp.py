"""Watching RTSP end to end, against a real RTSP server on 127.0.0.1.

The server is GStreamer's gst-rtsp-server (``rtsp_server.py``, run by Debian's Python),
serving the H.264 that the real-time broadcaster pushes to it, as an IP camera serves its
encoder's output; mediaguard reads it with RTP interleaved on the RTSP connection. A
watcher joins the broadcast at its live edge, so stream time 0 is the first frame it
decodes, a moment after the broadcast began: times are checked on the source's frame
grid and against the wall clock, not against the broadcaster's schedule.
"""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import service_missing
from mediaguard.cli import main
from mediaguard.errors import StreamUnavailable
from mediaguard.live import watch
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream, StreamGap
from mediaguard.paths import ENV_DATA_DIR
from mediaguard.store import Store

from .listing import one_list_alert
from .rtsp import RtspServer, free_udp_port, rtsp_broadcast, rtsp_server_missing
from .test_watch import listed_scanner

#: The broadcaster's frame rate: every stream time is a whole number of its frames.
FPS = 10
RTSP = LiveOptions(open_timeout_s=8, read_timeout_s=2.0, backoff_s=0.2, reconnect_attempts=3)


@pytest.fixture(scope="session")
def rtsp_server_ready() -> None:
    """Nothing, once the RTSP server can run here; a skip (or failure) saying why not."""
    why = rtsp_server_missing()
    if why is not None:
        service_missing(f"GStreamer's RTSP server cannot run, so the RTSP tests cannot: {why}")


pytestmark = [pytest.mark.usefixtures("rtsp_server_ready"), pytest.mark.timeout(60)]


def on_frame_grid(time_: Fraction | str | None) -> bool:
    assert time_ is not None
    return (Fraction(time_) * FPS).denominator == 1


def sqlite_store(tmp_path: Path) -> Store:
    """A migrated store of this test's own: the protocol is under test here, the store
    backends are covered by the HLS tests in test_watch.py."""
    store = Store.open(f"sqlite:///{tmp_path / 'lists.db'}")
    store.upgrade()
    return store


def test_rtsp_samples_once_a_second_on_the_sources_clock_plus_the_cut() -> None:
    with rtsp_broadcast("chelsea:2.5,astronaut:2.5") as (server, caster):
        stream = LiveStream(server.url, RTSP, working_size=64)
        items = list(stream)
        assert caster.wait() == 0
    samples = [i for i in items if isinstance(i, LiveSample)]
    assert not [i for i in items if isinstance(i, StreamGap)]
    times = [s.time for s in samples]
    assert all(isinstance(t, Fraction) for t in times)
    assert times == sorted(set(times))
    assert times[0] == 0
    # The RTP timestamps are the source's own: one sample exactly on each whole second
    # after the first frame (the watcher joined within the first second of the 5 s).
    fixed = [s for s in samples if not s.cut]
    assert [s.time for s in fixed] == [Fraction(n) for n in range(len(fixed))]
    assert len(fixed) >= 4
    # And the cut to the second photo, on a frame of the source, as it was decoded.
    (cut,) = [s for s in samples if s.cut]
    assert on_frame_grid(cut.time)
    assert 1 < cut.time <= Fraction(5, 2)
    (shown,) = [at for name, at in caster.shown if name == "astronaut"]
    assert 0 <= cut.wall - shown < 1.5
    # Stream time runs with the wall clock: the source is paced in real time.
    assert abs((cut.wall - samples[0].wall) - float(cut.time)) < 0.5
    assert stream.ended_reason == "end of stream"
    assert stream.opened is not None
    assert (stream.opened.container, stream.opened.codec) == ("rtsp", "h264")
    assert (stream.opened.width, stream.opened.height) == (160, 120)
    assert samples[0].frame.width == 64


def test_a_listed_photo_shown_mid_stream_raises_one_alert_then_the_rtsp_stream_ends(
    tmp_path: Path,
) -> None:
    with sqlite_store(tmp_path) as store:
        scanner = listed_scanner(store, tmp_path, "astronaut")
        with rtsp_broadcast("chelsea:3,astronaut:2,coffee:5") as (server, caster):
            events = list(watch(server.url, scanner=scanner, options=RTSP))
            caster.wait()
    # The match stays in force for the policy's window of 5 samples, then clears; the
    # server ends the session when the broadcast is over, and the watch ends cleanly.
    alert, final = one_list_alert(events)
    # The cut to the photo is sampled at once: on a frame of the source, within moments
    # of the broadcaster sending it, a stream time that matches the wall clock's.
    assert on_frame_grid(alert.time)
    assert alert.time_s is not None
    assert 1 < alert.time_s <= 3
    (shown,) = [at for name, at in caster.shown if name == "astronaut"]
    assert 0 <= alert.at.timestamp() - shown < 2
    started = events[0]
    elapsed = (alert.at - started.at).total_seconds()
    assert abs(elapsed - alert.time_s) < 0.5
    assert final.matches[0].first_s == alert.time_s


def test_a_frozen_rtsp_server_is_a_gap_after_which_the_watch_carries_on() -> None:
    with rtsp_broadcast("rocket:10") as (server, caster):
        stream = LiveStream(server.url, RTSP, working_size=32)
        items: list[LiveSample | StreamGap] = []
        thaw = threading.Timer(4, server.resume)
        for item in stream:
            items.append(item)
            if isinstance(item, LiveSample) and item.time >= 1 and not thaw.ident:
                # The server's connections stay open and carry nothing for 4 s.
                server.pause()
                thaw.start()
        assert caster.wait() == 0
    gaps = [i for i in items if isinstance(i, StreamGap)]
    assert len(gaps) == 1, items
    gap = gaps[0]
    # The watchdog or FFmpeg's own read timeout, whichever fired first, called it (when
    # the timeout cuts FFmpeg's read of an interleaved packet's header short, FFmpeg
    # reports an I/O error); a reconnection, answered once the server thawed, brought
    # the stream back at its live edge.
    assert gap.reason in {
        "no data for 2 s",
        "ExitError: Immediate exit requested",
        "OSError: Input/output error",
    }
    assert gap.attempts >= 1
    # The outage is the freeze, less what the reader still had buffered when it began.
    assert gap.seconds >= 3
    # The source's clock restarts with the new session, so stream time carries on from
    # the wall clock: the gap in stream time is the outage, opening the new connection
    # included.
    assert abs(float(gap.end - gap.start) - gap.seconds) < 0.75, (gap.start, gap.end, gap)
    after = [i.time for i in items[items.index(gap) + 1 :] if isinstance(i, LiveSample)]
    assert len(after) >= 2
    assert after[0] == gap.end
    assert after == sorted(set(after))
    assert all(on_frame_grid(t - after[0]) for t in after)
    assert stream.gaps == [gap]
    assert stream.ended_reason == "end of stream"


def test_a_killed_rtsp_server_that_comes_back_is_a_gap() -> None:
    # Backoffs of 0.3, 0.6, 1.2 and 2.4 s: attempts go on past the 1.5 s the server is away.
    options = LiveOptions(open_timeout_s=8, read_timeout_s=2, backoff_s=0.3, reconnect_attempts=5)
    with rtsp_broadcast("camera:8") as (server, _caster):
        stream = LiveStream(server.url, options, working_size=32)
        items: list[LiveSample | StreamGap] = []
        restarted: list[RtspServer] = []

        def restart() -> None:
            restarted.append(RtspServer(server.source_port, server.port))

        comeback = threading.Timer(1.5, restart)
        try:
            for item in stream:
                items.append(item)
                if isinstance(item, LiveSample) and item.time >= 1 and not comeback.ident:
                    server.kill()
                    comeback.start()
                if stream.gaps and isinstance(item, LiveSample) and item.time > stream.gaps[0].end:
                    stream.stop()  # a second sample after the gap: the stream is back
        finally:
            comeback.join(30)
            for again in restarted:
                again.kill()
    assert len(stream.gaps) == 1, (stream.ended_reason, len(items))
    gap = stream.gaps[0]
    assert gap.attempts >= 1
    assert gap.seconds >= 1.5
    after = [i.time for i in items[items.index(gap) + 1 :] if isinstance(i, LiveSample)]
    assert len(after) == 2
    assert after[0] == gap.end
    assert stream.ended_reason == "stopped"


def test_an_rtsp_path_the_server_does_not_serve_is_unavailable_at_once() -> None:
    server = RtspServer(free_udp_port())
    try:
        started = time.monotonic()
        with pytest.raises(StreamUnavailable, match="404 Not Found"):
            list(LiveStream(f"rtsp://127.0.0.1:{server.port}/elsewhere", RTSP))
        assert time.monotonic() - started < 3
    finally:
        server.kill()


def test_watch_rtsp_exits_1_when_a_listed_frame_reaches_fail_on_within_max_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    with sqlite_store(tmp_path) as store:
        listed_scanner(store, tmp_path, "astronaut")
    with rtsp_broadcast("chelsea:2,astronaut:8") as (server, _caster):
        code = main(
            [
                "watch",
                server.url,
                "--detectors",
                "",
                "--database",
                store.url,
                "--fail-on",
                "block",
                "--max-duration",
                "5",
                "--read-timeout",
                "3",
            ]
        )
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1, captured.err
    assert [e["kind"] for e in events] == ["started", "alert", "ended"]
    assert events[1]["decision"] == "block"
    assert events[1]["reasons"][0]["code"] == "list_block"
    assert on_frame_grid(events[1]["time"])
    assert events[2]["error"] == "max duration (5 s) reached"
    assert events[2]["decision"] == "block"
    assert "worst decision block" in captured.err


def test_watch_rtsp_max_duration_ends_cleanly_with_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events.jsonl"
    with rtsp_broadcast("coffee:8") as (server, _caster):
        code = main(
            [
                "watch",
                server.url,
                "--detectors",
                "",
                "--no-lists",
                "--fail-on",
                "review",
                "--max-duration",
                "3",
                "--read-timeout",
                "3",
                "-o",
                str(out),
            ]
        )
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0, capsys.readouterr().err
    assert events[0]["kind"] == "started"
    assert events[-1]["kind"] == "ended"
    assert events[-1]["error"] == "max duration (3 s) reached"
    assert events[-1]["decision"] == "allow"
    assert events[-1]["samples"] >= 2


def test_watch_rtsp_exits_3_when_the_server_has_no_such_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = RtspServer(free_udp_port())
    try:
        url = f"rtsp://127.0.0.1:{server.port}/elsewhere"
        code = main(["watch", url, "--detectors", "", "--no-lists", "--read-timeout", "1"])
    finally:
        server.kill()
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 3, captured.err
    assert [e["kind"] for e in events] == ["failed"]
    assert "404 Not Found" in events[0]["error"]
