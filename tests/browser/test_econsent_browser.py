"""Electronic consent end to end in headless Chromium on a phone-sized screen: a participant
opens the consent link from their e-mail, reads the text in bokmål, switches to English, types
a wrong date (explained next to the field), then their name and today's date and consents;
the signed record and its PDF are stored; they then withdraw on the same link, which stops
working. axe-core checks every page (0 serious or critical findings), and no CSP violation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from surveys.consent import delivery, pdf
from surveys.consent.models import ConsentRecord
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations
from tests.surveys.consenting import NAME, publish
from tests.surveys.scene import make_scene
from trial.models import Participant, Withdrawal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}


def test_participant_consents_and_withdraws_on_a_phone(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path, settings: Any
) -> None:
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    scene = make_scene("ips-consent")
    text = publish(scene)
    delivery.request_consent(scene.participant, text, actor=scene.coordinator)
    delivery.send_consent_requests(timezone.localdate())
    found = re.search(r"http://\S+/c/[0-9a-f]{64}/", str(mail.outbox[0].body))
    assert found is not None
    link = found.group(0)

    page.set_viewport_size(PHONE)
    page.goto(link, timeout=60_000)
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.locator("h1")).to_have_text("Samtykke til å delta")
    expect(page.locator(".consent-text")).to_contain_text("Du er invitert til å delta")
    page.screenshot(path=screenshots / "consent-nb-390.png", full_page=True)

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".consent-text")).to_contain_text("You are invited to take part")
    page.get_by_label("Your full name").fill(NAME)
    page.get_by_label("Today's date").fill("2020-01-01")
    page.get_by_role("button", name="I consent", exact=True).click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#id_signed_on")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Your full name")).to_have_value(NAME)
    page.screenshot(path=screenshots / "consent-error-390.png", full_page=True)
    page.get_by_label("Today's date").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="I consent", exact=True).click()
    expect(page.locator("h1")).to_have_text("Your answer is recorded")
    page.screenshot(path=screenshots / "consent-recorded-390.png", full_page=True)

    record = ConsentRecord.objects.get()
    assert record.language == "en" and record.channel == "link"
    assert record.typed_name == NAME and pdf.path_of(record).is_file()

    page.get_by_role("link", name="Withdraw from the study").click()
    expect(page.locator("h1")).to_have_text("Withdraw from the study")
    page.get_by_label("No further data collection").check()
    page.get_by_role("button", name="Withdraw from the study").click()
    expect(page.locator("h1")).to_have_text("You have withdrawn from the study")
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.scope == "no_data"
    assert Participant.objects.get(pk=scene.participant.pk).status == "withdrawn"
    page.goto(link)
    expect(page.locator("h1")).to_have_text("This link does not work")
    assert_no_csp_violations(console)
