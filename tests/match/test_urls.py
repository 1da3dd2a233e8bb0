"""URL extraction, normalisation and matching by registrable domain and prefix."""

from __future__ import annotations

import time

import pytest

from mediaguard.errors import PatternError
from mediaguard.match import urls
from mediaguard.match.urls import URLEntry, URLSet


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://Evil.Example.:443/a/./b/../c", "https://evil.example/a/c"),
        ("https://bank.example@evil.example/login", "https://evil.example/login"),
        (
            "http://evil.example:80/%7euser/%2f%41?q=%e2%82%ac#top",
            "http://evil.example/~user/%2FA?q=%E2%82%AC",
        ),
        ("www.Bücher.example/ä", "http://www.xn--bcher-kva.example/%C3%A4"),
        ("evil\u3002example/x", "http://evil.example/x"),
        ("http://192.0.2.7:8080", "http://192.0.2.7:8080/"),
    ],
)
def test_normal_form(raw: str, expected: str) -> None:
    assert urls.normalise(raw).url == expected


def test_registrable_domain_comes_from_the_public_suffix_list() -> None:
    assert urls.normalise("https://a.b.phish.co.uk/x").registrable_domain == "phish.co.uk"
    assert urls.normalise("https://user.github.io").registrable_domain == "user.github.io"
    assert urls.normalise("http://192.0.2.7/").registrable_domain == "192.0.2.7"


def test_urls_are_extracted_with_spans_of_the_original_text() -> None:
    text = (
        "WIN at https://phish.example.net/login?id=42, see www.scam.example. "
        "or cheap-pills.example/buy now! mail: me@mail.example, ph\u200bish.example"
    )
    found = urls.extract(text)
    assert [f.url.url for f in found] == [
        "https://phish.example.net/login?id=42",
        "http://www.scam.example/",
        "http://cheap-pills.example/buy",
        "http://phish.example/",
    ]
    assert [f.original for f in found] == [
        "https://phish.example.net/login?id=42",
        "www.scam.example",
        "cheap-pills.example/buy",
        "ph\u200bish.example",
    ]
    assert all(text[f.start : f.end] == f.original for f in found)


def test_domains_match_subdomains_and_prefixes_match_paths() -> None:
    listed = URLSet(
        [
            URLEntry("phish.example.net"),
            URLEntry("HTTPS://cheap-pills.example/Buy", prefix=True),
        ]
    )

    def hits(raw: str) -> list[str]:
        return [m.entry.value for m in listed.match(urls.normalise(raw))]

    assert hits("http://login.PHISH.example.net./x") == ["phish.example.net"]
    assert hits("https://notphish.example.net/") == []
    assert hits("http://cheap-pills.example/buy/now?x=1") == ["HTTPS://cheap-pills.example/Buy"]
    assert hits("http://cheap-pills.example/about") == []
    assert hits("http://www.cheap-pills.example/buy") == []


@pytest.mark.parametrize("bad", ["co.uk", "com", "http:///nohost"])
def test_a_public_suffix_or_a_hostless_entry_is_refused(bad: str) -> None:
    with pytest.raises(PatternError):
        URLSet([URLEntry(bad)])


def test_five_thousand_subdomains_are_bounded_and_still_match() -> None:
    hostile = "https://" + "a." * 5_000 + "phish.example.net/x"
    started = time.perf_counter()
    (found,) = urls.extract("go to " + hostile)
    assert time.perf_counter() - started < 1.0
    assert not found.url.valid_host
    assert found.url.host.endswith(".phish.example.net")
    assert found.url.host.count(".") == urls.KEPT_LABELS - 1
    assert found.url.registrable_domain == "example.net"
    listed = URLSet([URLEntry("phish.example.net")])
    assert [m.entry.value for m in listed.match(found.url)] == ["phish.example.net"]


def test_a_long_line_and_a_zero_width_flood_are_bounded() -> None:
    line = ("spam x.example/" + "a" * 150 + " ") * 60  # about 10,000 characters
    started = time.perf_counter()
    assert len(urls.extract(line)) == urls.MAX_URLS
    flood = "\u200d" * 150_000
    (found,) = urls.extract(flood + "phish.example.net" + flood)
    assert time.perf_counter() - started < 2.0
    assert found.url.host == "phish.example.net"
    assert found.start == 150_000
