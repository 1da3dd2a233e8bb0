"""Watching a stream end to end: a listed photo shown mid-broadcast raises an alert."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import mediaguard
from mediaguard.config import ScanConfig
from mediaguard.errors import StreamUnavailable
from mediaguard.lists.hashlists import ListMatcher
from mediaguard.live import EventKind, StreamEvent, Watch, watch
from mediaguard.media.live import LiveOptions
from mediaguard.policy.model import Decision
from mediaguard.scanner import Scanner
from mediaguard.store import Store

from .conftest import StartBroadcast
from .listing import list_broadcast_photo, one_list_alert
from .servers import FolderServer, free_port, wait_for

HLS = LiveOptions(open_timeout_s=8, read_timeout_s=4.0, backoff_s=0.2, reconnect_attempts=2)


def listed_scanner(store: Store, tmp_path: Path, photo: str) -> Scanner:
    """A scanner without detectors whose hash list blocks ``photo`` as broadcast."""
    list_broadcast_photo(store, photo)
    matcher = ListMatcher(store, index_dir=tmp_path / "idx", record=False)
    return Scanner(ScanConfig(detectors=()), matcher=matcher)


def test_a_listed_frame_shown_mid_stream_raises_one_alert_then_the_stream_ends(
    store: Store, broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    scanner = listed_scanner(store, tmp_path, "astronaut")
    caster = broadcast("hls", "chelsea:3,astronaut:2,coffee:5")
    wait_for(tmp_path / "index.m3u8")
    events = list(watch(folder_server.url("index.m3u8"), scanner=scanner, options=HLS))
    caster.wait()
    # The match stays in force for the policy's window of 5 samples, then clears.
    alert, final = one_list_alert(events)
    # The photo goes out at 3 s: the cut to it is sampled at once.
    assert alert.time == "3/1"
    assert final.matches[0].first_s == 3.0


def test_until_stops_at_the_first_block(
    store: Store, broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    scanner = listed_scanner(store, tmp_path, "rocket")
    broadcast("hls", "camera:2,rocket:6")
    wait_for(tmp_path / "index.m3u8")
    events = list(
        watch(folder_server.url("index.m3u8"), scanner=scanner, options=HLS, until=Decision.BLOCK)
    )
    assert events[-1].kind is EventKind.ENDED
    assert events[-1].error == "the decision reached block"
    assert events[-2].kind is EventKind.ALERT


def test_a_stream_that_never_starts_yields_failed_then_raises() -> None:
    options = LiveOptions(open_timeout_s=2, read_timeout_s=1, reconnect_attempts=0)
    events: list[StreamEvent] = []
    scanner = Scanner(ScanConfig(detectors=()))
    with pytest.raises(StreamUnavailable):  # noqa: PT012
        for event in watch(
            f"http://127.0.0.1:{free_port()}/x.m3u8", scanner=scanner, options=options
        ):
            events.append(event)
    assert [e.kind for e in events] == [EventKind.FAILED]
    assert events[0].error is not None
    assert events[0].error.startswith("StreamUnavailable")


def test_the_library_entry_point_refuses_a_file_url() -> None:
    with pytest.raises(mediaguard.UnsupportedMedia):
        mediaguard.watch("file:///etc/hostname")


class _CountingSlot:
    """A one-place semaphore that counts how often it was held."""

    def __init__(self) -> None:
        self._lock = threading.BoundedSemaphore(1)
        self.held = 0

    def __enter__(self) -> None:
        self._lock.acquire()
        self.held += 1

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_every_sample_is_scanned_inside_the_scan_slot(
    store: Store, broadcast: StartBroadcast, folder_server: FolderServer, tmp_path: Path
) -> None:
    scanner = listed_scanner(store, tmp_path, "astronaut")
    broadcast("hls", "chelsea:2,coffee:2")
    wait_for(tmp_path / "index.m3u8")
    slot = _CountingSlot()
    events = list(
        Watch(
            folder_server.url("index.m3u8"),
            scanner=scanner,
            options=HLS,
            samples=True,
            scan_slot=slot,
        )
    )
    sampled = [e for e in events if e.kind is EventKind.SAMPLE]
    assert len(sampled) >= 3
    assert slot.held == len(sampled)
