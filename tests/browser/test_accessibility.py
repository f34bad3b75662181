"""axe-core on every staff page of the demo trial, for each demo role, in English and bokmål.

The other browser tests check the pages of their flows (tests/browser/axe.py); this one reaches
the pages no flow visits. Signed in as a demo user, it follows every link from the trial's
landing page, breadth first: the menu's groups, each group's entries, and the links on those
pages (a participant, a review, a report, a set-up form), one page per URL name, since two
participants' pages are the same template; a visit with answers and the instrument with scales
are visited as well, since their links lead further. Files (CSV, PDF, SVG, JSON) are not pages
and are left out, as are the Django admin and the API's own pages. Then it switches to Norsk
and visits the same pages again. axe runs on each, and a serious or critical finding fails the test.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import Resolver404, resolve, reverse
from playwright.sync_api import Error, Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from instruments.models import Assessment
from tests.browser.axe import Accessibility
from tests.browser.pages import log_in
from trial.demo import DEMO_TRIAL_CODE, USERS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Not the app's staff pages: Django's admin, the API (its browsable pages and documentation),
# signing out and in (a form's POST; the sign-in page is checked before signing in).
LEFT_OUT = ("/admin/", "/api/", "/static/", "/accounts/login/", "/accounts/logout/")
# One demo user per role, and the unblinded statistician, who may see more than the blinded
# one (the second caseworker differs from the first by site only).
ROLES: dict[tuple[str, bool], str] = {}
for username, _name, role, _sites, unblinded in USERS:
    ROLES.setdefault((role, unblinded), username)


def url_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def links(page: Page, origin: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        "a[href]:not([download])", "elements => elements.map((e) => e.href.split('#')[0])"
    )
    return [h for h in hrefs if h.startswith(origin) and not urlsplit(h).path.startswith(LEFT_OUT)]


# Charts show their numbers beside them: every chart (an ``svg.chart``) has a table in its
# figure, in the block that holds the figure (a chart pair, a section, a card), or among the
# figure's next two siblings. Returns the names of the charts without one.
CHARTS_WITHOUT_NUMBERS = """() => {
  const hasTable = (el) => el && (el.matches("table") || el.querySelector("table"));
  const name = (svg) => svg.getAttribute("aria-label")
    || (svg.getAttribute("aria-labelledby") || "").split(" ")
      .map((id) => (document.getElementById(id) || {}).textContent || "").join(" ").trim();
  return Array.from(document.querySelectorAll("svg.chart")).filter((svg) => {
    const figure = svg.closest("figure") || svg;
    if (hasTable(figure)) return false;
    const block = figure.closest(".chart-pair, section, .card, .trend-body");
    if (block && block !== document.querySelector("main") && hasTable(block)) return false;
    const next = figure.nextElementSibling;
    return !(hasTable(next) || (next && hasTable(next.nextElementSibling)));
  }).map(name);
}"""


def crawl(page: Page, origin: str, start: str, also: list[str]) -> dict[str, str]:
    """Visit every page reachable from ``start`` by links, one per URL name: {url: name}.
    The pages in ``also`` are visited even if a page of their name was, and their links
    followed; one the user may not open is passed over."""
    visited: dict[str, str] = {}
    refused: set[str] = set()
    queue = deque([(start, False), *((url, True) for url in also)])
    while queue:
        url, forced = queue.popleft()
        name = url_name(urlsplit(url).path)
        if name is None or name in refused or (name in visited.values() and not forced):
            continue
        try:
            response = page.goto(url)
        except Error as error:  # an attachment: Chromium downloads it and shows no page
            if "Download is starting" not in str(error):
                raise
            refused.add(name)
            continue
        assert response is not None, url
        if forced and response.status in (403, 404):
            continue
        assert response.ok, f"{url}: {response.status}"
        if not response.headers.get("content-type", "").startswith("text/html"):
            refused.add(name)  # a file shown in the browser (JSON, SVG): not a page
            continue
        visited[url] = name
        assert page.evaluate(CHARTS_WITHOUT_NUMBERS) == [], f"{url}: charts without their numbers"
        queue.extend((link, False) for link in links(page, origin))
    return visited


def other_states(origin: str) -> list[str]:
    """Pages whose links lead where the first page of their name does not: a visit with
    answers (to the correction page) and the instrument with scales (to its scale pages)."""
    assessment = (
        Assessment.objects.filter(visit__participant__site__code="OSL1")
        .order_by("visit__participant__study_id", "pk")
        .first()
    )
    assert assessment is not None
    return [
        origin + reverse("instruments:assess", args=[DEMO_TRIAL_CODE, assessment.visit_id]),
        origin + reverse("instruments_setup:edit", args=[DEMO_TRIAL_CODE, "who5"]),
    ]


def menu_entries(page: Page) -> set[str]:
    """The URL names of the trial menu's groups and the entries under each."""
    names: set[str] = set()
    menu = page.get_by_role("navigation", name="Trial")
    groups = menu.locator("a").evaluate_all("elements => elements.map((e) => e.href)")
    for group in groups:
        page.goto(group)
        entries = page.locator("header .subbar nav a").evaluate_all(
            "elements => elements.map((e) => e.href)"
        )
        names.update(str(url_name(urlsplit(href).path)) for href in [group, *entries])
    return names


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("username", ROLES.values())
def test_every_page_a_demo_user_reaches_passes_axe_in_both_languages(
    live_server: LiveServer,
    page: Page,
    accessibility: Accessibility,
    screenshots: Path,
    username: str,
) -> None:
    seed_demo(participants=20, seed=3)
    origin = live_server.url
    page.goto(origin + "/accounts/login/")
    log_in(page, username)
    expect(page.locator("h1")).to_be_visible()
    landing = origin + f"/trials/{DEMO_TRIAL_CODE}/"
    page.goto(landing)
    menu = menu_entries(page)

    pages = crawl(page, origin, landing, also=other_states(origin))
    names = set(pages.values())
    assert menu <= names, sorted(menu - names)
    assert "accounts:two_factor" in names  # the user's own account, linked from every page

    page.get_by_role("button", name="Norsk").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    for url in pages:
        response = page.goto(url)
        assert response is not None and response.ok, url
        expect(page.locator("html")).to_have_attribute("lang", "nb")
    page.screenshot(path=screenshots / f"axe-{username}-last-nb.png", full_page=True)

    # Both languages of every page were checked (the sign-in page and the menu's besides).
    assert accessibility.checks >= 2 * len(pages), accessibility.checks
