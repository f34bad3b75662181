"""Chromium enforces the Content-Security-Policy: no page of the demo trial triggers a CSP
violation (an inline script, style or event handler would be reported on the console)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from tests.browser.conftest import Console
from trial.demo import DEMO_PASSWORD, DEMO_TRIAL_CODE
from trial.models import Participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
T = f"/trials/{DEMO_TRIAL_CODE}"


def test_the_demo_pages_raise_no_csp_violation(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    seed_demo(participants=20, seed=3)
    participant = Participant.objects.filter(allocation__isnull=False).order_by("study_id")[0]
    page.goto(live_server.url + "/accounts/login/", timeout=60_000)
    page.locator("#id_username").fill("coordinator")
    page.locator("#id_password").fill(DEMO_PASSWORD)
    page.locator("#id_password").press("Enter")
    expect(page.locator("h1")).to_be_visible()
    paths = [
        f"{T}/",
        f"{T}/participants/",
        f"{T}/participants/{participant.study_id}/",
        f"{T}/worklist/",
        f"{T}/screening/",
        f"{T}/randomisation/",
        f"{T}/contacts/",
        f"{T}/dashboards/dose/",
        f"{T}/dashboards/contamination/",
        f"{T}/fidelity/reviews/",
        f"{T}/pathways/",
        f"{T}/job-strain/",
        f"{T}/reports/",
        f"{T}/report-downloads/",
        f"{T}/analysis-plan/",
        f"{T}/audit/",
        f"{T}/setup/",
        "/accounts/two-factor/",
        "/accounts/two-factor/set-up/",
        "/accounts/password/",
    ]
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
    page.goto(live_server.url + "/accounts/two-factor/")
    page.screenshot(path=screenshots / "two-factor-overview.png", full_page=True)
    page.goto(live_server.url + "/accounts/two-factor/set-up/")
    page.screenshot(path=screenshots / "csp-two-factor-setup-demo.png", full_page=True)
    page.goto(live_server.url + f"{T}/report-downloads/")
    page.screenshot(path=screenshots / "report-downloads.png", full_page=True)
    assert not console.csp_violations(), "\n".join(console.csp_violations())
    assert not console.errors, "\n".join(console.errors)
