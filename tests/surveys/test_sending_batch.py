"""A run's e-mails go through one SMTP connection to a local SMTP server (aiosmtpd); a
connection dropped in the middle of a run loses no message and sends none twice: the message
it broke is retried by the next run, the rest go out on a new connection."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from surveys import delivery, services, sms
from surveys.consent import delivery as consent_delivery
from surveys.mailer import Mailer
from surveys.models import Invitation
from tests.surveys.consenting import publish
from tests.surveys.scene import another_participant, make_scene
from tests.surveys.smtp import CountingBackend, Inbox, smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(settings: Any) -> Iterator[Inbox]:
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    sms.MemoryBackend.outbox.clear()
    CountingBackend.opened = CountingBackend.sent = 0
    CountingBackend.drop_before = None
    with smtp_server(settings) as server:
        settings.EMAIL_BACKEND = "tests.surveys.smtp.CountingBackend"
        yield server


ADDRESSES = [f"p{n}@example.org" for n in range(5)]


def make_participants() -> None:
    for n, address in enumerate(ADDRESSES):
        make_scene(f"ips-{n:03d}", email=address, phone="41234567" if n == 0 else "")


def test_a_run_sends_all_its_mail_through_one_connection(inbox: Inbox) -> None:
    make_participants()
    summary = services.send_due(timezone.localdate())
    assert summary.invited == len(ADDRESSES) + 1  # and one SMS
    assert CountingBackend.opened == 1
    assert sorted(r[0] for r in inbox.recipients) == ADDRESSES
    assert len(sms.MemoryBackend.outbox) == 1
    services.send_due(timezone.localdate())
    assert len(inbox.messages) == len(ADDRESSES)


def test_a_dropped_connection_is_retried_without_sending_twice(inbox: Inbox) -> None:
    make_participants()
    CountingBackend.drop_before = 3
    with pytest.raises(services.DeliveryError) as raised:
        services.send_due(timezone.localdate())
    assert raised.value.failed == 1
    failed = Invitation.objects.get(status=Invitation.Status.FAILED)
    assert (failed.attempts, failed.sent_at) == (1, None)
    assert "SMTPServerDisconnected" in failed.last_error
    # The rest of the run went out on a second connection.
    assert CountingBackend.opened == 2
    assert len(inbox.messages) == len(ADDRESSES) - 1
    # The retry sends only the one that failed; a third run sends nothing.
    services.send_due(timezone.localdate())
    services.send_due(timezone.localdate())
    assert Counter(r[0] for r in inbox.recipients) == Counter(ADDRESSES)
    assert set(Invitation.objects.values_list("status", flat=True)) == {"sent"}
    assert len(sms.MemoryBackend.outbox) == 1


def test_contact_details_changed_after_the_batch_was_read_are_used(inbox: Inbox) -> None:
    from surveys.delivery import SendSummary, _prepared, send_one

    scene = make_scene("ips-new", email="old@example.org", phone="")
    services.create_invitations(timezone.localdate())
    invitation = Invitation.objects.get(participant=scene.participant)
    read_before = _prepared([invitation.pk])[invitation.pk]
    services.set_contact_details(
        scene.participant,
        email="new@example.org",
        phone="",
        language="en",
        actor=scene.coordinator,
    )
    summary = SendSummary(day=timezone.localdate())
    send_one(invitation.pk, timezone.localdate(), summary, prepared=read_before)
    assert summary.invited == 1
    assert inbox.recipients == [["new@example.org"]]
    assert inbox.messages[0]["Subject"] == "Your questionnaire for IPS self-report"


def test_switching_links_off_stops_a_run_in_progress(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kill switch is read before each message, not once per run: switched off after the
    run's first e-mail, nothing more goes out, and nothing is stopped for good either."""
    scene = make_scene("ips-kill", email=ADDRESSES[0], phone="")
    for address in ADDRESSES[1:]:
        another_participant(scene, email=address)
    send = Mailer.send

    def send_then_switch_off(mailer: Mailer, message: Any) -> None:
        send(mailer, message)
        services.update_settings(
            scene.trial, links_enabled=False, reminder_days="3, 7", actor=scene.coordinator
        )

    monkeypatch.setattr(Mailer, "send", send_then_switch_off)
    summary = services.send_due(timezone.localdate())
    assert summary.invited == 1 and len(inbox.messages) == 1
    assert Invitation.objects.filter(status=Invitation.Status.PENDING).count() == 4
    monkeypatch.undo()
    services.update_settings(
        scene.trial, links_enabled=True, reminder_days="3, 7", actor=scene.coordinator
    )
    services.send_due(timezone.localdate())
    assert sorted(r[0] for r in inbox.recipients) == ADDRESSES


def many_participants() -> list[str]:
    addresses = [f"q{n:02d}@example.org" for n in range(13)]
    scene = make_scene("ips-par", email=addresses[0], phone="")
    for address in addresses[1:]:
        another_participant(scene, email=address)
    return addresses


def in_a_thread(day: dt.date) -> delivery.SendSummary:
    try:
        return services.send_due(day)
    finally:
        connections.close_all()


@pytest.mark.usefixtures("require_postgres")  # several connections at once
@pytest.mark.django_db(transaction=True)
def test_a_run_sends_through_several_senders_at_once(
    inbox: Inbox, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three senders each have a message on its way at the same moment: each waits at a
    barrier before its first message, which only three senders at once can pass."""
    addresses = many_participants()
    monkeypatch.setattr(delivery, "BATCH", 2)
    settings.SURVEY_SEND_CONNECTIONS = 3
    barrier = threading.Barrier(3, timeout=30)
    started = threading.local()
    send = Mailer.send

    def send_together(mailer: Mailer, message: Any) -> None:
        if not getattr(started, "sending", False):
            started.sending = True
            barrier.wait()  # BrokenBarrierError unless three senders get here
        send(mailer, message)

    monkeypatch.setattr(Mailer, "send", send_together)
    with ThreadPoolExecutor(1) as pool:  # not in the test's transaction: a run of its own
        summary = pool.submit(in_a_thread, timezone.localdate()).result()
    assert summary.invited == len(addresses) and summary.failed == 0
    assert CountingBackend.opened == 3
    assert Counter(r[0] for r in inbox.recipients) == Counter(addresses)


@pytest.mark.usefixtures("require_postgres")  # several connections at once
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_message_once(
    inbox: Inbox, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's senders share out its batches; two runs at once (two workers, or a retry that
    overlaps a slow run) lock each message before sending it, so nobody gets it twice."""
    addresses = many_participants()
    monkeypatch.setattr(delivery, "BATCH", 2)
    settings.SURVEY_SEND_CONNECTIONS = 3
    day = timezone.localdate()
    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(in_a_thread, [day, day]))
    assert sum(summary.invited for summary in summaries) == len(addresses)
    assert Counter(r[0] for r in inbox.recipients) == Counter(addresses)
    assert set(Invitation.objects.values_list("status", flat=True)) == {"sent"}
    assert services.send_due(day).invited == 0


@pytest.mark.usefixtures("require_postgres")  # several connections at once
@pytest.mark.django_db(transaction=True)
def test_consent_links_go_through_several_senders_and_each_goes_once(
    inbox: Inbox, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consent links share the questionnaires' senders (``mailer.run_senders``): two runs at
    once, three senders each, and every participant gets their link once."""
    addresses = [f"c{n:02d}@example.org" for n in range(9)]
    scene = make_scene("ips-con", email=addresses[0], phone="")
    people = [scene.participant] + [
        another_participant(scene, email=address) for address in addresses[1:]
    ]
    monkeypatch.setattr(consent_delivery, "_enqueue", lambda: None)  # sent below instead
    text = publish(scene)
    for person in people:
        consent_delivery.request_consent(person, text, actor=scene.coordinator)
    monkeypatch.setattr(consent_delivery, "BATCH", 2)
    settings.SURVEY_SEND_CONNECTIONS = 3

    def run(day: dt.date) -> consent_delivery.ConsentSendSummary:
        try:
            return consent_delivery.send_consent_requests(day)
        finally:
            connections.close_all()

    day = timezone.localdate()
    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(run, [day, day]))
    assert sum(summary.sent for summary in summaries) == len(addresses)
    assert Counter(r[0] for r in inbox.recipients) == Counter(addresses)
    assert consent_delivery.send_consent_requests(day).sent == 0
