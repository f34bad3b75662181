"""Invitations and reminders as data: made once per participant, visit, instrument and
channel; sent once (a repeated or concurrent run sends nothing more); reminded on the trial's
days until answered; stopped by completion, withdrawal, loss to follow-up, window close and
opt-out; bounces and failures recorded; the messages in the participant's language."""

from __future__ import annotations

import datetime as dt
import smtplib
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from surveys import services, sms
from surveys.models import Invitation
from surveys.tasks import send_participant_invitations
from tests.surveys.links import answer_all, url
from tests.surveys.scene import Scene, make_scene
from trial.models import LossToFollowUp
from trial.services import withdraw_participant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sms_outbox(settings: Any) -> list[sms.SmsMessage]:
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sms.MemoryBackend.outbox.clear()
    return sms.MemoryBackend.outbox


@pytest.fixture
def scene() -> Scene:
    return make_scene()


def today() -> dt.date:
    return timezone.localdate()


def test_one_invitation_per_channel_and_a_repeat_sends_nothing_more(
    scene: Scene, sms_outbox: list[sms.SmsMessage]
) -> None:
    first = services.send_due(today())
    assert (first.created, first.invited) == (2, 2)
    assert len(mail.outbox) == 1
    assert len(sms_outbox) == 1
    second = services.send_due(today())
    assert (second.created, second.invited, second.reminded) == (0, 0, 0)
    assert len(mail.outbox) == 1 and len(sms_outbox) == 1
    # The task, run twice, likewise.
    send_participant_invitations.apply(kwargs={"day": today().isoformat()}).get()
    send_participant_invitations.apply().get()
    assert len(mail.outbox) == 1 and len(sms_outbox) == 1
    assert Invitation.objects.count() == 2


def test_messages_are_in_the_participants_language_with_link_and_opt_out(
    scene: Scene, sms_outbox: list[sms.SmsMessage]
) -> None:
    services.send_due(today())
    message = mail.outbox[0]
    invitation = Invitation.objects.get(channel="email")
    assert message.to == ["kari@example.org"]
    assert message.subject == "Spørreskjemaet ditt for IPS self-report"
    assert services.link_url(invitation) in message.body
    assert services.opt_out_url(invitation) in message.body
    assert "Ingen flere meldinger" in message.body
    assert scene.participant.study_id not in message.body
    assert sms_outbox[0].to == "+4741234567"
    assert "spørreskjemaet ditt er klart" in sms_outbox[0].text
    english = make_scene("ips-eng", email="ola@example.org", phone="", language="en")
    services.send_due(today())
    last = mail.outbox[-1]
    assert last.to == ["ola@example.org"]
    assert last.subject == "Your questionnaire for IPS self-report"
    assert english.participant.study_id not in last.body


def test_reminders_on_the_configured_days_until_answered(scene: Scene) -> None:
    services.update_settings(
        scene.trial, links_enabled=True, reminder_days="3, 7", actor=scene.coordinator
    )
    start = today()
    services.send_due(start)
    assert len(mail.outbox) == 1
    services.send_due(start + dt.timedelta(days=2))
    assert len(mail.outbox) == 1
    with time_machine.travel(timezone.now() + dt.timedelta(days=3), tick=False):
        services.send_due(start + dt.timedelta(days=3))
        services.send_due(start + dt.timedelta(days=3))
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("Påminnelse")
    invitation = Invitation.objects.get(channel="email")
    assert invitation.reminders_sent == 1
    assert services.summary_text([invitation], start + dt.timedelta(days=3)) == (
        "invited 3 days ago, reminded once, not answered"
    )
    # Answered before the second reminder: it never goes out.
    from django.test import Client

    client = Client()
    answer_all(client, invitation)
    client.post(url(invitation), {"action": "submit"})
    with time_machine.travel(timezone.now() + dt.timedelta(days=8), tick=False):
        summary = services.send_due(start + dt.timedelta(days=8))
    assert summary.reminded == 0
    assert len(mail.outbox) == 2


@pytest.mark.parametrize("how", ["withdrawn", "lost", "closed", "opted_out", "switched_off"])
def test_reminders_stop(scene: Scene, how: str) -> None:
    services.update_settings(
        scene.trial, links_enabled=True, reminder_days="1", actor=scene.coordinator
    )
    services.send_due(today())
    sent = len(mail.outbox)
    later = today() + dt.timedelta(days=1)
    if how == "withdrawn":
        withdraw_participant(
            scene.participant,
            withdrawn_on=today(),
            scope="no_contact",
            reason="No more",
            actor=scene.coordinator,
        )
    elif how == "lost":
        LossToFollowUp.objects.create(
            participant=scene.participant, lost_on=today(), reason="unreachable"
        )
        scene.participant.status = "lost"
        scene.participant.save(update_fields=["status"])
    elif how == "closed":
        later = scene.visit.window_end + dt.timedelta(days=1)
    elif how == "opted_out":
        services.opt_out(Invitation.objects.get(channel="email"))
    else:
        services.update_settings(
            scene.trial, links_enabled=False, reminder_days="1", actor=scene.coordinator
        )
    services.send_due(later)
    assert len(mail.outbox) == sent
    if how != "switched_off":
        assert set(Invitation.objects.values_list("status", flat=True)) == {"stopped"}


def test_no_invitation_without_self_completed_instrument_or_contact(scene: Scene) -> None:
    other = make_scene("ips-none", email="", phone="")
    services.send_due(today())
    assert not Invitation.objects.filter(participant=other.participant).exists()


def test_a_refused_address_is_a_bounce_and_never_retried(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> int:
        raise smtplib.SMTPRecipientsRefused({"kari@example.org": (550, b"no such user")})

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    summary = services.send_due(today())
    assert summary.bounced == 1
    invitation = Invitation.objects.get(channel="email")
    assert invitation.status == "bounced"
    assert "kari@example.org" not in caplog.text  # contact details are never logged
    monkeypatch.undo()
    services.send_due(today())
    assert len(mail.outbox) == 0


def test_a_mail_server_down_is_retried_and_sends_once_back_up(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, sms_outbox: list[sms.SmsMessage]
) -> None:
    def down(self: Any, *args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", down)
    with pytest.raises(services.DeliveryError):
        services.send_due(today())
    invitation = Invitation.objects.get(channel="email")
    assert (invitation.status, invitation.attempts, invitation.sent_at) == ("failed", 1, None)
    assert services.summary_text([invitation], today()).startswith(
        "invitation not sent yet: sending failed"
    )
    assert len(sms_outbox) == 1  # the other channel went out
    monkeypatch.undo()
    services.send_due(today())
    services.send_due(today())
    assert len(mail.outbox) == 1
    assert len(sms_outbox) == 1
    assert Invitation.objects.get(channel="email").status == "sent"


def test_a_message_that_fails_every_attempt_is_stopped_and_staff_are_told_so(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, settings: Any, sms_outbox: list[sms.SmsMessage]
) -> None:
    """After SURVEY_MAX_ATTEMPTS failures nothing more is tried: the invitation is stopped
    with the reason, and staff no longer read "will retry"."""

    def down(self: Any, *args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", down)
    for _attempt in range(settings.SURVEY_MAX_ATTEMPTS):
        with pytest.raises(services.DeliveryError):
            services.send_due(today())
    invitation = Invitation.objects.get(channel="email")
    assert (invitation.status, invitation.stop_reason) == ("stopped", "send_failed")
    assert invitation.attempts == settings.SURVEY_MAX_ATTEMPTS and invitation.sent_at is None
    assert services.summary_text([invitation], today()) == (
        "invitation not sent: sending failed too many times, no more attempts"
    )
    monkeypatch.undo()
    assert services.send_due(today()).invited == 0
    assert len(mail.outbox) == 0


def test_invitation_is_unique_per_participant_visit_instrument_and_channel(
    scene: Scene,
) -> None:
    from django.db import IntegrityError, transaction

    services.create_invitations(today())
    existing = Invitation.objects.get(channel="email")
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(
            participant=existing.participant,
            visit=existing.visit,
            instrument=existing.instrument,
            version=existing.version,
            channel="email",
            nonce="x",
            token_hash="y" * 64,
            expires_on=existing.expires_on,
        )
