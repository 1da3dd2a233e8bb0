"""OpenAPI descriptions of the request bodies the routers read from the stream themselves.

Design note: upload routes read the body from the ASGI stream (so the size limit holds
before anything is buffered, see :mod:`mediaguard.service.uploads`), which FastAPI cannot
see; these fragments put the accepted bodies back into the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from mediaguard.service.schemas import EntryCreate

_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


def upload_body(*, multiple: bool, description: str) -> dict[str, Any]:
    """The ``requestBody`` of an upload route: multipart ``file``/``files`` or raw bytes."""
    if multiple:
        form: dict[str, Any] = {
            "type": "object",
            "properties": {"files": {"type": "array", "items": _BINARY, "minItems": 1}},
            "required": ["files"],
        }
    else:
        form = {"type": "object", "properties": {"file": _BINARY}, "required": ["file"]}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "multipart/form-data": {"schema": form},
                "application/octet-stream": {"schema": _BINARY},
            },
        }
    }


def text_or_json_body(description: str) -> dict[str, Any]:
    """The ``requestBody`` of a hash-list import: a text file or a JSON array."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "array", "items": EntryCreate.model_json_schema()}
                },
            },
        }
    }
