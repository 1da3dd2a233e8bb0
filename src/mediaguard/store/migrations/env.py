"""Alembic environment for mediaguard's schema.

Design note: :meth:`mediaguard.store.database.Database.upgrade` hands this script an open
connection through ``config.attributes["connection"]``, so migrations run on the store's
own engine (with its SQLite pragmas) inside the caller's transaction, and no URL with a
password is ever written into an Alembic config. The ``alembic`` command line still works
for developers through ``sqlalchemy.url``, and offline mode renders SQL for a DBA to
review. Logging is left alone: configuring loggers here would override the host's.

``render_as_batch`` is on because SQLite can only alter a table by copying it; Alembic's
batch mode does that copy on SQLite and plain ``ALTER`` on PostgreSQL, so one revision
script serves both backends.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from mediaguard.store.models import Base

_config = context.config
_target_metadata = Base.metadata


def _run_offline() -> None:
    """Render the migrations as SQL for the URL in ``sqlalchemy.url``."""
    context.configure(
        url=_config.get_main_option("sqlalchemy.url"),
        target_metadata=_target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    """Run the migrations on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=_target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    """Run on the connection handed over by the store, or on ``sqlalchemy.url``."""
    connection = _config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_on(connection)
        return
    url = _config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and sqlalchemy.url is not set")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
