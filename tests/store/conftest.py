"""Fixtures running the store's contract suite on SQLite and on a real PostgreSQL.

Every test that takes ``store`` (or ``database_url``) runs twice: on a SQLite file in
``tmp_path`` and on PostgreSQL at ``$MEDIAGUARD_TEST_POSTGRES_URL``, inside a schema
created for that one test and dropped after it, so tests never see each other's rows.
``.ci/postgres.sh`` starts a suitable server and prints the URL.

Without the variable the PostgreSQL half is skipped locally but *fails* when ``$CI`` is
set, so a CI job that forgot to start PostgreSQL cannot pass by skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from mediaguard.store import Store, resolve_url

POSTGRES_ENV = "MEDIAGUARD_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test PostgreSQL database, or a skip/failure saying why not."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = (
            f"{POSTGRES_ENV} is not set, so the PostgreSQL store tests cannot run; start "
            f'one with: export {POSTGRES_ENV}="$(.ci/postgres.sh)"'
        )
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message} (CI is set, so they may not be skipped)", pytrace=False)
        pytest.skip(message)
    engine = create_engine(resolve_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        engine.dispose()
        shown = resolve_url(url).render_as_string(hide_password=True)
        pytest.fail(f"{POSTGRES_ENV}={shown} is set but unreachable: {err}", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty database (never migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"mgtest_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # search_path makes the fresh schema the default one: every table, including
    # alembic_version, is created and looked up there. A session time zone far from
    # UTC (+12:45) shows that timestamps do not depend on the server's zone.
    options = f"-csearch_path={schema} -ctimezone=Pacific/Chatham"
    url = admin.url.update_query_dict({"options": options})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def bare_store(database_url: str) -> Iterator[Store]:
    """A store on an empty database whose schema was never migrated."""
    with Store.open(database_url) as store:
        yield store


@pytest.fixture
def store(bare_store: Store) -> Store:
    """A store migrated to the latest schema."""
    bare_store.upgrade()
    return bare_store


@pytest.fixture
def raw(database_url: str, store: Store) -> Iterator[Engine]:
    """A plain engine on the same database, for checking rows the store does not expose."""
    engine = create_engine(resolve_url(database_url))
    yield engine
    engine.dispose()
