"""The reviewers' web UI: log-in, the queue, an item with its preview, decisions.

Design note: the UI is three modules that :func:`install` puts together, split where
they change for different reasons: :mod:`~mediaguard.service.routers.review_ui.pages`
says how every answer is made (templates, security headers, halts),
:mod:`~mediaguard.service.routers.review_ui.sessions` who may ask (log-in, the session
cookie, CSRF), and :mod:`~mediaguard.service.routers.review_ui.items` the work itself
(the queue, an item, its reveal, preview, decision and list additions). The UI's
stylesheet lives in the service's ``static`` folder and htmx comes from the
``django-js-lib-htmx`` package, so nothing is fetched from elsewhere.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mediaguard.service.routers.review_ui import items, sessions

_HTMX_DIR: Final = files("js_lib_htmx") / "static" / "htmx"
_STATIC_DIR: Final = files("mediaguard.service") / "static"


def install(app: FastAPI) -> None:
    """Add the UI's routes, its stylesheet and htmx to ``app``."""
    app.include_router(sessions.router)
    app.include_router(items.router)
    app.mount("/review/static", StaticFiles(directory=str(_STATIC_DIR)), name="review-static")
    app.mount("/review/htmx", StaticFiles(directory=str(_HTMX_DIR)), name="review-htmx")
