"""What a term-list or URL-list match says: which entry, where it was found, which span.

Design note: a match in text must point a reviewer at the exact characters, and at the
place in the media they were read from, so a :class:`TextMatch` carries both: the span
of the original line or payload (:mod:`mediaguard.match.terms` and
:mod:`mediaguard.match.urls` report spans of the original text, never of its folded copy)
and the frame, time and index of the line or code in the verdict. It is a frozen pydantic
model beside :class:`mediaguard.match.types.Match` because it goes into the verdict's JSON
unchanged, and the policy reads it. It describes a list entry and a place, never a person.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TextMatch(BaseModel):
    """One entry of a term list or URL list found in a line of text or a code's payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    list: str = Field(description="Name of the term or URL list the entry belongs to.")
    kind: Literal["term", "url"] = Field(description="A term list or a URL list.")
    category: str = Field(description="Content category of the list, as the policy sees it.")
    entry_type: Literal["phrase", "regex", "domain", "prefix"] = Field(
        description="What the entry is: a literal phrase, a regular expression, a domain "
        "(and its subdomains) or a URL prefix."
    )
    entry: str = Field(description="The list entry, as stored (a URL entry in normal form).")
    entry_id: int = Field(description="Store identifier of the list entry.")
    found_in: Literal["text", "code"] = Field(
        description="Where it was found: a line of recognised text (OCR) or a code's payload."
    )
    index: int = Field(
        ge=0, description="Index of that line in the verdict's texts, or of that code in codes."
    )
    frame: int = Field(ge=0, description="Index of the frame the line or code was read in.")
    time_s: float | None = Field(default=None, description="Time of that frame, seconds.")
    start: int = Field(ge=0, description="Index of the first matched character in the line.")
    end: int = Field(ge=0, description="Index after the last matched character.")
    matched: str = Field(description="The matched characters of the line or payload.")
    url: str | None = Field(
        default=None, description="URL lists: the URL that matched, in normal form."
    )
    confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Text only: the recogniser's confidence in the line, 0 to 1.",
    )
    symbology: str | None = Field(
        default=None, description="Codes only: the symbology, e.g. qr_code, ean_13."
    )


__all__ = ["TextMatch"]
