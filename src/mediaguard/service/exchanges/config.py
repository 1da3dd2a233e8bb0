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

#: The public API bases of the exchanges that have one.
DEFAULT_URLS: dict[str, str] = {
    "threatexchange": "https://graph.facebook.com/v21.0",
    "ncmec": "https://report.cybertip.org/hashsharing",
}


class ExchangeSettings(BaseModel):
    """One exchange: where it fetches from, into which list, how often.

    Every field can be set in an ``[[exchanges]]`` table of the settings file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Unique name.")
    kind: Literal["http", "folder", "threatexchange", "ncmec"]
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
        description="http: the feed URL; threatexchange and ncmec: the API base (their "
        "public one by default). A secret, since feeds carry tokens in their query strings; "
        "messages show it without the query.",
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
    token: SecretStr | None = Field(default=None, description="threatexchange: access token.")
    privacy_group: str | None = Field(
        default=None, pattern=r"^[0-9]{1,32}$", description="threatexchange: privacy group id."
    )
    indicator_types: tuple[str, ...] = Field(
        default=("HASH_PDQ", "HASH_MD5", "HASH_VIDEO_MD5"),
        description="threatexchange: the indicator types to fetch.",
    )
    username: str | None = Field(default=None, description="ncmec: API user.")
    password: SecretStr | None = Field(default=None, description="ncmec: API password.")
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
        if self.url is not None:
            return self.url.get_secret_value()
        if self.kind in DEFAULT_URLS:
            return DEFAULT_URLS[self.kind]
        raise ValueError(f"exchange {self.name!r} has no url")

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.kind == "http" and not self.url:
            raise ValueError(f"exchange {self.name!r}: kind {self.kind} needs a url")
        if self.kind == "threatexchange" and (self.token is None or not self.privacy_group):
            raise ValueError(
                f"exchange {self.name!r}: threatexchange needs token and privacy_group"
            )
        if self.kind == "ncmec" and (not self.username or self.password is None):
            raise ValueError(f"exchange {self.name!r}: ncmec needs username and password")
        if self.kind == "folder" and self.path is None:
            raise ValueError(f"exchange {self.name!r}: kind folder needs a path")
        return self
