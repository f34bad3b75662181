"""The two most frequent tasks done with the keyboard alone: a caseworker logs a contact, a
coordinator randomises a participant.

No clicks: the tests move with Tab and Shift+Tab, follow links with Enter, tick with Space,
choose a radio button with the arrow keys and type into the focused field. At every stop the
focused element must be in view with a visible focus style (an outline of at least 2px), as
WCAG 2.4.7 asks. The skip link comes first and takes the focus to the page's content.
axe-core checks the pages on the way (tests/browser/axe.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from fidelity.models import Component, Contact
from randomisation.models import Allocation, Scheme
from randomisation.schemes import services as scheme_services
from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations
from trial.models import Membership, Site, Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
STOPS = 80  # more Tab presses than any of these pages has stops before the one wanted

# What has the focus, and how it shows.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const label = el.labels && el.labels.length ? el.labels[0].innerText : "";
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    name: el.getAttribute("name") || "",
    text: (el.innerText || "").trim(),
    label: (label || el.getAttribute("aria-label") || "").trim(),
    pageFocused: document.hasFocus(),
    outline: style.outlineStyle !== "none" ? parseFloat(style.outlineWidth) : 0,
    inView: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
      && box.top < window.innerHeight && box.left < window.innerWidth,
  };
}"""

Focus = dict[str, Any]


def focused(page: Page) -> Focus | None:
    result: Focus | None = page.evaluate(FOCUSED)
    return result


def assert_visible(focus: Focus | None) -> None:
    assert focus is not None, "the focus was lost (on the page's body)"
    where = (
        f"<{focus['tag']} id={focus['id']!r}> {focus['text'] or focus['label']!r}"
        f" (the page has the focus: {focus['pageFocused']})"
    )
    assert focus["inView"], f"focused element out of view: {where}"
    assert focus["outline"] >= 2, f"no visible focus style on {where}"


def press_until(page: Page, wanted: Callable[[Focus], bool], key: str = "Tab") -> Focus:
    """Press ``key`` until the focused element is ``wanted`` (the current one counts), checking
    at every stop that the focus is visible."""
    focus = focused(page)
    for _ in range(STOPS):
        if focus is not None and wanted(focus):
            assert_visible(focus)
            return focus
        page.keyboard.press(key)
        focus = focused(page)
        assert_visible(focus)
    raise AssertionError(f"{key} never reached the element; the focus is on {focus}")


def text(wanted: str) -> Callable[[Focus], bool]:
    return lambda focus: focus["text"] == wanted


def field(element_id: str) -> Callable[[Focus], bool]:
    return lambda focus: focus["id"] == element_id


def log_in_by_keyboard(page: Page, username: str) -> None:
    press_until(page, field("id_username"))
    page.keyboard.type(username)
    press_until(page, field("id_password"))
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def skip_to_content(page: Page) -> None:
    """The first Tab stop is the skip link, shown when focused; Enter moves to the content."""
    page.keyboard.press("Tab")
    focus = focused(page)
    assert_visible(focus)
    assert focus is not None and focus["text"] == "Skip to content", focus
    page.keyboard.press("Enter")
    focus = focused(page)
    assert focus is not None and focus["id"] == "content", focus


def test_caseworker_logs_a_contact_with_the_keyboard_alone(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    today = timezone.localdate()
    trial = factories.make_trial(code="ips-keys", title="IPS by keyboard")
    site = Site.objects.create(trial=trial, code="OSL1", name="NAV Grünerløkka")
    participant = factories.make_participant(
        trial, site, study_id="OSL1-KB0001", enrolled_on=today - dt.timedelta(days=30)
    )
    Component.objects.create(trial=trial, code="rapid", name="Rapid job search", order=1)
    Component.objects.create(trial=trial, code="benefits", name="Benefits counselling", order=2)
    ola = factories.make_user("ola", first_name="Ola", last_name="Veileder")
    factories.make_membership(ola, trial, Membership.Role.CASEWORKER, [site])

    page.goto(live_server.url + "/")
    log_in_by_keyboard(page, "ola")
    expect(page.locator("main")).to_contain_text("Your recent contacts")

    # Past the menu with the skip link, then back up to it with Shift+Tab.
    skip_to_content(page)
    press_until(page, text("Follow-up"), key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Follow-up")).to_be_visible()
    press_until(page, text("Contacts"))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Log a contact")

    press_until(page, field("id_study_id"))
    page.keyboard.type(participant.study_id)
    # The search offers the caseworker's participants in a list under the field; Escape
    # closes it, as it does for anyone who has typed the whole id.
    expect(page.locator("#participant-options option")).to_have_count(1)
    page.keyboard.press("Escape")
    press_until(page, field("id_minutes"))
    page.keyboard.type("45")
    # The radio group is one stop, on the chosen button; an arrow key moves the choice.
    mode = press_until(page, lambda focus: focus["name"] == "mode")
    assert mode["label"] == "In person"
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Phone")).to_be_checked()
    press_until(page, lambda focus: focus["label"].startswith("Rapid job search"))
    page.keyboard.press("Space")
    expect(page.get_by_label("Rapid job search")).to_be_checked()
    press_until(page, field("id_note"))
    page.keyboard.type("Met at the office.")
    press_until(page, text("Log contact"))
    page.screenshot(path=screenshots / "keyboard-contact-log-focus.png", full_page=True)
    page.keyboard.press("Enter")

    logged = f"Contact with {participant.study_id} logged."
    expect(page.locator(".messages")).to_contain_text(logged)
    contact = Contact.objects.get()
    assert contact.participant == participant and contact.contact_on == today
    assert (contact.minutes, contact.mode) == (45, Contact.Mode.PHONE)
    assert [c.code for c in contact.components.all()] == ["rapid"]
    assert contact.note == "Met at the office."
    assert_no_csp_violations(console)


def test_coordinator_randomises_a_participant_with_the_keyboard_alone(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    trial = factories.make_trial(
        code="ips-keys", title="IPS by keyboard", status=Trial.Status.RECRUITING
    )
    site = Site.objects.create(trial=trial, code="OSL1", name="NAV Grünerløkka")
    participant = factories.make_participant(
        trial, site, study_id="OSL1-KB0002", consent_version="1.0", consent_date=dt.date(2025, 3, 1)
    )
    kari = factories.make_user("kari", first_name="Kari", last_name="Koordinator")
    factories.make_membership(kari, trial, Membership.Role.COORDINATOR)
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[2, 4], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=kari)

    page.goto(live_server.url + "/")
    log_in_by_keyboard(page, "kari")
    expect(page.locator("h1")).to_have_text("IPS by keyboard")

    skip_to_content(page)
    press_until(page, text("Participants"), key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Participants")
    press_until(page, text(participant.study_id))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(participant.study_id)
    press_until(page, text("Randomise"))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(f"Randomise {participant.study_id}")

    press_until(page, lambda focus: focus["label"].startswith("I have checked eligibility"))
    page.keyboard.press("Space")
    expect(page.get_by_label("I have checked eligibility and consent")).to_be_checked()
    press_until(page, text("Randomise now"))
    page.screenshot(path=screenshots / "keyboard-randomise-focus.png", full_page=True)
    page.keyboard.press("Space")

    expect(page.locator(".messages")).to_contain_text(f"{participant.study_id} is randomised to")
    allocation = Allocation.objects.get(participant=participant)
    assert allocation.allocated_by == kari and allocation.source == Allocation.Source.SYSTEM
    assert_no_csp_violations(console)
