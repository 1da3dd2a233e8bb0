"""Fixtures of the browser suite: a real Chromium driven by Playwright, and a live server.

The browser is Debian's ``chromium`` package, launched by Playwright's Python package
with ``executable_path``; Playwright's own browser downloads are never used, because
they fetch from the internet and mediaguard's tests must run offline. Without Chromium
the suite is skipped with the command that installs it, unless
``$MEDIAGUARD_REQUIRE_BROWSER`` is set (CI sets it), in which case it fails: CI cannot
pass by skipping the browser tests.

Every page runs in a fresh browser context (its own cookies and storage) that may reach
only the loopback server: any request to another host is aborted and fails the test,
because the review UI is served offline and a page that reaches for a CDN would break on
an air-gapped install. Uncaught JavaScript errors fail the test too.

The live server is the service suite's: real uvicorn on a free loopback port, in a
thread, serving an app built with the production code path and a real runtime, so tests
can seed data through ``runtime.store`` and then look at it in the
browser. It runs on a SQLite file: the storage backends are covered by the store and
service suites, and a browser test is about what the page does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mediaguard.scanner import Scanner
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.store import Store

# The service suite's helpers; pytest puts tests/ on sys.path for these test packages.
from service._support import Keys, LiveServer, make_keys, make_settings

#: Where Debian's chromium package puts its launcher; override with $MEDIAGUARD_CHROMIUM.
CHROMIUM = os.environ.get("MEDIAGUARD_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "MEDIAGUARD_REQUIRE_BROWSER"
#: Chromium switches for a headless run in a container: no sandbox (CI runs as root,
#: where Chromium's sandbox refuses to start), no GPU, /tmp instead of a small /dev/shm,
#: and none of the background requests Chromium makes to Google's services.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
)
#: Playwright's wait for anything (a selector, a navigation), in milliseconds. Short, so
#: that a page that never renders fails in seconds rather than at pytest's timeout.
DEFAULT_TIMEOUT_MS = 15_000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(why: str) -> None:
    """Skip the browser tests, or fail them when the environment says they are required."""
    if _required():
        pytest.fail(
            f"{why} ({REQUIRE_ENV} is set, so the browser tests may not be skipped)", pytrace=False
        )
    pytest.skip(why)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole browser suite (a ``playwright`` ``Browser``).

    Package scope rather than session scope: while the synchronous Playwright API is
    started it marks the main thread's asyncio event loop as running, so any later test
    that calls ``asyncio.run`` or ``anyio.run`` (the service suite does) would fail. The
    browser is therefore stopped as soon as this suite is done.
    """
    if shutil.which(CHROMIUM) is None:
        _unavailable(
            f"Chromium is not installed at {CHROMIUM}; install it with "
            "'apt-get install -y chromium' (or set MEDIAGUARD_CHROMIUM)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[dev]'")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context that can reach only loopback addresses.

    Fails the test, at teardown, if the page tried to reach another host or raised an
    uncaught JavaScript error.
    """
    context = browser.new_context(java_script_enabled=True)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS:
            route.continue_()
        else:
            outside.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    if outside:
        pytest.fail(f"the page tried to reach beyond loopback: {outside}", pytrace=False)
    if errors:
        pytest.fail(f"uncaught JavaScript errors: {errors}", pytrace=False)


# ------------------------------------------------------------------------ live server


@pytest.fixture(scope="session")
def ui_scanner() -> Scanner:
    """The default detectors, loaded once and shared by every live server of the suite."""
    return Scanner()


@pytest.fixture
def ui_settings_overrides() -> dict[str, Any]:
    """Per-test changes to the live server's settings (override the fixture to change)."""
    return {}


@dataclass
class Live:
    """A running mediaguard service, what it runs on, and keys to call it with.

    Attributes:
        base_url: ``http://127.0.0.1:PORT``, no trailing slash.
        runtime: the service's runtime; seed data through
            ``runtime.store`` before loading a page.
        settings: the settings the service was started with.
        keys: one API key per scope (``scan``, ``lists``, ``review``, ``admin``) and a
            ``limited`` scan key, as in the service suite.
        server: the uvicorn server thread.
    """

    base_url: str
    runtime: ServiceRuntime
    settings: ServiceSettings
    keys: Keys
    server: LiveServer

    def url(self, path: str) -> str:
        """The absolute URL of a path on the server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)


@contextmanager
def _serving(root: Path, scanner: Scanner, overrides: dict[str, Any]) -> Iterator[Live]:
    """Run the service on a migrated SQLite file under ``root`` until the block ends."""
    url = f"sqlite:///{root / 'ui.db'}"
    with Store.open(url) as store:
        store.upgrade()
    settings = make_settings(url, root / "service-data", **overrides)
    runtime = ServiceRuntime.open(settings, scanner=scanner)
    try:
        keys = make_keys(runtime.store.keys)
        server = LiveServer(runtime)
        server.start()
        try:
            yield Live(
                base_url=server.base_url,
                runtime=runtime,
                settings=settings,
                keys=keys,
                server=server,
            )
        finally:
            server.stop()
    finally:
        runtime.close()


@pytest.fixture
def live_server(
    tmp_path: Path, ui_scanner: Scanner, ui_settings_overrides: dict[str, Any]
) -> Iterator[Live]:
    """The service on a free loopback port, with its workers, on a migrated SQLite file."""
    with _serving(tmp_path, ui_scanner, ui_settings_overrides) as live:
        yield live


@pytest.fixture(scope="module")
def module_live_server(
    tmp_path_factory: pytest.TempPathFactory, ui_scanner: Scanner
) -> Iterator[Live]:
    """One live server for a whole module, with default settings.

    Starting a server costs about a second; a module whose tests keep out of each
    other's way (each works on its own items and reviewers) shares one.
    """
    with _serving(tmp_path_factory.mktemp("live"), ui_scanner, {}) as live:
        yield live
