"""End to end in headless Chromium on a phone-sized screen, by keyboard only: the day's
invitations go out through the beat task and Django's SMTP backend to a local SMTP server; a
participant opens the link from that e-mail, switches to English, answers a questionnaire with
branching one question per screen, meets a validation error, saves halfway, comes back on the
same link, checks and sends the answers. The answers land as the participant's: the staff
timeline says "by the participant, through a link", a data report built by the real pipeline
has them, the link then says it is answered, and the next reminder day sends nothing. No
Content-Security-Policy violation on the way."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from instruments.models import Assessment
from instruments.setup.services import default_instrument
from reports import pipeline
from surveys.models import Invitation
from surveys.sms import MemoryBackend
from surveys.tasks import send_participant_invitations
from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in
from tests.surveys.scene import Scene, make_scene
from tests.surveys.smtp import Inbox, smtp_server, text_of
from trial.models import Arm, Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


@pytest.fixture
def inbox(settings: Any) -> Iterator[Inbox]:
    """A local SMTP server that Django's SMTP e-mail backend delivers to."""
    with smtp_server(settings) as captured:
        yield captured


def randomised_scene() -> Scene:
    """The questionnaire scene with the participant randomised (reports count only randomised
    participants) and the trial's built-in employment instrument beside its own."""
    scene = make_scene("ips-phone")
    default_instrument(scene.trial)
    Trial.objects.filter(pk=scene.trial.pk).update(status=Trial.Status.RECRUITING)
    factories.randomise(
        scene.participant,
        Arm.objects.get(trial=scene.trial, code="A"),
        actor=scene.coordinator,
        on=scene.participant.enrolled_on,
    )
    return scene


def send_for(day: dt.date) -> dict[str, Any]:
    """The beat task's run for ``day``, as the worker would run it."""
    result: dict[str, Any] = send_participant_invitations.apply(
        kwargs={"day": day.isoformat()}
    ).get()
    return result


def outcomes_in_data_report(scene: Scene, folder: Path) -> pd.DataFrame:
    """The answers data set of a data-sets-only report built by the report pipeline."""
    spec = pipeline.BuildSpec(
        trial=scene.trial,
        kind="data",
        cut_off=timezone.localdate(),
        seed=1,
        blinded=True,
        plan=None,
        ordered_by="statistician",
    )
    built = pipeline.build(spec, folder)
    with zipfile.ZipFile(built.zip) as archive:
        return pd.read_csv(io.BytesIO(archive.read("outcomes.csv")))


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
    live_server: LiveServer,
    page: Page,
    console: Console,
    screenshots: Path,
    settings: Any,
    inbox: Inbox,
    tmp_path: Path,
) -> None:
    settings.SITE_URL = live_server.url
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    scene = randomised_scene()
    today = timezone.localdate()
    assert send_for(today)["invited"] == 2  # e-mail and SMS
    assert inbox.recipients == [["kari@example.org"]]
    body = text_of(inbox.messages[0])
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

    # Staff see the answers on the participant's timeline, as the participant's, through a link.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(
        f"{live_server.url}/trials/{scene.trial.code}/participants/{scene.participant.study_id}/"
    )
    log_in(page, scene.coordinator.username, PASSWORD)
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Assessment: 3 months")
    expect(timeline).to_contain_text("Wellbeing")
    expect(timeline.locator("li.timeline-link-answer")).to_contain_text(
        "Answered by the participant, through a link"
    )
    expect(timeline.locator("li.timeline-link-answer")).to_contain_text("instrument version 1")
    page.screenshot(path=screenshots / "participant-answers-timeline.png", full_page=True)
    assert_no_csp_violations(console)

    # The report's answers data set has them.
    outcomes = outcomes_in_data_report(scene, tmp_path)
    row = outcomes[outcomes["visit"] == "m3"]
    assert len(row) == 1
    assert row["hours"].item() == 20
    assert row["comment"].item() == "Fine"
    assert bool(row["worked"].item()) is True

    # Reminders stop at completion: the first reminder day sends nothing, by either channel.
    sent_before = (len(inbox.messages), len(MemoryBackend.outbox))
    summary = send_for(today + dt.timedelta(days=3))
    assert summary["reminded"] == 0 and summary["invited"] == 0
    assert (len(inbox.messages), len(MemoryBackend.outbox)) == sent_before == (1, 1)
    assert set(Invitation.objects.values_list("status", "stop_reason")) == {
        (Invitation.Status.STOPPED, Invitation.StopReason.ANSWERED)
    }
