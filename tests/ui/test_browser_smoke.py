"""The browser harness end to end: Chromium runs the service's offline Swagger UI.

``/docs`` is a page whose content exists only once JavaScript has run: the HTML holds an
empty ``#swagger-ui`` element, and Swagger UI's bundle (served from the
``fastapi-offline`` package, not a CDN) fetches ``/openapi.json`` and renders into it.
Seeing that proves the browser started, reached the live server, ran its scripts and
made its own requests back, with nothing from outside loopback (the ``page`` fixture
fails the test otherwise).
"""

from __future__ import annotations

from typing import Any

from .conftest import Live

RENDERED = "#swagger-ui .information-container .title"
# What Swagger UI shows instead of the API when it cannot read the document.
REFUSED = "#swagger-ui .version-pragma"


def _open_docs(page: Any, live_server: Live) -> list[str]:
    """Load /docs and wait until Swagger UI has either rendered the API or refused it."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(live_server.url("/docs"))
    assert response is not None
    assert response.status == 200
    page.locator(f"{RENDERED}, {REFUSED}").first.wait_for(state="visible")
    return requested


def test_swagger_ui_script_runs_offline_and_fetches_the_schema(
    page: Any, live_server: Live
) -> None:
    requested = _open_docs(page, live_server)

    # The served HTML has an empty #swagger-ui; everything inside it was built by script.
    assert page.locator("#swagger-ui .swagger-ui").count() == 1
    assert page.evaluate("typeof window.SwaggerUIBundle") == "function"
    assert live_server.url("/docs/static/swagger-ui-bundle.js") in requested
    assert live_server.url("/openapi.json") in requested


def test_swagger_ui_renders_the_api_title(page: Any, live_server: Live) -> None:
    _open_docs(page, live_server)

    assert page.locator(REFUSED).count() == 0, page.locator(REFUSED).inner_text()
    title = page.locator(RENDERED)
    assert title.inner_text().startswith("mediaguard")
    assert page.locator("#swagger-ui .opblock").count() > 0
