"""What the service-side commands share: the settings and database options, and opening both.

``serve``, ``worker``, ``keys``, ``db``, ``reviewers``, ``audit`` and ``dsa`` all read the
same settings file and the same database; one definition here keeps their options, their
defaults and the way the database is chosen identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mediaguard.errors import ConfigError
from mediaguard.store import Store

if TYPE_CHECKING:
    from mediaguard.service.settings import ServiceSettings

SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        envvar="MEDIAGUARD_SETTINGS",
        help="Service settings TOML (see mediaguard.example.toml); MEDIAGUARD_* variables "
        "override it.",
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="MEDIAGUARD_DATABASE_URL",
        help="Database URL (default: the settings file's, else SQLite in the data directory).",
    ),
]


def service_settings(path: Path | None, **overrides: object) -> ServiceSettings:
    """Load the service settings, with the overrides given on the command line.

    The service stack is imported here, so a CLI without the ``service`` extra still
    runs every other command and says which extra this one needs.
    """
    try:
        from mediaguard.service.settings import ServiceSettings
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            f"the service needs the 'service' extra ({err.name} is missing): "
            "pip install 'mediaguard[service]'"
        ) from err
    given = {k: v for k, v in overrides.items() if v is not None}
    return ServiceSettings.load(path, **given)


def open_store(settings_file: Path | None, database: str | None) -> Store:
    """Open the store that ``--database`` names, else the one the settings file names."""
    if database is None and settings_file is not None:
        database = service_settings(settings_file).resolved_database_url()
    return Store.open(database)
