"""The exchange schedule with an HTTP feed: the list follows the feed as it grows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mediaguard.service.runtime import ServiceRuntime
from mediaguard.store import audit

from ._support import LiveServer, wait_for
from .test_exchanges import Feed, Reply

#: What the feed serves; a test appends to it while the server runs.
SERVED: list[dict[str, str]] = []


def _md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


@pytest.fixture
def feed() -> Iterator[Feed]:
    SERVED.clear()

    def route(path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        after = int(query.get("cursor", ["0"])[0])
        page = SERVED[after:]
        body = {"entries": page, "cursor": str(after + len(page)), "more": False}
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    server = Feed(route)
    yield server
    server.close()


@pytest.fixture
def settings_overrides(feed: Feed) -> dict[str, Any]:
    exchange = {
        "name": "partner",
        "kind": "http",
        "list": "partner",
        "url": f"{feed.url}/hashes.json",
        "allow_private": True,
        "every_seconds": 0.2,
    }
    return {"exchanges": [exchange]}


def test_a_list_follows_its_http_feed_on_schedule(
    live: LiveServer, runtime: ServiceRuntime, feed: Feed
) -> None:
    def values() -> list[str]:
        if "partner" not in {info.name for info in runtime.store.lists.lists()}:
            return []
        return sorted(e.value for e in runtime.store.lists.iter_entries("partner"))

    SERVED.append({"signal_type": "md5", "value": _md5(1)})
    wait_for(lambda: values() == [_md5(1)])
    SERVED.append({"signal_type": "md5", "value": _md5(2)})
    wait_for(lambda: values() == sorted([_md5(1), _md5(2)]))
    # Incremental: later requests carry the cursor and get only what is new.
    assert any("cursor=1" in path for path, _ in feed.requests)

    def fetches() -> list[audit.AuditEntry]:
        return [e for e in runtime.store.audit.audit_entries() if e.action == "exchange.fetch"]

    wait_for(lambda: len(fetches()) >= 3)
    assert sum(a.data["added"] for a in fetches()) == 2
    assert {(a.subject, a.data["outcome"]) for a in fetches()} == {("partner", "ok")}
