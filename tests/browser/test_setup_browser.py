"""End to end in headless Chromium: a coordinator sets up a trial from nothing and starts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in, url_of
from trial.models import Membership, Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


def test_coordinator_sets_up_a_trial_and_starts_recruiting(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    kari = factories.make_user("kari", first_name="Kari", last_name="Koordinator")
    kari.user_permissions.add(Permission.objects.get(codename="add_trial"))
    factories.make_user("ola", first_name="Ola", last_name="Veileder")

    page.goto(live_server.url + "/")
    log_in(page, "kari", PASSWORD)
    page.get_by_role("link", name="New trial").click()
    expect(page.locator("h1")).to_have_text("New trial")
    page.get_by_label("Short code").fill("ips-ung")
    page.get_by_label("Title").fill("IPS for young adults in Oslo")
    page.get_by_label("Registry id").fill("NCT07000001")
    page.get_by_label("Design").select_option(label="Cluster randomised")
    page.get_by_label("Target sample size").fill("240")
    page.get_by_role("button", name="Create trial").click()

    expect(page).to_have_url(url_of(live_server, "/trials/ips-ung/setup/"))
    expect(page.locator(".messages")).to_contain_text("You are its coordinator")
    trial_nav = page.get_by_role("navigation", name="Trial")
    expect(trial_nav.get_by_role("link", name="Set-up")).to_have_attribute("aria-current", "page")

    for code, name, control in (("A", "IPS", False), ("B", "Usual NAV follow-up", True)):
        page.get_by_role("link", name="Add an arm").click()
        page.get_by_label("Code").fill(code)
        page.get_by_label("Name").fill(name)
        page.get_by_label("Allocation weight").fill("1")
        if control:
            page.get_by_label("Control / usual services").check()
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("Arm added.")

    for code, name, number in (
        ("OSL1", "NAV Grünerløkka", "0301"),
        ("BGO", "NAV Bergenhus", "4601"),
    ):
        page.get_by_role("link", name="Add a site").click()
        page.get_by_label("Code").fill(code)
        page.get_by_label("Name").fill(name)
        page.get_by_label("Municipality number").fill(number)
        page.get_by_label("Region").fill("Oslo" if code == "OSL1" else "Vestland")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("Site added.")

    # A caseworker without sites is refused next to the field; then limited to one site.
    page.get_by_role("link", name="Add a member").click()
    page.get_by_label("Username").fill("ola")
    page.get_by_label("Role").select_option(label="Caseworker")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_sites_error")).to_contain_text("Choose the sites")
    page.screenshot(path=screenshots / "setup-member-error.png", full_page=True)
    page.get_by_role("group", name="Sites").get_by_label("OSL1 NAV Grünerløkka").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Member added.")

    page.get_by_role("link", name="Add a visit").click()
    page.get_by_label("Code").fill("m6")
    page.get_by_label("Label").fill("6 months")
    page.get_by_label("Months after randomisation").fill("6")
    page.get_by_label("Months after randomisation").press("Enter")  # submit from the keyboard
    expect(page.locator(".messages")).to_contain_text("Visit added to the schedule.")

    page.get_by_label("New status").select_option(label="Recruiting")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator(".messages")).to_contain_text("The trial is now: Recruiting.")
    expect(page.locator(".notice")).to_contain_text("locked")
    expect(page.get_by_role("link", name="Add an arm")).to_have_count(0)
    page.screenshot(path=screenshots / "setup.png", full_page=True)

    trial = Trial.objects.get(code="ips-ung")
    assert trial.status == Trial.Status.RECRUITING
    assert trial.design == Trial.Design.CLUSTER
    assert list(trial.arms.values_list("code", "is_control")) == [("A", False), ("B", True)]
    ola = Membership.objects.get(trial=trial, user__username="ola")
    assert [s.code for s in ola.sites.all()] == ["OSL1"]
    assert Membership.objects.get(trial=trial, user=kari).role == Membership.Role.COORDINATOR
    assert_no_csp_violations(console)
