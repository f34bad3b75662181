"""What the browser tests share: signing in, following the trial menu, and checks every page
gets. Not a test module, so any test may import it."""

from __future__ import annotations

import re

from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from tests.browser.conftest import Console
from trial.demo import DEMO_PASSWORD


def log_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("main form button[type=submit]").click()


def open_menu(page: Page, group: str, entry: str | None = None, menu: str = "Trial") -> None:
    """Follow the trial menu: the group's link, then (if given) the entry in its second row."""
    page.get_by_role("navigation", name=menu).get_by_role("link", name=group, exact=True).click()
    if entry is not None:
        page.get_by_role("navigation", name=group).get_by_role(
            "link", name=entry, exact=True
        ).click()


def url_of(live_server: LiveServer, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(live_server.url + path) + r"(\?.*)?$")


def assert_no_csp_violations(console: Console) -> None:
    assert not console.csp_violations(), "\n".join(console.csp_violations())
