"""The verdict: one frozen result per scanned item, and its published JSON Schema.

Design note: everything a platform needs to act on an item, audit the decision later, or
reproduce it, is in one immutable value: what the media is, its digests and PDQ hashes,
every detection and list match, the decision with reasons, and the exact versions of the
models and policy that produced it. It is a frozen pydantic model because it crosses
process, file and HTTP boundaries as JSON, and the schema is generated from the same
class so the two cannot drift. No field describes a person.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mediaguard.match.textmatch import TextMatch
from mediaguard.match.types import Match
from mediaguard.policy.engine import Reason
from mediaguard.policy.model import Decision
from mediaguard.signals.base import Box, Detection
from mediaguard.timeline import Segment

SCHEMA_VERSION: Literal["1"] = "1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaInfo(_Frozen):
    """Facts about the media, recognised from its bytes."""

    format: str = Field(description="Container format, e.g. jpeg, png, heif.")
    mime: str
    kind: Literal["image", "video"]
    size_bytes: int = Field(ge=0)
    width: int = Field(ge=0, description="Width of the upright image, pixels.")
    height: int = Field(ge=0, description="Height of the upright image, pixels.")
    frame_count: int = Field(ge=1, description="Frames in the file (1 for a still image).")
    sampled_frames: int = Field(ge=1, description="Frames decoded and scanned.")
    animated: bool
    duration_s: float | None = Field(default=None, description="Duration, seconds.")


class PDQInfo(_Frozen):
    """A PDQ hash of one scanned frame; a video's list of them is its vPDQ bag."""

    frame: int = Field(ge=0)
    time_s: float | None = Field(default=None, description="Time of the frame, seconds.")
    hash: str = Field(pattern="^[0-9a-f]{64}$", description="ThreatExchange hex.")
    quality: int = Field(ge=0, le=100)
    usable: bool = Field(description="Quality is at least 50, so it is matched perceptually.")


class Hashes(_Frozen):
    md5: str = Field(pattern="^[0-9a-f]{32}$")
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    pdq: list[PDQInfo] = Field(description="One PDQ hash per scanned frame, first frame first.")


class TextFound(_Frozen):
    """A line of text read in one frame (OCR), with the URLs in it in normal form."""

    text: str = Field(description="The recognised characters.")
    confidence: float = Field(ge=0.0, le=1.0, description="Recogniser confidence, 0 to 1.")
    box: Box = Field(description="Bounds of the line in the upright original image.")
    frame: int = Field(ge=0, description="Index of the frame in the source.")
    time_s: float | None = Field(default=None, description="Time of the frame, seconds.")
    urls: list[str] = Field(default=[], description="URLs in the line, in normal form.")


class CodeFound(_Frozen):
    """A QR code or barcode read in one frame, with the URLs in its payload."""

    symbology: str = Field(
        description="qr_code, micro_qr_code, data_matrix, aztec, "
        "ean_13, ean_8, upc_a, upc_e or code_128."
    )
    content: Literal["text", "binary"]
    payload: str = Field(
        description="The text (control characters replaced by U+FFFD), or hex of the "
        "first bytes of a binary payload."
    )
    length: int = Field(ge=0, description="Full length of the payload, bytes.")
    truncated: bool = Field(description="The payload field holds less than the payload.")
    box: Box = Field(description="Bounds of the symbol in the upright original image.")
    frame: int = Field(ge=0, description="Index of the frame in the source.")
    time_s: float | None = Field(default=None, description="Time of the frame, seconds.")
    urls: list[str] = Field(default=[], description="URLs in the payload, in normal form.")


class ModelVersion(_Frozen):
    name: str
    version: str
    sha256: str = Field(description="SHA-256 of the weights file.")


class PolicyRef(_Frozen):
    name: str
    version: str
    sha256: str = Field(description="SHA-256 of the policy file's bytes.")


class Timings(_Frozen):
    """Milliseconds spent in each stage."""

    read_ms: float = 0.0
    decode_ms: float = 0.0
    hash_ms: float = 0.0
    detect_ms: float = 0.0
    text_ms: float = 0.0
    codes_ms: float = 0.0
    match_ms: float = 0.0
    policy_ms: float = 0.0
    total_ms: float = 0.0


class Verdict(_Frozen):
    """The result of scanning one item."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    mediaguard_version: str
    source: str = Field(description="Path of the scanned file, or a caller-given name.")
    scanned_at: datetime
    media: MediaInfo
    hashes: Hashes
    detections: list[Detection]
    scores: dict[str, float] = Field(description="Highest score per content category.")
    matches: list[Match]
    texts: list[TextFound] = Field(
        default=[],
        description="Lines of text read in the scanned frames, in reading order per "
        "frame (when [text] is enabled).",
    )
    codes: list[CodeFound] = Field(
        default=[],
        description="QR codes and barcodes read in the scanned frames (when [codes] is "
        "enabled, the default).",
    )
    text_matches: list[TextMatch] = Field(
        default=[],
        description="Entries of term lists found in the texts, and of URL lists found in "
        "the texts and the codes' payloads, each with its span and where it was read.",
    )
    decision: Decision
    reasons: list[Reason]
    timeline: list[Segment] = Field(
        default=[],
        description="Video only: stretches of time per category that reached the policy's "
        "review (or block) threshold, with their peak score.",
    )
    incomplete: bool = Field(
        default=False,
        description="The media ended early (damage, truncation or a sample cap); the "
        "verdict covers what was read before that.",
    )
    incomplete_reason: str | None = None
    notes: list[str] = Field(
        default=[], description="Caveats about the scan, e.g. hashes too weak to match."
    )
    models: list[ModelVersion]
    policy: PolicyRef
    timings: Timings

    def to_json(self, *, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)


class ScanFailure(_Frozen):
    """An input that could not be scanned, with the reason (a typed error)."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    source: str
    error: str = Field(description="Error type: UnsupportedMedia, MediaTooLarge, CorruptMedia…")
    message: str

    def to_json(self, *, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)


ScanResult = Verdict | ScanFailure


def json_schema() -> dict[str, Any]:
    """JSON Schema of one output record: a verdict, or a failure for an unreadable input."""
    schema = TypeAdapter(ScanResult).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mediaguard scan result"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
