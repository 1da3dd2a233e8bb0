"""Property tests: the text parsers raise only their documented, typed errors.

Each parser reads operator-supplied text (a policy file, a scan config, a hash list of
millions of lines), so whatever the text, it must end in a value or in the one error
type the CLI and the API translate into a message; anything else would surface as a
traceback or an HTTP 500. The strategies mix near-valid structure (real field names,
edge values) with noise, so examples reach the validators rather than stopping at the
tokenizer. Example counts are bounded to keep the suite fast.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mediaguard.config import ScanConfig
from mediaguard.errors import ConfigError, PolicyError, ProtectedTraitError
from mediaguard.match.formats import LineError, ListFormat, iter_entries
from mediaguard.match.types import Entry, HashFormatError
from mediaguard.policy.model import Policy

PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ----------------------------------------------------------------------- TOML writer
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(document: dict[str, Any]) -> str:
    """A TOML document with every table inline: enough for any generated structure."""
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in document.items())


# ---------------------------------------------------------------------- strategies
_SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_ANY = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, otherwise any TOML value: deep, but not only deep."""
    return st.one_of(valid, valid, valid, _ANY)


_SCORES = st.one_of(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.floats(-0.5, 1.5),
    st.sampled_from([0.0, 1.0, math.nan, math.inf, 0, 1, True]),
)
_CATEGORY = st.one_of(
    st.sampled_from(["sexual", "violence", "gender", "Skin_Tone", "hijab", "x y", "", "age"]),
    st.text(max_size=10),
)


def _maybe_extra(table: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Now and then add an unknown key: a typo must be refused, not ignored."""
    extra = st.dictionaries(st.text(max_size=6), _ANY, min_size=1, max_size=1)
    return st.tuples(table, st.one_of(st.just({}), st.just({}), st.just({}), extra)).map(
        lambda pair: {**pair[1], **pair[0]}
    )


_THRESHOLDS = _maybe_extra(
    st.fixed_dictionaries({}, optional={"review": _mostly(_SCORES), "block": _mostly(_SCORES)})
)
_POLICY = _maybe_extra(
    st.fixed_dictionaries(
        {
            "name": _mostly(st.text(min_size=1, max_size=8)),
            "version": _mostly(st.text(min_size=1, max_size=8)),
        },
        optional={
            "description": _mostly(st.text(max_size=20)),
            "default": _mostly(_THRESHOLDS),
            "categories": _mostly(st.dictionaries(_CATEGORY, _THRESHOLDS, max_size=3)),
            "lists": _mostly(
                st.dictionaries(
                    st.text(max_size=8),
                    _maybe_extra(
                        st.fixed_dictionaries(
                            {"action": st.sampled_from(["allow", "review", "block", "nuke", 1])}
                        )
                    ),
                    max_size=2,
                )
            ),
            "quarantine": _mostly(
                _maybe_extra(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "max_hits": _mostly(st.integers(-2, 2**70)),
                            "window_hours": _mostly(st.floats()),
                        },
                    )
                )
            ),
            "sha256": st.text(max_size=4),
        },
    )
)

_POLICY_TOKENS = st.sampled_from(
    [
        'name = "p"\n',
        'version = "1"\n',
        "[default]\n",
        "[categories.sexual]\n",
        '[categories."skin tone"]\n',
        "[[categories]]\n",
        "[lists.known]\n",
        "[quarantine]\n",
        "review = 0.5\n",
        "block = 0.4\n",
        "block = nan\n",
        "review = inf\n",
        'action = "block"\n',
        'action = "nuke"\n',
        "max_hits = 0\n",
        "window_hours = 1e400\n",
        "max_hits = 99999999999999999999999\n",
        'sha256 = "x"\n',
        'description = """\n',
        "x = [1, {a = 2}]\n",
        "d = 1979-05-27T07:32:00Z\n",
        "\ufeff",
        "\x00",
        "=",
        "[",
        "]",
        '"',
        "\n",
        ".",
    ]
)


@PROPERTIES
@given(
    head=st.sampled_from(["", 'name = "p"\nversion = "1"\n']),
    body=st.lists(_POLICY_TOKENS | st.text(max_size=6), max_size=30).map("".join),
)
def test_policy_from_toml_ish_text_raises_only_policy_errors(head: str, body: str) -> None:
    try:
        policy = Policy.from_toml(head + body)
    except (PolicyError, ProtectedTraitError) as err:
        event(type(err).__name__)
        return
    event("valid policy")
    assert isinstance(policy, Policy)


@PROPERTIES
@given(data=st.binary(max_size=200))
def test_policy_from_arbitrary_bytes_raises_only_policy_errors(data: bytes) -> None:
    try:
        Policy.from_toml(data)
    except (PolicyError, ProtectedTraitError):
        return


@PROPERTIES
@given(document=_POLICY)
def test_policy_from_structured_documents_raises_only_policy_errors(
    document: dict[str, Any],
) -> None:
    try:
        policy = Policy.from_toml(to_toml(document))
    except (PolicyError, ProtectedTraitError) as err:
        event(type(err).__name__)
        return
    event("valid policy")
    assert policy.version
    assert policy.name
    for thresholds in [policy.default, *policy.categories.values()]:
        for score in (thresholds.review, thresholds.block):
            assert score is None or 0.0 <= score <= 1.0


# ------------------------------------------------------------------ ScanConfig
_LIMIT_FIELDS = ["max_bytes", "max_pixels", "max_frames", "max_sampled_frames", "working_size"]
_LIMIT_VALUES = st.one_of(
    st.integers(1, 2**40),
    st.integers(1, 2**40),
    st.sampled_from([0, -1, 2**64, True, 1.0, "10"]),
    _ANY,
)
_DETECTOR_NAMES = st.sampled_from(["open_nsfw", "nudenet", "onnx", ""]) | st.text(max_size=6)
_CONFIG = _maybe_extra(
    st.fixed_dictionaries(
        {},
        optional={
            "limits": _mostly(
                _maybe_extra(
                    st.dictionaries(st.sampled_from(_LIMIT_FIELDS), _LIMIT_VALUES, max_size=3)
                )
            ),
            "scan": _mostly(
                _maybe_extra(
                    st.fixed_dictionaries({}, optional={"dihedral": _mostly(st.booleans())})
                )
            ),
            "detectors": _mostly(
                st.lists(
                    _mostly(
                        _maybe_extra(
                            st.fixed_dictionaries({"name": _mostly(_DETECTOR_NAMES)}),
                        )
                    ),
                    max_size=3,
                )
            ),
        },
    )
)


@PROPERTIES
@given(document=_CONFIG)
def test_scan_config_from_mapping_raises_only_config_errors(document: dict[str, Any]) -> None:
    try:
        config = ScanConfig.from_mapping(document, base_dir=Path("."))
    except ConfigError as err:
        event(type(err).__name__)
        return
    event("valid config")
    assert all(isinstance(spec.name, str) and spec.name for spec in config.detectors)


# ------------------------------------------------------------------ hash-list files
_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
_HEX = st.text("0123456789abcdefABCDEF", max_size=70)
_VALUE = st.one_of(
    st.just(_PDQ),
    st.just(_PDQ.upper()),
    st.just(_PDQ[:32]),
    _HEX,
    st.lists(
        st.tuples(st.sampled_from([_PDQ, "zz"]) | _HEX, _ANY, _ANY).map(
            lambda t: ",".join(str(x) for x in t)
        ),
        max_size=3,
    ).map(json.dumps),
    st.text(max_size=12),
)
_SIGNAL = st.sampled_from(
    ["pdq", "md5", "sha256", "vpdq", "video_md5", "photo_sha256", "PDQ", "nope", ""]
)
_HEADER_WORDS = st.sampled_from(
    ["signal_type", "type", "hash", "value", "signal_str", "external_id", "note", "added_at"]
)
_GOOD_LINE = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"pdq {h}"),
    st.text("0123456789ABCDEF", min_size=32, max_size=32).map(lambda h: f"video_md5\t{h}"),
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256 {h} collab x"),
    st.floats(0, 1e6).map(lambda t: f'vpdq ["{_PDQ},100,{t}"]'),
)
_LINE = st.one_of(
    _GOOD_LINE,
    _GOOD_LINE,
    st.tuples(_SIGNAL, st.sampled_from([" ", "\t", "  ", ","]), _VALUE, st.text(max_size=6)).map(
        "".join
    ),
    st.lists(
        st.one_of(_SIGNAL, _VALUE, _HEADER_WORDS, st.sampled_from(["2024-01-01", "2024-13-45"])),
        max_size=6,
    ).map(",".join),
    st.sampled_from(["", "#comment", "\ufeffpdq " + _PDQ, "\r", '"', '"open', "a\x00b"]),
    st.text(max_size=30),
)


@PROPERTIES
@given(
    lines=st.lists(_LINE, max_size=15),
    newline=st.sampled_from(["\n", "\r\n"]),
    fmt=st.sampled_from([None, "hma", "csv", "plain", ListFormat.CSV]),
    signal=st.sampled_from([None, "pdq", "md5", "vpdq", "bogus"]),
    dedup=st.booleans(),
)
def test_hash_list_import_yields_entries_and_line_errors_only(
    lines: list[str], newline: str, fmt: str | None, signal: str | None, dedup: bool
) -> None:
    stream = io.StringIO(newline.join(lines), newline="")
    try:
        for item in iter_entries(stream, fmt, signal, dedup=dedup):
            assert isinstance(item, Entry | LineError)
            event(type(item).__name__)
            if isinstance(item, LineError):
                assert item.line_no >= 1
                assert item.reason
    except HashFormatError:
        event("HashFormatError")  # documented: the file is unusable (header, format, type)


def test_an_unknown_list_format_is_a_hash_format_error() -> None:
    with pytest.raises(HashFormatError):
        list(iter_entries(io.StringIO("pdq " + _PDQ), "bogus"))


@pytest.mark.timeout(30)
def test_a_vpdq_line_with_a_huge_exponent_is_refused_quickly() -> None:
    line = 'vpdq ["' + _PDQ + ',100,1e99999999"]'

    (item,) = list(iter_entries(io.StringIO(line)))

    assert isinstance(item, LineError)
    assert "seconds" in item.reason


def test_an_overlong_csv_field_is_a_line_error() -> None:
    text = "signal_type,hash\npdq," + "a" * 200_000 + "\npdq," + _PDQ

    items = list(iter_entries(io.StringIO(text)))

    assert [type(item) for item in items] == [LineError, Entry]
