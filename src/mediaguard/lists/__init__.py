"""Lists that media is matched against, persisted in the store.

A hash list is rows in the store plus an index from :mod:`mediaguard.match`, cached in the
data directory and updated incrementally (:mod:`mediaguard.lists.hashlists`). What the
scanner asks a list matcher and gets back is in :mod:`mediaguard.lists.query`.

The package re-exports nothing: the scanner imports :mod:`mediaguard.lists.query` on every
``import mediaguard``, and a re-export here would load the store (SQLAlchemy, Alembic) with
it, which only a scan that opens its hash lists needs.
"""
