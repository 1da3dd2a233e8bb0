"""Live intake on real servers: HLS, and progressive MPEG-TS, FLV and fragmented MP4 over
HTTP, on 127.0.0.1."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from mediaguard.errors import StreamLost, StreamUnavailable, UnsupportedMedia
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream, StreamGap
from mediaguard.media.sampling import Sampling

from .conftest import StartBroadcast
from .servers import FolderServer, free_port, silent_listener, wait_for

FAST = LiveOptions(open_timeout_s=8, read_timeout_s=2.0, backoff_s=0.2, reconnect_attempts=3)
#: HLS arrives a segment (1 s here) at a time after each playlist reload, so its silence
#: between packets is a segment or two: the watchdog's deadline must exceed that.
HLS = LiveOptions(open_timeout_s=8, read_timeout_s=4.0, backoff_s=0.2, reconnect_attempts=3)


def watch_interrupted(
    stream: LiveStream, interrupt: Callable[[], object]
) -> list[LiveSample | StreamGap]:
    """Every item of ``stream``, calling ``interrupt`` once, at the first sample 1 s in."""
    items: list[LiveSample | StreamGap] = []
    interrupted = False
    for item in stream:
        items.append(item)
        if isinstance(item, LiveSample) and item.time >= 1 and not interrupted:
            interrupted = True
            interrupt()
    return items


def test_hls_samples_once_a_second_plus_the_cut_and_ends_at_the_end_tag(
    broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    caster = broadcast("hls", "chelsea:2.5,astronaut:2.5")
    wait_for(tmp_path / "index.m3u8")
    stream = LiveStream(folder_server.url("index.m3u8"), HLS, working_size=64)
    items = list(stream)
    assert caster.wait() == 0
    samples = [i for i in items if isinstance(i, LiveSample)]
    assert not [i for i in items if isinstance(i, StreamGap)]
    times = [s.time for s in samples]
    assert all(isinstance(t, Fraction) for t in times)
    assert times == sorted(times)
    assert times[0] == 0
    fixed = [s.time for s in samples if not s.cut]
    # One sample at or after each whole second of the 5 s broadcast, exactly on the
    # 10 fps frame grid; plus the cut to the second photo at 2.5 s.
    assert fixed == [Fraction(n) for n in range(5)]
    assert [s.time for s in samples if s.cut] == [Fraction(5, 2)]
    assert stream.ended_reason == "end of stream"
    assert stream.opened is not None
    assert stream.opened.codec == "h264"
    assert samples[0].frame.width == 64


def test_a_stalled_progressive_stream_reconnects_at_the_live_edge_and_records_the_gap(
    broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    caster = broadcast("mpegts", "coffee:12")
    wait_for(tmp_path / "live.ts")
    stream = LiveStream(folder_server.url("live.ts"), FAST, working_size=64, seed=1)

    def stall() -> None:
        folder_server.stall.set()
        time.sleep(4)  # the reader sees silence; the watchdog must call it
        folder_server.stall.clear()

    items = watch_interrupted(stream, stall)
    caster.wait()
    gaps = [i for i in items if isinstance(i, StreamGap)]
    assert len(gaps) == 1, items
    gap = gaps[0]
    # FFmpeg's own read timeout or the watchdog, whichever fires first, ends the
    # connection; either way the reason is recorded.
    assert gap.reason in {"no data for 2 s", "ExitError: Immediate exit requested"}
    assert gap.end > gap.start
    # The source's clock carries on across the reconnection: the gap in stream time is
    # the outage (at least the stall, less what was buffered) and samples keep going.
    assert gap.end - gap.start >= 2
    assert gap.seconds >= 2.0
    after = [i.time for i in items[items.index(gap) + 1 :] if isinstance(i, LiveSample)]
    assert len(after) >= 2
    assert after[0] == gap.end
    assert stream.gaps == [gap]
    assert stream.ended_reason is not None


def test_a_refused_connection_is_unavailable_at_once() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StreamUnavailable, match=r"127\.0\.0\.1"):
        list(LiveStream(f"http://127.0.0.1:{port}/live.m3u8", FAST))
    assert time.monotonic() - started < 5


def test_a_server_that_accepts_and_never_sends_is_unavailable_within_the_deadline() -> None:
    options = LiveOptions(open_timeout_s=1.5, read_timeout_s=1.0, reconnect_attempts=0)
    with silent_listener() as port:
        started = time.monotonic()
        # FFmpeg's own timeout may fire first; the watchdog's deadline bounds it either way.
        with pytest.raises(StreamUnavailable, match=r"127\.0\.0\.1"):
            list(LiveStream(f"http://127.0.0.1:{port}/x.m3u8", options))
        assert time.monotonic() - started < 4


def test_a_stream_that_never_comes_back_is_lost_after_its_attempts(
    broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    broadcast("mpegts", "camera:6")
    wait_for(tmp_path / "live.ts")
    stream = LiveStream(folder_server.url("live.ts"), FAST, working_size=32)

    def watch() -> None:
        for item in stream:
            if isinstance(item, LiveSample):
                folder_server.close()

    with pytest.raises(StreamLost, match="3 reconnection"):
        watch()
    assert stream.samples >= 1


def test_stop_from_another_thread_ends_the_iteration_cleanly(
    broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    broadcast("mpegts", "rocket:8")
    wait_for(tmp_path / "live.ts")
    stream = LiveStream(folder_server.url("live.ts"), FAST, working_size=32)
    for item in stream:
        if isinstance(item, LiveSample):
            stream.stop()
    assert stream.ended_reason == "stopped"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "concat:a.ts|b.ts",
        "/dev/video0",
        "data:video/mp2t;base64,AAAA",
        "http://",
        "http://exa mple.org/x.m3u8",
        "gopher://127.0.0.1/x",
    ],
)
def test_urls_that_are_not_streams_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(UnsupportedMedia, match="stream URL"):
        LiveStream(url)


def test_backoff_doubles_to_its_cap_and_spreads_by_the_jitter() -> None:
    options = LiveOptions(backoff_s=0.5, backoff_max_s=4.0, jitter=0.25, sampling=Sampling())
    rng = random.Random(7)
    for failures, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (9, 4.0)]:
        waits = [options.backoff(failures, rng) for _ in range(200)]
        assert base * 0.75 <= min(waits) < max(waits) <= base * 1.25


def test_rtmp_ingest_listens_for_a_publisher_and_ends_when_it_leaves(
    broadcast: StartBroadcast,
) -> None:
    # The RTMP server is mediaguard's own listener (FFmpeg's rtmp listen mode): a PyAV
    # FLV publisher connects to it in real time, as an encoder pushes to an ingest.
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/x"
    options = LiveOptions(listen=True, open_timeout_s=5, read_timeout_s=3, reconnect_attempts=1)
    stream = LiveStream(url, options, working_size=32)
    caster = broadcast("rtmp", "coffee:4", url=url)  # it retries until the listener is up
    samples = [i for i in stream if isinstance(i, LiveSample)]
    assert caster.wait() == 0
    assert [s.time for s in samples] == [Fraction(n) for n in range(len(samples))]
    assert len(samples) >= 3
    assert stream.ended_reason is not None
    assert stream.ended_reason.startswith("the publisher disconnected")


@pytest.mark.parametrize(
    ("fmt", "name", "container"),
    [("flv", "live.flv", "flv"), ("fmp4", "live.mp4", "mov,mp4,m4a,3gp,3g2,mj2")],
)
def test_progressive_flv_and_fragmented_mp4_are_sampled_live(
    broadcast: StartBroadcast,
    folder_server: FolderServer,
    tmp_path: Path,
    fmt: str,
    name: str,
    container: str,
) -> None:
    caster = broadcast(fmt, "chelsea:2.5,astronaut:2.5")
    wait_for(tmp_path / name)
    stream = LiveStream(folder_server.url(name), FAST, working_size=64)
    items = list(stream)
    assert caster.wait() == 0
    assert not [i for i in items if isinstance(i, StreamGap)], items
    samples = [i for i in items if isinstance(i, LiveSample)]
    assert stream.opened is not None
    assert (stream.opened.container, stream.opened.codec) == (container, "h264")
    # Every second of the 5 s broadcast, to its last frame, and the cut at 2.5 s: the
    # origin's last chunk ends the download, which is the end of the stream.
    assert [s.time for s in samples if not s.cut] == [Fraction(n) for n in range(5)]
    assert [s.time for s in samples if s.cut] == [Fraction(5, 2)]
    assert stream.ended_reason == "end of stream"


@pytest.mark.parametrize(("fmt", "name"), [("flv", "live.flv"), ("fmp4", "live.mp4")])
def test_a_progressive_download_cut_off_mid_stream_is_reconnected_not_ended(
    broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path, fmt: str, name: str
) -> None:
    # An origin that goes down mid-stream sends no last chunk, and FFmpeg reads the cut
    # as the end of the download, as it reads the last chunk: only a reconnection tells
    # the two apart, and here the origin is back.
    caster = broadcast(fmt, "coffee:8")
    wait_for(tmp_path / name)
    stream = LiveStream(folder_server.url(name), FAST, working_size=64)
    items = watch_interrupted(stream, folder_server.drop.set)
    assert caster.wait() == 0
    gaps = [i for i in items if isinstance(i, StreamGap)]
    assert [g.reason for g in gaps] == ["the server closed the connection"], items
    after = [i for i in items[items.index(gaps[0]) + 1 :] if isinstance(i, LiveSample)]
    assert len(after) >= 2
    # The broadcast's end is still an end: the reconnection after its last chunk gets
    # the origin's 404.
    assert stream.ended_reason == "end of stream"
