"""Alembic migrations for mediaguard's schema, shipped inside the package.

Design note: the migrations live in the package (not next to an ``alembic.ini`` in the
repository) so that ``mediaguard db upgrade`` works from an installed wheel. They are run
programmatically by :meth:`mediaguard.store.database.Database.upgrade`.
"""

from __future__ import annotations

from typing import Final

#: The latest revision under ``versions/``. Opening an up-to-date database compares its
#: revision with this, so that no command pays Alembic's import (about 70 ms, with Mako
#: and Pygments) unless it migrates; ``tests/store`` checks it against Alembic's own head.
HEAD: Final = "0008"
