"""Term lists and URL lists on the store: entries, imports, exports, audit, matching.

Every test runs on SQLite and on a real PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import io
import time

import pytest

from mediaguard.errors import ProtectedTraitError
from mediaguard.lists.termlists import (
    TextListMatcher,
    export_file,
    import_file,
    parse_entry,
)
from mediaguard.signals.base import Box
from mediaguard.store import AlreadyExistsError, InvalidInputError, NotFoundError, Store
from mediaguard.store.termlist_repo import TextListStore
from mediaguard.verdict import CodeFound, TextFound


@pytest.fixture
def lists(store: Store) -> TextListStore:
    return TextListStore(store)


def _line(text: str, confidence: float = 0.95, frame: int = 0) -> TextFound:
    return TextFound(
        text=text, confidence=confidence, box=Box(x=1, y=2, width=30, height=8), frame=frame
    )


def _qr(payload: str) -> CodeFound:
    return CodeFound(
        symbology="qr_code",
        content="text",
        payload=payload,
        length=len(payload.encode()),
        truncated=False,
        box=Box(x=5, y=5, width=40, height=40),
        frame=0,
    )


def test_create_lists_of_both_kinds_and_refuse_a_taken_name(
    store: Store, lists: TextListStore
) -> None:
    lists.create_list("scam-terms", "term", "spam", "review", source="ops")
    lists.create_list("phishing", "url", "fraud", "block")
    assert [(i.name, i.kind) for i in lists.lists()] == [
        ("phishing", "url"),
        ("scam-terms", "term"),
    ]
    assert [i.name for i in lists.lists("url")] == ["phishing"]
    with pytest.raises(AlreadyExistsError):
        lists.create_list("phishing", "term", "fraud", "block")
    store.lists.create_list("gifct", "terrorism", "block")
    with pytest.raises(AlreadyExistsError, match="hash list"):
        lists.create_list("gifct", "term", "terrorism", "block")
    with pytest.raises(NotFoundError, match="url list 'scam-terms'"):
        lists.get_list("scam-terms", "url")


def test_category_naming_a_protected_trait_is_refused(lists: TextListStore) -> None:
    with pytest.raises(ProtectedTraitError):
        lists.create_list("words", "term", "religion", "block")
    with pytest.raises(InvalidInputError, match="action"):
        lists.create_list("words", "term", "spam", "delete")


def test_import_reports_every_bad_line_by_number(lists: TextListStore) -> None:
    lists.create_list("scam", "term", "spam", "block")
    text = "\n".join(
        [
            "# scam phrases",
            "free bitcoin",
            r"re:(a+)+\1",  # back-reference: RE2 refuses it
            "",
            "re:((a{100}){100}){100}",  # an automaton far over the memory bound
            "re:call \\d{3}-\\d{4}",
            "x" * 600,  # longer than an entry may be
            "\\#winner",
            "   ",
            "re:(",
        ]
    )
    report = import_file(lists, "scam", io.StringIO(text))
    assert (report.added, report.duplicates) == (3, 0)
    assert [e.line_no for e in report.errors] == [3, 5, 7, 10]
    assert "RE2 refuses" in report.errors[0].reason
    assert report.error_count == 4
    values = {(e.entry_type, e.value) for e in lists.iter_entries("scam")}
    assert values == {
        ("phrase", "free bitcoin"),
        ("regex", "call \\d{3}-\\d{4}"),
        ("phrase", "#winner"),
    }


def test_csv_import_and_round_trip(lists: TextListStore) -> None:
    lists.create_list("phishing", "url", "fraud", "block")
    text = (
        "url,type,note,external_id\n"
        "Login.Example-Bank.COM.,,seen in mail,ph-1\n"
        "https://evil.example/pay?x=1,prefix,,\n"
        "co.uk,domain,,\n"
        '"https://a.example/x",domain,,\n'
        "www.paypa1.example,,,\n"
    )
    report = import_file(lists, "phishing", io.StringIO(text))
    assert report.added == 3
    assert [
        (e.line_no, "public suffix" in e.reason or "path" in e.reason) for e in report.errors
    ] == [
        (4, True),
        (5, True),
    ]
    stored = {e.value: e for e in lists.iter_entries("phishing")}
    assert set(stored) == {"login.example-bank.com", "evil.example/pay?x=1", "www.paypa1.example"}
    assert stored["login.example-bank.com"].external_id == "ph-1"
    for fmt in ("plain", "csv"):
        out = io.StringIO()
        assert export_file(lists, "phishing", out, fmt) == 3
        lists.create_list(f"copy-{fmt}", "url", "fraud", "block")
        again = import_file(lists, f"copy-{fmt}", io.StringIO(out.getvalue()))
        assert (again.added, again.error_count) == (3, 0)
        assert {e.value for e in lists.iter_entries(f"copy-{fmt}")} == set(stored)


def test_plain_export_escapes_what_would_read_back_otherwise(lists: TextListStore) -> None:
    lists.create_list("tags", "term", "spam", "review")
    lists.add_entries(
        "tags", [parse_entry("term", "#free", "phrase"), parse_entry("term", "re:win", "phrase")]
    )
    out = io.StringIO()
    export_file(lists, "tags", out)
    lists.create_list("tags2", "term", "spam", "review")
    import_file(lists, "tags2", io.StringIO(out.getvalue()))
    assert {(e.entry_type, e.value) for e in lists.iter_entries("tags2")} == {
        ("phrase", "#free"),
        ("phrase", "re:win"),
    }


def test_duplicates_are_counted_and_every_change_is_audited(
    store: Store, lists: TextListStore
) -> None:
    lists.create_list("scam", "term", "spam", "block")
    first = import_file(lists, "scam", io.StringIO("free bitcoin\nFree   bitcoin \n"))
    assert (first.added, first.duplicates) == (1, 1)  # one phrase, written twice
    second = import_file(lists, "scam", io.StringIO("free bitcoin\n"))
    assert (second.added, second.duplicates) == (0, 1)
    lists.update_list("scam", "term", action="review")
    assert lists.remove_entries("scam", ["free bitcoin"]) == 1
    lists.delete_list("scam", "term")
    actions = [(e.action, e.subject) for e in store.audit.audit_entries()]
    assert actions == [
        ("termlist.create", "scam"),
        ("termlist.entries_add", "scam"),
        ("termlist.update", "scam"),
        ("termlist.entries_remove", "scam"),
        ("termlist.delete", "scam"),
    ]


def test_matcher_finds_spans_in_text_and_urls_in_codes(lists: TextListStore) -> None:
    lists.create_list("scam", "term", "spam", "block")
    lists.create_list("phishing", "url", "fraud", "block")
    import_file(lists, "scam", io.StringIO("free bitcoin\nre:call \\d{3}-\\d{4}\n"))
    import_file(lists, "phishing", io.StringIO("example-bank.com\n"))
    matcher = TextListMatcher(lists)
    line = _line("Get FR33 B1TC0IN now, call 555-1234")
    found = matcher.match([line], [_qr("HTTPS://Login.Example-Bank.COM./verify")])
    by_entry = {m.entry: m for m in found}
    term = by_entry["free bitcoin"]
    assert (term.found_in, term.index, term.matched) == ("text", 0, "FR33 B1TC0IN")
    assert line.text[term.start : term.end] == "FR33 B1TC0IN"
    assert term.confidence == 0.95
    assert by_entry["call \\d{3}-\\d{4}"].matched == "call 555-1234"
    url = by_entry["example-bank.com"]
    assert (url.found_in, url.kind, url.symbology) == ("code", "url", "qr_code")
    assert url.url == "https://login.example-bank.com/verify"
    # A new entry is seen after a refresh, without building a new matcher.
    import_file(lists, "scam", io.StringIO("now\n"))
    matcher.refresh()
    assert "now" in {m.entry for m in matcher.match([line], [])}


def test_hostile_text_is_bounded(lists: TextListStore) -> None:
    lists.create_list("scam", "term", "spam", "block")
    import_file(lists, "scam", io.StringIO("re:(a+)+$\nre:(x+x+)+y\nbitcoin\n"))
    matcher = TextListMatcher(lists)
    hostile = [
        _line("a" * 10_000 + "!"),
        _line("x" * 10_000),
        _line("bit\u200dcoin" + "\u200d" * 50_000),
        _line("http://" + "a." * 5000 + "example.com/"),
    ]
    started = time.perf_counter()
    found = matcher.match(hostile, [])
    assert time.perf_counter() - started < 5.0
    assert any(m.entry == "bitcoin" and m.index == 2 for m in found)
    assert len(found) <= 500
