"""Consent links are reminded on the trial's reminder days until the participant answers (by
any channel), withdraws or is lost, the link expires or a newer version is asked for; never
twice, not after the kill switch (even mid-run), and a run's e-mails share one SMTP
connection. Staff see "sent 3 days ago, reminded once" on the participant page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from surveys import services as survey_services
from surveys import sms
from surveys.consent import delivery, services
from surveys.consent.models import ConsentRecord, ConsentRequest
from surveys.consent.text import shown
from surveys.mailer import Mailer
from surveys.models import ContactDetails
from surveys.tasks import send_with_retries
from tests.conftest import verified_login
from tests.surveys.consenting import NAME, answer, consent_link, publish
from tests.surveys.scene import Scene, another_participant, make_scene
from tests.surveys.smtp import CountingBackend, Inbox, smtp_server
from trial import services as trial_services
from trial.models import Participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(settings: Any) -> Scene:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    sms.MemoryBackend.outbox.clear()
    return make_scene()


def _day(offset: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=offset)


def _run_twice(offset: int) -> None:
    delivery.send_consent_requests(_day(offset))
    delivery.send_consent_requests(_day(offset))


def test_reminders_go_on_the_reminder_days_and_never_twice(scene: Scene) -> None:
    text = publish(scene)
    request, link = consent_link(scene, text)
    assert len(mail.outbox) == 1 and len(sms.MemoryBackend.outbox) == 1
    # Default reminder days 3 and 7: each day's run twice, nothing goes twice.
    for offset, expected in [(0, 1), (2, 1), (3, 2), (4, 2), (6, 2), (7, 3), (8, 3), (20, 3)]:
        _run_twice(offset)
        assert len(mail.outbox) == expected, offset
        assert len(sms.MemoryBackend.outbox) == expected, offset
    request.refresh_from_db()
    assert (request.email_reminders, request.sms_reminders) == (2, 2)
    reminder = mail.outbox[1]
    assert reminder.subject == "Påminnelse: samtykke til studien IPS self-report"
    assert "påminnelse" in reminder.body and link in reminder.body
    assert sms.MemoryBackend.outbox[2].text.startswith("Påminnelse fra IPS self-report")
    assert mail.outbox[0].subject == "Samtykke til studien IPS self-report"


def test_the_trials_reminder_days_are_used(scene: Scene) -> None:
    survey_services.update_settings(
        scene.trial, links_enabled=True, reminder_days="1", actor=scene.coordinator
    )
    request, _link = consent_link(scene, publish(scene))
    _run_twice(1)
    _run_twice(3)
    request.refresh_from_db()
    assert (request.email_reminders, request.sms_reminders) == (1, 1)
    assert len(mail.outbox) == 2
    survey_services.update_settings(
        scene.trial, links_enabled=True, reminder_days="", actor=scene.coordinator
    )
    other = another_participant(scene, email="ola@example.org")
    delivery.request_consent(other, request.text, actor=scene.coordinator)
    for offset in (0, 1, 3, 7):
        delivery.send_consent_requests(_day(offset))
    assert [m.to for m in mail.outbox[2:]] == [["ola@example.org"]]  # the link, no reminder


def _consented(scene: Scene, request: ConsentRequest, link: str) -> None:
    Client().post(link, answer(request.text, "nb"))


def _declined(scene: Scene, request: ConsentRequest, link: str) -> None:
    Client().post(link, answer(request.text, "nb", action="decline"))


def _consented_on_staff_device(scene: Scene, request: ConsentRequest, link: str) -> None:
    services.record_consent(
        scene.participant,
        request.text,
        language="nb",
        channel=ConsentRecord.Channel.STAFF_DEVICE,
        shown_sha256=shown(request.text, "nb").sha256,
        typed_name=NAME,
        signed_on=timezone.localdate(),
        actor=scene.caseworker,
    )


def _expired(scene: Scene, request: ConsentRequest, link: str) -> None:
    ConsentRequest.objects.filter(pk=request.pk).update(expires_on=_day(2))


def _withdrawn(scene: Scene, request: ConsentRequest, link: str) -> None:
    trial_services.withdraw_participant(
        scene.participant,
        withdrawn_on=timezone.localdate(),
        scope="no_data",
        reason="Asked to stop",
        actor=scene.coordinator,
    )


def _lost(scene: Scene, request: ConsentRequest, link: str) -> None:
    trial_services.mark_lost_to_follow_up(
        scene.participant,
        lost_on=timezone.localdate(),
        reason="unreachable",
        actor=scene.coordinator,
    )


def _replaced(scene: Scene, request: ConsentRequest, link: str) -> None:
    newer = publish(scene, "3.0")
    delivery.request_consent(scene.participant, newer, actor=scene.coordinator)


def _opted_out(scene: Scene, request: ConsentRequest, link: str) -> None:
    ContactDetails.objects.filter(participant=scene.participant).update(opted_out_at=timezone.now())


@pytest.mark.parametrize(
    "stop",
    [
        _consented,
        _declined,
        _consented_on_staff_device,
        _expired,
        _withdrawn,
        _lost,
        _replaced,
        _opted_out,
    ],
)
def test_reminders_stop(scene: Scene, stop: Callable[[Scene, ConsentRequest, str], None]) -> None:
    text = publish(scene)
    request, link = consent_link(scene, text)
    stop(scene, request, link)
    for offset in (3, 7, 8):
        delivery.send_consent_requests(_day(offset))
    request.refresh_from_db()
    assert (request.email_reminders, request.sms_reminders) == (0, 0)
    old_link = [m for m in mail.outbox if link in m.body]
    assert len(old_link) == 1  # the link itself, no reminder


def test_a_replaced_request_stops_while_the_newer_one_is_reminded(scene: Scene) -> None:
    request, _link = consent_link(scene, publish(scene))
    _replaced(scene, request, "")
    _run_twice(0)
    _run_twice(3)
    newer = ConsentRequest.objects.exclude(pk=request.pk).get()
    request.refresh_from_db()
    assert (request.email_reminders, newer.email_reminders) == (0, 1)
    assert delivery.summary_text(
        ConsentRequest.objects.with_state().get(pk=request.pk), _day(3)
    ).endswith("not answered, no more reminders: a newer version was asked for")


def test_staff_see_when_the_link_was_sent_and_how_often_reminded(scene: Scene) -> None:
    request, _link = consent_link(scene, publish(scene))
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    ConsentRequest.objects.filter(pk=request.pk).update(
        email_sent_at=three_days_ago, sms_sent_at=three_days_ago
    )
    delivery.send_consent_requests(timezone.localdate())
    coordinator = verified_login(Client(), scene.coordinator)
    page = coordinator.get(scene.participant.get_absolute_url())
    assert page.status_code == 200
    assert (
        "Consent link for version 2.0: sent 3 days ago, reminded once, not answered yet."
        in page.content.decode()
    )
    coordinator.post("/i18n/setlang/", {"language": "nb"})
    page = coordinator.get(scene.participant.get_absolute_url())
    assert "sendt for 3 dager siden, påminnet én gang, ikke besvart ennå" in page.content.decode()


def test_switching_links_off_stops_consent_messages_mid_run(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = publish(scene)
    for n in range(3):
        another_participant(scene, email=f"p{n}@example.org")
    for participant in Participant.objects.filter(trial=scene.trial):
        delivery.request_consent(participant, text, actor=scene.coordinator)
    send = Mailer.send

    def send_then_switch_off(mailer: Mailer, message: Any) -> None:
        send(mailer, message)
        survey_services.update_settings(
            scene.trial, links_enabled=False, reminder_days="3, 7", actor=scene.coordinator
        )

    monkeypatch.setattr(Mailer, "send", send_then_switch_off)
    summary = delivery.send_consent_requests(timezone.localdate())
    # The first request's e-mail and (under the same lock) its SMS; no other request.
    assert (summary.sent, len(mail.outbox), len(sms.MemoryBackend.outbox)) == (2, 1, 1)
    delivery.send_consent_requests(_day(3))
    assert len(mail.outbox) == 1
    monkeypatch.undo()
    survey_services.update_settings(
        scene.trial, links_enabled=True, reminder_days="3, 7", actor=scene.coordinator
    )
    delivery.send_consent_requests(timezone.localdate())
    assert len(mail.outbox) == 4


@pytest.fixture
def inbox(settings: Any) -> Iterator[Inbox]:
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    sms.MemoryBackend.outbox.clear()
    CountingBackend.opened = CountingBackend.sent = 0
    CountingBackend.drop_before = None
    with smtp_server(settings) as server:
        settings.EMAIL_BACKEND = "tests.surveys.smtp.CountingBackend"
        yield server


def test_a_consent_run_sends_its_mail_through_one_connection(inbox: Inbox) -> None:
    scene = make_scene(email="p0@example.org", phone="")
    addresses = ["p0@example.org", "p1@example.org", "p2@example.org"]
    for address in addresses[1:]:
        another_participant(scene, email=address)
    text = publish(scene)
    for participant in Participant.objects.filter(trial=scene.trial):
        delivery.request_consent(participant, text, actor=scene.coordinator)
    assert delivery.send_consent_requests(timezone.localdate()).sent == 3
    assert CountingBackend.opened == 1
    assert sorted(r[0] for r in inbox.recipients) == addresses
    summary = delivery.send_consent_requests(_day(3))
    delivery.send_consent_requests(_day(3))
    assert summary.reminded == 3 and CountingBackend.opened == 2
    assert len(inbox.messages) == 6


def test_the_tasks_retry_a_run_through_one_helper() -> None:
    retried: dict[str, Any] = {}

    def retry(**kwargs: Any) -> Exception:
        retried.update(kwargs)
        return RuntimeError("retry")

    task = SimpleNamespace(request=SimpleNamespace(retries=2), retry=retry)

    def down(day: dt.date) -> Any:
        raise delivery.ConsentDeliveryError(1)

    with pytest.raises(RuntimeError):
        send_with_retries(task, "2026-03-01", down, delivery.ConsentDeliveryError)
    assert retried["kwargs"] == {"day": "2026-03-01"} and retried["countdown"] == 240
    assert isinstance(retried["exc"], delivery.ConsentDeliveryError)
    summary = delivery.ConsentSendSummary(sent=1)
    done = send_with_retries(task, None, lambda day: summary, delivery.ConsentDeliveryError)
    assert done == summary.as_dict()
