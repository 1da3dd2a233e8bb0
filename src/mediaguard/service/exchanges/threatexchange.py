"""Meta ThreatExchange: a privacy group's ``threat_updates``, as its Graph API documents.

Design note: written from ThreatExchange's public Graph API documentation (the
``/{privacy-group-id}/threat_updates`` edge) and the request and response shapes of
python-threatexchange's client, and tested against responses of that shape served
locally; **it has not been run against graph.facebook.com**. A fetch asks for the
updates between the cursor (a Unix time, 0 at first) and the time the fetch started
(``start_time``/``stop_time``), following ``paging.next`` until the range is exhausted,
and lands the whole range as one page: the API does not return updates in time order,
so a range cut short cannot be resumed from any point inside it. The cursor becomes the
range's end only once everything in it committed. An update with ``should_delete`` is a
withdrawal and removes the hash. ``paging.next`` carries the access token, so it is
followed only on the API's own origin, and never logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import urlencode

from mediaguard.errors import MediaguardError
from mediaguard.match.formats import LineError
from mediaguard.match.types import Entry, SignalType
from mediaguard.service.exchanges.base import ExchangeError, FeedFormatError, Page
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.exchanges.feeds import fetcher_for
from mediaguard.service.outbound import FetchRefused, origin_of

#: ThreatExchange indicator types and the signal types they are.
TYPES: Final[dict[str, SignalType]] = {
    "HASH_PDQ": SignalType.PDQ,
    "HASH_MD5": SignalType.MD5,
    "HASH_VIDEO_MD5": SignalType.MD5,
    "HASH_SHA256": SignalType.SHA256,
}
_FIELDS: Final = "id,indicator,type,creation_time,last_updated,should_delete,tags"
_PAGE_SIZE: Final = 1000


class ThreatExchange:
    """The ``threat_updates`` of one privacy group (see the module note)."""

    def __init__(self, settings: ExchangeSettings, *, clock: Any = time.time) -> None:
        """Build the fetcher; nothing is requested yet."""
        self.settings = settings
        self.base = settings.feed_url().rstrip("/")
        self.fetcher = fetcher_for(settings)
        self.clock = clock

    def fetch(self, cursor: str | None) -> Page:
        """Every update from ``cursor`` to now, as one lazily read page."""
        start = _cursor_time(cursor)
        stop = int(self.clock())
        assert self.settings.token is not None
        params = {
            "access_token": self.settings.token.get_secret_value(),
            "fields": _FIELDS,
            "limit": str(_PAGE_SIZE),
            "stop_time": str(stop),
            "types": ",".join(self.settings.indicator_types),
        }
        if start:
            params["start_time"] = str(start)
        url = f"{self.base}/{self.settings.privacy_group}/threat_updates/?{urlencode(params)}"
        page = Page([], str(max(start, stop)))
        return Page(self._items(url, page), page.cursor, removals=page.removals)

    def _items(self, url: str | None, page: Page) -> Iterator[Entry | LineError]:
        origin = origin_of(self.base)
        position = 0
        for _request in range(self.settings.max_pages):
            if url is None:
                return
            if origin_of(url) != origin:
                raise FetchRefused("threatexchange: paging.next left the API's origin")
            body = _json(self.fetcher.get(url).body)
            data = body.get("data")
            if not isinstance(data, list):
                raise FeedFormatError("threatexchange: the answer has no `data` list")
            for update in data:
                position += 1
                yield from _update(update, position, page)
            paging = body.get("paging")
            following = paging.get("next") if isinstance(paging, dict) else None
            url = following if isinstance(following, str) and following else None
        if url is not None:
            raise ExchangeError(
                f"threatexchange: more than max_pages={self.settings.max_pages} requests for "
                "one range; raise max_pages (nothing of the range was imported)"
            )


def _cursor_time(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return int(cursor)
    except ValueError as err:
        raise ExchangeError(f"threatexchange: stored cursor {cursor!r} is not a time") from err


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as err:
        raise FeedFormatError(f"threatexchange: the answer is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise FeedFormatError("threatexchange: the answer is not a JSON object")
    return data


def _update(update: Any, position: int, page: Page) -> Iterator[Entry | LineError]:
    text = json.dumps(update)[:200]
    if not isinstance(update, dict):
        yield LineError(position, text, "an update is not an object")
        return
    signal = TYPES.get(str(update.get("type")))
    if signal is None:
        return  # a type mediaguard does not match on (TMK, URLs...): not an error
    indicator = update.get("indicator")
    if not isinstance(indicator, str):
        yield LineError(position, text, "the update has no indicator")
        return
    try:
        entry = Entry.parse(signal, indicator.strip().lower(), f"te:{update.get('id')}")
    except MediaguardError as err:
        yield LineError(position, text, str(err))
        return
    if update.get("should_delete"):
        page.removals.append((entry.signal, entry.value))
    else:
        yield entry
