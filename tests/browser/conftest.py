"""Headless Chromium for the end-to-end tests, driven by Playwright's sync API.

The browser is the system Chromium (``CHROMIUM_PATH``, default /usr/bin/chromium); Playwright's
own downloads are not used. Without Chromium the tests skip, except under CI=true, where they
fail: CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, sync_playwright

from tests.browser.axe import Accessibility
from tests.conftest import IN_CI

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


@dataclass
class Console:
    """Errors the page reported: console errors (CSP violations among them) and uncaught ones."""

    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        message = f"Chromium not found at {path} (set CHROMIUM_PATH to its executable)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires the browser tests to run", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def accessibility() -> Accessibility:
    """axe-core's findings on the pages of this test (tests/browser/axe.py)."""
    return Accessibility()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a browser test's own steps: the pages it left unchecked are checked, and serious or
    critical accessibility findings on any page it visited fail it."""
    result = yield
    funcargs = getattr(item, "funcargs", {})
    audit: Accessibility | None = funcargs.get("accessibility")
    context: BrowserContext | None = funcargs.get("browser_context")
    if audit is not None and context is not None:
        audit.check_unchecked(context)
        name = item.nodeid.split("::", 1)[-1].replace("/", "_")
        audit.write_summary(Path(settings.VAR_DIR) / "test-artifacts" / "axe" / f"{name}.json")
        if audit.blocking():
            raise AssertionError(audit.failure_message())
    return result


@pytest.fixture
def browser_context(
    chromium_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    accessibility: Accessibility,
) -> Iterator[BrowserContext]:
    """A fresh Chromium profile per test, so no cookie or language choice leaks between tests.
    axe-core checks every page it opens (tests/browser/axe.py).

    Users sign in with their password alone here, as in the embedded demo: two-factor sign-in
    has its own browser test (test_two_factor_browser.py), which turns the requirement on.
    """
    settings.TWO_FACTOR_REQUIRED = False
    # Playwright's sync API keeps an asyncio event loop running in the test thread, and Django
    # refuses ORM calls (the test's own data) while a loop runs unless this is set. Set only
    # for the browser tests: set for the whole session, it would leak into other tests and
    # their subprocesses, where `manage.py check --deploy` rightly rejects it (async.E001).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=tmp_path / "chromium-profile",
            executable_path=chromium_path,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
            locale="en-GB",
        )
        context.set_default_timeout(10_000)
        accessibility.install_in(context)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser_context: BrowserContext, console: Console) -> Page:
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.errors.append(message.text)

    def on_page_error(error: Error) -> None:
        console.errors.append(f"uncaught: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return page


@pytest.fixture
def screenshots() -> Path:
    """Where tests save screenshots for a human to look at (under var/, like all the suite
    writes)."""
    path = Path(settings.VAR_DIR) / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
