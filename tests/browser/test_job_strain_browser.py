"""End to end in headless Chromium: the demo's job strain page and importing a JEM."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from occupations.models import JobExposureMatrix
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in, open_menu
from trial.demo import DEMO_TRIAL_CODE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BAD_JEM = "code,level,measure,score\n5,1,mechanical,2\n9999,4,mechanical,1\n52,3,mechanical,x\n"


def test_job_strain_page_and_jem_import(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path, tmp_path: Path
) -> None:
    seed_demo(participants=120, seed=3)
    base = f"{live_server.url}/trials/{DEMO_TRIAL_CODE}/job-strain/"
    page.goto(live_server.url + "/")
    log_in(page, "coordinator")
    open_menu(page, "Reports", "Job strain")
    expect(page.locator("h1")).to_have_text("Job strain")
    expect(page.locator("main")).to_contain_text("Illustrative scores only, not for research use.")
    expect(page.locator("figure.chart svg rect").first).to_be_visible()
    expect(page.get_by_role("table", name="Job strain by arm")).to_contain_text("All arms")
    page.screenshot(path=screenshots / "job-strain.png", full_page=True)

    page.goto(base + "matrices/")
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_JEM, encoding="utf-8")
    page.locator("#id_file").set_input_files(str(bad))
    page.locator("#id_name").fill("Trial JEM")
    page.locator("#id_version").fill("2026-01")
    page.get_by_role("button", name="Import").click()
    errors = page.get_by_role("table", name="Errors (line 1 is the header)")
    expect(errors).to_contain_text("Unknown STYRK-08 code '9999'")
    expect(errors).to_contain_text("Score 'x' is not a number.")
    page.screenshot(path=screenshots / "job-strain-import-errors.png", full_page=True)
    assert JobExposureMatrix.objects.count() == 1  # only the demo's illustrative one

    page.goto(base + f"matrices/{JobExposureMatrix.objects.get().pk}/")
    expect(page.locator("main")).to_contain_text("Mechanical strain")
    page.screenshot(path=screenshots / "job-strain-matrix.png", full_page=True)

    assert_no_csp_violations(console)
