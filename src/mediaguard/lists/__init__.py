"""Lists that media is matched against, persisted in the store.

A hash list is rows in the store plus an index from :mod:`mediaguard.match`, cached in the
data directory and updated incrementally. This package is where the two meet: the store
knows nothing of indexes and :mod:`mediaguard.match` nothing of the store.
"""

from mediaguard.lists.hashlists import (
    ImportReport,
    ListMatcher,
    RetroMatch,
    export_file,
    import_entries,
    import_file,
    retro_match,
    to_entry,
    to_new_entry,
)
from mediaguard.lists.query import Matcher, MatchOutcome, MatchQuery

__all__ = [
    "ImportReport",
    "ListMatcher",
    "MatchOutcome",
    "MatchQuery",
    "Matcher",
    "RetroMatch",
    "export_file",
    "import_entries",
    "import_file",
    "retro_match",
    "to_entry",
    "to_new_entry",
]
