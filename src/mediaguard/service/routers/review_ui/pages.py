"""How the review UI answers: templates, security headers, and halting a request.

Design note: the pages are rendered on the server from Jinja2 templates and enhanced
with htmx (served from the ``django-js-lib-htmx`` package, never from a CDN), so the UI
needs no JavaScript build, runs on an air-gapped install, and every form still works
with scripts off. There is no inline script anywhere, which lets the
Content-Security-Policy forbid it.

Every route of the UI is a :class:`UiRoute`, so every answer, a page, a redirect or a
:class:`Halt` raised from a dependency (a log-in redirect, a refused CSRF token),
carries :data:`SECURITY_HEADERS`, including ``Cache-Control: no-store``. This is kept
apart from the routes so that the log-in side and the item side answer in one way and
neither can forget a header.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("mediaguard.service", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


class Halt(Exception):
    """Stop handling a request and answer with ``response`` (a redirect, a 403 page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class UiRoute(APIRoute):
    """A route whose every answer, including a halt, carries the UI's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except Halt as halt:
                response = halt.response
            response.headers.update(SECURITY_HEADERS)
            return response

        return guarded


def ui_router() -> APIRouter:
    """A router for UI routes: each one a :class:`UiRoute`, none in the OpenAPI schema."""
    return APIRouter(route_class=UiRoute, include_in_schema=False)


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request, so a fragment (or an ``HX-Redirect``) is the answer."""
    return request.headers.get("HX-Request") == "true"


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The template ``name`` rendered with ``context``."""
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A page that says what went wrong, shown without a reviewer or a form."""
    return page(
        request,
        "review/error.html",
        {"title": title, "message": message, "csrf": None, "reviewer": None},
        status_code,
    )
