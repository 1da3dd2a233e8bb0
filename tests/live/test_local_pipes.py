"""Local live sources: a named pipe and standard input (the CLI and library only).

The broadcaster writes its real-time MPEG-TS into a named pipe made with ``mkfifo``, as
an encoder or ``ffmpeg -f mpegts`` piped into mediaguard would. The service refuses both
forms: a stream submitted over the API must never read the server's own files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from mediaguard.errors import UnsupportedMedia
from mediaguard.live import EventKind, watch
from mediaguard.media.feed import check_stream_url
from mediaguard.media.live import LiveOptions, LiveSample, LiveStream
from mediaguard.paths import ENV_DATA_DIR
from mediaguard.policy.model import Decision
from mediaguard.service.streams import check_stream_target
from mediaguard.service.webhooks import StreamTargetRefused
from mediaguard.store import Store

from .conftest import StartBroadcast
from .test_watch import listed_scanner

pytestmark = pytest.mark.timeout(120)

PIPE = LiveOptions(open_timeout_s=10, read_timeout_s=4.0, reconnect_attempts=0)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """``live.ts`` in the test's folder as a named pipe: where the broadcaster writes."""
    path = tmp_path / "live.ts"
    os.mkfifo(path)
    return path


def test_a_named_pipe_is_watched_to_its_end(
    store: Store, broadcast: StartBroadcast, fifo: Path, tmp_path: Path
) -> None:
    assert check_stream_url(str(fifo)) == "fifo"
    scanner = listed_scanner(store, tmp_path, "astronaut")
    caster = broadcast("mpegts", "chelsea:3,astronaut:2,coffee:2")
    events = list(watch(str(fifo), scanner=scanner, options=PIPE))
    assert caster.wait() == 0
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.STARTED
    alerts = [e for e in events if e.kind is EventKind.ALERT]
    assert [a.decision for a in alerts] == [Decision.BLOCK]
    assert alerts[0].time == "3/1"  # the listed photo goes out at 3 s
    assert events[-1].kind is EventKind.ENDED
    assert events[-1].error == "end of stream"


def test_samples_of_a_named_pipe_keep_the_sources_clock(
    broadcast: StartBroadcast, fifo: Path
) -> None:
    caster = broadcast("mpegts", "rocket:3")
    with LiveStream(str(fifo), PIPE, working_size=32) as stream:
        samples = [i for i in stream if isinstance(i, LiveSample)]
    assert caster.wait() == 0
    assert [s.time for s in samples if not s.cut] == [Fraction(n) for n in range(3)]
    assert stream.gaps == []
    assert stream.ended_reason == "end of stream"


def test_watch_reads_standard_input_and_exits_1_on_a_listed_frame(
    broadcast: StartBroadcast, fifo: Path, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'lists.db'}"
    env = {**os.environ, ENV_DATA_DIR: str(tmp_path / "data")}
    with Store.open(database_url) as store:
        store.upgrade()
        listed_scanner(store, tmp_path, "astronaut")
    caster = broadcast("mpegts", "coffee:3,astronaut:2")
    command = [sys.executable, "-c", "from mediaguard.cli import main; raise SystemExit(main())"]
    command += ["watch", "-", "--detectors", "", "--database", database_url]
    with fifo.open("rb") as source:  # opens once the broadcaster has opened its end
        done = subprocess.run(command, stdin=source, capture_output=True, env=env, timeout=90)
    assert caster.wait() == 0
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    assert [e["kind"] for e in events] == ["started", "alert", "ended"]
    assert events[1]["decision"] == "block"
    assert events[2]["error"] == "end of stream"


@pytest.mark.parametrize("local", ["-", "fifo"])
def test_the_service_refuses_local_pipes(local: str, fifo: Path) -> None:
    url = str(fifo) if local == "fifo" else local
    with pytest.raises(StreamTargetRefused, match="CLI only"):
        check_stream_target(url, allow_private=True)


def test_a_regular_file_is_not_a_live_source(tmp_path: Path) -> None:
    recording = tmp_path / "recording.ts"
    recording.write_bytes(b"\x47" * 188)
    with pytest.raises(UnsupportedMedia, match="not a stream protocol"):
        check_stream_url(str(recording))
