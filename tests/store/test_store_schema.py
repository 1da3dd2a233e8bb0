"""Migrations and schema checks, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from mediaguard.store import SchemaError, Store, migrations
from mediaguard.store.migrations import HEAD
from mediaguard.store.models import Base

TABLES = {"hash_lists", "hash_entries", "vpdq_frames", "scanned_items", "match_hits"}


def test_empty_database_is_behind(bare_store: Store) -> None:
    assert bare_store.current_revision() is None
    assert not bare_store.is_current()
    with pytest.raises(SchemaError, match=r"behind.*run `mediaguard db upgrade`"):
        bare_store.check_current()


def test_upgrade_from_empty_reaches_head(bare_store: Store) -> None:
    bare_store.upgrade()
    assert bare_store.current_revision() == bare_store.head_revision()
    assert bare_store.is_current()
    bare_store.check_current()


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    store.upgrade()
    assert store.is_current()


def test_upgrade_creates_every_table(store: Store, raw: Engine) -> None:
    assert set(inspect(raw).get_table_names()) >= TABLES


def test_migrations_match_models(store: Store, raw: Engine) -> None:
    # Autogenerate finds nothing to do when the revisions build exactly what the
    # models declare, so neither can drift from the other unnoticed.
    with raw.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_downgrade_to_base_and_back(store: Store, raw: Engine) -> None:
    store.lists.create_list("before", "weapon", "block")
    store.downgrade("base")
    assert store.current_revision() is None
    assert not TABLES & set(inspect(raw).get_table_names())
    store.upgrade()
    assert store.lists.lists() == []


def test_unknown_revision_is_refused(store: Store) -> None:
    with pytest.raises(SchemaError, match="unknown-revision"):
        store.upgrade("unknown-revision")


def test_schema_from_a_newer_mediaguard_is_refused(store: Store, raw: Engine) -> None:
    with raw.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    assert not store.is_current()
    with pytest.raises(SchemaError, match="newer mediaguard"):
        store.check_current()


def test_head_is_alembics_own_head(store: Store) -> None:
    # A migration added without moving HEAD would leave every database "behind".
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
    assert store.head_revision() == HEAD


@pytest.mark.parametrize("revision", ["0005", "head"])
def test_the_revision_is_read_as_alembic_reads_it(store: Store, raw: Engine, revision: str) -> None:
    if revision == "head":
        store.upgrade()
    else:
        store.downgrade(revision)
    with raw.connect() as conn:
        alembic_reads = MigrationContext.configure(conn).get_current_revision()
    assert store.current_revision() == alembic_reads
    assert alembic_reads == (HEAD if revision == "head" else revision)


def test_opening_an_up_to_date_store_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    opened = Store.open(url)
    opened.upgrade()
    opened.close()
    code = (
        "import sys\n"
        "import mediaguard.cli\n"
        "from mediaguard.store import Store\n"
        f"store = Store.open({url!r})\n"
        "store.check_current()\n"
        "print(sorted(m for m in ('alembic', 'mako') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
