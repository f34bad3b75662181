"""End to end in headless Chromium: a statistician writes and locks the analysis plan, orders
the effect report, watches its progress to the end (a real Celery worker on Redis builds it)
and downloads the PDF and the ZIP."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from reports.models import AnalysisPlan, ReportRequest
from reports.tasks import build_report
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in
from tests.reports.conftest import CUT_OFF, ReportWorld, report_files, rworld  # noqa: F401
from tests.workers import worker_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


def test_statistician_locks_plan_orders_report_and_downloads_it(
    require_redis: str,
    rworld: ReportWorld,  # noqa: F811 - the fixture imported above
    live_server: LiveServer,
    page: Page,
    console: Console,
    screenshots: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page.goto(live_server.url + "/trials/ips/analysis-plan/")
    log_in(page, "statistician", PASSWORD)
    page.get_by_role("link", name="Write the plan").click()
    page.get_by_label("Primary outcome").select_option("in_paid_work")
    page.get_by_label("Time point").select_option("m12")
    page.get_by_label("Self-rated health (1 poor – 5 excellent)").check()
    page.get_by_label("Analysis model").fill("Logistic regression on arm, adjusted for sex.")
    page.locator("#id_covariates").get_by_label("Sex").check()
    # A primary outcome repeated as secondary gets a message at the field.
    page.locator("#id_secondary_outcomes").get_by_label("In paid work").check()
    page.get_by_role("button", name="Save the draft").click()
    expect(page.locator(".field.has-error")).to_contain_text("cannot also be a secondary outcome")
    page.screenshot(path=str(screenshots / "reports-plan-error.png"), full_page=True)
    page.locator("#id_secondary_outcomes").get_by_label("In paid work").uncheck()
    page.get_by_role("button", name="Save the draft").click()
    expect(page.locator(".messages")).to_contain_text("The draft plan was saved.")
    page.get_by_role("link", name="Lock the plan").click()
    page.screenshot(path=str(screenshots / "reports-plan-lock.png"), full_page=True)
    page.get_by_role("button", name="Lock the plan").click()
    expect(page.locator(".messages")).to_contain_text("Version 1 of the plan is locked.")
    page.screenshot(path=str(screenshots / "reports-plan.png"), full_page=True)
    assert AnalysisPlan.objects.get().status == "locked"

    with worker_for(monkeypatch, build_report):
        page.get_by_role("link", name="Reports").first.click()
        page.locator("#id_kind").select_option("effect")
        page.get_by_label("Data cut-off").fill(CUT_OFF.isoformat())
        page.screenshot(path=str(screenshots / "reports-order.png"), full_page=True)
        page.get_by_role("button", name="Order").click()
        expect(page.locator("#report-status")).to_be_visible()
        page.screenshot(path=str(screenshots / "reports-progress.png"), full_page=True)
        expect(page.get_by_role("link", name="Download the PDF")).to_be_visible(timeout=120_000)
    assert ReportRequest.objects.get().status == "done"
    page.screenshot(path=str(screenshots / "reports-done.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download the PDF").click()
    pdf = tmp_path / info.value.suggested_filename
    info.value.save_as(pdf)
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the data sets (ZIP)").click()
    archive = tmp_path / info.value.suggested_filename
    info.value.save_as(archive)
    with zipfile.ZipFile(archive) as opened:
        assert "participants.dta" in opened.namelist()

    page.get_by_role("link", name="All reports").click()
    expect(page.locator("table")).to_contain_text("statistician")
    page.screenshot(path=str(screenshots / "reports-list.png"), full_page=True)
    assert_no_csp_violations(console)
