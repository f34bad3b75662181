"""End to end in headless Chromium: logging in, switching to Norwegian, logging out, site scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in, open_menu, url_of
from trial.demo import DEMO_TRIAL_CODE
from trial.models import Participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "IPS for young adults outside work and school (demo)"


def test_coordinator_logs_in_switches_to_norwegian_and_logs_out(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    seed_demo(participants=20, seed=3)
    dashboard = reverse("trial:dashboard", args=[DEMO_TRIAL_CODE])

    page.goto(live_server.url + "/")
    expect(page).to_have_url(url_of(live_server, reverse("login")))
    expect(page.locator("html")).to_have_attribute("lang", "en")

    log_in(page, "coordinator")
    expect(page).to_have_url(url_of(live_server, dashboard))
    expect(page.locator("h1")).to_have_text(TITLE)
    expect(page.get_by_role("navigation", name="Trial")).to_contain_text("Participants")
    page.screenshot(path=screenshots / "dashboard-en.png", full_page=True)

    page.get_by_role("button", name="Norsk").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page).to_have_url(url_of(live_server, dashboard))
    expect(page.locator("h1")).to_have_text(TITLE)  # trial data is not translated
    trial_nav = page.get_by_role("navigation", name="Studie")
    expect(trial_nav.get_by_role("link", name="Deltakere")).to_be_visible()
    # The menu is grouped by task: the audit trail is under "Data".
    open_menu(page, "Data", "Endringslogg", menu="Studie")
    expect(page.locator("h1")).to_contain_text("Endringslogg")
    page.goto(live_server.url + dashboard)
    expect(page.locator("main")).to_contain_text("Din rolle: Studiekoordinator")
    expect(page.get_by_role("button", name="Norsk")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=screenshots / "dashboard-nb.png", full_page=True)

    page.get_by_role("button", name="Logg ut").click()
    expect(page).to_have_url(url_of(live_server, reverse("login")))
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.locator("h1")).to_have_text("Logg inn")
    expect(page.locator("main form button[type=submit]")).to_have_text("Logg inn")
    page.screenshot(path=screenshots / "login-nb.png", full_page=True)

    assert_no_csp_violations(console)


def test_wrong_password_shows_an_error_with_the_form(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    seed_demo(participants=20, seed=3)

    page.goto(live_server.url + reverse("login"))
    log_in(page, "coordinator", password="not-the-password")

    error = page.locator("main form [role=alert] .errorlist")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Please enter a correct username and password")
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("#id_password")).to_have_value("")
    page.screenshot(path=screenshots / "login-error-en.png", full_page=True)

    assert_no_csp_violations(console)


def test_caseworker_sees_only_participants_at_own_sites(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    seed_demo(participants=20, seed=3)
    elsewhere = Participant.objects.filter(trial__code=DEMO_TRIAL_CODE, site__code="BGO").first()
    assert elsewhere is not None, "the demo seed should put a participant at BGO"

    page.goto(live_server.url + reverse("login"))
    log_in(page, "caseworker")
    page.get_by_role("navigation", name="Trial").get_by_role("link", name="Participants").click()
    expect(page).to_have_url(
        url_of(live_server, reverse("trial:participants", args=[DEMO_TRIAL_CODE]))
    )
    expect(page.locator("h1")).to_have_text("Participants")

    study_ids = page.locator("#participant-rows tbody td:first-child a").all_inner_texts()
    outside = [s for s in study_ids if not s.startswith(("OSL1-", "OSL2-"))]
    assert not outside, f"participants outside the caseworker's sites: {outside}"
    own = Participant.objects.filter(trial__code=DEMO_TRIAL_CODE, site__code__in=["OSL1", "OSL2"])
    assert sorted(study_ids) == sorted(p.study_id for p in own)
    assert study_ids, "the demo seed should put a participant at OSL1 or OSL2"
    page.screenshot(path=screenshots / "participants-en.png", full_page=True)

    response = page.goto(
        live_server.url + reverse("trial:participant", args=[DEMO_TRIAL_CODE, elsewhere.study_id])
    )
    assert response is not None
    assert response.status == 404

    assert_no_csp_violations(console)
