"""Hostile and broken sources: each ends in a typed error within its deadline, never a
hang, and a good stream watched beside them keeps running."""

from __future__ import annotations

import io
import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mediaguard.errors import StreamLost, StreamUnavailable
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream, StreamGap

from .conftest import StartBroadcast
from .servers import FolderServer, silent_listener, wait_for

#: Every bad source must be refused within the open deadline plus this much.
OPTIONS = LiveOptions(open_timeout_s=3, read_timeout_s=2, reconnect_attempts=0)
SLACK = 3.0


def _refused(url: str) -> str:
    started = time.monotonic()
    with pytest.raises(StreamUnavailable) as caught:
        list(LiveStream(url, OPTIONS, working_size=32))
    assert time.monotonic() - started < OPTIONS.open_timeout_s + SLACK
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("page.html", b"<!doctype html><title>not a stream</title>" * 50, id="html"),
        pytest.param("live.ts", os.urandom(256 * 1024), id="garbage-packets"),
        pytest.param("empty.m3u8", b"", id="empty"),
        pytest.param(
            "self.m3u8",
            b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nself.m3u8\n",
            id="playlist-naming-itself",
        ),
        pytest.param(
            "loop.m3u8",
            b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nloop.m3u8\n#EXTINF:1,\nloop.m3u8\n",
            id="segments-are-the-playlist",
        ),
    ],
)
def test_a_source_that_is_not_a_stream_is_unavailable(
    folder_server: FolderServer, tmp_path: Path, name: str, content: bytes
) -> None:
    (tmp_path / name).write_bytes(content)
    # live.ts is served as a live download that never ends: the garbage must still be
    # refused by the deadline, not read for ever.
    _refused(folder_server.url(name))


def test_a_playlist_of_100000_missing_segments_is_refused_within_the_deadline(
    folder_server: FolderServer, tmp_path: Path
) -> None:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"]
    lines += [f"#EXTINF:1,\nseg{i}.ts" for i in range(100_000)]
    (tmp_path / "huge.m3u8").write_text("\n".join(lines) + "\n")
    _refused(folder_server.url("huge.m3u8"))


@pytest.mark.parametrize("scheme", ["http", "rtmp", "rtsp"])
def test_a_server_that_accepts_and_never_sends_is_unavailable(scheme: str) -> None:
    with silent_listener() as port:
        _refused(f"{scheme}://127.0.0.1:{port}/live/x")


def test_a_good_stream_keeps_running_beside_bad_ones(
    broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    broadcast("mpegts", "coffee:8")
    wait_for(tmp_path / "live.ts")
    (tmp_path / "junk.ts").write_bytes(os.urandom(64 * 1024))
    good = LiveStream(folder_server.url("live.ts"), LiveOptions(read_timeout_s=3), working_size=32)
    samples: list[LiveSample] = []

    def watch_good() -> None:
        for item in good:
            if isinstance(item, LiveSample):
                samples.append(item)
            if len(samples) >= 5:
                good.stop()

    thread = threading.Thread(target=watch_good)
    thread.start()
    with silent_listener() as port:
        for url in (folder_server.url("junk.ts"), f"rtmp://127.0.0.1:{port}/live/x"):
            _refused(url)
    thread.join(30)
    assert not thread.is_alive()
    assert len(samples) >= 5


def _segment(codec: str, start: int, frames: int = 20) -> bytes:
    buffer = io.BytesIO()
    out = av.open(buffer, "w", format="mpegts")
    stream = out.add_stream(codec, rate=10)
    stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    for i in range(frames):
        pixels = np.full((120, 160, 3), (i * 7) % 255, np.uint8)
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        frame.pts, frame.time_base = start + i, Fraction(1, 10)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buffer.getvalue()


def test_a_codec_change_mid_stream_is_a_gap_and_a_replaying_source_is_lost_not_looped(
    folder_server: FolderServer, tmp_path: Path
) -> None:
    # H.264 then MPEG-4 Part 2 on the same PID: the decoder fails at the change, the
    # drop is recorded as a gap and the stream reconnected; a recorded file replays from
    # its start on every reconnection and fails the same way, so the drop budget ends it.
    (tmp_path / "change.ts").write_bytes(_segment("libx264", 0) + _segment("mpeg4", 20))
    options = LiveOptions(
        read_timeout_s=2, reconnect_attempts=2, backoff_s=0.1, max_drops_per_minute=3
    )
    stream = LiveStream(folder_server.url("change.ts"), options, working_size=32)
    items: list[LiveSample | StreamGap] = []
    started = time.monotonic()

    def watch() -> None:
        items.extend(stream)

    with pytest.raises(StreamLost, match="dropped 4 times within 60 s"):
        watch()
    assert time.monotonic() - started < 30
    gaps = [i for i in items if isinstance(i, StreamGap)]
    assert len(gaps) == 3
    assert all("Invalid data" in g.reason for g in gaps)
    assert [i for i in items if isinstance(i, LiveSample)]
