"""Playing RTMP from a real RTMP server (nginx-rtmp on 127.0.0.1), as an ingest is watched.

mediaguard dials the server as a player; the broadcaster publishes to it in real time.
The player joins at a keyframe after the broadcast began, so stream time 0 is its first
frame: times are checked on the source's whole seconds, not against the schedule.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from conftest import service_missing
from mediaguard.live import watch
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream, StreamGap
from mediaguard.store import Store

from .listing import one_list_alert
from .rtmp_origin import nginx_rtmp_missing, rtmp_broadcast
from .test_watch import listed_scanner

RTMP = LiveOptions(open_timeout_s=8, read_timeout_s=2.0, backoff_s=0.2, reconnect_attempts=3)


@pytest.fixture(scope="session")
def nginx_rtmp_ready() -> None:
    """Nothing, once nginx-rtmp can run here; a skip (or failure) saying why not."""
    why = nginx_rtmp_missing()
    if why is not None:
        service_missing(f"nginx-rtmp cannot run, so the RTMP server tests cannot: {why}")


pytestmark = [pytest.mark.usefixtures("nginx_rtmp_ready"), pytest.mark.timeout(60)]


def test_a_stream_played_from_an_rtmp_server_is_sampled_and_ends_with_its_publisher(
    tmp_path: Path,
) -> None:
    with rtmp_broadcast(tmp_path, "chelsea:3.5,astronaut:3.5") as (url, caster):
        stream = LiveStream(url, RTMP, working_size=64)
        items = list(stream)
        assert caster.wait() == 0
    assert not [i for i in items if isinstance(i, StreamGap)], items
    samples = [i for i in items if isinstance(i, LiveSample)]
    fixed = [s.time for s in samples if not s.cut]
    # Once a second from the first frame the player got, on the source's own clock.
    assert fixed == [Fraction(n) for n in range(len(fixed))]
    assert len(fixed) >= 4
    # And the cut to the second photo, half a second off the player's whole seconds (it
    # joined at a keyframe, and they fall on the broadcast's whole seconds).
    (cut,) = [s for s in samples if s.cut]
    assert cut.time.denominator == 2
    # The server says the stream stopped when its publisher leaves; asked again, it has
    # nothing to play: the stream has ended, it was not lost.
    assert stream.ended_reason == "end of stream"
    assert stream.opened is not None
    assert (stream.opened.container, stream.opened.codec) == ("flv", "h264")


def test_a_listed_photo_played_from_an_rtmp_server_raises_one_alert(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'lists.db'}") as store:
        store.upgrade()
        scanner = listed_scanner(store, tmp_path, "astronaut")
        with rtmp_broadcast(tmp_path, "chelsea:3,astronaut:2,coffee:5") as (url, caster):
            events = list(watch(url, scanner=scanner, options=RTMP))
            assert caster.wait() == 0
    alert, final = one_list_alert(events)
    assert alert.matches[0].list == "known"
    assert final.matches[0].list == "known"
