from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from mediaguard.match import (
    Entry,
    HashFormatError,
    LineError,
    ListFormat,
    SignalType,
    detect_format,
    iter_entries,
    write_entries,
)
from mediaguard.match.formats import _bulk_insert, _DigestSet

PDQ1 = "ab" * 32
PDQ2 = "cd" * 32
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
VPDQ_JSON = json.dumps([f"{PDQ1},100,0.0", f"{PDQ2},90,1.0"])  # has ", " inside


def _read(
    text: str, fmt: str | None = None, default: str | None = None, **kw: bool
) -> list[Entry | LineError]:
    return list(iter_entries(io.StringIO(text), fmt, default, **kw))


def test_hma_lines_with_comments_tabs_aliases_and_trailing_fields() -> None:
    text = (
        "# exported list\n"
        "\n"
        f"pdq {PDQ1}\n"
        f"pdq\t{PDQ2.upper()}\n"
        f"video_md5 {MD5} 'Sample Collab' FetchedSignalMetadata()\n"
        f"video_sha256   {SHA}\r\n"
        f"vpdq {VPDQ_JSON} trailing\n"
    )
    got = _read(text)
    assert [(e.signal, e.value[:8]) for e in got if isinstance(e, Entry)] == [
        (SignalType.PDQ, PDQ1[:8]),
        (SignalType.PDQ, PDQ2[:8]),
        (SignalType.MD5, MD5[:8]),
        (SignalType.SHA256, SHA[:8]),
        (SignalType.VPDQ, '["ababab'),
    ]
    assert not [e for e in got if isinstance(e, LineError)]


def test_every_bad_line_is_reported_with_its_number() -> None:
    text = f"pdq {PDQ1}\npdq nothex\n# ok\ntmk {PDQ1}\n{PDQ2}\nmd5 {MD5}\n"
    got = _read(text)
    errors = [e for e in got if isinstance(e, LineError)]
    assert [(e.line_no, e.text.split()[0]) for e in errors] == [(2, "pdq"), (4, "tmk"), (5, PDQ2)]
    assert "64 hex digits" in errors[0].reason
    assert "unknown signal type" in errors[1].reason
    assert "<signal_type> <hash>" in errors[2].reason
    assert sum(isinstance(e, Entry) for e in got) == 2


def test_duplicates_dropped_unless_asked() -> None:
    text = f"pdq {PDQ1}\npdq {PDQ1.upper()}\nmd5 {MD5}\npdq {PDQ1}\n"
    assert len(_read(text)) == 2
    assert len(_read(text, dedup=False)) == 4


@pytest.mark.parametrize(
    ("header", "row"),
    [
        pytest.param(
            "signal_type,hash,external_id,note,added_at",
            f"pdq,{PDQ1},x1,a note,2024-01-02T00:00:00+00:00",
            id="mediaguard",
        ),
        pytest.param(
            "type,value,external_id,note,added_at",
            f"PDQ,{PDQ1},x1,a note,2024-01-02T00:00:00+00:00",
            id="aliases",
        ),
        pytest.param(
            "Signal_Type, Hash ,note,external_id,added_at",
            f"pdq,{PDQ1},a note,x1,2024-01-02 00:00:00+00:00",
            id="order-case-space",
        ),
    ],
)
def test_csv_columns(header: str, row: str) -> None:
    (e,) = _read(f"# comment\n{header}\n{row}\n")
    assert e == Entry(SignalType.PDQ, PDQ1, "x1", "a note", datetime(2024, 1, 2, tzinfo=UTC))


def test_csv_threatexchange_dataset_export() -> None:
    text = (
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{PDQ1},Sample,POSITIVE_CLASS,tag1 tag2\n"
        f'vpdq,"{VPDQ_JSON.replace(chr(34), chr(34) * 2)}",Sample,POSITIVE_CLASS,\n'
    )
    got = _read(text)
    assert [e.signal for e in got if isinstance(e, Entry)] == [SignalType.PDQ, SignalType.VPDQ]


def test_csv_bad_rows_and_line_numbers() -> None:
    text = (
        "signal_type,hash,added_at\n"
        f"pdq,{PDQ1},yesterday\n"
        f'pdq,"{PDQ2}\n",\n'  # quoted newline: the row spans lines 3-4
        f"md5,{MD5}\n"
        f"md5,{MD5},2024-01-01\n"
    )
    got = _read(text)
    errors = [e for e in got if isinstance(e, LineError)]
    assert [(e.line_no, e.reason.split()[0]) for e in errors] == [(2, "invalid"), (5, "expected")]
    assert "ISO 8601" in errors[0].reason
    assert [e.value for e in got if isinstance(e, Entry)] == [PDQ2, MD5]


@pytest.mark.parametrize(
    ("text", "default", "needle"),
    [
        pytest.param("external_id,hash\nx,ab\n", None, "no signal type column", id="no-type"),
        pytest.param("signal_type,external_id\npdq,x\n", None, None, id="no-hash-is-hma"),
    ],
)
def test_csv_header_problems(text: str, default: str | None, needle: str | None) -> None:
    if needle is None:
        assert isinstance(_read(text)[0], LineError)
        return
    with pytest.raises(HashFormatError, match=needle):
        _read(text, default=default)


def test_csv_without_type_uses_default() -> None:
    (e,) = _read(f"hash,note\n{MD5},n\n", default="md5")
    assert e == Entry(SignalType.MD5, MD5, note="n")


def test_plain_needs_type_and_reads_hashes() -> None:
    with pytest.raises(HashFormatError, match="--type"):
        _read(f"{MD5}\n", fmt="plain")
    got = _read(f"# md5s\n{MD5}\n\n{MD5[:-1]}\n", fmt="plain", default="md5")
    assert isinstance(got[0], Entry)
    assert isinstance(got[1], LineError)
    assert got[1].line_no == 4


@pytest.mark.parametrize(
    ("line", "default", "expected"),
    [
        pytest.param(f"pdq {PDQ1}", None, ListFormat.HMA, id="hma"),
        pytest.param("signal_type,hash", None, ListFormat.CSV, id="csv"),
        pytest.param(MD5, "md5", ListFormat.PLAIN, id="plain"),
        pytest.param(MD5, None, ListFormat.HMA, id="single-token-no-type"),
    ],
)
def test_detect_format(line: str, default: str | None, expected: ListFormat) -> None:
    assert detect_format(line, default) is expected


ENTRIES = [
    Entry(
        SignalType.PDQ,
        PDQ1,
        "e1",
        'with "quotes", commas',
        datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    ),
    Entry(SignalType.MD5, MD5),
    Entry(SignalType.SHA256, SHA, note="line\nbreak"),
    Entry.parse("vpdq", VPDQ_JSON, external_id="v1"),
]


@pytest.mark.parametrize(
    ("fmt", "keep_meta"),
    [pytest.param(ListFormat.CSV, True, id="csv"), pytest.param(ListFormat.HMA, False, id="hma")],
)
def test_round_trip(fmt: ListFormat, keep_meta: bool) -> None:
    buf = io.StringIO()
    assert write_entries(buf, ENTRIES, fmt) == len(ENTRIES)
    back = _read(buf.getvalue())
    expected = ENTRIES if keep_meta else [Entry(e.signal, e.value) for e in ENTRIES]
    assert back == expected


def test_round_trip_plain_and_mixed_refused() -> None:
    buf = io.StringIO()
    pdqs = [Entry(SignalType.PDQ, PDQ1), Entry(SignalType.PDQ, PDQ2)]
    write_entries(buf, pdqs, "plain")
    assert _read(buf.getvalue(), default="pdq") == pdqs
    with pytest.raises(ValueError, match="one signal type"):
        write_entries(io.StringIO(), ENTRIES[:2], "plain")


def test_empty_and_comment_only_files() -> None:
    assert _read("") == []
    assert _read("# nothing\n\n") == []


def test_streaming_does_not_read_ahead() -> None:
    def lines():  # type: ignore[no-untyped-def]
        yield f"pdq {PDQ1}\n"
        raise AssertionError("read past the first entry")

    it = iter_entries(lines(), None)  # type: ignore[arg-type]
    assert isinstance(next(it), Entry)


def test_digest_set_grows_and_finds_duplicates() -> None:
    rng = np.random.default_rng(5)
    keys = [int(k) | 1 for k in rng.integers(1, 2**63, size=200_000, dtype=np.int64)]
    s = _DigestSet()
    assert all(s.add(k) for k in keys[:150_000])
    assert not any(s.add(k) for k in keys[:1000])
    assert all(s.add(k) for k in keys[150_000:])


def test_bulk_insert_is_a_valid_probe_layout() -> None:
    table = np.zeros(16, dtype=np.uint64)
    keys = np.array([1, 17, 33, 2, 15, 31], dtype=np.uint64)  # collide on slots 1 and 15
    _bulk_insert(table, keys)
    assert sorted(int(k) for k in table if k) == sorted(int(k) for k in keys)
    s = _DigestSet()
    s._table, s._mask = table, 15
    s._count = 6
    assert all(not s.add(int(k)) for k in keys)
