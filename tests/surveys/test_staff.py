"""Staff side: marking an instrument as answered by the participant, keeping contact details
(encrypted, never in the audit trail), the link settings, and what staff see."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from instruments.models import VisitInstrument
from surveys import services
from surveys.models import ContactDetails
from tests.conftest import verified_login
from tests.surveys.scene import Scene, make_scene
from trial.models import AuditEvent, VisitDefinition

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(settings: object) -> Scene:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"  # type: ignore[attr-defined]
    return make_scene()


def test_set_up_page_marks_visits_answered_by_the_participant(scene: Scene) -> None:
    client = verified_login(Client(), scene.coordinator)
    definition = VisitDefinition.objects.get(trial=scene.trial)
    path = f"/trials/{scene.trial.code}/instruments/wellbeing/visits/"
    response = client.post(path, {"visits": [definition.pk]})
    assert response.status_code == 302
    assert not VisitInstrument.objects.get().self_completed
    client.post(path, {"visits": [definition.pk], "self_completed": [definition.pk]})
    assert VisitInstrument.objects.get().self_completed
    refused = client.post(path, {"self_completed": [definition.pk]})
    assert refused.status_code == 200
    assert VisitInstrument.objects.get().self_completed


def test_contact_details_are_encrypted_and_kept_out_of_the_audit_trail(scene: Scene) -> None:
    client = verified_login(Client(), scene.caseworker)
    path = f"/trials/{scene.trial.code}/participants/{scene.participant.study_id}/contact/"
    assert client.get(path).status_code == 200
    response = client.post(
        path, {"email": "ny@example.org", "phone": "+47 912 34 567", "language": "en"}
    )
    assert response.status_code == 302
    row = ContactDetails.objects.get()
    assert (row.email, row.phone, row.language) == ("ny@example.org", "+4791234567", "en")
    assert "ny@example.org" not in row.email_encrypted
    for event in AuditEvent.objects.all():
        assert "example.org" not in str(event.data)
        assert "912" not in str(event.data)
    bad = client.post(path, {"email": "not an address", "phone": "12", "language": "nb"})
    assert bad.status_code == 200
    assert ContactDetails.objects.get().email == "ny@example.org"


def test_participant_page_and_worklist_show_the_link_status(scene: Scene) -> None:
    services.send_due(timezone.localdate())
    assert len(mail.outbox) == 1
    client = verified_login(Client(), scene.caseworker)
    page = client.get(scene.participant.get_absolute_url()).content.decode()
    assert "Questionnaire links" in page
    assert "invited today, not answered" in page
    assert "kari@example.org" not in page
    worklist = client.get(f"/trials/{scene.trial.code}/worklist/").content.decode()
    assert "invited today, not answered" in worklist


def test_kill_switch_and_reminder_days_are_set_by_the_coordinator(scene: Scene) -> None:
    client = verified_login(Client(), scene.coordinator)
    path = f"/trials/{scene.trial.code}/participant-links/"
    assert client.get(path).status_code == 200
    assert client.post(path, {"reminder_days": "2, 5"}).status_code == 302
    current = services.settings_for(scene.trial)
    assert (current.links_enabled, current.reminder_offsets) == (False, [2, 5])
    bad = client.post(path, {"links_enabled": "on", "reminder_days": "soon"})
    assert bad.status_code == 200
    assert services.settings_for(scene.trial).reminder_offsets == [2, 5]
