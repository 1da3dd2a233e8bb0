"""One JSON error shape for every 4xx and 5xx, and the map from typed errors to statuses.

Design note: clients branch on ``error.code``, a stable snake_case string, never on the
message or on which layer refused the request; so validation errors, unknown routes and
wrong methods come back in the same envelope as mediaguard's own errors::

    {"error": {"code": "unsupported_media", "message": "...", "request_id": "..."}}

Under HMA's paths (``/h``, ``/m``, ``/c``) the body also carries HMA's top-level
``message``, so an HMA client reads the same text it would from HMA.

mediaguard's typed errors are translated here and only here, at the edge, the way the
CLI translates them into exit codes. Anything unexpected becomes ``500
internal_error`` with the request id (the traceback goes to the log, never to the
client); that catch-all lives in :mod:`mediaguard.service.app`'s request middleware.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mediaguard.dsa import StatementError
from mediaguard.errors import (
    ConfigError,
    CorruptMedia,
    MediaError,
    MediaguardError,
    MediaTooLarge,
    PolicyError,
    ProtectedTraitError,
    UnreadableSource,
    UnsupportedMedia,
)
from mediaguard.match.types import HashFormatError
from mediaguard.service.outbound import FetchError, FetchRefused, FetchTooLarge
from mediaguard.service.webhooks import StreamTargetRefused, TargetRefused
from mediaguard.store.errors import (
    AlreadyExistsError,
    ConflictError,
    IdempotencyConflict,
    InvalidInputError,
    NotFoundError,
    PermissionDenied,
    SchemaError,
    StoreError,
)

log = logging.getLogger("mediaguard.service")


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a human message, and the request id for logs."""

    code: str = Field(description="Stable, snake_case error code to branch on.")
    message: str = Field(description="Human-readable explanation; may change between versions.")
    request_id: str = Field(description="Also in the X-Request-ID header and the server log.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the API answers with ``status`` and the JSON error body.

    Args:
        status: the HTTP status.
        code: the stable error code.
        message: the human-readable explanation.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``...).
    """

    def __init__(
        self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


# Most specific first: the first matching class wins.
_TYPED: Final[tuple[tuple[type[Exception], int, str], ...]] = (
    (UnsupportedMedia, 415, "unsupported_media"),
    (MediaTooLarge, 413, "media_too_large"),
    (CorruptMedia, 422, "corrupt_media"),
    (UnreadableSource, 400, "unreadable_source"),
    (MediaError, 400, "media_error"),
    (ProtectedTraitError, 400, "protected_trait"),
    (PolicyError, 400, "policy_error"),
    (HashFormatError, 400, "invalid_hash"),
    (ConfigError, 400, "config_error"),
    (StreamTargetRefused, 400, "stream_target_refused"),
    (TargetRefused, 400, "webhook_target_refused"),
    (FetchRefused, 400, "url_refused"),
    (FetchTooLarge, 413, "fetch_too_large"),
    (FetchError, 400, "fetch_failed"),
    (IdempotencyConflict, 409, "idempotency_conflict"),
    (StatementError, 409, "not_exportable"),
    (ConflictError, 409, "conflict"),
    (PermissionDenied, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (AlreadyExistsError, 409, "already_exists"),
    (InvalidInputError, 400, "invalid_input"),
    (SchemaError, 503, "schema_not_current"),
    (StoreError, 503, "database_error"),
)

_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

#: Error responses documented on every route of the API, for the OpenAPI document.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ErrorResponse, "description": code.replace("_", " ")}
    for status, code in (
        (400, "bad_request"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (422, "validation_error"),
        (429, "rate_limited"),
    )
}


def translate(err: MediaguardError) -> ApiError:
    """The API error for one of mediaguard's typed errors."""
    for cls, status, code in _TYPED:
        if isinstance(err, cls):
            message = str(err)
            if status >= 500:
                # A database message can name hosts and tables; keep it for the log.
                log.error("%s: %s", code, err)
                message = (
                    "the database schema is not current; run `mediaguard db upgrade`"
                    if isinstance(err, SchemaError)
                    else "the database is unavailable; try again later"
                )
            return ApiError(status, code, message)
    return ApiError(400, "bad_request", str(err))


def request_id(request: Request) -> str:
    """The id the request middleware gave this request ("-" outside one)."""
    return str(getattr(request.state, "request_id", "-"))


#: Path prefixes of HMA's API, whose clients read an error's top-level ``message``.
HMA_PREFIXES: Final = ("/h/", "/m/", "/c/")


def error_response(
    status: int,
    code: str,
    message: str,
    rid: str,
    headers: Mapping[str, str] | None = None,
    *,
    hma: bool = False,
) -> JSONResponse:
    """The JSON error envelope as a response; with ``hma``, HMA's ``message`` beside it."""
    body = ErrorResponse(error=ErrorDetail(code=code, message=message, request_id=rid))
    content: dict[str, Any] = body.model_dump()
    if hma:
        content["message"] = message
    return JSONResponse(content, status_code=status, headers=dict(headers or {}))


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    hma = request.url.path.startswith(HMA_PREFIXES)
    return error_response(status, code, message, request_id(request), headers, hma=hma)


def _validation_message(err: RequestValidationError) -> str:
    errors = err.errors()
    if not errors:
        return "the request is invalid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _respond(request, exc.status, exc.code, exc.message, exc.headers)


async def _mediaguard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MediaguardError)
    api = translate(exc)
    return _respond(request, api.status, api.code, api.message, api.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    return _respond(request, exc.status_code, code, detail, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _respond(request, 422, "validation_error", _validation_message(exc))


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one JSON shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(MediaguardError, _mediaguard_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
