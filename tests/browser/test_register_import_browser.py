"""End to end in headless Chromium: a data manager imports a broken register file, reads the
row errors, imports a corrected one, and sees the data in the participant strip and the
trial's state-distribution charts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from pathways.models import Spell
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in
from tests.pathways.helpers import csv_bytes
from trial.demo import DEMO_TRIAL_CODE
from trial.models import Participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_data_manager_imports_a_broken_then_a_valid_register_file(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    seed_demo(participants=30, seed=4)
    people = list(Participant.objects.filter(randomised_on__isnull=False).order_by("study_id")[:2])
    first, second = people
    assert first.randomised_on is not None and second.randomised_on is not None
    start = (first.randomised_on + dt.timedelta(days=40)).isoformat()
    later = (second.randomised_on + dt.timedelta(days=10)).isoformat()
    broken = csv_bytes(
        [
            [first.study_id, "education", start, "", "NUDB", ""],
            ["NOBODY-1", "education", start, "", "NUDB", ""],
            [second.study_id, "work", later, "", "A-ordningen", "9999"],
            [second.study_id, "work", later, "2001-01-01", "A-ordningen", "5223"],
        ]
    )
    valid = csv_bytes(
        [
            [first.study_id, "education", start, "", "NUDB", ""],
            [second.study_id, "work", later, "", "A-ordningen", "5223"],
        ]
    )
    before = Spell.objects.count()
    base = f"{live_server.url}/trials/{DEMO_TRIAL_CODE}/pathways/"

    page.goto(base + "import/")
    log_in(page, "datamanager")
    expect(page.locator("h1")).to_have_text("Import register data")
    page.get_by_label("Register file (CSV)").set_input_files(
        {"name": "broken.csv", "mimeType": "text/csv", "buffer": broken}
    )
    page.get_by_role("button", name="Check the file").click()
    report = page.locator("#import-status")
    expect(report).to_contain_text("3 rows have errors. Nothing has been written yet.")
    errors = page.get_by_role("table").filter(has_text="Errors (line 1 is the header)")
    expect(errors.locator("tbody tr")).to_have_count(3)
    expect(errors.locator("tbody tr").nth(0)).to_contain_text("3")
    expect(errors.locator("tbody tr").nth(0)).to_contain_text("No participant in this trial")
    expect(errors).to_contain_text("Occupation code 9999 does not exist in STYRK-08.")
    expect(errors).to_contain_text("The end date is before the start date.")
    page.screenshot(path=screenshots / "pathways-import-errors.png", full_page=True)
    page.get_by_role("button", name="Cancel").click()
    assert Spell.objects.count() == before

    page.get_by_label("Register file (CSV)").set_input_files(
        {"name": "valid.csv", "mimeType": "text/csv", "buffer": valid}
    )
    page.get_by_role("button", name="Check the file").click()
    expect(report).to_contain_text("The file is valid: 2 rows.")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-status")).to_contain_text("Imported: 2 rows accepted, 0 rejected")
    page.screenshot(path=screenshots / "pathways-import-done.png", full_page=True)
    assert Spell.objects.count() == before + 2

    page.goto(f"{live_server.url}/trials/{DEMO_TRIAL_CODE}/participants/{second.study_id}/")
    panel = page.locator("section", has=page.get_by_role("heading", name="Pathway"))
    expect(panel.locator("svg rect").first).to_be_visible()
    panel.get_by_text("The months in words").click()
    expect(panel).to_contain_text("Work")
    page.screenshot(path=screenshots / "pathways-participant.png", full_page=True)

    page.goto(base)
    expect(page.locator("h1")).to_have_text("Pathways")
    expect(page.get_by_role("heading", name="A – IPS (Individual Placement and Support)"))
    expect(page.locator("svg[role=img]").first).to_be_visible()
    page.screenshot(path=screenshots / "pathways-overview.png", full_page=True)
    page.goto(base + "alphabet/")
    page.screenshot(path=screenshots / "pathways-alphabet.png", full_page=True)
    page.goto(base + "imports/")
    expect(page.locator("main")).to_contain_text("valid.csv")
    page.screenshot(path=screenshots / "pathways-history.png", full_page=True)
    assert_no_csp_violations(console)
