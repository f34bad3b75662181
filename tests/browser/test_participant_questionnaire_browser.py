"""End to end in headless Chromium on a phone-sized screen, by keyboard only: a participant
opens the link from their invitation e-mail, switches to English, answers a questionnaire
with branching one question per screen, meets a validation error, saves halfway, comes back on
the same link, checks and sends the answers; the answers land as the participant's, and the
link then says it is answered. No Content-Security-Policy violation on the way."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from instruments.models import Assessment
from surveys import services
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations
from tests.surveys.scene import make_scene

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}


def tab_to(page: Page, selector: str, *, limit: int = 40) -> None:
    """Press Tab until the element matching ``selector`` has the focus (as a keyboard user
    would), failing after ``limit`` presses."""
    target = page.locator(selector).first
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_participant_answers_on_a_phone_by_keyboard_only(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path, settings: Any
) -> None:
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    scene = make_scene("ips-phone")
    services.send_due(timezone.localdate())
    body = str(mail.outbox[0].body)
    link = re.search(r"http://\S+/q/[0-9a-f]{64}/", body)
    assert link is not None
    page.set_viewport_size(PHONE)
    page.goto(link.group(0), timeout=60_000)
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.locator(".progress-text")).to_have_text("Spørsmål 1 av 3")

    tab_to(page, 'a[lang="en"]')
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".progress-text")).to_have_text("Question 1 of 3")
    page.screenshot(path=screenshots / "participant-question-390.png", full_page=True)

    # 1. A choice: the first option gets the focus, the arrow key picks the next one.
    tab_to(page, "#id_mood_0")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Some days")).to_be_checked()
    tab_to(page, 'button[value="next"]')
    page.keyboard.press("Enter")
    # 2. Yes opens the hours question (branching from the definition).
    expect(page.locator(".progress-text")).to_have_text("Question 2 of 3")
    tab_to(page, "#id_worked_0")
    page.keyboard.press("Space")
    tab_to(page, 'button[value="next"]')
    page.keyboard.press("Enter")
    expect(page.locator(".progress-text")).to_have_text("Question 3 of 4")
    # 3. An answer out of range is explained next to the question and in a summary.
    tab_to(page, "#id_hours")
    page.keyboard.type("500")
    page.keyboard.press("Enter")
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#id_hours")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=screenshots / "participant-error-390.png", full_page=True)
    tab_to(page, ".error-summary a")
    page.keyboard.press("Enter")
    tab_to(page, "#id_hours")
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    expect(page.locator(".progress-text")).to_have_text("Question 4 of 4")
    # 4. Save halfway and come back later on the same link.
    tab_to(page, 'button[value="save"]')
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Your answers are saved")
    page.goto(link.group(0))
    expect(page.locator(".progress-text")).to_have_text("Question 4 of 4")
    tab_to(page, "#id_comment")
    page.keyboard.type("Fine")
    tab_to(page, 'button[value="next"]')
    page.keyboard.press("Enter")
    # Check and send.
    expect(page.locator("h1")).to_have_text("Check your answers")
    page.screenshot(path=screenshots / "participant-review-390.png", full_page=True)
    tab_to(page, 'button[value="submit"]')
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Thank you")

    assessment = Assessment.objects.get(visit=scene.visit)
    assert assessment.source == Assessment.Source.PARTICIPANT
    assert assessment.values == {"mood": 1, "worked": True, "hours": 20, "comment": "Fine"}
    page.goto(link.group(0))
    expect(page.locator("h1")).to_have_text("Already answered")
    assert_no_csp_violations(console)
