"""The moderation policy: per-category thresholds and per-hash-list actions.

Design note: a policy is data, not code, so a trust-and-safety team can review and
version it like any other rule book. It is read from TOML into frozen pydantic models
that refuse unknown keys (a typo must not silently disable a rule), and every error names
the field and says what was expected. The version string is mandatory because every
verdict records which policy decided it; the SHA-256 of the file's bytes pins the exact
text for audits.
"""

from __future__ import annotations

import hashlib
import tomllib
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mediaguard.errors import PolicyError
from mediaguard.signals.protected import check_name
from mediaguard.signals.variants import Level


class Decision(StrEnum):
    """What happens to an item, in increasing order of severity."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}


class ListAction(StrEnum):
    """What a match on a hash list means; ``allow`` overrides matches on other lists."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class Thresholds(BaseModel):
    """Scores at or above ``review`` go to human review; at or above ``block`` are blocked.

    Either may be omitted: no ``block`` means the category is never blocked automatically.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    review: float | None = Field(default=None, ge=0.0, le=1.0)
    block: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.review is not None and self.block is not None and self.review > self.block:
            raise ValueError(
                f"review ({self.review}) must not be above block ({self.block}); "
                "a score cannot be blocked without first deserving review"
            )
        return self


class MatchVariants(StrEnum):
    """How far matching on a list goes beyond the frame as scanned.

    ``exact`` hashes the frame only; ``trimmed`` also hashes it with uniform borders and
    caption bars removed (reposts framed or captioned); ``all`` also hashes a fixed set
    of sub-regions (a listed image pasted into a collage or a screenshot).
    """

    EXACT = "exact"
    TRIMMED = "trimmed"
    ALL = "all"

    @property
    def level(self) -> Level:
        return Level[self.name]


class ListRule(BaseModel):
    """The policy's action for matches on one hash list, overriding the list's own hint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ListAction
    match_variants: MatchVariants | None = Field(
        default=None, description="This list's edited-copy matching; the policy's when unset."
    )


class Quarantine(BaseModel):
    """A list hash that matches more than ``max_hits`` items within ``window_hours`` is
    routed to review instead of blocking: a sudden burst of matches usually means a
    benign image (a logo, a meme template) slipped into a shared list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_hits: int = Field(default=100, ge=1)
    window_hours: float = Field(default=24.0, gt=0)


class Window(BaseModel):
    """How many of the last ``window`` samples of a live stream must reach a threshold.

    A category's window decision is ``block`` when at least ``hits`` of its last
    ``window`` samples scored at or above its block threshold, else ``review`` when at
    least ``hits`` reached its review threshold: one noisy frame does not stop a broadcast.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(default=5, ge=1, le=600)
    hits: int = Field(default=3, ge=1, le=600)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.hits > self.window:
            raise ValueError(f"hits ({self.hits}) must not exceed window ({self.window})")
        return self


class StreamRules(Window):
    """The window rule for live streams, with per-category overrides."""

    categories: dict[str, Window] = {}

    @field_validator("categories")
    @classmethod
    def _no_protected_categories(cls, value: dict[str, Window]) -> dict[str, Window]:
        for category in value:
            check_name("policy stream category", category)
        return value

    def window_of(self, category: str) -> Window:
        """The window rule that applies to ``category``."""
        return self.categories.get(category, self)


class Policy(BaseModel):
    """A versioned moderation policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    default: Thresholds = Thresholds()
    categories: dict[str, Thresholds] = {}
    lists: dict[str, ListRule] = {}
    match_variants: MatchVariants = MatchVariants.TRIMMED
    quarantine: Quarantine = Quarantine()
    text_confidence: Thresholds = Field(
        default=Thresholds(review=0.5, block=0.8),
        description="How sure the OCR must be of a line for a term or URL list match in it "
        "to count: below review it is not counted, below block a block-list match is sent "
        "to review instead (misread text must not block on its own). Codes carry "
        "checksums, so matches in codes are not subject to it.",
    )
    stream: StreamRules = StreamRules()
    sha256: str = Field(default="", description="SHA-256 of the policy file's bytes.")

    @field_validator("categories")
    @classmethod
    def _no_protected_categories(cls, value: dict[str, Thresholds]) -> dict[str, Thresholds]:
        for category in value:
            check_name("policy category", category)
        return value

    def variant_level(self, list_name: str) -> Level:
        """How far matching on ``list_name`` may go beyond the frame as scanned."""
        rule = self.lists.get(list_name)
        chosen = rule.match_variants if rule and rule.match_variants else self.match_variants
        return chosen.level

    @property
    def widest_variants(self) -> Level:
        """The widest level any list uses: the variants a scan must hash."""
        levels = [self.match_variants.level]
        levels += [r.match_variants.level for r in self.lists.values() if r.match_variants]
        return max(levels)

    def thresholds(self, category: str) -> Thresholds:
        """The thresholds that apply to ``category``."""
        return self.categories.get(category, self.default)

    @classmethod
    def from_toml(cls, text: str | bytes, *, origin: str = "<policy>") -> Policy:
        """Parse a policy from TOML text.

        Raises:
            PolicyError: naming the first invalid field and what was expected.
            ProtectedTraitError: when a category names a protected trait of a person.
        """
        raw = text.encode() if isinstance(text, str) else text
        try:
            data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise PolicyError(f"{origin}: not valid TOML: {err}") from err
        if "sha256" in data:
            raise PolicyError(f"{origin}: sha256: is computed from the file, do not set it")
        data["sha256"] = hashlib.sha256(raw).hexdigest()
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise PolicyError(_describe(origin, err)) from err

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy file.

        Raises:
            PolicyError: when the file cannot be read or is invalid.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise PolicyError(f"cannot read policy file {path}: {err.strerror or err}") from err
        return cls.from_toml(raw, origin=str(path))

    @classmethod
    def default_policy(cls) -> Policy:
        """The documented policy that ships with mediaguard (``policy/default.toml``)."""
        raw = files("mediaguard.policy").joinpath("default.toml").read_bytes()
        return cls.from_toml(raw, origin="default.toml")


def _describe(origin: str, err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    got = first.get("input")
    shown = "" if isinstance(got, dict) else f", got {got!r}"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {field}: {first['msg']}{shown}{more}"
