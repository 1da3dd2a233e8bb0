"""The ThreatExchange and NCMEC clients against answers of their documented shapes.

The answers are written from the public API documentation of each service and from the
requests and responses python-threatexchange's clients handle; they are served on
127.0.0.1 by the test. Neither client has been run against the real service.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mediaguard.service.exchanges.base import FeedFormatError
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.exchanges.ncmec import NcmecExchange
from mediaguard.service.exchanges.runner import fetch_once
from mediaguard.service.exchanges.threatexchange import ThreatExchange
from mediaguard.service.outbound import FetchRefused
from mediaguard.service.runtime import ServiceRuntime

from .test_exchanges import Feed, Reply

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_C = "0" * 63 + "1"
MD5_B = hashlib.md5(b"b").hexdigest()
TOKEN = "te-token-not-for-logs"


@pytest.fixture
def feeds() -> Iterator[Callable[..., Feed]]:
    started: list[Feed] = []

    def start(route: Callable[..., Reply]) -> Feed:
        started.append(Feed(route))
        return started[-1]

    yield start
    for feed in started:
        feed.close()


def _values(runtime: ServiceRuntime, name: str) -> list[str]:
    return sorted(e.value for e in runtime.store.lists.iter_entries(name))


# ------------------------------------------------------------------ ThreatExchange


def _te_settings(url: str, **extra: Any) -> ExchangeSettings:
    values = {
        "name": "te",
        "kind": "threatexchange",
        "list": "te-shared",
        "url": url,
        "token": TOKEN,
        "privacy_group": "1234",
        "allow_private": True,
        "max_bad_lines": 1,
    }
    return ExchangeSettings.model_validate({**values, **extra})


def _update(ident: int, kind: str, indicator: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(ident),
        "indicator": indicator,
        "type": kind,
        "creation_time": 1_600_000_000,
        "last_updated": 1_600_000_000 + ident,
        "should_delete": False,
        "tags": [],
        **extra,
    }


def test_threatexchange_pages_through_a_range_and_applies_withdrawals(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    asked: list[dict[str, list[str]]] = []

    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        assert path == "/v21.0/1234/threat_updates/"
        assert query["access_token"] == [TOKEN]
        asked.append(query)
        if "start_time" not in query and "after" not in query:
            body = {
                "data": [
                    _update(1, "HASH_PDQ", PDQ_A),
                    _update(2, "HASH_TMK", "tmk-data-not-matched"),
                    _update(3, "HASH_PDQ", "not-a-pdq"),
                ],
                "paging": {
                    "cursors": {"before": "x", "after": "y"},
                    "next": f"{feed.url}/v21.0/1234/threat_updates/?access_token={TOKEN}&after=y",
                },
            }
        elif "after" in query:
            body = {"data": [_update(4, "HASH_MD5", MD5_B.upper())], "paging": {}}
        else:
            body = {
                "data": [
                    _update(1, "HASH_PDQ", PDQ_A, should_delete=True),
                    _update(5, "HASH_PDQ", PDQ_C),
                ]
            }
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    feed = feeds(route)
    settings = _te_settings(f"{feed.url}/v21.0")
    first = fetch_once(runtime, settings, exchange=ThreatExchange(settings, clock=lambda: 1000))
    assert (first.added, first.bad_lines, first.cursor) == (2, 1, "1000")
    assert _values(runtime, "te-shared") == sorted([PDQ_A, MD5_B])
    assert asked[0]["stop_time"] == ["1000"]
    assert asked[0]["types"] == ["HASH_PDQ,HASH_MD5,HASH_VIDEO_MD5"]
    second = fetch_once(runtime, settings, exchange=ThreatExchange(settings, clock=lambda: 2000))
    assert asked[-1]["start_time"] == ["1000"]
    assert second.added == 1
    assert _values(runtime, "te-shared") == sorted([PDQ_C, MD5_B])
    entry = next(e for e in runtime.store.lists.iter_entries("te-shared") if e.value == PDQ_C)
    assert entry.external_id == "te:5"


def test_threatexchange_never_follows_paging_off_its_origin(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    body = {
        "data": [_update(1, "HASH_PDQ", PDQ_A)],
        "paging": {"next": f"https://elsewhere.example/steal?access_token={TOKEN}"},
    }
    feed = feeds(lambda *_: Reply(body=json.dumps(body).encode()))
    settings = _te_settings(f"{feed.url}/v21.0")
    with pytest.raises(FetchRefused, match="origin"):
        fetch_once(runtime, settings, exchange=ThreatExchange(settings, clock=lambda: 1000))
    assert _values(runtime, "te-shared") == []
    status = runtime.store.exchanges.status("te")
    assert status is not None
    assert status.cursor is None
    assert TOKEN not in (status.last_error or "")


def test_threatexchange_garbage_is_a_format_error(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    feed = feeds(lambda *_: Reply(body=b"<html>maintenance</html>"))
    settings = _te_settings(f"{feed.url}/v21.0")
    with pytest.raises(FeedFormatError, match="not JSON"):
        fetch_once(runtime, settings)


# ---------------------------------------------------------------------------- NCMEC

NS = "https://hashsharing.ncmec.org/hashsharing/v2"
MD5_IMAGE = hashlib.md5(b"image1").hexdigest()
MD5_VIDEO = hashlib.md5(b"video1").hexdigest()

ENTRIES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="{NS}">
  <images count="2" maxTimestamp="2017-10-24T15:10:00Z">
    <image>
      <member id="42">Example Member</member>
      <timestamp>2017-10-24T15:00:00Z</timestamp>
      <id>image1</id>
      <classification>A1</classification>
      <fingerprints>
        <md5>{MD5_IMAGE}</md5>
        <sha1>a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1</sha1>
        <pdq>{PDQ_A}</pdq>
      </fingerprints>
    </image>
    <deletedImage>
      <member id="43">Example Member2</member>
      <id>image4</id>
      <timestamp>2017-10-24T15:10:00Z</timestamp>
    </deletedImage>
  </images>
  <videos count="1" maxTimestamp="2017-10-24T15:20:00Z">
    <video>
      <member id="42">Example Member</member>
      <timestamp>2017-10-24T15:00:00Z</timestamp>
      <id>video1</id>
      <fingerprints><md5>{MD5_VIDEO}</md5></fingerprints>
    </video>
  </videos>
  <paging>
    <next>/v2/entries?from=2017-10-20T00%3A00%3A00Z&amp;to=2017-10-30T00%3A00%3A00Z&amp;start=2001&amp;size=1000&amp;max=3000</next>
  </paging>
</queryResult>"""

NO_DATA = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="{NS}"><images count="0"/><videos count="0"/></queryResult>"""


def _ncmec_settings(url: str) -> ExchangeSettings:
    return ExchangeSettings.model_validate(
        {
            "name": "ncmec",
            "kind": "ncmec",
            "list": "ncmec",
            "category": "csam",
            "action": "block",
            "url": url,
            "username": "member",
            "password": "ncmec-password-not-for-logs",
            "allow_private": True,
        }
    )


def test_ncmec_entries_with_basic_auth_and_paging(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    expected = "Basic " + base64.b64encode(b"member:ncmec-password-not-for-logs").decode()
    asked: list[str | None] = []

    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        if headers.get("Authorization") != expected:
            return Reply(status=401)
        assert path == "/hashsharing/v2/entries"
        asked.append(query.get("start", [None])[0])
        if "start" in query:
            return Reply(body=NO_DATA.encode(), headers={"Content-Type": "application/xml"})
        assert query["from"] == ["1970-01-01T00:00:00Z"]
        assert query["to"] == ["1973-03-03T09:46:40Z"]
        return Reply(body=ENTRIES.encode(), headers={"Content-Type": "application/xml"})

    feed = feeds(route)
    settings = _ncmec_settings(f"{feed.url}/hashsharing")
    client = NcmecExchange(settings, clock=lambda: 100_000_000)
    report = fetch_once(runtime, settings, exchange=client)
    assert (report.added, report.cursor) == (3, "100000000")
    assert _values(runtime, "ncmec") == sorted([MD5_IMAGE, MD5_VIDEO, PDQ_A])
    assert client.deleted == 1
    assert asked == [None, "2001"]
    listed = runtime.store.lists.get_list("ncmec")
    assert (listed.category, listed.action) == ("csam", "block")


def test_ncmec_broken_xml_changes_nothing(
    runtime: ServiceRuntime, feeds: Callable[..., Feed]
) -> None:
    feed = feeds(lambda *_: Reply(body=ENTRIES[: len(ENTRIES) // 2].encode()))
    settings = _ncmec_settings(f"{feed.url}/hashsharing")
    with pytest.raises(FeedFormatError, match="not XML"):
        fetch_once(runtime, settings)
    assert _values(runtime, "ncmec") == []
