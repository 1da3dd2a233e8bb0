"""URLs in recognised text and code payloads: extraction, normalisation and matching.

Design note: a link printed on an image or carried by a QR code is written to dodge a
plain comparison: upper case, a trailing dot on the host, an IDN host, percent-encoded
letters, a ``user@`` prefix that hides the real host, a default port. Every URL is first
reduced to one normal form, and matching compares normal forms:

* scheme lower-cased (``http`` when a bare ``www.`` or domain has none); userinfo
  dropped (``https://bank.example@evil.example`` goes to ``evil.example``); host
  lower-cased, trailing dots and UTS-46 full stops handled, IDNA 2008 (``xn--``); default
  ports dropped; percent-encoding of unreserved characters decoded and the rest
  upper-cased; dot segments removed; the fragment dropped;
* the *registrable domain* comes from the public-suffix list snapshot in the
  ``publicsuffixlist`` package, never fetched at run time, so ``a.b.phish.co.uk`` belongs
  to ``phish.co.uk``.

A :class:`URLSet` matches a domain entry on the host or any parent of it, and a prefix
entry on the start of ``host/path?query``, ignoring the scheme (http and https are one
site to a moderator) and case. Extraction uses RE2 (linear time) on text cleaned by
:func:`mediaguard.match.textnorm.clean` (zero-width characters removed). Hosts beyond
DNS's limits (253 characters, 127 labels) are kept as their last :data:`KEPT_LABELS`
labels with ``valid_host`` false: a hostile URL with 5,000 subdomains still matches its
domain, at bounded cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, unquote

import idna
import re2
from publicsuffixlist import PublicSuffixList

from mediaguard.errors import PatternError
from mediaguard.match import textnorm

MAX_URLS = 50
KEPT_LABELS = 16
_MAX_HOST = 253
_MAX_LABELS = 127
_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21"}
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # UTS-46 full stops
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SAFE_PATH = "/?&=+;:@!$'()*,%"
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")

_LABEL = r"[\pL\pN](?:[\pL\pN-]*[\pL\pN])?"
_EXTRACT = (
    r"(?i)(?:\b(?:https?|ftp)://[^\s<>\"'`{}|\\^]+"
    r"|\bwww\.[^\s<>\"'`{}|\\^]+"
    rf"|(?:{_LABEL}\.)+(?:[\pL]{{2,63}}|xn--[a-z0-9-]{{1,59}})\b(?:/[^\s<>\"'`{{}}|\\^]*)?)"
)


@cache
def _extractor() -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(_EXTRACT, options)


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@dataclass(frozen=True, slots=True)
class URL:
    """A URL in normal form.

    Attributes:
        url: ``scheme://host[:port]path[?query]``.
        scheme: lower case.
        host: lower-case ASCII (IDNA); for a host beyond DNS's limits, its last
            :data:`KEPT_LABELS` labels.
        port: the port when it is not the scheme's default, else ``""``.
        path: starts with ``/``; percent-encoding normalised.
        query: without the ``?``; ``""`` when absent.
        registrable_domain: the host's registrable domain (an IP address is its own);
            ``""`` when the host is itself a public suffix.
        valid_host: the host fits DNS's limits and every label is valid IDNA.
    """

    url: str
    scheme: str
    host: str
    port: str
    path: str
    query: str
    registrable_domain: str
    valid_host: bool

    @property
    def key(self) -> str:
        """What prefixes are compared with: ``host/path?query``, case folded."""
        tail = f"?{self.query}" if self.query else ""
        return f"{self.host}{self.path}{tail}".casefold()


@dataclass(frozen=True, slots=True)
class FoundURL:
    """A URL found in a text: its normal form and its span in the original text."""

    url: URL
    start: int
    end: int
    original: str


def extract(text: str) -> list[FoundURL]:
    """The URLs in ``text`` (at most :data:`MAX_URLS`), with spans of the original text.

    Candidates that do not normalise to a URL with a host are skipped.
    """
    cleaned = textnorm.clean(text)
    found: list[FoundURL] = []
    for match in _extractor().finditer(cleaned.text):
        candidate = match.group(0).rstrip(".,;:!?)]}'\"")
        in_address = match.start() > 0 and cleaned.text[match.start() - 1] == "@"
        if not candidate or in_address:
            continue  # nothing left, or the domain of an e-mail address
        try:
            url = normalise(candidate)
        except PatternError:
            continue
        start, end = cleaned.span(match.start(), match.start() + len(candidate))
        found.append(FoundURL(url, start, end, text[start:end]))
        if len(found) >= MAX_URLS:
            break
    return found


def normalise(raw: str) -> URL:
    """``raw`` (with or without a scheme) in normal form (see the module note).

    Raises:
        PatternError: when there is no host.
    """
    text = raw.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        scheme, rest = "http", text
    scheme = scheme.lower()
    rest = rest.split("#", 1)[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    authority = authority.rpartition("@")[2]
    host, port = _split_port(authority)
    if port == _DEFAULT_PORTS.get(scheme):
        port = ""
    host, valid = _host(host)
    if not host:
        raise PatternError(f"URL {raw[:200]!r}: no host")
    path, _, query = tail.partition("?")
    path = _path(path)
    query = _percent(query)
    netloc = f"{host}:{port}" if port else host
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return URL(url, scheme, host, port, path, query, registrable_domain(host), valid)


def _split_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):  # IPv6 literal
        end = authority.find("]")
        host, after = authority[: end + 1], authority[end + 1 :]
        return host.lower(), after[1:] if after.startswith(":") else ""
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit():
        return host, str(int(port)) if len(port) <= 5 else port
    return authority, ""


def _host(raw: str) -> tuple[str, bool]:
    """The host lower-cased and IDNA-encoded, and whether it is within DNS's limits."""
    host = unquote(raw).translate(_DOTS).strip().rstrip(".").lower()
    if host.startswith("["):
        return host, True
    labels = [label for label in host.split(".") if label]
    valid = len(labels) == host.count(".") + 1 and len(labels) <= _MAX_LABELS
    if len(labels) > KEPT_LABELS and (len(host) > _MAX_HOST or len(labels) > _MAX_LABELS):
        labels, valid = labels[-KEPT_LABELS:], False
    encoded = []
    for label in labels:
        if label.isascii():
            ok = len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)
            encoded.append(label)
        else:
            try:
                encoded.append(idna.encode(label, uts46=True).decode("ascii"))
                ok = True
            except idna.IDNAError:
                encoded.append(label)
                ok = False
        valid = valid and ok
    result = ".".join(encoded)
    return result, valid and len(result) <= _MAX_HOST


def registrable_domain(host: str) -> str:
    """The registrable domain of a normalised host (``""`` for a public suffix)."""
    if host.startswith("[") or re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", host):
        return host
    return _psl().privatesuffix(host) or ""


def _percent(part: str) -> str:
    """Unreserved characters decoded, other escapes upper-cased, non-ASCII encoded."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return quote(_PERCENT.sub(one, part), safe=_SAFE_PATH)


def _path(raw: str) -> str:
    segments: list[str] = []
    for segment in _percent(raw).split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    if raw.endswith(("/.", "/..")):
        segments.append("")
    return "/" + "/".join(segments)


@dataclass(frozen=True, slots=True)
class URLEntry:
    """One entry of a URL list: a domain (and its subdomains), or a URL prefix."""

    value: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class URLMatch:
    """A URL that an entry matched."""

    entry: URLEntry
    url: URL


class URLSet:
    """Domains and URL prefixes, compiled for lookups in time linear in the host.

    Raises:
        PatternError: naming an entry with no host, or a domain that is a public suffix
            (which would match every site under it).
    """

    def __init__(self, entries: Iterable[URLEntry]) -> None:
        self.domains: dict[str, list[URLEntry]] = {}
        self.prefixes: dict[str, list[tuple[str, URLEntry]]] = {}
        for entry in entries:
            url = normalise(entry.value)
            if entry.prefix:
                self.prefixes.setdefault(url.host, []).append((url.key, entry))
                continue
            if not url.registrable_domain:
                raise PatternError(
                    f"domain {entry.value!r}: {url.host} is a public suffix; listing it "
                    "would match every site registered under it"
                )
            self.domains.setdefault(url.host, []).append(entry)

    def match(self, url: URL) -> list[URLMatch]:
        """Every entry that matches ``url``: domains first (closest first), then prefixes."""
        found: list[URLMatch] = []
        labels = url.host.split(".")
        for i in range(len(labels)):
            for entry in self.domains.get(".".join(labels[i:]), []):
                found.append(URLMatch(entry, url))
        key = url.key
        for prefix, entry in self.prefixes.get(url.host, []):
            if key.startswith(prefix):
                found.append(URLMatch(entry, url))
        return found
