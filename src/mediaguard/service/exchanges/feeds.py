"""The generic exchanges: an HTTP feed of JSON or a list file, and a local drop folder.

Design note: the HTTP feed speaks one of two shapes, told apart by the body:

* a **paged JSON feed**, ``{"entries": [{"signal_type", "value", "external_id", "note",
  "added_at"}], "cursor": "<next>", "more": false}``: the next request sends
  ``?cursor=<next>`` (an integer or ISO-8601 time, so going backwards is detected);
* a **snapshot**: a JSON array of the same entries, or a list file as ``/v1`` imports
  (HMA ``<signal_type> <hash>`` lines, CSV with a header, plain): the cursor is the
  response's ``ETag`` (else ``Last-Modified``), sent back as ``If-None-Match`` /
  ``If-Modified-Since`` so an unchanged snapshot costs a 304 and nothing else.

The drop folder reads one regular file per page in (modification time, name) order, the
cursor being the last file read, so files dropped later are read later and a file
rewritten is read again (its entries then being duplicates). Writers should drop by
rename: names starting with ``.`` or ending ``.tmp``/``.part`` are not read, and neither
are links. Both bound what they read by ``max_bytes`` and never hold more than a page.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from mediaguard.match.formats import iter_entries
from mediaguard.match.types import HashFormatError
from mediaguard.service.exchanges.base import ExchangeError, FeedFormatError, Page
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.hashlists import json_entries
from mediaguard.service.outbound import Fetcher, FetchTooLarge, origin_of

_ETAG = "etag:"
_MODIFIED = "modified:"


def parse_body(body: bytes, fmt: str, content_type: str, signal_type: str | None) -> Page:
    """A page from a feed body of format ``fmt`` (``auto`` looks at it).

    Raises:
        FeedFormatError: the body is not UTF-8, not JSON of a feed's shape, or not a list
            file of any known format.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FeedFormatError(f"the feed is not UTF-8 text (byte {err.start})") from err
    if "\x00" in text:
        raise FeedFormatError("the feed holds NUL characters: not a text feed")
    is_json = fmt == "json" or (
        fmt == "auto" and ("json" in content_type or text.lstrip()[:1] in ("[", "{"))
    )
    if is_json:
        return _json_page(text)
    try:
        items = list(iter_entries(io.StringIO(text), None if fmt == "auto" else fmt, signal_type))
    except HashFormatError as err:
        raise FeedFormatError(f"the feed is not a hash-list file: {err}") from err
    return Page(items, None)


def _json_page(text: str) -> Page:
    try:
        data: Any = json.loads(text)
    except ValueError as err:
        raise FeedFormatError(f"the feed is not valid JSON: {err}") from err
    if isinstance(data, list):
        return Page(list(json_entries(data)), None)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise FeedFormatError('expected a JSON array of entries or {"entries": [...]}')
    cursor = data.get("cursor")
    if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, (str, int))):
        raise FeedFormatError("the feed's cursor must be a string or an integer")
    more = data.get("more", False)
    if not isinstance(more, bool):
        raise FeedFormatError("the feed's `more` must be true or false")
    return Page(list(json_entries(data["entries"])), None if cursor is None else str(cursor), more)


def fetcher_for(settings: ExchangeSettings) -> Fetcher:
    """A guarded fetcher for an exchange: its origin trusted only when allowed."""
    url = settings.feed_url()
    trusted = frozenset({origin_of(url)}) if settings.allow_private else frozenset()
    return Fetcher(
        max_bytes=settings.max_bytes,
        timeout=settings.timeout_seconds,
        trusted=trusted,
        headers={k: v.get_secret_value() for k, v in settings.headers.items()},
    )


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query string."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class HttpFeed:
    """The generic HTTP feed (see the module note)."""

    def __init__(self, settings: ExchangeSettings) -> None:
        """Build the fetcher; nothing is requested yet."""
        self.settings = settings
        self.fetcher = fetcher_for(settings)

    def fetch(self, cursor: str | None) -> Page:
        """The page after ``cursor``.

        Raises:
            FetchError: the feed is unreachable, refused, too large or too slow.
            FeedFormatError: the body is not a feed.
        """
        url, headers = self.settings.feed_url(), {}
        if cursor is not None and cursor.startswith(_ETAG):
            headers["If-None-Match"] = cursor.removeprefix(_ETAG)
        elif cursor is not None and cursor.startswith(_MODIFIED):
            headers["If-Modified-Since"] = cursor.removeprefix(_MODIFIED)
        elif cursor is not None:
            url = with_query(url, cursor=cursor)
        fetched = self.fetcher.get(url, headers)
        if fetched.status == 304:
            return Page([], cursor)
        page = parse_body(
            fetched.body,
            self.settings.format,
            fetched.headers.get("content-type", ""),
            self.settings.signal_type,
        )
        if page.cursor is not None:
            return page
        if etag := fetched.headers.get("etag"):
            return Page(page.items, _ETAG + etag)
        if modified := fetched.headers.get("last-modified"):
            return Page(page.items, _MODIFIED + modified)
        return page


class FolderDrop:
    """The local drop folder (see the module note)."""

    def __init__(self, settings: ExchangeSettings) -> None:
        """Remember the folder; it is read at each fetch."""
        assert settings.path is not None
        self.settings = settings
        self.folder = Path(settings.path)

    def _files(self) -> Iterator[tuple[str, Path]]:
        try:
            names = os.listdir(self.folder)
        except OSError as err:
            raise ExchangeError(
                f"cannot read the drop folder {self.folder}: {err.strerror or err}"
            ) from err
        for name in names:
            if name.startswith(".") or name.endswith((".tmp", ".part")):
                continue
            path = self.folder / name
            try:
                info = path.lstat()
            except OSError:
                continue  # removed while listing
            if stat.S_ISREG(info.st_mode):
                yield f"{info.st_mtime_ns:020d}:{name}", path

    def fetch(self, cursor: str | None) -> Page:
        """The first file after ``cursor`` as one page.

        Raises:
            ExchangeError: the folder cannot be read.
            FetchTooLarge: the file is over ``max_bytes``.
            FeedFormatError: the file is not a feed.
        """
        waiting = sorted(
            (key, path) for key, path in self._files() if cursor is None or key > cursor
        )
        if not waiting:
            return Page([], cursor)
        key, path = waiting[0]
        limit = self.settings.max_bytes
        try:
            with path.open("rb") as handle:
                body = handle.read(limit + 1)
        except OSError as err:
            raise ExchangeError(f"cannot read {path.name}: {err.strerror or err}") from err
        if len(body) > limit:
            raise FetchTooLarge(f"{path.name}: over the cap of {limit} bytes")
        fmt: str = self.settings.format
        if fmt == "auto" and path.suffix.lower() in (".json", ".csv"):
            fmt = path.suffix.lower()[1:]
        page = parse_body(body, fmt, "", self.settings.signal_type)
        return Page(page.items, key, more=len(waiting) > 1)


__all__ = ["FolderDrop", "HttpFeed", "parse_body", "with_query"]
