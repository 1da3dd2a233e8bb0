"""EU Digital Services Act statements of reasons for ``remove`` and ``restrict`` decisions.

Design note: a statement of reasons is a public JSON object sent to the Commission's DSA
Transparency Database. This package builds and checks it and knows nothing of reviewers,
queues or the store, so the review side above it (:mod:`mediaguard.review`) and any
exporter can use it offline. It is four parts that change for different reasons:

- :mod:`~mediaguard.dsa.schema`: the database's enumerations, copied from its source;
  they change when the Commission revises the schema.
- :mod:`~mediaguard.dsa.validator`: :func:`validate`, the database's rules applied to a
  statement, reading only those tables.
- :mod:`~mediaguard.dsa.builder`: :func:`statement` and :func:`batches`, from one
  decision to the object; it keeps its own constants and runs every statement through
  :func:`validate`, which is why the validator must never read the builder's tables.
- :mod:`~mediaguard.dsa.reasons`: the reason codes reviewers choose from and their DSA
  mapping (``reasons.toml``); they change with a platform's terms of service.
"""

from mediaguard.dsa.builder import (
    BATCH_MAX,
    EEA,
    FACTS_MAX,
    Automation,
    ContentKind,
    Source,
    StatementError,
    StatementInput,
    batches,
    statement,
)
from mediaguard.dsa.reasons import (
    EXPORTABLE,
    Action,
    Ground,
    ReasonCode,
    ReasonCodes,
    load_reasons,
)
from mediaguard.dsa.validator import validate

__all__ = [
    "BATCH_MAX",
    "EEA",
    "EXPORTABLE",
    "FACTS_MAX",
    "Action",
    "Automation",
    "ContentKind",
    "Ground",
    "ReasonCode",
    "ReasonCodes",
    "Source",
    "StatementError",
    "StatementInput",
    "batches",
    "load_reasons",
    "statement",
    "validate",
]
