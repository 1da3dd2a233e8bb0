"""The declarative base and column types that every table module of the store shares.

Kept apart from the tables so that the list, review and service table modules all build on
it without importing one another: the models module imports all three to complete the
metadata, and none of them imports it back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, TypeDecorator, func
from sqlalchemy.orm import DeclarativeBase

# 64-bit ids on PostgreSQL (hash lists reach tens of millions of rows and hits grow
# without bound); on SQLite an id must be declared INTEGER to alias the rowid.
ID = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The database stamps a row left without a time. A server default rather than a Python
# one, so that a bulk insert of entries need not send one timestamp per row.
NOW = func.current_timestamp()


def in_check(column: str, values: tuple[str, ...]) -> str:
    """Render a portable ``column IN (...)`` CHECK expression (for every model module)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (the only clock the store reads)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no timestamp type: SQLAlchemy stores text and drops any zone, so a
    value is converted to UTC before it is written and tagged UTC when read. PostgreSQL
    stores ``timestamptz`` and answers in the session's zone, which is converted back
    to UTC so both backends return identical values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse a naive datetime and normalise an aware one to UTC.

        Raises:
            ValueError: when ``value`` is naive; guessing its zone would silently shift
                every window computed from it.
        """
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value.isoformat()} is naive; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whichever backend produced the value."""
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base carrying the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)
