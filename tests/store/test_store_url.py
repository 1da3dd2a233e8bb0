"""How the store finds its database; no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaguard.paths import ENV_DATA_DIR
from mediaguard.store import ENV_DATABASE_URL, InvalidInputError, Store, StoreError, resolve_url


def test_default_is_sqlite_in_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = resolve_url()
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "data" / "mediaguard" / "mediaguard.db")
    assert (tmp_path / "data" / "mediaguard").is_dir()
    with Store.open() as store:
        store.upgrade()
        assert store.is_current()
    assert (tmp_path / "data" / "mediaguard" / "mediaguard.db").is_file()


def test_environment_overrides_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_DATABASE_URL, f"sqlite:///{tmp_path / 'env.db'}")
    assert resolve_url().database == str(tmp_path / "env.db")
    # An explicit URL still wins over the environment.
    assert resolve_url(f"sqlite:///{tmp_path / 'x.db'}").database == str(tmp_path / "x.db")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://u:secret@db:5432/mg", id="postgresql"),
        pytest.param("postgres://u:secret@db:5432/mg", id="postgres"),
    ],
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    resolved = resolve_url(url)
    assert resolved.drivername == "postgresql+psycopg"
    assert (resolved.host, resolved.port, resolved.database) == ("db", 5432, "mg")
    assert "secret" not in repr(resolved)


def test_explicit_driver_is_kept() -> None:
    assert resolve_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql://u@h/d", id="mysql"),
        pytest.param("not a url", id="garbage"),
    ],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^database url: "):
        resolve_url(url)


def test_unreachable_database_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store.open(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def test_unreachable_postgres_hides_the_password() -> None:
    # Port 9 on localhost refuses at once; the message must not leak the password.
    with pytest.raises(StoreError, match="cannot open database") as info:
        Store.open("postgresql://u:hunter2@127.0.0.1:9/db?connect_timeout=2")
    assert "hunter2" not in str(info.value)


def test_sqlite_pragmas_are_set(tmp_path: Path) -> None:
    # Pragmas are per connection, so read them on one of the store's own.
    with (
        Store.open(f"sqlite:///{tmp_path / 'p.db'}") as store,
        store.db.connect() as conn,
    ):
        driver = conn.connection.dbapi_connection
        assert driver is not None
        cursor = driver.cursor()
        assert cursor.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert cursor.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert cursor.execute("PRAGMA busy_timeout").fetchone() == (30000,)


def test_password_is_hidden_in_repr() -> None:
    resolved = resolve_url("postgresql://u:hunter2@h/d")
    assert "hunter2" not in resolved.render_as_string(hide_password=True)
