"""Settings: sources and precedence, and placeholder secrets refused outside development."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaguard.errors import ConfigError
from mediaguard.service.settings import ServiceSettings, load_settings

GOOD = "x" * 8 + "-random-" + "y" * 8


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("", id="empty"),
        pytest.param("changeme", id="changeme"),
        pytest.param("secret", id="secret"),
        pytest.param("CHANGEME", id="upper"),
        pytest.param("short-one", id="too-short"),
    ],
)
def test_placeholder_signing_secret_is_refused_in_production(secret: str) -> None:
    with pytest.raises(ConfigError, match="webhook_signing_secret"):
        ServiceSettings.load(None, webhook_signing_secret=secret)


def test_placeholders_are_allowed_in_development() -> None:
    settings = ServiceSettings.load(None, environment="development", webhook_signing_secret="")
    assert settings.environment == "development"


def test_placeholder_database_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="database_url"):
        ServiceSettings.load(
            None,
            webhook_signing_secret=GOOD,
            database_url="postgresql://mg:changeme@db.internal/mediaguard",
        )


def test_toml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mediaguard.toml"
    path.write_text(f'webhook_signing_secret = "{GOOD}"\nport = 9000\nworkers = 3\n')
    settings = ServiceSettings.load(path)
    assert (settings.port, settings.workers) == (9000, 3)
    monkeypatch.setenv("MEDIAGUARD_PORT", "9100")
    assert ServiceSettings.load(path).port == 9100
    assert ServiceSettings.load(path, port=9200).port == 9200


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("bogus = 1\n", "bogus", id="unknown-key"),
        pytest.param("port = 'eighty'\n", "port", id="bad-type"),
        pytest.param("port = \n", "not valid TOML", id="bad-toml"),
    ],
)
def test_invalid_files_name_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'webhook_signing_secret = "{GOOD}"\n' + text)
    with pytest.raises(ConfigError, match=match):
        ServiceSettings.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        ServiceSettings.load(tmp_path / "absent.toml")


def test_load_settings_is_cached(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'webhook_signing_secret = "{GOOD}"\n')
    assert load_settings(path) is load_settings(path)
    load_settings.cache_clear()


def test_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "mediaguard.example.toml"
    text = example.read_text()
    # The example ships with a placeholder secret on purpose: it must be refused...
    with pytest.raises(ConfigError, match="webhook_signing_secret"):
        ServiceSettings.load(example)
    # ...and, once a real secret replaces it, be valid as it is.
    values = ServiceSettings.load(example, webhook_signing_secret=GOOD)
    assert values.environment == "production"
    assert "webhook_allow_private = false" in text
