"""Alembic migrations for mediaguard's schema, shipped inside the package.

Design note: the migrations live in the package (not next to an ``alembic.ini`` in the
repository) so that ``mediaguard db upgrade`` works from an installed wheel. They are run
programmatically by :meth:`mediaguard.store.database.Database.upgrade`.
"""
