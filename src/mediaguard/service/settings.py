"""Settings of the HTTP service and its workers.

Design note: one pydantic-settings :class:`ServiceSettings` holds everything an operator
sets. Values come, in order of precedence, from keyword arguments, ``MEDIAGUARD_*``
environment variables, a TOML file (``--settings FILE``), then the defaults, so a
container can override one value of a shared file. Settings are built by
:func:`load_settings`, a cached function called at start-up, never at import.

Secrets are refused when they are placeholders (``changeme``, ``secret``, an empty
webhook signing secret, ...) unless ``environment = "development"``: a service that
signs webhooks with a well-known secret is worse than one that does not start. The
default environment is ``production`` so that forgetting to set it is the safe
mistake.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mediaguard.errors import ConfigError
from mediaguard.paths import data_dir as default_data_dir
from mediaguard.service.exchanges.config import ExchangeSettings

#: Values that are never accepted as a secret outside development, case-insensitively.
PLACEHOLDER_SECRETS: frozenset[str] = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "secret",
        "password",
        "passwd",
        "default",
        "example",
        "test",
        "testing",
        "admin",
        "xxx",
        "todo",
        "replace-me",
        "insecure",
    }
)
#: Shortest webhook signing secret accepted outside development.
MIN_SECRET_LENGTH = 16

# Which settings file the next ServiceSettings() reads; set only inside load().
_SETTINGS_FILE: ContextVar[Path | None] = ContextVar("mediaguard_settings_file", default=None)


class RetentionSettings(BaseModel):
    """``[retention]``: how long what the service writes is kept, in days (0: for ever).

    The defaults keep a month of operations and a year of recorded items (what
    retroactive matching looks back over). The audit log and review decisions are never
    pruned, whatever is set here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs_days: float = Field(default=30.0, ge=0, description="Finished jobs and their results.")
    events_days: float = Field(
        default=30.0, ge=0, description="Webhook events and deliveries with nothing pending."
    )
    items_days: float = Field(
        default=365.0, ge=0, description="Recorded scanned items (digests, decision, hits)."
    )
    prune_every_hours: float = Field(
        default=24.0, ge=0, description="How often `mediaguard worker` prunes (0: never)."
    )


class ServiceSettings(BaseSettings):
    """Everything ``mediaguard serve`` and ``mediaguard worker`` read.

    Every field can be set in the TOML file by its name or in the environment as
    ``MEDIAGUARD_<NAME>`` (for example ``MEDIAGUARD_PORT=9000``).
    """

    model_config = SettingsConfigDict(
        env_prefix="MEDIAGUARD_", extra="forbid", frozen=True, validate_default=True
    )

    environment: Literal["development", "production"] = Field(
        default="production",
        description="development allows placeholder secrets and shows the docs UI freely.",
    )
    host: str = Field(default="127.0.0.1", description="Interface `serve` listens on.")
    port: int = Field(default=8080, ge=1, le=65535)
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; None for SQLite (WAL) in the data directory.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Database (SQLite), indexes and upload spool; default: the user data dir.",
    )
    scan_config: Path | None = Field(
        default=None, description="Scan configuration TOML (limits, detectors)."
    )
    policy: Path | None = Field(default=None, description="Policy TOML; default: shipped.")
    hashlists: bool = Field(default=True, description="Match scans against the hash lists.")
    record_items: bool = Field(
        default=True,
        description="Record scanned items' hashes (never media) for retroactive matching.",
    )
    hashlist_refresh_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often a process re-reads lists changed by other processes.",
    )

    max_scan_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Largest upload to POST /v1/scan."
    )
    max_job_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1, description="Largest upload (all files) to a job."
    )
    max_job_files: int = Field(default=64, ge=1, le=10_000, description="Files per batch job.")
    max_import_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024, ge=1, description="Largest hash-list import body."
    )
    max_json_import_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Largest JSON-array import (parsed in memory; use text for big lists).",
    )

    scan_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Scans run at once in this process (sync scans, job workers and "
        "live streams' samples together); 0: one per core.",
    )
    workers: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Job worker threads inside `serve`; 0 leaves jobs to `mediaguard worker`.",
    )
    stream_workers: int = Field(
        default=2,
        ge=0,
        le=256,
        description="Live streams watched at once by this process (`serve`, `worker`); "
        "each holds one thread while its stream runs.",
    )
    stream_allow_private: bool = Field(
        default=False,
        description="Allow stream URLs on private, loopback or link-local addresses "
        "(an on-prem origin). Off by default, as for webhook targets.",
    )
    webhook_dispatchers: int = Field(
        default=1, ge=0, le=16, description="Webhook delivery threads inside `serve`."
    )
    worker_poll_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds an idle worker waits between polls."
    )
    job_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A job whose worker stops heartbeating is retried after this long.",
    )
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    job_retry_delay_seconds: float = Field(
        default=5.0, ge=0, description="Back-off before retrying a job after an internal error."
    )
    keep_media: bool = Field(
        default=False,
        description="Keep uploaded media in the spool after its job finishes (privacy: off).",
    )
    retention: RetentionSettings = Field(
        default=RetentionSettings(),
        description="How long jobs, events and recorded items are kept (`mediaguard db "
        "prune`); kept media goes with its job.",
    )

    review_queue: bool = Field(
        default=True,
        description="Send `review` verdicts to the human review queue and record `block` "
        "verdicts as automated decisions (appealable, exportable as DSA statements).",
    )
    review_previews: bool = Field(
        default=True,
        description="Keep a small preview of each queued item for reviewers (shown "
        "blurred and greyscale until revealed); off: reviewers see only the reasons.",
    )
    review_preview_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a decided item keeps its preview (for appeals); then it is "
        "deleted. Waiting items always keep theirs.",
    )
    review_shield_only: list[str] = Field(
        default=[],
        description="Categories whose queued items keep only the shielded preview: "
        "no clear image is stored, so none can be revealed (e.g. csam).",
    )
    review_reasons: Path | None = Field(
        default=None,
        description="Reason codes TOML (with their DSA mapping); default: shipped.",
    )
    review_session_hours: float = Field(
        default=8.0, gt=0, le=24 * 7, description="How long a reviewer stays logged in."
    )

    webhook_signing_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs job callback_url deliveries (registered endpoints have their own).",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook targets on private, loopback or link-local addresses "
        "(on-prem receivers). Off by default: it would let API users probe your network.",
    )
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_base_seconds: float = Field(default=2.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    hma_api: bool = Field(
        default=True,
        description="Serve HMA's API (/h, /m, /c) beside /v1, with the same keys and scopes.",
    )
    hma_bank_category: str = Field(
        default="hma",
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="Category of a hash list created as an HMA bank (HMA banks carry none).",
    )
    hma_bank_action: Literal["block", "review", "allow"] = Field(
        default="review", description="Action of a hash list created as an HMA bank."
    )
    url_fetch_allow_private: bool = Field(
        default=False,
        description="Let /h/hash?url= and /m/lookup?url= fetch from private, loopback or "
        "link-local addresses. Off by default: it would let API users probe your network.",
    )
    url_fetch_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Whole-request limit of a URL fetch."
    )

    exchanges: list[ExchangeSettings] = Field(
        default=[],
        description="Hash exchanges fetched on a schedule by the workers, as "
        "[[exchanges]] tables (see docs/service.md).",
    )

    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Default requests per minute per API key, shared by every process on the "
        "store (0: unlimited).",
    )
    metrics_require_auth: bool = Field(
        default=False, description="Require an admin key to read /metrics."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment, then the settings file, if any."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _SETTINGS_FILE.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Self:
        names = [exchange.name for exchange in self.exchanges]
        if len(set(names)) != len(names):
            raise ValueError("exchanges: two exchanges have the same name")
        if self.webhook_backoff_max_seconds < self.webhook_backoff_base_seconds:
            raise ValueError("webhook_backoff_max_seconds must be >= webhook_backoff_base_seconds")
        if self.environment == "development":
            return self
        secret = self.webhook_signing_secret.get_secret_value()
        if secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                "webhook_signing_secret is empty, a placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters; set a random one (for example the output "
                "of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or set "
                'environment = "development" for local testing'
            )
        if self.database_url is not None:
            try:
                password = make_url(self.database_url.get_secret_value()).password
            except ArgumentError as err:
                raise ValueError("database_url: cannot parse the URL") from err
            if password is not None and str(password).strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "database_url: the password is a placeholder; set a real one, or set "
                    'environment = "development" for local testing'
                )
        return self

    @classmethod
    def load(cls, path: Path | None = None, **overrides: object) -> ServiceSettings:
        """Build settings from ``overrides``, the environment and the TOML file ``path``.

        Raises:
            ConfigError: when the file cannot be read or a value is invalid; the message
                names the field.
        """
        if path is not None:
            try:
                tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except OSError as err:
                raise ConfigError(
                    f"cannot read settings file {path}: {err.strerror or err}"
                ) from err
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
                raise ConfigError(f"{path}: not valid TOML: {err}") from err
        token = _SETTINGS_FILE.set(Path(path) if path is not None else None)
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as err:
            raise ConfigError(_describe(path, err)) from err
        finally:
            _SETTINGS_FILE.reset(token)

    # -- derived values ---------------------------------------------------------------

    def resolved_data_dir(self) -> Path:
        """The data directory, created if missing."""
        if self.data_dir is None:
            return default_data_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.resolved_data_dir() / 'mediaguard.db'}"

    def scan_concurrency(self) -> int:
        """How many scans run at once: ``scan_threads``, or one per core."""
        return self.scan_threads or cpu_count()

    @property
    def heartbeat_seconds(self) -> float:
        """How often a worker renews its lease: a third of it, so one missed beat is safe."""
        return self.job_lease_seconds / 3


def cpu_count() -> int:
    """Cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _describe(path: Path | None, err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    origin = f"{path}: " if path is not None else ""
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"{origin}{where}: {message}{more}"


@lru_cache(maxsize=8)
def load_settings(path: Path | None = None) -> ServiceSettings:
    """The settings for ``path`` (and the current environment), built once per process.

    Raises:
        ConfigError: when the settings are invalid.
    """
    return ServiceSettings.load(path)
