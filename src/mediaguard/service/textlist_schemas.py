"""Request and response bodies of ``/v1/termlists`` and ``/v1/urllists``.

Design note: kept beside :mod:`mediaguard.service.schemas` rather than in it, so that term
and URL lists add their contract without touching the hash lists'; the bodies follow the
same rules (inputs refuse unknown fields and NUL, outputs are built by ``from_info``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediaguard.policy.model import ListAction
from mediaguard.service.schemas import Category, LineErrorPublic, ListName
from mediaguard.store.termlist_repo import TextListInfo

EntryType = Literal["phrase", "regex", "domain", "prefix"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # As for every input of the API: PostgreSQL text cannot hold NUL.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True)


class TextListCreate(_Input):
    """A new, empty term or URL list."""

    name: ListName
    category: Category = Field(description="Content category its matches count towards.")
    action: ListAction = Field(
        default=ListAction.REVIEW, description="block, review or allow (an allow-list)."
    )
    source: str = Field(default="", max_length=2048)
    description: str = Field(default="", max_length=10_000)


class TextListUpdate(_Input):
    """Changes to a list; omitted fields are kept."""

    category: Category | None = None
    action: ListAction | None = None
    source: str | None = Field(default=None, max_length=2048)
    description: str | None = Field(default=None, max_length=10_000)


class TextListPublic(_Output):
    """A term or URL list with its entry count."""

    name: str
    kind: Literal["term", "url"]
    category: str
    action: ListAction
    source: str
    description: str
    entries: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_info(cls, info: TextListInfo, entries: int) -> Self:
        """The public view of a stored list."""
        return cls(
            name=info.name,
            kind="term" if info.kind == "term" else "url",
            category=info.category,
            action=ListAction(info.action),
            source=info.source,
            description=info.description,
            entries=entries,
            created_at=info.created_at,
            updated_at=info.updated_at,
        )


class TextEntryCreate(_Input):
    """One entry in a JSON-array import."""

    value: str = Field(
        min_length=1,
        max_length=2000,
        description="A phrase or regular expression (term lists), a domain or URL prefix "
        "(URL lists).",
    )
    type: EntryType | None = Field(
        default=None,
        description="phrase, regex, domain or prefix; inferred from the value when omitted "
        "(re:<pattern> is a regex; a URL with a path or query is a prefix).",
    )
    external_id: str | None = Field(default=None, max_length=1024)
    note: str | None = Field(default=None, max_length=10_000)


class TextImportReportPublic(_Output):
    """What an import did."""

    added: int
    duplicates: int
    error_count: int
    errors: list[LineErrorPublic] = Field(description="The first 100 rejected lines.")


class TextEntriesRemove(_Input):
    """Entries to remove, written as for an import."""

    values: list[str] = Field(min_length=1, max_length=10_000)


class RemovedPublic(_Output):
    """How many entries a removal took out."""

    removed: int
