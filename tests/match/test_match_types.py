from __future__ import annotations

import json
from datetime import UTC, datetime

import pydantic
import pytest

from mediaguard.errors import ConfigError
from mediaguard.match import (
    Entry,
    HashFormatError,
    Match,
    SignalType,
    parse_signal_type,
    parse_value,
)
from mediaguard.signals.protected import protected_term

PDQ = "f" * 63 + "0"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    ("signal", "raw", "expected"),
    [
        pytest.param(SignalType.PDQ, PDQ.upper(), PDQ, id="pdq-upper"),
        pytest.param(SignalType.PDQ, f"  {PDQ}\n", PDQ, id="pdq-whitespace"),
        pytest.param(SignalType.MD5, MD5, MD5, id="md5"),
        pytest.param(SignalType.SHA256, SHA.upper(), SHA, id="sha256"),
    ],
)
def test_parse_value_normalises(signal: SignalType, raw: str, expected: str) -> None:
    assert parse_value(signal, raw) == expected


@pytest.mark.parametrize(
    ("signal", "raw", "needle"),
    [
        pytest.param(SignalType.PDQ, PDQ[:-1], "64 hex digits", id="pdq-short"),
        pytest.param(SignalType.PDQ, PDQ[:-1] + "g", "64 hex digits", id="pdq-not-hex"),
        pytest.param(SignalType.MD5, SHA, "32 hex digits", id="md5-too-long"),
        pytest.param(SignalType.SHA256, "", "64 hex digits", id="sha-empty"),
        pytest.param(SignalType.VPDQ, "not json", "JSON array", id="vpdq-not-json"),
        pytest.param(SignalType.VPDQ, "[]", "non-empty", id="vpdq-empty"),
        pytest.param(SignalType.VPDQ, json.dumps([f"{PDQ},100"]), "frame 0", id="vpdq-two-fields"),
        pytest.param(SignalType.VPDQ, json.dumps([f"{PDQ},101,0"]), "0-100", id="vpdq-quality"),
        pytest.param(
            SignalType.VPDQ,
            json.dumps([f"{PDQ},50,-1"]),
            "seconds within 0..",
            id="vpdq-negative-time",
        ),
    ],
)
def test_parse_value_rejects_with_reason(signal: SignalType, raw: str, needle: str) -> None:
    with pytest.raises(HashFormatError, match=needle) as info:
        parse_value(signal, raw)
    assert isinstance(info.value, ConfigError)


def test_vpdq_value_is_normalised() -> None:
    raw = json.dumps([f"{PDQ.upper()},100,1.5", f"{PDQ},90,1.23e+01"])
    assert parse_value(SignalType.VPDQ, raw) == json.dumps(
        [f"{PDQ},100,1.500", f"{PDQ},90,12.300"], separators=(",", ":")
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("pdq", SignalType.PDQ, id="pdq"),
        pytest.param("PDQ", SignalType.PDQ, id="case"),
        pytest.param("video_md5", SignalType.MD5, id="threatexchange-md5"),
        pytest.param("video_sha256", SignalType.SHA256, id="threatexchange-sha256"),
        pytest.param("vpdq", SignalType.VPDQ, id="vpdq"),
    ],
)
def test_signal_type_aliases(raw: str, expected: SignalType) -> None:
    assert parse_signal_type(raw) is expected


def test_unknown_signal_type_lists_known() -> None:
    with pytest.raises(HashFormatError, match="expected one of"):
        parse_signal_type("tmk")


def test_entry_parse_and_frozen() -> None:
    when = datetime(2024, 1, 2, tzinfo=UTC)
    e = Entry.parse("pdq", PDQ.upper(), external_id="x1", note="n", added_at=when)
    assert e == Entry(SignalType.PDQ, PDQ, "x1", "n", when)
    with pytest.raises(AttributeError):
        e.value = "x"  # type: ignore[misc]


def test_match_is_frozen_json_with_descriptions() -> None:
    m = Match(
        list="known",
        category="csam_hash",
        signal="pdq",
        value=PDQ,
        entry_id=3,
        distance=7,
        transform="mirror_x",
        frame=None,
        external_id=None,
    )
    assert json.loads(m.model_dump_json())["transform"] == "mirror_x"
    with pytest.raises(pydantic.ValidationError):
        m.distance = 3  # type: ignore[misc]
    schema = Match.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
        assert protected_term(name) is None, name


def test_match_rejects_unknown_fields_and_bad_distance() -> None:
    with pytest.raises(pydantic.ValidationError):
        Match(list="l", category="c", signal="md5", value=MD5, entry_id=1, distance=300)
    with pytest.raises(pydantic.ValidationError):
        Match(list="l", category="c", signal="md5", value=MD5, entry_id=1, distance=0, age=3)  # type: ignore[call-arg]
