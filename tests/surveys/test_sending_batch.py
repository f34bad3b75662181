"""A run's e-mails go through one SMTP connection to a local SMTP server (aiosmtpd); a
connection dropped in the middle of a run loses no message and sends none twice: the message
it broke is retried by the next run, the rest go out on a new connection."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.mail.backends.smtp import EmailBackend
from django.utils import timezone

from surveys import services, sms
from surveys.models import Invitation
from tests.surveys.scene import make_scene
from tests.surveys.smtp import Inbox, smtp_server

pytestmark = pytest.mark.django_db


class CountingBackend(EmailBackend):
    """Django's SMTP backend, counting the connections it opens; with ``drop_before`` set,
    the server's connection is cut just before that message (counted from 1) goes out."""

    opened = 0
    sent = 0
    drop_before: int | None = None

    def open(self) -> bool | None:
        new = super().open()
        if new:
            CountingBackend.opened += 1
        return new

    def _send(self, email_message: Any) -> bool:
        CountingBackend.sent += 1
        if CountingBackend.sent == CountingBackend.drop_before:
            assert self.connection is not None and self.connection.sock is not None
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        return bool(super()._send(email_message))  # type: ignore[misc]  # not in the stubs


@pytest.fixture
def inbox(settings: Any) -> Iterator[Inbox]:
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    sms.MemoryBackend.outbox.clear()
    CountingBackend.opened = CountingBackend.sent = 0
    CountingBackend.drop_before = None
    with smtp_server(settings) as server:
        settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
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
