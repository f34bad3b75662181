"""End to end in headless Chromium: a coordinator keeps the unit-cost table. Adds a row, is
refused an overlapping validity period with both rows named at the field, imports a CSV file
with errors (nothing saved, the errors by line), and sees the rows listed and the table's hash
as frozen with the analysis plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from economics import plans
from economics.models import PlanUnitCosts, UnitCost
from tests.browser.axe import Accessibility
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in, open_menu
from trial.demo import DEMO_TRIAL_CODE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BROKEN_CSV = (
    b"kind,key,arm,amount,price_year,valid_from,valid_to,note\n"
    b"staff_minute,fidelity_reviewer,,9.5,2025,2025-01-01,,fine on its own\n"
    b"staff_minute,caseworker,,13,2025,2025-01-01,,overlaps the demo row\n"
    b"hourly,caseworker,,13,2025,2025-01-01,,unknown kind\n"
)


def test_coordinator_adds_is_refused_an_overlap_and_imports_a_file_with_errors(
    live_server: LiveServer,
    page: Page,
    console: Console,
    accessibility: Accessibility,
    screenshots: Path,
) -> None:
    trial = seed_demo(participants=12, seed=4).trial
    before = UnitCost.objects.filter(trial=trial).count()
    page.goto(f"{live_server.url}/trials/{DEMO_TRIAL_CODE}/economics/")
    log_in(page, "coordinator")
    expect(page.locator("h1")).to_have_text("Unit costs")
    frozen = PlanUnitCosts.objects.get(plan__trial=trial)
    expect(page.locator("#plan-heading + p")).to_contain_text(frozen.table_hash)

    add = page.locator("form").filter(has=page.get_by_role("button", name="Add", exact=True))
    add.get_by_label("Kind").select_option("staff_minute")
    add.get_by_label("Key").fill("fidelity_reviewer")
    add.get_by_label("Amount").fill("9.5")
    add.get_by_label("Price year").fill("2025")
    add.get_by_label("Valid from").fill("2025-01-01")
    add.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("The unit cost was added.")).to_be_visible()
    rows = page.locator("#rows-heading + .table-scroll tbody tr")
    expect(rows).to_have_count(before + 1)
    expect(rows.filter(has_text="fidelity_reviewer")).to_contain_text("9.50")

    add = page.locator("form").filter(has=page.get_by_role("button", name="Add", exact=True))
    add.get_by_label("Kind").select_option("staff_minute")
    add.get_by_label("Key").fill("caseworker")
    add.get_by_label("Amount").fill("13")
    add.get_by_label("Price year").fill("2025")
    add.get_by_label("Valid from").fill("2025-06-01")
    add.get_by_role("button", name="Add", exact=True).click()
    valid_from = page.get_by_label("Valid from")
    error = page.locator("form .errorlist").first
    expect(error).to_contain_text("staff_minute caseworker 2025-06-01–… overlaps")
    expect(error).to_contain_text("staff_minute caseworker 2020-01-01–…")
    expect(valid_from).to_have_value("2025-06-01")  # the input is kept
    page.screenshot(path=screenshots / "unit-costs-overlap.png", full_page=True)
    assert UnitCost.objects.filter(trial=trial).count() == before + 1

    page.get_by_label("Unit costs (CSV)").set_input_files(
        {"name": "costs.csv", "mimeType": "text/csv", "buffer": BROKEN_CSV}
    )
    page.get_by_role("button", name="Import", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="Nothing was imported")
    expect(alert.locator("li")).to_have_count(3)
    expect(alert.locator("li").nth(0)).to_contain_text("Line 2")
    expect(alert.locator("li").nth(0)).to_contain_text("overlaps")  # the row added above
    expect(alert.locator("li").nth(1)).to_contain_text("Line 3")
    expect(alert.locator("li").nth(1)).to_contain_text("staff_minute caseworker 2020-01-01–…")
    expect(alert.locator("li").nth(2)).to_contain_text("Line 4")
    expect(alert.locator("li").nth(2)).to_contain_text("kind: “hourly” is not one of")
    page.screenshot(path=screenshots / "unit-costs-import-errors.png", full_page=True)
    assert UnitCost.objects.filter(trial=trial).count() == before + 1

    open_menu(page, "Reports", "Unit costs")
    expect(rows).to_have_count(before + 1)
    live = plans.table_hash(plans.canonical_rows(trial))
    expect(page.locator("#plan-heading ~ p").nth(1)).to_contain_text(live)
    expect(page.get_by_text("Added or changed:")).to_contain_text("fidelity_reviewer")
    page.screenshot(path=screenshots / "unit-costs-list.png", full_page=True)
    assert accessibility.checks > 0
    assert_no_csp_violations(console)
