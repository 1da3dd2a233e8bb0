"""In-memory indexes over hash lists: exact (MD5, SHA-256) and PDQ (Hamming radius).

Design note: the index is separate from the hash type. Each index only knows integer
ids and fixed-length codes; which list an id belongs to, its category and its
per-list distance live with the caller (the store and the matcher), so one index can
serve many lists: query once at the largest distance any list allows, then filter per
list. Every index has ``build``/``add``/``remove``/``query``/``save``/``load``.

The modules, each with its own reason to change: :mod:`.codes` parses hash values into
byte codes; :mod:`.exact` is the MD5/SHA-256 index; :mod:`.multiindex` is the static,
exact PDQ search structure and :mod:`.pdq` the PDQ index built on it; :mod:`.container`
is the persisted file format both indexes (and vPDQ's) are saved in.
"""

from mediaguard.match.index.codes import codes_to_hex, dihedral_queries, pdq_bits_to_hex, pdq_codes
from mediaguard.match.index.container import INDEX_FORMAT, INDEX_VERSION
from mediaguard.match.index.exact import ExactIndex
from mediaguard.match.index.pdq import (
    DEFAULT_PDQ_DISTANCE,
    DihedralHit,
    PDQHits,
    PDQIndex,
    pdq_quality_ok,
)
from mediaguard.signals.hashes import DIHEDRAL_TRANSFORMS, MIN_PDQ_QUALITY

__all__ = [
    "DEFAULT_PDQ_DISTANCE",
    "DIHEDRAL_TRANSFORMS",
    "INDEX_FORMAT",
    "INDEX_VERSION",
    "MIN_PDQ_QUALITY",
    "DihedralHit",
    "ExactIndex",
    "PDQHits",
    "PDQIndex",
    "codes_to_hex",
    "dihedral_queries",
    "pdq_bits_to_hex",
    "pdq_codes",
    "pdq_quality_ok",
]
