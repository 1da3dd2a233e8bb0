"""NCMEC's hash-sharing API: entries between two times, as its public documentation shows.

Design note: written from the public description of NCMEC's hash-sharing API (``GET
<base>/v2/entries?from=&to=``, HTTP Basic authentication, XML answers of ``images`` and
``videos`` with their ``fingerprints``, ``paging/next`` relative to the base) and the
shapes python-threatexchange's client reads, and tested against responses of that shape
served locally; **it has not been run against NCMEC's servers**, whose access is granted
to members only. Like ThreatExchange, entries are not returned in time order, so one
range (cursor to the fetch's start) is one page, read lazily and committed together.
MD5 and PDQ fingerprints are imported; SHA-1 and PhotoDNA are not signal types mediaguard
matches, and deleted entries (which carry only NCMEC's id) are counted but not removed.
XML is parsed with the standard library's parser, which resolves no external entities,
within ``max_bytes``.
"""

from __future__ import annotations

import base64
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from mediaguard.errors import MediaguardError
from mediaguard.match.formats import LineError
from mediaguard.match.types import Entry, SignalType
from mediaguard.service.exchanges.base import ExchangeError, FeedFormatError, Page
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.exchanges.feeds import fetcher_for
from mediaguard.service.outbound import FetchRefused, origin_of

#: NCMEC fingerprint names and the signal types they are.
FINGERPRINTS: Final[dict[str, SignalType]] = {"md5": SignalType.MD5, "pdq": SignalType.PDQ}


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class NcmecExchange:
    """NCMEC's ``/v2/entries`` (see the module note)."""

    def __init__(self, settings: ExchangeSettings, *, clock: Any = time.time) -> None:
        """Build the fetcher with the Basic credentials; nothing is requested yet."""
        assert settings.password is not None
        pair = f"{settings.username}:{settings.password.get_secret_value()}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        self.settings = settings
        self.base = settings.feed_url().rstrip("/")
        self.fetcher = fetcher_for(settings)
        self.fetcher.headers = {**self.fetcher.headers, **auth}
        self.clock = clock
        self.deleted = 0

    def fetch(self, cursor: str | None) -> Page:
        """Every entry from ``cursor`` to now, as one lazily read page."""
        try:
            start = int(cursor) if cursor is not None else 0
        except ValueError as err:
            raise ExchangeError(f"ncmec: stored cursor {cursor!r} is not a time") from err
        stop = int(self.clock())
        url = f"{self.base}/v2/entries?{urlencode({'from': _iso(start), 'to': _iso(stop)})}"
        return Page(self._items(url), str(max(start, stop)))

    def _items(self, url: str | None) -> Iterator[Entry | LineError]:
        origin = origin_of(self.base)
        position = 0
        for _request in range(self.settings.max_pages):
            if url is None:
                return
            if origin_of(url) != origin:
                raise FetchRefused("ncmec: paging/next left the API's origin")
            root = _xml(self.fetcher.get(url).body)
            for group in root:
                if _local(group.tag) not in ("images", "videos"):
                    continue
                for item in group:
                    position += 1
                    yield from self._entry(item, position)
            following = next(
                (e.text for e in root.iter() if _local(e.tag) == "next" and e.text), None
            )
            url = self.base + following if following else None
        if url is not None:
            raise ExchangeError(
                f"ncmec: more than max_pages={self.settings.max_pages} requests for one "
                "range; raise max_pages (nothing of the range was imported)"
            )

    def _entry(self, item: ET.Element, position: int) -> Iterator[Entry | LineError]:
        tag = _local(item.tag)
        if tag.startswith("deleted"):
            self.deleted += 1
            return
        ident = next((e.text for e in item if _local(e.tag) == "id"), None)
        for group in item:
            if _local(group.tag) != "fingerprints":
                continue
            for fingerprint in group:
                signal = FINGERPRINTS.get(_local(fingerprint.tag).lower())
                if signal is None or not fingerprint.text:
                    continue
                try:
                    yield Entry.parse(signal, fingerprint.text.strip().lower(), f"ncmec:{ident}")
                except MediaguardError as err:
                    yield LineError(position, f"{tag} {ident}", str(err))


def _xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as err:
        raise FeedFormatError(f"ncmec: the answer is not XML: {err}") from err
