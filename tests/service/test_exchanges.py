"""Exchange fetchers: incremental, resumable, idempotent fetches that land as imports.

Every feed is a real HTTP server on 127.0.0.1 started by the test (or a real folder),
every fetch goes through the real runner into a real store (SQLite and PostgreSQL), and
every failure is checked for what matters: a typed error, a log line, a failed fetch in
the audit log, and the list and cursor exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mediaguard.errors import ConfigError
from mediaguard.service.exchanges.base import CursorError, ExchangeError, FeedFormatError
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.exchanges.runner import fetch_once
from mediaguard.service.outbound import FetchFailed, FetchRefused, FetchTimeout, FetchTooLarge
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.store import audit


def _md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def _entry(i: int) -> dict[str, Any]:
    return {"signal_type": "md5", "value": _md5(i), "external_id": f"x{i}"}


@dataclass
class Reply:
    """What the feed server answers: status, headers, body, and how slowly."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0
    length: bool = True


class Feed:
    """A feed server on loopback; ``route`` maps a request to a :class:`Reply`."""

    def __init__(self, route: Callable[[str, dict[str, list[str]], Any], Reply]) -> None:
        self.route = route
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                outer.requests.append((self.path, dict(self.headers.items())))
                reply = outer.route(parts.path, parse_qs(parts.query), self.headers)
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.length and "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    if reply.trickle:
                        for byte in reply.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    else:
                        self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up, as it should

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feeds() -> Iterator[Callable[..., Feed]]:
    started: list[Feed] = []

    def start(route: Callable[[str, dict[str, list[str]], Any], Reply]) -> Feed:
        started.append(Feed(route))
        return started[-1]

    yield start
    for feed in started:
        feed.close()


def _settings(url: str | None = None, **extra: Any) -> ExchangeSettings:
    values: dict[str, Any] = {"name": "feed", "kind": "http", "list": "shared", "url": url}
    values.update({"allow_private": True, "timeout_seconds": 5.0})
    values.update(extra)
    return ExchangeSettings.model_validate(values)


def _values(runtime: ServiceRuntime, name: str = "shared") -> list[str]:
    return sorted(e.value for e in runtime.store.lists.iter_entries(name))


def _fetch_audits(runtime: ServiceRuntime) -> list[audit.AuditEntry]:
    return [e for e in runtime.store.audit.audit_entries() if e.action == "exchange.fetch"]


def _paged(pages: dict[str | None, dict[str, Any]]) -> Callable[..., Reply]:
    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        cursor = query.get("cursor", [None])[0]
        return Reply(
            body=json.dumps(pages[cursor]).encode(),
            headers={"Content-Type": "application/json"},
        )

    return route


PAGES: dict[str | None, dict[str, Any]] = {
    None: {"entries": [_entry(1), _entry(2)], "cursor": "2", "more": True},
    "2": {"entries": [_entry(3)], "cursor": "3", "more": False},
    "3": {"entries": [], "cursor": "3", "more": False},
}


def test_paged_json_feed_is_incremental_resumable_and_audited(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    feed = feeds(_paged(PAGES))
    # A run cut short after one page (as by a crash) resumes from its cursor.
    first = fetch_once(runtime, _settings(f"{feed.url}/feed", max_pages=1))
    assert (first.pages, first.added, first.cursor) == (1, 2, "2")
    report = fetch_once(runtime, _settings(f"{feed.url}/feed"))
    assert (report.pages, report.added, report.cursor) == (1, 1, "3")
    assert feed.requests[1][0] == "/feed?cursor=2"
    again = fetch_once(runtime, _settings(f"{feed.url}/feed"))
    assert (again.added, again.duplicates) == (0, 0)
    assert feed.requests[-1][0] == "/feed?cursor=3"
    assert _values(runtime) == sorted(_md5(i) for i in (1, 2, 3))
    listed = runtime.store.lists.get_list("shared")
    assert (listed.category, listed.action, listed.source) == ("shared", "review", "exchange:feed")
    audits = _fetch_audits(runtime)
    assert [a.data["outcome"] for a in audits] == ["ok", "ok", "ok"]
    assert [a.data["added"] for a in audits] == [2, 1, 0]
    assert all(a.subject == "feed" for a in audits)
    # The entries themselves are audited as every import's are.
    assert any(e.action == "hashlist.entries_add" for e in runtime.store.audit.audit_entries())


def test_a_page_fetched_twice_is_idempotent(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    feed = feeds(_paged(PAGES))
    fetch_once(runtime, _settings(f"{feed.url}/feed"))
    # The cursor is lost, as when a crash falls between the import and the cursor write:
    # everything is fetched again and nothing is added twice.
    other = _settings(f"{feed.url}/feed", name="feed-again")
    report = fetch_once(runtime, other)
    assert (report.added, report.duplicates) == (0, 3)
    assert len(_values(runtime)) == 3


def test_csv_snapshot_uses_etags(runtime: ServiceRuntime, feeds: Callable[..., Feed]) -> None:
    version = {"etag": '"v1"', "rows": [1, 2]}

    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        if headers.get("If-None-Match") == version["etag"]:
            return Reply(status=304, headers={"ETag": str(version["etag"])})
        rows = "".join(f"md5,{_md5(i)},note {i}\n" for i in version["rows"])  # type: ignore[attr-defined]
        return Reply(
            body=f"signal_type,value,note\n{rows}".encode(),
            headers={"Content-Type": "text/csv", "ETag": str(version["etag"])},
        )

    feed = feeds(route)
    assert fetch_once(runtime, _settings(f"{feed.url}/list.csv")).added == 2
    unchanged = fetch_once(runtime, _settings(f"{feed.url}/list.csv"))
    assert (unchanged.added, unchanged.duplicates) == (0, 0)
    assert feed.requests[-1][1]["If-None-Match"] == '"v1"'
    version.update(etag='"v2"', rows=[1, 2, 3, 4])
    changed = fetch_once(runtime, _settings(f"{feed.url}/list.csv"))
    assert (changed.added, changed.duplicates) == (2, 2)
    assert runtime.store.exchanges.status("feed").cursor == 'etag:"v2"'  # type: ignore[union-attr]


def test_folder_drop(runtime: ServiceRuntime, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    settings = _settings(None, kind="folder", path=drop, name="drop")
    (drop / "a.txt").write_text(f"md5 {_md5(1)}\nmd5 {_md5(2)}\n")
    (drop / "b.part").write_text(f"md5 {_md5(9)}\n")  # still being written: not read
    (drop / "link.txt").symlink_to(drop / "a.txt")
    assert fetch_once(runtime, settings).added == 2
    assert fetch_once(runtime, settings).pages == 1  # nothing new: one empty page
    (drop / "b.json").write_text(json.dumps([_entry(3)]))
    os.utime(drop / "b.json", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    (drop / "c.csv").write_text(f"value,signal_type\n{_md5(4)},md5\n")
    os.utime(drop / "c.csv", ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
    report = fetch_once(runtime, settings)
    assert (report.pages, report.added) == (2, 2)
    assert _values(runtime) == sorted(_md5(i) for i in (1, 2, 3, 4))
    missing = _settings(None, kind="folder", path=tmp_path / "nope", name="nope")
    with pytest.raises(ExchangeError, match="cannot read the drop folder"):
        fetch_once(runtime, missing)


def test_past_items_are_matched_retroactively(
    runtime: ServiceRuntime, feeds: Callable[..., Feed], photos: Any
) -> None:
    data = photos.file("rocket")
    runtime.scan(data, name="rocket.jpg")
    digest = hashlib.sha256(data).hexdigest()
    body = json.dumps([{"signal_type": "sha256", "value": digest}]).encode()
    feed = feeds(lambda *_: Reply(body=body))
    report = fetch_once(runtime, _settings(f"{feed.url}/feed"))
    assert report.retro_matches == 1
    assert len(report.events) == 1
    assert _fetch_audits(runtime)[-1].data["retro_matches"] == 1


# ------------------------------------------------------------------------ bad input

BIG = b"x" * (2 * 1024 * 1024)


def _bad(
    kind: str, feed_url: str, private: str
) -> tuple[Callable[..., Reply], dict[str, Any], type[Exception]]:
    ok_page = json.dumps({"entries": [_entry(1)], "cursor": "10"}).encode()
    cases: dict[str, tuple[Callable[..., Reply], dict[str, Any], type[Exception]]] = {
        "binary-garbage": (lambda *_: Reply(body=os.urandom(4096) + b"\xff"), {}, FeedFormatError),
        "text-garbage": (
            lambda *_: Reply(body=b"<html><body>Service unavailable</body></html>\n"),
            {},
            FeedFormatError,
        ),
        "json-wrong-shape": (lambda *_: Reply(body=b'{"rows": []}'), {}, FeedFormatError),
        "json-broken": (lambda *_: Reply(body=b'{"entries": [{"signal'), {}, FeedFormatError),
        "ten-gigabytes-declared": (
            lambda *_: Reply(body=b"md5 ", headers={"Content-Length": str(10 * 1024**3)}),
            {"max_bytes": 1024 * 1024},
            FetchTooLarge,
        ),
        "over-the-cap-streamed": (
            lambda *_: Reply(body=BIG, length=False),
            {"max_bytes": 1024 * 1024},
            FetchTooLarge,
        ),
        "cursor-backwards": (
            lambda *_: Reply(body=json.dumps({"entries": [_entry(2)], "cursor": "3"}).encode()),
            {},
            CursorError,
        ),
        "redirect-to-private": (
            lambda *_: Reply(status=302, headers={"Location": f"{private}/internal"}),
            {},
            FetchRefused,
        ),
        "redirect-to-metadata": (
            lambda *_: Reply(status=302, headers={"Location": "http://169.254.169.254/latest"}),
            {},
            FetchRefused,
        ),
        "slow-to-answer": (
            lambda *_: Reply(body=ok_page, delay=3.0),
            {"timeout_seconds": 0.5},
            FetchTimeout,
        ),
        "trickling": (
            lambda *_: Reply(body=ok_page, trickle=0.05),
            {"timeout_seconds": 0.5},
            FetchTimeout,
        ),
        "server-error": (lambda *_: Reply(status=500, body=b"oops"), {}, FetchFailed),
    }
    return cases[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "binary-garbage",
        "text-garbage",
        "json-wrong-shape",
        "json-broken",
        "ten-gigabytes-declared",
        "over-the-cap-streamed",
        "cursor-backwards",
        "redirect-to-private",
        "redirect-to-metadata",
        "slow-to-answer",
        "trickling",
        "server-error",
    ],
)
def test_bad_feeds_fail_typed_and_leave_the_list_intact(
    runtime: ServiceRuntime,
    feeds: Callable[..., Feed],
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    state = {"good": True}
    internal = feeds(lambda *_: Reply(body=json.dumps([_entry(99)]).encode()))
    holder: dict[str, Callable[..., Reply]] = {}

    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        if state["good"]:
            return Reply(body=json.dumps({"entries": [_entry(1)], "cursor": "10"}).encode())
        return holder["bad"](path, query, headers)

    feed = feeds(route)
    bad, extra, error = _bad(kind, feed.url, internal.url)
    holder["bad"] = bad
    fetch_once(runtime, _settings(f"{feed.url}/feed"))
    before = _values(runtime)
    state["good"] = False
    with (
        caplog.at_level(logging.WARNING, "mediaguard.service.exchanges"),
        pytest.raises(error),
    ):
        fetch_once(runtime, _settings(f"{feed.url}/feed", **extra))
    assert _values(runtime) == before
    status = runtime.store.exchanges.status("feed")
    assert status is not None
    assert status.cursor == "10"
    assert error.__name__ in (status.last_error or "")
    assert _fetch_audits(runtime)[-1].data["outcome"] == "failed"
    assert any("exchange feed: fetch failed" in r.getMessage() for r in caplog.records)
    assert internal.requests == []


def test_a_page_failing_half_way_imports_nothing(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    # 12 000 good lines (more than two database batches), then one bad line: the page
    # fails inside its one transaction and none of it lands.
    lines = "".join(f"md5 {_md5(i)}\n" for i in range(12_000)) + "md5 not-a-hash\n"
    feed = feeds(lambda *_: Reply(body=lines.encode()))
    with pytest.raises(FeedFormatError, match="bad line"):
        fetch_once(runtime, _settings(f"{feed.url}/list.txt"))
    assert runtime.store.lists.count_entries("shared") == 0
    status = runtime.store.exchanges.status("feed")
    assert status is not None
    assert status.cursor is None
    tolerant = fetch_once(runtime, _settings(f"{feed.url}/list.txt", max_bad_lines=5))
    assert (tolerant.added, tolerant.bad_lines) == (12_000, 1)


def test_credentials_stay_out_of_reprs_logs_and_the_audit_log(
    runtime: ServiceRuntime, feeds: Callable[..., Feed], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-token-value"

    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        if headers.get("Authorization") != f"Bearer {secret}":
            return Reply(status=401)
        return Reply(status=503, body=b"down")

    feed = feeds(route)
    settings = _settings(
        f"{feed.url}/feed?access_token={secret}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())
    with caplog.at_level(logging.DEBUG), pytest.raises(FetchFailed, match="503"):
        fetch_once(runtime, settings)
    assert feed.requests, "the feed was asked"
    assert secret not in caplog.text
    status = runtime.store.exchanges.status("feed")
    assert status is not None
    assert secret not in (status.last_error or "")
    assert all(secret not in json.dumps(a.data) for a in _fetch_audits(runtime))


def test_exchange_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="needs a url"):
        ExchangeSettings(name="a", kind="http", list="x")
    with pytest.raises(ValueError, match="needs a path"):
        ExchangeSettings(name="a", kind="folder", list="x")
    with pytest.raises(ValueError, match="name"):
        ExchangeSettings(name="Bad Name", kind="folder", list="x", path=Path("."))


def test_exchanges_load_from_the_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'environment = "development"\n'
        "[[exchanges]]\n"
        'name = "partner"\nkind = "http"\nlist = "partner"\n'
        'url = "https://feeds.example.org/h.json?access_token=tok-in-url"\n'
        'headers = { Authorization = "Bearer tok-in-header" }\n'
        "[[exchanges]]\n"
        'name = "drop"\nkind = "folder"\nlist = "manual"\npath = "/srv/drop"\n'
    )
    loaded = ServiceSettings.load(path)
    assert [e.name for e in loaded.exchanges] == ["partner", "drop"]
    assert loaded.exchanges[0].feed_url().endswith("access_token=tok-in-url")
    assert "tok-in" not in repr(loaded)
    path.write_text(
        path.read_text()
        + '[[exchanges]]\nname = "drop"\nkind = "folder"\nlist = "x"\npath = "/y"\n'
    )
    with pytest.raises(ConfigError, match="same name"):
        ServiceSettings.load(path)
