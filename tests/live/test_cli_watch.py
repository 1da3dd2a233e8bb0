"""``mediaguard watch`` on a real HLS stream: JSONL events and the exit codes of scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediaguard.cli import main
from mediaguard.paths import ENV_DATA_DIR
from mediaguard.store import Store

from .conftest import StartBroadcast
from .servers import FolderServer, free_port, wait_for
from .test_watch import listed_scanner


def test_watch_prints_events_and_exits_1_when_a_listed_frame_blocks(
    broadcast: StartBroadcast,
    folder_server: FolderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    # The command's own store: the store-backed watch runs on both backends in
    # test_watch.py; here it is the command line that is under test.
    database_url = f"sqlite:///{tmp_path / 'lists.db'}"
    with Store.open(database_url) as store:
        store.upgrade()
        listed_scanner(store, tmp_path, "astronaut")
    broadcast("hls", "chelsea:2,astronaut:4")
    wait_for(tmp_path / "index.m3u8")
    url = folder_server.url("index.m3u8")
    code = main(
        [
            "watch",
            url,
            "--detectors",
            "",
            "--database",
            store.url,
            "--until",
            "block",
            "--read-timeout",
            "4",
        ]
    )
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1, captured.err
    assert [e["kind"] for e in events] == ["started", "alert", "ended"]
    assert events[1]["decision"] == "block"
    assert events[1]["reasons"][0]["code"] == "list_block"
    assert events[2]["error"] == "the decision reached block"
    assert "worst decision block" in captured.err


def test_watch_max_duration_ends_cleanly_with_0(
    broadcast: StartBroadcast,
    folder_server: FolderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broadcast("hls", "coffee:8")
    wait_for(tmp_path / "index.m3u8")
    out = tmp_path / "events.jsonl"
    code = main(
        [
            "watch",
            folder_server.url("index.m3u8"),
            "--detectors",
            "",
            "--no-lists",
            "--max-duration",
            "3",
            "--read-timeout",
            "4",
            "-o",
            str(out),
        ]
    )
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0
    assert events[-1]["kind"] == "ended"
    assert events[-1]["error"] == "max duration (3 s) reached"
    assert events[-1]["decision"] == "allow"


def test_watch_exits_3_when_the_stream_never_starts(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/live.m3u8"
    code = main(["watch", url, "--detectors", "", "--no-lists", "--read-timeout", "1"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 3
    assert [e["kind"] for e in events] == ["failed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["file:///etc/passwd"], "not a stream protocol"),
        (["http://127.0.0.1/x", "--rate", "0"], "rate"),
        (["http://127.0.0.1/x", "--rate", "fast"], "rate"),
    ],
)
def test_watch_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", *args, "--detectors", "", "--no-lists"]) == 2
    assert message in capsys.readouterr().err
