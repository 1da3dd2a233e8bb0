"""The published JSON Schema of scan results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mediaguard.cli import main
from mediaguard.signals.protected import protected_term
from mediaguard.verdict import json_schema


def _field_names(node: Any) -> Iterator[str]:
    """Every property name anywhere in the schema, and every definition's name."""
    if isinstance(node, dict):
        for key in ("properties", "$defs"):
            for name, child in node.get(key, {}).items():
                yield name
                yield from _field_names(child)
        for key, child in node.items():
            if key not in ("properties", "$defs"):
                yield from _field_names(child)
    elif isinstance(node, list):
        for child in node:
            yield from _field_names(child)


def test_no_field_describes_a_trait_of_a_person() -> None:
    names = set(_field_names(json_schema()))
    assert {"decision", "reasons", "matches", "detections", "hashes"} <= names
    offending = {name: protected_term(name) for name in names if protected_term(name)}
    assert offending == {}


def test_field_walk_would_catch_a_trait_field() -> None:
    schema = {
        "properties": {"ok": {"type": "string"}},
        "$defs": {"X": {"properties": {"apparent_gender": {}}}},
    }
    assert any(protected_term(n) for n in _field_names(schema))


def test_schema_command_prints_valid_json(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    assert "Verdict" in printed["$defs"]
    assert "ScanFailure" in printed["$defs"]


def test_term_and_url_list_matches_are_in_the_schema() -> None:
    import jsonschema

    schema = json_schema()
    verdict = schema["$defs"]["Verdict"]["properties"]
    assert verdict["text_matches"]["items"] == {"$ref": "#/$defs/TextMatch"}
    match = schema["$defs"]["TextMatch"]
    assert set(match["required"]) == {
        "list", "kind", "category", "entry_type", "entry", "entry_id", "found_in", "index",
        "frame", "start", "end", "matched",
    }  # fmt: skip
    assert match["properties"]["found_in"]["enum"] == ["text", "code"]
    good = {
        "list": "phishing", "kind": "url", "category": "fraud", "entry_type": "domain",
        "entry": "phish.example", "entry_id": 1, "found_in": "code", "index": 0, "frame": 0,
        "start": 0, "end": 5, "matched": "x.com", "url": "http://x.com/",
    }  # fmt: skip
    validator = jsonschema.Draft202012Validator(
        {"$defs": schema["$defs"], "$ref": "#/$defs/TextMatch"}
    )
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "found_in": "pixels"})
    assert not validator.is_valid({**good, "index": -1})
    assert not validator.is_valid({**good, "name_of_person": "x"})
