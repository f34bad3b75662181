"""The browser fixtures (tests/browser/conftest.py), for the pathways browser test."""

from tests.browser.conftest import (  # noqa: F401
    browser_context,
    chromium_path,
    console,
    page,
    screenshots,
)
