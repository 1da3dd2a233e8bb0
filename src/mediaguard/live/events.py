"""What a watched stream reports: one JSON-ready event per thing that happened.

Why separate: the same events are printed as JSONL by ``mediaguard watch``, yielded by
:func:`mediaguard.watch`, stored by the service and sent as webhooks, so their shape is
defined once, as a frozen pydantic model whose JSON Schema documents it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from mediaguard.policy.engine import Reason
from mediaguard.policy.model import Decision
from mediaguard.timeline import fraction_text

__all__ = ["EventKind", "GapInfo", "MatchSeen", "SegmentInfo", "StreamEvent", "times"]


class EventKind(StrEnum):
    STARTED = "started"
    SAMPLE = "sample"
    ALERT = "alert"
    CLEARED = "cleared"
    GAP = "gap"
    ENDED = "ended"
    FAILED = "failed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GapInfo(_Frozen):
    """An outage: the stream dropped at ``start_s`` and came back at ``end_s``."""

    start_s: float
    end_s: float
    seconds: float = Field(description="Outage as the wall clock measured it.")
    reason: str
    attempts: int = Field(ge=0, description="Reconnections it took.")


class SegmentInfo(_Frozen):
    """A stretch of stream time in which a category's window rule was met."""

    category: str
    decision: Decision
    start_s: float
    end_s: float | None = Field(description="None while the segment is still open.")
    peak_score: float = Field(ge=0.0, le=1.0)


class MatchSeen(_Frozen):
    """A hash-list entry the stream matched, when it first and last did, how often."""

    list: str
    category: str
    signal: str
    entry_id: int
    distance: int
    first_s: float
    last_s: float
    samples: int = Field(ge=1)


class StreamEvent(_Frozen):
    """One event of a watched stream."""

    kind: EventKind
    url: str = Field(description="The stream watched.")
    at: datetime = Field(description="When the event happened (UTC).")
    time_s: float | None = Field(default=None, description="Stream time, seconds.")
    time: str | None = Field(default=None, description="Exact stream time as 'num/den'.")
    samples: int = Field(ge=0, description="Samples scanned so far.")
    dropped: int = Field(
        default=0, ge=0, description="Samples dropped so far because scanning fell behind."
    )
    decision: Decision = Field(description="The stream's decision in force after the event.")
    previous: Decision | None = Field(default=None, description="The decision before it.")
    reasons: list[Reason] = []
    frame: int | None = Field(default=None, description="Index of the triggering frame.")
    latency_s: float | None = Field(
        default=None, description="From the frame's decoding to the event, seconds."
    )
    gap: GapInfo | None = None
    segments: list[SegmentInfo] = []
    matches: list[MatchSeen] = []
    error: str | None = Field(default=None, description="Why the stream failed or ended.")

    def to_json(self) -> str:
        return self.model_dump_json()


def times(value: Fraction | None) -> dict[str, float | str | None]:
    """The ``time_s`` and exact ``time`` fields of an event at stream time ``value``."""
    if value is None:
        return {"time_s": None, "time": None}
    return {"time_s": float(value), "time": fraction_text(value)}
