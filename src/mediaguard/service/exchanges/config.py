"""The settings of one hash exchange, as ``[[exchanges]]`` tables in the settings file.

Design note: credentials (header values, and the URL, whose query string often carries a
token) are ``SecretStr``, so
a settings object printed, logged or shown in an error names them only as ``'**********'``;
they are read with ``get_secret_value()`` only where a request is built. Nothing about an
exchange is stored in the database except its cursor and the outcome of its fetches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class ExchangeSettings(BaseModel):
    """One exchange: where it fetches from, into which list, how often.

    Every field can be set in an ``[[exchanges]]`` table of the settings file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Unique name.")
    kind: Literal["http", "folder"]
    list: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="The hash list the entries land in; created on the first fetch.",
    )
    category: str = Field(
        default="shared", description="Category of the list when the fetch creates it."
    )
    action: Literal["block", "review", "allow"] = Field(
        default="review", description="Action of the list when the fetch creates it."
    )
    enabled: bool = True
    every_seconds: float = Field(default=3600.0, gt=0, description="How often to fetch.")

    url: SecretStr | None = Field(
        default=None,
        description="http: the feed URL. A secret, since feeds carry tokens in their query "
        "strings; messages show it without the query.",
    )
    path: Path | None = Field(default=None, description="folder: the drop directory.")
    format: Literal["auto", "json", "hma", "csv", "plain"] = Field(
        default="auto",
        description="http/folder: the body format; auto: JSON by its content type or first "
        "character, else a list file (HMA lines, CSV, plain) detected from its first line.",
    )
    signal_type: str | None = Field(default=None, description="The type of a plain list.")
    headers: dict[str, SecretStr] = Field(
        default={}, description="http: extra request headers (e.g. Authorization)."
    )
    allow_private: bool = Field(
        default=False,
        description="Allow the feed's own origin on a private address (an internal feed); "
        "redirects elsewhere are still checked.",
    )
    max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1, description="Largest response or file accepted."
    )
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="Per request.")
    max_pages: int = Field(default=100, ge=1, le=100_000, description="Pages per run.")
    max_bad_lines: int = Field(
        default=0,
        ge=0,
        description="Bad lines a page may hold and still be imported; more fail the page.",
    )

    def feed_url(self) -> str:
        """The URL to request (with any token in it); never log it."""
        if self.url is None:
            raise ValueError(f"exchange {self.name!r} has no url")
        return self.url.get_secret_value()

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.kind == "http" and not self.url:
            raise ValueError(f"exchange {self.name!r}: kind {self.kind} needs a url")
        if self.kind == "folder" and self.path is None:
            raise ValueError(f"exchange {self.name!r}: kind folder needs a path")
        return self
