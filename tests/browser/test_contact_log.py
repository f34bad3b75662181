"""End to end in headless Chromium: a caseworker finds a participant by the htmx search, logs a
contact, corrects it and sees it in the list; a date in the future is refused at the field.
The coordinator records a site-level event, sees the contamination page, and removes the event
as entered in error, with a reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from fidelity.models import Component, Contact, Exposure
from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in, open_menu
from trial.models import AuditEvent, Membership, Site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


def test_caseworker_logs_and_corrects_a_contact_in_the_browser(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    today = timezone.localdate()
    trial = factories.make_trial(code="ips-log", title="IPS contact log")
    own_site = Site.objects.create(trial=trial, code="OSL1", name="NAV Grünerløkka")
    other_site = Site.objects.create(trial=trial, code="BGO", name="NAV Bergenhus")
    enrolled = today - dt.timedelta(days=30)
    mine = factories.make_participant(trial, own_site, study_id="OSL1-7K2M9Q", enrolled_on=enrolled)
    factories.make_participant(trial, own_site, study_id="OSL1-AB12CD", enrolled_on=enrolled)
    factories.make_participant(trial, other_site, study_id="BGO-7K2M00", enrolled_on=enrolled)
    for i, (code, name, specific) in enumerate(
        [
            ("rapid", "Rapid job search", True),
            ("jobdev", "Job development with employers", True),
            ("benefits", "Benefits counselling", False),
        ]
    ):
        Component.objects.create(
            trial=trial, code=code, name=name, intervention_specific=specific, order=i
        )
    ola = factories.make_user("ola", first_name="Ola", last_name="Veileder")
    factories.make_membership(ola, trial, Membership.Role.CASEWORKER, [own_site])

    page.goto(live_server.url + "/")
    log_in(page, "ola", PASSWORD)
    # A caseworker lands on their own work; the contact log is under Follow-up.
    expect(page.locator("main")).to_contain_text("Your recent contacts")
    open_menu(page, "Follow-up", "Contacts")
    expect(page.locator("h1")).to_have_text("Log a contact")
    # Defaults: today, in person, the participant ticked.
    expect(page.get_by_label("Date")).to_have_value(today.isoformat())
    expect(page.get_by_label("In person")).to_be_checked()
    expect(
        page.get_by_role("group", name="Who took part").get_by_label("Participant")
    ).to_be_checked()

    # The htmx search offers the caseworker's own participants only.
    field = page.get_by_label("Participant (study id)")
    field.press_sequentially("7K2", delay=30)
    options = page.locator("#participant-options option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", mine.study_id)
    field.fill(mine.study_id)

    # A date in the future is refused at the field, and nothing is saved.
    page.get_by_label("Date").fill((today + dt.timedelta(days=1)).isoformat())
    page.get_by_label("Minutes").fill("45")
    page.get_by_label("Rapid job search").check()
    page.get_by_role("button", name="Log contact").click()
    expect(page.locator("#id_contact_on_error")).to_contain_text("cannot be in the future")
    assert Contact.objects.count() == 0
    page.screenshot(path=str(screenshots / "contact-log-error.png"), full_page=True)

    page.get_by_label("Date").fill(today.isoformat())
    page.get_by_label("Note").fill("Visited a warehouse together.")
    page.get_by_role("button", name="Log contact").click()
    expect(page.locator(".messages")).to_contain_text(f"Contact with {mine.study_id} logged.")
    row = page.locator("table.contacts tbody tr").first
    expect(row).to_contain_text(mine.study_id)
    expect(row).to_contain_text("Rapid job search")
    expect(row).to_contain_text("editable until")
    page.screenshot(path=str(screenshots / "contact-log.png"), full_page=True)
    contact = Contact.objects.get()
    assert contact.minutes == 45 and contact.participant == mine

    # Correct it: 30 minutes by phone.
    row.get_by_role("link", name="Edit").click()
    expect(page.locator("h1")).to_have_text("Correct a contact")
    page.get_by_label("Phone").check()
    page.get_by_label("Minutes").fill("30")
    page.screenshot(path=str(screenshots / "contact-edit.png"), full_page=True)
    page.get_by_role("button", name="Save the correction").click()
    expect(page.locator(".messages")).to_contain_text("The contact is corrected.")
    row = page.locator("table.contacts tbody tr").first
    expect(row).to_contain_text("Phone")
    expect(row.locator("td.num")).to_have_text("30")
    event = AuditEvent.objects.get(action="contact.changed")
    assert event.data["changes"]["minutes"] == [45, 30]

    # The participant page lists it and links back to the log with the participant preset.
    page.get_by_role("link", name=mine.study_id).first.click()
    expect(page.locator("#contacts-heading")).to_be_visible()
    expect(page.locator("section[aria-labelledby=contacts-heading]")).to_contain_text("30")
    page.screenshot(path=str(screenshots / "contact-participant.png"), full_page=True)
    page.get_by_role("link", name="Log a contact").click()
    expect(page.get_by_label("Participant (study id)")).to_have_value(mine.study_id)
    assert_no_csp_violations(console)


def test_coordinator_records_a_site_event_and_reads_the_contamination_page(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    today = timezone.localdate()
    trial = factories.make_trial(code="ips-con", title="IPS contamination")
    site = Site.objects.create(trial=trial, code="OSL2", name="NAV Frogner")
    Component.objects.create(trial=trial, code="rapid", name="Rapid job search")
    kari = factories.make_user("kari", first_name="Kari", last_name="Koordinator")
    factories.make_membership(kari, trial, Membership.Role.COORDINATOR)

    page.goto(live_server.url + "/")
    log_in(page, "kari", PASSWORD)
    open_menu(page, "Fidelity", "Exposures")
    page.get_by_role("link", name="Site-level events").click()
    page.get_by_label("Control site").select_option(label=f"{site.code} {site.name}")
    page.get_by_label("Rapid job search").check()
    page.get_by_role("button", name="Record the event").click()
    expect(page.locator("#id_note_error")).to_contain_text("required")
    page.get_by_label("What happened").fill("Two caseworkers attended an IPS course.")
    page.get_by_role("button", name="Record the event").click()
    expect(page.locator(".messages")).to_contain_text("The site-level event is recorded.")
    expect(page.locator("main table")).to_contain_text("IPS course")
    page.screenshot(path=str(screenshots / "contamination-site-events.png"), full_page=True)
    exposure = Exposure.objects.get()
    assert exposure.site == site and exposure.exposed_on == today
    page.get_by_role("link", name="Back to contamination").click()
    expect(page.locator("main table")).to_contain_text("Site-level event")
    page.screenshot(path=str(screenshots / "contamination.png"), full_page=True)

    # Entered in error: removed with a reason, which the field asks for first.
    page.get_by_role("link", name="Site-level events").click()
    page.get_by_role("link", name="Remove (entered in error)").click()
    expect(page.locator("main dl")).to_contain_text("IPS course")
    page.get_by_role("button", name="Remove the entry").click()
    expect(page.locator("#id_reason_error")).to_contain_text("required")
    assert Exposure.objects.filter(pk=exposure.pk).exists()
    page.get_by_label("Why is it removed?").fill("Entered for the wrong office.")
    page.screenshot(path=str(screenshots / "contamination-site-event-remove.png"), full_page=True)
    page.get_by_role("button", name="Remove the entry").click()
    expect(page.locator(".messages")).to_contain_text("The entry is removed")
    expect(page.locator("main table")).to_contain_text("No site-level events recorded.")
    assert not Exposure.objects.exists()
    removed = AuditEvent.objects.get(action="exposure.deleted")
    assert removed.actor == kari and removed.data["reason"] == "Entered for the wrong office."
    assert_no_csp_violations(console)
