"""End to end in headless Chromium: a caseworker records a visit's answers to an instrument with
a scale and branching. Items show and hide as earlier answers change (static/js/branching.js,
which reads the conditions as the server does: checked here on the same cases), a
missing-data code disables the answer, the answers are saved and shown with the score, and the
page raises no Content-Security-Policy violation. Screenshots at desktop and phone widths."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from instruments import branching
from instruments.models import Assessment
from instruments.setup import services as setup
from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations
from tests.instruments.entry import wellbeing_definition
from trial.models import Membership, Participant, Site, Visit, VisitDefinition
from trial.services import generate_visits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password

# Conditions and records on which the browser's reading must agree with the server's.
CONDITIONS = [
    "[worked] = '1'",
    "[worked] = 1",
    "[worked] <> '1'",
    "[mood_1] >= 2",
    "[mood_1] > '1.5'",
    "[mood_1] < 2 and [mood_2] = ''",
    "[mood_1] = '' or not [mood_2] = 0",
    "[supports(2)] = '1'",
    "[supports(3)] <> '1'",
    "([contract] = 'temp' or [contract] = \"hourly\") and [worked] = '1'",
    "[work_hours] >= 37.5",
    "[work_hours] = 20",
    "[note] = 'abc'",
    "[note] > 3",
    "not ([worked] = '0')",
]
RECORDS: list[dict[str, Any]] = [
    {},
    {"worked": True, "mood_1": 2, "supports": [1, 2], "contract": "temp", "work_hours": 37.5},
    {"worked": False, "mood_1": 1, "mood_2": 0, "supports": [3], "note": "abc"},
    {"worked": True, "mood_1": 0, "mood_2": 3, "contract": "hourly", "work_hours": 20.0},
    {"mood_1": 3, "note": "10", "supports": []},
]


def as_sent(value: Any) -> Any:
    """A clean value as the browser reads it from the form's inputs."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def scene() -> tuple[Visit, str]:
    today = timezone.localdate()
    trial = factories.make_trial(code="ips-entry", title="IPS instruments")
    site = Site.objects.create(trial=trial, code="OSL1", name="NAV Grünerløkka")
    definition = VisitDefinition.objects.create(
        trial=trial, code="m3", label="3 months", offset_months=3
    )
    randomised = today - dt.timedelta(days=95)
    participant: Participant = factories.make_participant(
        trial, site, study_id="OSL1-7K2M9Q", enrolled_on=randomised, randomised_on=randomised
    )
    generate_visits(participant, randomised_on=randomised)
    kari = factories.make_user("kari", first_name="Kari", last_name="Veileder")
    factories.make_membership(kari, trial, Membership.Role.CASEWORKER, [site])
    instrument = setup.create_instrument(
        trial,
        code="wellbeing",
        name_en="Wellbeing at work",
        name_nb="Trivsel i arbeid",
        definition=wellbeing_definition(),
        actor=kari,
    )
    setup.attach_instrument(instrument, [definition], actor=kari)
    visit = Visit.objects.get(participant=participant)
    return visit, f"/trials/ips-entry/visits/{visit.pk}/assess/"


def test_caseworker_records_answers_with_branching_in_the_browser(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    visit, path = scene()
    page.goto(live_server.url + path, timeout=60_000)
    page.locator("#id_username").fill("kari")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    expect(page.locator("h1")).to_have_text("3 months assessment of OSL1-7K2M9Q")

    item = page.locator('[data-item="work_hours"]')
    note = page.locator('[data-item="low_mood_note"]')
    # Nothing answered yet: the items asked only of those who worked are hidden.
    expect(item).to_be_hidden()
    expect(page.locator('[data-item="supports"]')).to_be_hidden()
    expect(page.locator('[data-item="mood_1"]')).to_be_visible()
    mood_1 = page.get_by_role("group", name="Mood question 1")
    mood_1.get_by_label("More than half the days").check()
    expect(note).to_be_visible()
    mood_1.get_by_label("Several days").check()
    expect(note).to_be_hidden()
    page.get_by_role("group", name="Mood question 2").get_by_label("Not at all").check()
    page.get_by_role("group", name="Mood question 3").get_by_label("Nearly every day").check()
    page.get_by_role("group", name="Worked last week").get_by_label("Yes").check()
    expect(item).to_be_visible()
    page.get_by_role("spinbutton", name="Hours worked").fill("12.5")
    page.get_by_role("group", name="Support received").get_by_label("Job coach").check()
    page.get_by_role("combobox", name="Contract", exact=True).select_option("temp")
    # A missing-data code in place of an answer disables the answer.
    occupation = page.get_by_role("textbox", name="Occupation")
    page.get_by_label("Missing-data code for Occupation").select_option("dont_know")
    expect(occupation).to_be_disabled()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=screenshots / "instrument-entry-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "instrument-entry-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The browser reads every condition as the server does.
    for condition in CONDITIONS:
        node = branching.parse(condition)
        for record in RECORDS:
            sent = {name: as_sent(value) for name, value in record.items()}
            shown = page.evaluate(
                "([text, values]) => window.instrumentBranching.evaluate("
                "window.instrumentBranching.parse(text), values)",
                [condition, sent],
            )
            assert shown is branching.evaluate(node, record), (condition, record)

    page.get_by_role("button", name="Save Wellbeing at work").click()
    expect(page.locator(".messages")).to_contain_text("Wellbeing at work recorded.")
    record = Assessment.objects.get(visit=visit)
    assert record.values == {
        "mood_1": 1,
        "mood_2": 0,
        "mood_3": 3,
        "worked": True,
        "work_hours": 12.5,
        "supports": [1],
        "contract": "temp",
    }
    assert record.missing == {"job_code": "dont_know"}
    expect(page.get_by_role("table", name="Scores")).to_contain_text("mild")
    page.screenshot(path=screenshots / "instrument-entry-answered.png", full_page=True)
    page.get_by_role("link", name="Back to OSL1-7K2M9Q").click()
    panel = page.get_by_role("region", name="Instruments by visit")
    expect(panel).to_contain_text("Wellbeing at work: answered")
    expect(panel).to_contain_text("Mood score: 4 (mild)")
    expect(page.locator("ol.timeline")).to_contain_text(
        "Assessment: 3 months Wellbeing at work · Mood score: 4 (mild)"
    )
    page.screenshot(path=screenshots / "instrument-participant-panel.png", full_page=True)
    assert_no_csp_violations(console)
    assert not console.errors, console.errors


def test_without_javascript_every_item_shows_and_a_hidden_items_answer_is_explained(
    live_server: LiveServer, browser_context: Any, screenshots: Path
) -> None:
    _visit, path = scene()
    page = browser_context.new_page()
    page.route("**/static/js/branching.js", lambda route: route.abort())
    page.goto(live_server.url + path, timeout=60_000)
    page.locator("#id_username").fill("kari")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    expect(page.locator('[data-item="work_hours"]')).to_be_visible()
    expect(page.get_by_text("Asked only when: Worked last week is Yes.").first).to_be_visible()
    for number, answer in ((1, "Not at all"), (2, "Not at all"), (3, "Not at all")):
        page.get_by_role("group", name=f"Mood question {number}").get_by_label(answer).check()
    page.get_by_role("group", name="Worked last week").get_by_label("No").check()
    page.get_by_role("spinbutton", name="Hours worked").fill("10")
    page.get_by_role("button", name="Save Wellbeing at work").click()
    expect(page.locator("#id_wellbeing-work_hours_error")).to_have_text(
        "This item is not asked here: leave it empty."
    )
    page.screenshot(path=screenshots / "instrument-entry-no-js-error.png", full_page=True)
    assert not Assessment.objects.exists()
