"""End to end in headless Chromium: the whole path of a trial, from an empty system.

A coordinator sets up a trial, configures and locks the randomisation scheme, screens and
enrols participants, randomises one in the system and enters another's offline allocation,
records a withdrawal; a caseworker finds the due visit on the worklist and records the
assessment; the dashboard shows the completeness; the CSV import rejects a broken file with
row-level errors and loads a valid one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from instruments.models import Assessment
from randomisation.allocation.verification import verify
from randomisation.models import Allocation
from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in, open_menu
from trial.models import Participant, ScreeningRecord, Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


def go(page: Page, live_server: LiveServer, path: str) -> None:
    page.goto(live_server.url + path)


def add(page: Page, link: str, fields: dict[str, str], message: str) -> None:
    page.get_by_role("link", name=link).click()
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text(message)


def enrol(page: Page, number: str, enrolled_on: dt.date) -> str:
    open_menu(page, "Participants", "Screening")
    page.get_by_label("Site").select_option(label="OSL1 NAV Grünerløkka")
    page.get_by_label("Screened on").fill(enrolled_on.isoformat())
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Screening recorded.")
    page.get_by_role("link", name="Enrol a participant").click()
    page.get_by_label("Site").select_option(label="OSL1 NAV Grünerløkka")
    page.get_by_label("Personal number (fødselsnummer or D-number)").fill(number)
    page.get_by_label("Enrolled on").fill(enrolled_on.isoformat())
    page.get_by_label("Consent form version").fill("1.0")
    page.get_by_label("Consent date").fill(enrolled_on.isoformat())
    page.get_by_label("Screening record").select_option(index=1)
    page.get_by_role("button", name="Enrol").click()
    expect(page.locator(".messages")).to_contain_text("Enrolled as")
    return page.locator("h1").inner_text().removeprefix("Participant ")


def test_whole_trial_path_in_the_browser(
    live_server: LiveServer,
    page: Page,
    console: Console,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    today = timezone.localdate()
    kari = factories.make_user("kari", first_name="Kari", last_name="Koordinator")
    kari.user_permissions.add(Permission.objects.get(codename="add_trial"))
    factories.make_user("ola", first_name="Ola", last_name="Veileder")

    # --- Set-up, from nothing ---
    go(page, live_server, "/")
    log_in(page, "kari", PASSWORD)
    page.get_by_role("link", name="New trial").click()
    page.get_by_label("Short code").fill("ips-path")
    page.get_by_label("Title").fill("IPS path trial")
    page.get_by_label("Design").select_option(label="Individually randomised")
    page.get_by_label("Target sample size").fill("100")
    page.get_by_role("button", name="Create trial").click()
    expect(page.locator(".messages")).to_contain_text("You are its coordinator")
    for code, name in (("A", "IPS"), ("B", "Usual NAV follow-up")):
        page.get_by_role("link", name="Add an arm").click()
        page.get_by_label("Code").fill(code)
        page.get_by_label("Name").fill(name)
        page.get_by_label("Allocation weight").fill("1")
        if code == "B":
            page.get_by_label("Control / usual services").check()
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("Arm added.")
    add(page, "Add a site", {"Code": "OSL1", "Name": "NAV Grünerløkka"}, "Site added.")
    add(page, "Add an exclusion reason", {"Code": "age", "Label": "Outside the age range"}, "")
    page.get_by_role("link", name="Add a member").click()
    page.get_by_label("Username").fill("ola")
    page.get_by_label("Role").select_option(label="Caseworker")
    page.get_by_role("group", name="Sites").get_by_label("OSL1 NAV Grünerløkka").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Member added.")
    page.get_by_role("link", name="Add a visit").click()
    page.get_by_label("Code").fill("m3")
    page.get_by_label("Label").fill("3 months")
    page.get_by_label("Months after randomisation").fill("3")
    page.get_by_role("button", name="Save").click()
    page.get_by_label("New status").select_option(label="Recruiting")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator(".messages")).to_contain_text("The trial is now: Recruiting.")

    # --- Randomisation scheme: a bad block size is refused at the field, then locked ---
    page.get_by_role("navigation", name="Trial").get_by_role("link", name="Randomisation").click()
    page.get_by_role("link", name="Set up the scheme").first.click()
    page.get_by_label("Method").select_option(label="Permuted blocks of varying size")
    page.get_by_label("Block sizes").fill("3, 4")
    page.get_by_label("Stratify by site").check()
    page.get_by_role("button", name="Save the draft").click()
    expect(page.locator("#id_block_sizes_error")).to_contain_text("multiples of 2")
    page.get_by_label("Block sizes").fill("2, 4")
    page.get_by_role("button", name="Save the draft").click()
    page.get_by_role("link", name="Lock the scheme…").first.click()
    page.get_by_role("button", name="Lock the scheme").click()
    expect(page.locator("main")).to_contain_text("Commitment hash")
    scheme_hash = Trial.objects.get(code="ips-path").schemes.get().commitment_hash
    expect(page.locator("main")).to_contain_text(scheme_hash)

    # --- Screening: one person not eligible ---
    open_menu(page, "Participants", "Screening")
    page.get_by_label("Site").select_option(label="OSL1 NAV Grünerløkka")
    page.get_by_label("Screened on").fill(today.isoformat())
    page.get_by_label("No").check()
    page.get_by_label("Exclusion reason").select_option(label="Outside the age range")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Screening recorded.")

    # --- Enrol and randomise in the system ---
    first = enrol(page, factories.personal_number(), today)
    page.get_by_role("link", name="Randomise", exact=True).click()
    page.get_by_label("I have checked eligibility and consent for this participant.").check()
    page.get_by_role("button", name="Randomise now").click()
    expect(page.locator(".messages")).to_contain_text(f"{first} is randomised to")
    page.screenshot(path=screenshots / "path-randomised.png", full_page=True)

    # --- Enrolled four months ago, randomised offline three months ago: m3 is due now ---
    earlier = today - dt.timedelta(days=122)
    second = enrol(page, factories.personal_number(), earlier)
    page.get_by_role("link", name="Enter a manual allocation").click()
    page.get_by_label("Arm allocated").select_option(label="A: IPS")
    page.get_by_label("Randomised on").fill((today - dt.timedelta(days=91)).isoformat())
    page.get_by_label("Envelope or list reference").fill("ENV-0007")
    page.get_by_label("Why the system was not used").fill("Network down at the office")
    page.get_by_role("button", name="Record the allocation").click()
    expect(page.locator(".messages")).to_contain_text("manual allocation is recorded")

    # --- A third withdraws ---
    enrol(page, factories.personal_number(), today)
    page.get_by_role("link", name="Record a withdrawal").click()
    page.get_by_label("Withdrawn on").fill(today.isoformat())
    page.get_by_label("No further contact").check()
    page.get_by_label("Reason").fill("Moved away")
    page.get_by_role("button", name="Record withdrawal").click()
    expect(page.locator(".messages")).to_contain_text("The withdrawal is recorded.")
    page.get_by_role("button", name="Log out").click()

    # --- The caseworker's worklist and an assessment ---
    log_in(page, "ola", PASSWORD)
    # A caseworker lands on their own work: the visits due first; the worklist has them all.
    expect(page.locator("main")).to_contain_text("Follow-up visits due")
    open_menu(page, "Follow-up", "Worklist")
    row = page.get_by_role("row").filter(has_text=second)
    expect(row).to_contain_text("3 months")
    page.screenshot(path=screenshots / "path-worklist.png", full_page=True)
    row.get_by_role("link", name="Record assessment").click()
    page.get_by_label("Assessed on").fill(today.isoformat())
    page.get_by_role("group", name="In paid work").get_by_label("Yes").check()
    page.get_by_role("spinbutton", name="Hours per week").fill("20")
    page.get_by_role("group", name="On benefits").get_by_label("No").check()
    page.get_by_role("group", name="Self-rated health").get_by_label("4 Very good").check()
    page.get_by_role("button", name="Save Employment and benefits").click()
    expect(page.locator(".messages")).to_contain_text("Employment and benefits recorded.")
    page.get_by_role("button", name="Log out").click()

    # --- The dashboard shows completeness ---
    log_in(page, "kari", PASSWORD)
    page.goto(live_server.url + "/trials/ips-path/")
    expect(page.locator("main")).to_contain_text("Follow-up visits completed")
    expect(page.locator("main")).to_contain_text("100.0")
    page.screenshot(path=screenshots / "path-dashboard.png", full_page=True)

    # --- Import: a broken file is rejected row by row; a valid one loads ---
    broken = tmp_path / "broken" / "participants.csv"
    broken.parent.mkdir()
    broken.write_text(
        "study_id,site,personal_number,enrolled_on,consent_version,consent_date\n"
        f"IMP-1,OSL1,{factories.personal_number()},2025-01-10,1.0,2025-01-10\n"
        "IMP-2,OSL1,12345678901,2025-01-11,1.0,2025-01-11\n"
        f"IMP-3,XXX,{factories.personal_number()},2025-01-12,1.0,2025-01-12\n",
        encoding="utf-8",
    )
    go(page, live_server, "/trials/ips-path/import/")
    page.get_by_label("participants.csv").set_input_files(broken)
    page.get_by_role("button", name="Check").click()
    errors = page.get_by_role("table").filter(has_text="Problem")
    expect(errors.get_by_role("row").filter(has_text="personal_number")).to_contain_text("3")
    expect(errors.get_by_role("row").filter(has_text="XXX")).to_contain_text("4")
    page.screenshot(path=screenshots / "path-import-errors.png", full_page=True)
    assert not Participant.objects.filter(study_id__startswith="IMP-").exists()

    valid = tmp_path / "valid" / "participants.csv"
    valid.parent.mkdir()
    valid.write_text(
        "study_id,site,personal_number,enrolled_on,consent_version,consent_date\n"
        f"IMP-1,OSL1,{factories.personal_number()},2025-01-10,1.0,2025-01-10\n"
        f"IMP-2,OSL1,{factories.personal_number()},2025-01-11,1.0,2025-01-11\n",
        encoding="utf-8",
    )
    page.get_by_role("link", name="Import other files").click()
    page.get_by_label("participants.csv").set_input_files(valid)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("main")).to_contain_text("2 rows will be created when you import")
    page.screenshot(path=screenshots / "path-import-checked.png", full_page=True)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Imported: 2 rows created")
    assert Participant.objects.filter(study_id__startswith="IMP-").count() == 2

    trial = Trial.objects.get(code="ips-path")
    assert ScreeningRecord.objects.filter(trial=trial).count() == 4
    allocations = Allocation.objects.filter(trial=trial)
    assert sorted(allocations.values_list("source", flat=True)) == ["manual", "system"]
    assert Assessment.objects.filter(visit__participant__study_id=second).count() == 1
    assert Participant.objects.get(trial=trial, status="withdrawn")
    assert verify(trial).ok
    assert_no_csp_violations(console)
