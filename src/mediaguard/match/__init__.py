"""Known-content matching: hash lists, their indexes, and file formats.

Design note: this package is pure and storage-independent. It turns hash-list files
into :class:`Entry` values (``formats``), indexes entry ids by hash (``index``:
exact for MD5/SHA-256, Hamming radius for PDQ; ``video``: vPDQ frame-match
percentages) and describes a hit as a :class:`Match` for the verdict. Which lists
exist, their categories, distances and actions live in the store and policy; they
call into this package with ids and hashes only.
"""

from mediaguard.match.formats import (
    LineError,
    ListFormat,
    detect_format,
    iter_entries,
    write_entries,
)
from mediaguard.match.index import (
    DEFAULT_PDQ_DISTANCE,
    DIHEDRAL_TRANSFORMS,
    MIN_PDQ_QUALITY,
    DihedralHit,
    ExactIndex,
    PDQHits,
    PDQIndex,
    dihedral_queries,
    pdq_bits_to_hex,
    pdq_codes,
    pdq_quality_ok,
)
from mediaguard.match.types import (
    Entry,
    HashFormatError,
    IndexFormatError,
    Match,
    SignalType,
    parse_signal_type,
    parse_value,
)
from mediaguard.match.video import (
    FrameHash,
    FrameMatch,
    VideoIndex,
    VideoMatch,
    format_vpdq,
    match_frames,
    match_percentages,
    parse_vpdq,
)

__all__ = [
    "DEFAULT_PDQ_DISTANCE",
    "DIHEDRAL_TRANSFORMS",
    "MIN_PDQ_QUALITY",
    "DihedralHit",
    "Entry",
    "ExactIndex",
    "FrameHash",
    "FrameMatch",
    "HashFormatError",
    "IndexFormatError",
    "LineError",
    "ListFormat",
    "Match",
    "PDQHits",
    "PDQIndex",
    "SignalType",
    "VideoIndex",
    "VideoMatch",
    "detect_format",
    "dihedral_queries",
    "format_vpdq",
    "iter_entries",
    "match_frames",
    "match_percentages",
    "parse_signal_type",
    "parse_value",
    "parse_vpdq",
    "pdq_bits_to_hex",
    "pdq_codes",
    "pdq_quality_ok",
    "write_entries",
]
