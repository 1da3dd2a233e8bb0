"""Hash-list CRUD and validation, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest

from mediaguard.errors import ProtectedTraitError
from mediaguard.store import (
    AlreadyExistsError,
    HashListInfo,
    InvalidInputError,
    NotFoundError,
    Store,
)


def test_create_then_get(store: Store) -> None:
    created = store.lists.create_list(
        "gifct-2024.v1",
        "terrorism",
        "block",
        source="GIFCT",
        description="shared industry list",
        pdq_distance=24,
    )
    assert isinstance(created, HashListInfo)
    assert store.lists.get_list("gifct-2024.v1") == created
    assert (created.name, created.category, created.action) == (
        "gifct-2024.v1",
        "terrorism",
        "block",
    )
    assert (created.source, created.description, created.pdq_distance) == (
        "GIFCT",
        "shared industry list",
        24,
    )


def test_defaults(store: Store) -> None:
    created = store.lists.create_list("plain", "weapon", "review")
    assert (created.source, created.description, created.pdq_distance) == ("", "", 31)


def test_lists_are_ordered_by_name(store: Store) -> None:
    for name in ("zeta", "alpha", "mid"):
        store.lists.create_list(name, "weapon", "review")
    assert [info.name for info in store.lists.lists()] == ["alpha", "mid", "zeta"]


def test_values_are_frozen(store: Store) -> None:
    created = store.lists.create_list("frozen", "weapon", "review")
    with pytest.raises(AttributeError):
        created.name = "other"  # type: ignore[misc]


def test_duplicate_name_is_refused(store: Store) -> None:
    store.lists.create_list("dup", "weapon", "block")
    with pytest.raises(AlreadyExistsError, match="'dup' already exists"):
        store.lists.create_list("dup", "spam", "review")


def test_update_changes_only_given_fields(store: Store) -> None:
    created = store.lists.create_list("upd", "weapon", "block", source="a", description="d")
    updated = store.lists.update_list("upd", action="review", pdq_distance=10, category="gore")
    assert (updated.action, updated.pdq_distance, updated.category) == ("review", 10, "gore")
    assert (updated.source, updated.description) == ("a", "d")
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at


def test_delete(store: Store) -> None:
    store.lists.create_list("gone", "weapon", "block")
    store.lists.delete_list("gone")
    assert store.lists.lists() == []
    with pytest.raises(NotFoundError, match="'gone' does not exist"):
        store.lists.get_list("gone")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.lists.get_list("missing"), id="get"),
        pytest.param(lambda s: s.lists.update_list("missing", action="allow"), id="update"),
        pytest.param(lambda s: s.lists.delete_list("missing"), id="delete"),
        pytest.param(lambda s: s.lists.count_entries("missing"), id="count"),
        pytest.param(lambda s: s.lists.iter_entries("missing"), id="iter"),
        pytest.param(lambda s: s.lists.add_entries("missing", []), id="add"),
        pytest.param(lambda s: s.lists.remove_entries("missing", []), id="remove"),
    ],
)
def test_missing_list_is_not_found(store: Store, call: Any) -> None:
    with pytest.raises(NotFoundError, match="'missing' does not exist"):
        call(store)


VALID: dict[str, Any] = {"name": "ok", "category": "weapon", "action": "block"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": "Upper"}, "name", id="name-upper"),
        pytest.param({"name": ""}, "name", id="name-empty"),
        pytest.param({"name": "-dash-first"}, "name", id="name-leading-dash"),
        pytest.param({"name": "has space"}, "name", id="name-space"),
        pytest.param({"name": "x" * 65}, "name", id="name-too-long"),
        pytest.param({"name": 7}, "name", id="name-not-text"),
        pytest.param({"category": "Weapons!"}, "category", id="category-charset"),
        pytest.param({"action": "delete"}, "action", id="action-unknown"),
        pytest.param({"action": "BLOCK"}, "action", id="action-case"),
        pytest.param({"pdq_distance": 65}, "pdq_distance", id="distance-high"),
        pytest.param({"pdq_distance": -1}, "pdq_distance", id="distance-negative"),
        pytest.param({"pdq_distance": "31"}, "pdq_distance", id="distance-text"),
        pytest.param({"pdq_distance": True}, "pdq_distance", id="distance-bool"),
        pytest.param({"source": None}, "source", id="source-none"),
        pytest.param({"description": 3}, "description", id="description-int"),
    ],
)
def test_create_validation_names_the_field(
    store: Store, changes: dict[str, Any], field: str
) -> None:
    args = {**VALID, **changes}
    with pytest.raises(InvalidInputError, match=rf"^{field}: "):
        store.lists.create_list(args.pop("name"), args.pop("category"), args.pop("action"), **args)
    assert store.lists.lists() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"action": "nuke"}, "action", id="action"),
        pytest.param({"pdq_distance": 100}, "pdq_distance", id="distance"),
        pytest.param({"category": "UPPER"}, "category", id="category"),
    ],
)
def test_update_validation_names_the_field(
    store: Store, changes: dict[str, Any], field: str
) -> None:
    store.lists.create_list("ok", "weapon", "block")
    with pytest.raises(InvalidInputError, match=rf"^{field}: "):
        store.lists.update_list("ok", **changes)
    assert store.lists.get_list("ok").action == "block"


@pytest.mark.parametrize(
    "category",
    [
        pytest.param("ethnicity", id="ethnicity"),
        pytest.param("religious-symbols", id="religion"),
        pytest.param("female_nudity", id="gender"),
        pytest.param("age-estimate", id="age"),
    ],
)
def test_protected_category_is_refused(store: Store, category: str) -> None:
    with pytest.raises(ProtectedTraitError, match="protected trait"):
        store.lists.create_list("profiling", category, "review")
    store.lists.create_list("fine", "weapon", "review")
    with pytest.raises(ProtectedTraitError, match="protected trait"):
        store.lists.update_list("fine", category=category)
    assert [info.category for info in store.lists.lists()] == ["weapon"]


def test_timestamps_are_aware_utc(store: Store) -> None:
    created = store.lists.create_list("tz", "weapon", "block")
    for value in (created.created_at, created.updated_at, store.lists.get_list("tz").created_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value.tzinfo == UTC
