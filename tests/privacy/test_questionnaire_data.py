"""Participant questionnaires under the right of access and erasure: the export holds the
contact details (decrypted, for the person they are about), the invitations (without the
secret behind each link) and the answers saved but not sent; erasure removes contact details
and saved answers and keeps the invitations as states and counts without contact data, under
a new secret, so that no earlier link opens anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from privacy.services import collect_participant_data, erase_participant, export_participant
from surveys import delivery, links
from surveys.models import ContactDetails, Draft, Invitation
from tests.surveys.scene import Scene, make_scene
from trial.models import AuditEvent, Withdrawal
from trial.services import withdraw_participant

pytestmark = pytest.mark.django_db

EMAIL = "kari.nordmann@example.org"


@pytest.fixture
def scene(settings: Any) -> Scene:
    """A participant invited by e-mail and SMS, whose SMS bounced with an error naming the
    number, and who saved one answer through the link."""
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    made = make_scene("ips-privacy", email=EMAIL, phone="41234567")
    delivery.send_due(timezone.localdate())
    sms_link = Invitation.objects.get(channel=Invitation.Channel.SMS)
    delivery.record_bounce(sms_link, detail="refused: +4741234567", actor=None)
    email_link = Invitation.objects.get(channel=Invitation.Channel.EMAIL)
    links.save_answer(email_link, name="mood", value="1", missing_code=None)
    return made


def test_the_export_holds_contact_details_invitations_and_saved_answers(
    scene: Scene, tmp_path: Path
) -> None:
    data = collect_participant_data(scene.participant)
    [contact] = data["contact_details"]
    assert contact["email"] == EMAIL and contact["phone"] == "+4741234567"
    assert contact["language"] == "nb"
    assert "email_encrypted" not in contact and "phone_encrypted" not in contact
    invitations = {row["channel"]: row for row in data["invitations"]}
    assert set(invitations) == {"email", "sms"}
    assert invitations["sms"]["status"] == "bounced"
    assert invitations["email"]["instrument"] == "wellbeing"
    assert invitations["email"]["visit"] == "m3" and invitations["email"]["version"] == 1
    for row in invitations.values():  # the secret behind a link never leaves
        assert "nonce" not in row and "token_hash" not in row
    [saved] = data["saved_answers"]
    assert saved["values"] == {"mood": "1"} and saved["instrument"] == "wellbeing"
    assert "invitation.bounced" in {e["action"] for e in data["audit_events"]}

    written = export_participant(scene.participant, tmp_path, actor=scene.coordinator)
    names = {path.name for path in written}
    stem = f"{scene.trial.code}-{scene.participant.study_id}"
    assert {f"{stem}-contact_details.csv", f"{stem}-invitations.csv"} <= names
    assert f"{stem}-saved_answers.csv" in names
    token = links.token_for(Invitation.objects.get(channel=Invitation.Channel.EMAIL))
    exported = "".join(path.read_text(encoding="utf-8") for path in written)
    assert EMAIL in exported and token not in exported
    # The audit trail says what was exported, never the address.
    event = AuditEvent.objects.get(action="participant.exported")
    assert EMAIL not in json.dumps(event.data)


def test_erasure_removes_contact_details_and_saved_answers_and_keeps_invitation_states(
    scene: Scene,
) -> None:
    email_link = Invitation.objects.get(channel=Invitation.Channel.EMAIL)
    old_token = links.token_for(email_link)
    before = {
        i.channel: (i.status, i.sent_at, i.reminders_sent)
        for i in Invitation.objects.filter(participant=scene.participant)
    }
    withdraw_participant(
        scene.participant,
        withdrawn_on=timezone.localdate(),
        scope=Withdrawal.Scope.REMOVE_DATA,
        reason="Asked for deletion",
        actor=None,
    )
    dry = erase_participant(
        scene.participant, reason="Request 7", actor=scene.coordinator, dry_run=True
    )
    assert dry.counts["contact_details"] == 1 and dry.counts["saved_answers"] == 1
    assert ContactDetails.objects.filter(participant=scene.participant).exists()

    report = erase_participant(scene.participant, reason="Request 7", actor=scene.coordinator)
    assert report.counts["invitations_rekeyed"] == 2
    assert not ContactDetails.objects.filter(participant=scene.participant).exists()
    assert not Draft.objects.filter(visit=scene.visit).exists()
    after = {
        i.channel: (i.status, i.sent_at, i.reminders_sent)
        for i in Invitation.objects.filter(participant=scene.participant)
    }
    assert after == before  # states and counts kept
    assert not Invitation.objects.filter(participant=scene.participant).exclude(last_error="")
    # The old link names nothing any more: the same page as any unknown link.
    assert not Invitation.objects.filter(token_hash=links.token_hash(old_token)).exists()
    assert Client().get(f"/q/{old_token}/").status_code == 404

    data = collect_participant_data(scene.participant)
    assert data["contact_details"] == [] and data["saved_answers"] == []
    assert len(data["invitations"]) == 2
    assert "+4741234567" not in json.dumps(data, default=str)
    assert EMAIL not in json.dumps(data, default=str)
