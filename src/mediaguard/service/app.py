"""The FastAPI application: routers, the error envelope, request context and lifespan.

Design note: :func:`create_app` builds an app from settings and nothing else happens at
import, so ``uvicorn --factory mediaguard.service.app:app_from_env`` and tests can build
as many apps as they like. The lifespan opens the :class:`ServiceRuntime` (database,
schema check, models) before the first request and starts the in-process job workers
and webhook dispatchers; a runtime passed in by the caller is used but not closed.

A small ASGI middleware gives every request an id (the client's ``X-Request-ID`` when
it is well-formed, else a fresh one), returns it in the ``X-Request-ID`` header and in
every error body, records request metrics by route template, and is the catch-all: an
exception that escapes every handler is logged with its traceback and answered with
``500 internal_error``, never with the traceback itself.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediaguard.service import errors
from mediaguard.service.errors import ErrorDetail, ErrorResponse
from mediaguard.service.jobs import BackgroundWorkers
from mediaguard.service.routers import (
    hashlists,
    health,
    hma,
    jobs,
    review_api,
    review_ui,
    scan,
    streams,
    textlists,
    webhooks,
)
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings, load_settings

log = logging.getLogger("mediaguard.service")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

DESCRIPTION = """\
Self-hosted, offline content moderation.

* `POST /v1/scan` scans one image synchronously; `POST /v1/jobs` queues video and batches.
* Hash lists: `/v1/hashlists`, bulk import, and `POST /v1/lookup`; term and URL lists
  (matched in text read from media and in QR codes): `/v1/termlists`, `/v1/urllists`.
* Webhooks are signed (`Mediaguard-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">`).
* Every error has the shape `{"error": {"code", "message", "request_id"}}`.
* HMA's API is served under its own paths (`/h/hash`, `/m/lookup`, `/c/banks`...).
  Its URL parameters are the only fetches made for a caller: public addresses only,
  checked like webhook targets. No endpoint reads a server-side path.
"""


class RequestContext:
    """Request ids, request metrics and the last-resort 500 handler (see module note)."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        """Wrap ``app``; metrics come from ``fastapi_app``'s runtime once it exists."""
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        clock = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unhandled error in %s %s (request %s)", scope["method"], scope["path"], rid
            )
            status = 500
            if not started:
                await _send_internal_error(send_with_id, rid)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            runtime: ServiceRuntime | None = getattr(self.fastapi_app.state, "runtime", None)
            if runtime is not None:
                runtime.metrics.observe_request(
                    scope["method"], template, status, time.perf_counter() - clock
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_internal_error(send: Send, rid: str) -> None:
    body = (
        ErrorResponse(
            error=ErrorDetail(
                code="internal_error",
                message="an internal error occurred; it was logged with this request id",
                request_id=rid,
            )
        )
        .model_dump_json()
        .encode()
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServiceSettings, *, runtime: ServiceRuntime | None = None) -> FastAPI:
    """Build the API for ``settings``.

    Args:
        settings: the service settings.
        runtime: an already opened runtime to serve with (it is not closed at
            shutdown); by default the lifespan opens one and closes it.

    Returns:
        The application; nothing is opened until its lifespan starts.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: ServiceRuntime
        if runtime is not None:
            opened = runtime
        else:
            opened = await anyio.to_thread.run_sync(ServiceRuntime.open, settings)
        app.state.runtime = opened
        background = BackgroundWorkers(
            opened, workers=settings.workers, dispatchers=settings.webhook_dispatchers
        )
        background.start()
        log.info(
            "mediaguard service ready: database %s, %d job worker(s), %d dispatcher(s)",
            opened.store.url,
            settings.workers,
            settings.webhook_dispatchers,
        )
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(background.stop)
            if runtime is None:
                opened.close()

    app = FastAPI(
        title="mediaguard",
        version=version("mediaguard"),
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    _install_docs(app)
    errors.install(app)
    app.add_middleware(RequestContext, fastapi_app=app)
    # Routes spell out their full paths (no router prefixes), so the route a request
    # matched carries the template that metrics are labelled with.
    for module in (scan, jobs, streams, webhooks, hashlists, review_api, health):
        app.include_router(module.router)
    app.include_router(textlists.termlists_router)
    app.include_router(textlists.urllists_router)
    if settings.hma_api:
        app.include_router(hma.router)
    review_ui.install(app)
    return app


def _install_docs(app: FastAPI) -> None:
    """Serve Swagger UI from the ``fastapi-offline`` package, not from a CDN.

    FastAPI's default ``/docs`` page loads its JavaScript from the internet, which an
    air-gapped deployment cannot reach; the same assets ship inside a PyPI package.
    """
    # Swagger UI 5, which reads the OpenAPI 3.1 documents FastAPI writes (4.x cannot).
    assets = Path(str(files("fastapi_offline") / "static"))
    app.mount("/docs/static", StaticFiles(directory=assets), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="mediaguard API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png",
        )


def app_from_env() -> FastAPI:
    """An app from ``MEDIAGUARD_*`` variables and ``$MEDIAGUARD_SETTINGS`` (a TOML file).

    For ``uvicorn --factory mediaguard.service.app:app_from_env``.

    Raises:
        ConfigError: when the settings are invalid.
    """
    path = os.environ.get("MEDIAGUARD_SETTINGS")
    return create_app(load_settings(Path(path) if path else None))
