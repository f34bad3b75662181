"""End to end in headless Chromium, the whole road of a trial-defined outcome: a coordinator
defines an instrument with a scale and a branching item and asks it at 12 months; a caseworker
enters one participant's answers and sees the score; the statistician's plan takes the score as
the primary outcome, and the effect report (built by a real Celery worker on Redis) analyses
it."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from instruments import services as instruments
from instruments.models import Assessment, Instrument
from reports.models import ReportRequest
from reports.tasks import build_report
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in
from tests.reports.conftest import CUT_OFF, PEOPLE, ReportWorld, report_files, rworld  # noqa: F401
from tests.workers import worker_for
from trial.models import Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
LEVELS = "0, Never | Aldri\n1, Sometimes | Noen ganger\n2, Often | Ofte\n3, Always | Alltid"


def add_item(page: Page, name: str, label: str, kind: str, **extra: str) -> None:
    page.get_by_role("link", name="Add an item").click()
    fill_item(page, name, label, kind, **extra)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Saved in version 1.")


def fill_item(page: Page, name: str, label: str, kind: str, **extra: str) -> None:
    page.get_by_label("Variable name").fill(name)
    page.get_by_label("Label (English)").fill(label)
    page.get_by_label("Type").select_option(kind)
    if "choices" in extra:
        page.get_by_label("Choices").fill(extra["choices"])
    if "show_if" in extra:
        page.get_by_label("Show only if").fill(extra["show_if"])
    if extra.get("required"):
        page.get_by_label("Required").check()


def define_instrument(page: Page, live_server: LiveServer, screenshots: Path) -> None:
    page.goto(live_server.url + "/trials/ips/instruments/")
    log_in(page, "coordinator", PASSWORD)
    page.get_by_role("link", name="New instrument").click()
    page.get_by_label("Code").fill("coping")
    page.get_by_label("Name (English)").fill("Coping at work")
    page.get_by_label("Name (Norwegian)").fill("Mestring i arbeid")
    fill_item(page, "cope_1", "I find a way when work gets hard", "choice", choices=LEVELS)
    page.get_by_role("button", name="Create the instrument").click()
    expect(page.locator(".messages")).to_contain_text("Instrument created (version 1)")
    add_item(page, "cope_2", "I ask for help when I need it", "choice", choices=LEVELS)
    add_item(page, "setback", "A setback at work since the last visit", "yesno", required="1")
    add_item(page, "setback_note", "What happened?", "text", show_if="[setback] = '1'")
    # A branching condition that names no earlier item is refused at the field.
    page.get_by_role("link", name="Add an item").click()
    fill_item(page, "after", "After", "text", show_if="[nonexistent] = '1'")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field.has-error")).to_contain_text("nonexistent")
    page.get_by_role("link", name="Cancel").click()

    page.get_by_role("link", name="Add a scale").click()
    page.get_by_label("Variable name of the score").fill("coping_score")
    page.get_by_label("Label (English)").fill("Coping score")
    page.locator("#id_items").get_by_label("cope_1 – I find a way when work gets hard").check()
    page.locator("#id_items").get_by_label("cope_2 – I ask for help when I need it").check()
    page.get_by_label("Decimals of the score").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#scales")).to_contain_text("coping_score")

    page.get_by_role("link", name="Choose the visits").click()
    page.locator("#id_visits").get_by_label("12 months (month 12)").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Coping at work is asked at: 12 months")
    page.screenshot(path=str(screenshots / "instrument-lifecycle-defined.png"), full_page=True)


def sign_out(page: Page, live_server: LiveServer) -> None:
    page.context.clear_cookies()
    page.goto(live_server.url + "/accounts/login/")


def test_a_trial_defined_score_goes_from_definition_to_the_effect_report(
    require_redis: str,
    rworld: ReportWorld,  # noqa: F811 - the fixture imported above
    live_server: LiveServer,
    page: Page,
    console: Console,
    screenshots: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define_instrument(page, live_server, screenshots)
    coping = Instrument.objects.get(trial=rworld.trial, code="coping")
    assert [i.name for i in coping.current_version().parsed.items] == [
        "cope_1",
        "cope_2",
        "setback",
        "setback_note",
    ]

    # The caseworker (site 0) answers for the first participant at 12 months.
    first = rworld.people[0]
    visit = Visit.objects.get(participant=first, definition__code="m12")
    sign_out(page, live_server)
    page.goto(f"{live_server.url}/trials/ips/visits/{visit.pk}/assess/")
    log_in(page, "caseworker", PASSWORD)
    section = page.locator("#instrument-coping")
    expect(page.locator('[data-item="setback_note"]')).to_be_hidden()
    page.get_by_role("group", name="I find a way when work gets hard").get_by_label("Often").check()
    page.get_by_role("group", name="I ask for help when I need it").get_by_label("Always").check()
    page.get_by_role("group", name="A setback at work since the last visit").get_by_label(
        "Yes"
    ).check()
    expect(page.locator('[data-item="setback_note"]')).to_be_visible()
    page.get_by_label("What happened?").fill("The shift plan changed.")
    section.get_by_label("Assessed on").fill("2025-01-15")
    section.get_by_role("button", name="Save Coping at work").click()
    expect(page.locator(".messages")).to_contain_text("Coping at work recorded.")
    expect(section.locator("table.scores")).to_contain_text("Coping score5")
    page.screenshot(path=str(screenshots / "instrument-lifecycle-entered.png"), full_page=True)
    recorded = Assessment.objects.get(visit=visit, instrument=coping)
    assert recorded.scores == {"coping_score": 5.0}
    assert recorded.recorded_by is not None and recorded.recorded_by.username == "caseworker"

    # The others' answers arrive as staff enter them (through the same service); the
    # intervention arm copes a little better.
    pairs = zip(rworld.people[1:], PEOPLE[1:], strict=True)
    for index, (person, (_site, arm, _w6, work12)) in enumerate(pairs):
        if work12 is None:
            continue  # missed the 12-month visit
        level = "3" if arm == "A" else "1"
        instruments.record_assessment(
            Visit.objects.get(participant=person, definition__code="m12"),
            values={
                "assessed_on": dt.date(2025, 1, 15),
                "cope_1": level,
                "cope_2": str(index % 4),
                "setback": False,
            },
            actor=rworld.world.users["coordinator"],
            instrument=coping,
        )

    sign_out(page, live_server)
    page.goto(live_server.url + "/trials/ips/analysis-plan/")
    log_in(page, "statistician", PASSWORD)
    page.get_by_role("link", name="Write the plan").click()
    page.get_by_label("Primary outcome").select_option("coping_score")
    page.get_by_label("Time point").select_option("m12")
    page.get_by_label("Analysis model").fill("ANCOVA of the coping score on arm, adjusted for sex.")
    page.locator("#id_covariates").get_by_label("Sex").check()
    page.get_by_role("button", name="Save the draft").click()
    expect(page.locator(".messages")).to_contain_text("The draft plan was saved.")
    page.get_by_role("link", name="Lock the plan").click()
    page.get_by_role("button", name="Lock the plan").click()
    expect(page.locator(".messages")).to_contain_text("Version 1 of the plan is locked.")

    with worker_for(monkeypatch, build_report):
        page.get_by_role("link", name="Reports").first.click()
        page.locator("#id_kind").select_option("effect")
        page.get_by_label("Data cut-off").fill(CUT_OFF.isoformat())
        page.get_by_role("button", name="Order").click()
        expect(page.get_by_role("link", name="Download the PDF")).to_be_visible(timeout=180_000)
    report = ReportRequest.objects.get()
    assert report.status == "done", report.error
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the PDF").click()
    pdf = tmp_path / "report.pdf"
    info.value.save_as(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"],  # noqa: S607 - poppler, as the report tests
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The score is the primary outcome, analysed by ANCOVA: 6 answers in A, 5 in B (one
    # participant missed the visit).
    assert "Coping score at 12 months by arm" in text
    assert "Analysed (n = 6)" in text and "Analysed (n = 5)" in text
    assert "ANCOVA" in text
    page.screenshot(path=str(screenshots / "instrument-lifecycle-report.png"), full_page=True)
    assert_no_csp_violations(console)
