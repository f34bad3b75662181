"""The axe-core checks of the browser tests find what they should, where they should.

Pages with known faults are served in place of the app's (Playwright's routing); each test
reads what was found, then clears it, since the findings would otherwise fail the test
(``pytest_runtest_call`` in tests/browser/conftest.py).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.axe import Accessibility

pytestmark = [pytest.mark.browser]

ORIGIN = "http://127.0.0.1:8999"  # every page there is served by the route, not a server

PAGES = {
    "/clean/": "<h1>Clean</h1><p><a href='/faulty/'>Next</a></p>",
    "/faulty/": "<h1>Faulty</h1><button id='nameless'></button><img src='/x.png'>",
}


def serve(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN)
    if path == "/data.json":
        route.fulfill(body='{"a": 1}', content_type="application/json")
        return
    body = PAGES.get(path)
    if body is None:
        route.fulfill(status=404, body="", content_type="text/plain")
        return
    html = f"<!doctype html><html lang='en'><head><title>{path}</title></head>"
    html += f"<body><main>{body}</main></body></html>"
    route.fulfill(body=html, content_type="text/html")


@pytest.fixture
def served(page: Page) -> Page:
    page.route(f"{ORIGIN}/**", serve)
    return page


def test_a_faulty_page_reached_by_a_link_is_found_with_its_rule_elements_and_address(
    served: Page, accessibility: Accessibility
) -> None:
    served.goto(ORIGIN + "/clean/")
    assert accessibility.checks == 1 and accessibility.findings == []
    served.get_by_role("link", name="Next").click()
    expect(served.locator("h1")).to_have_text("Faulty")  # the step before which axe runs

    rules = {f.rule: f for f in accessibility.blocking()}
    assert set(rules) == {"button-name", "image-alt"}
    assert rules["button-name"].url == ORIGIN + "/faulty/"
    assert rules["button-name"].targets == ["#nameless"]
    message = accessibility.failure_message()
    for part in ("button-name", "image-alt", ORIGIN + "/faulty/", "#nameless", "critical"):
        assert part in message
    assert "Buttons must have discernible text" in message
    accessibility.findings.clear()


def test_content_added_to_a_checked_page_is_checked_at_the_next_step(
    served: Page, accessibility: Accessibility
) -> None:
    served.goto(ORIGIN + "/clean/")
    served.evaluate(
        "() => document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<input id=\"unlabelled\">')"
    )
    expect(served.locator("#unlabelled")).to_be_visible()
    assert [(f.rule, f.targets) for f in accessibility.blocking()] == [("label", ["#unlabelled"])]
    assert accessibility.checks == 2
    accessibility.findings.clear()


def test_files_shown_in_the_browser_are_not_checked(
    served: Page, accessibility: Accessibility
) -> None:
    served.goto(ORIGIN + "/data.json")
    assert accessibility.checks == 0
    served.goto(ORIGIN + "/clean/")
    assert accessibility.pages == {ORIGIN + "/clean/"}
