"""The mail or SMS provider reports bounces and opt-outs to ``POST /api/v1/surveys/bounces/``:
only with the shared secret (404 when none is configured, 403 for a wrong one), naming the
message by the invitation's reference or the e-mail's Message-ID, audited as the provider's,
throttled, 400 with field errors for a bad body, safe to repeat."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from surveys import delivery, sms
from surveys.links import PROVIDER_ACTOR_NAME
from surveys.models import ContactDetails, Invitation
from tests.conftest import clear_cache
from tests.surveys.scene import Scene, make_scene
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/surveys/bounces/"
SECRET = "provider-shared-secret-for-tests"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def outboxes(settings: Any) -> list[sms.SmsMessage]:
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SURVEY_PROVIDER_SECRET = SECRET
    # A cache of its own: the throttle counts per address, and a parallel run shares Redis.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "surveys-provider-tests",
        }
    }
    clear_cache()
    sms.MemoryBackend.outbox.clear()
    return sms.MemoryBackend.outbox


@pytest.fixture
def scene() -> Scene:
    made = make_scene()
    delivery.send_due(timezone.localdate())
    return made


def report(body: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {"X-Provider-Secret": secret} if secret is not None else {}
    return Client().post(URL, body, content_type="application/json", headers=headers)


def test_an_sms_bounce_by_reference_stops_that_channel_and_is_audited(
    scene: Scene, outboxes: list[sms.SmsMessage]
) -> None:
    reference = outboxes[0].reference
    sms_invitation = Invitation.objects.get(channel=Invitation.Channel.SMS)
    assert reference == delivery.reference_for(sms_invitation)
    assert scene.participant.study_id not in reference
    response = report({"reference": reference, "event": "bounce", "detail": "unknown number"})
    assert response.status_code == 200
    assert response.json() == {"reference": reference, "status": "bounced"}
    sms_invitation.refresh_from_db()
    assert sms_invitation.status == Invitation.Status.BOUNCED
    assert sms_invitation.last_error == "unknown number"
    event = AuditEvent.objects.get(action="invitation.bounced")
    assert event.actor is None and event.actor_name == PROVIDER_ACTOR_NAME
    assert event.data == {"channel": "sms"}
    # The e-mail goes on; the reminder day sends no SMS.
    delivery.send_due(timezone.localdate() + dt.timedelta(days=3))
    assert len(outboxes) == 1 and len(mail.outbox) == 2
    # Safe to repeat: one event.
    assert report({"reference": reference}).status_code == 200
    assert AuditEvent.objects.filter(action="invitation.bounced").count() == 1


def test_an_email_bounce_by_message_id(scene: Scene) -> None:
    message_id = mail.outbox[0].message()["Message-ID"]
    email_invitation = Invitation.objects.get(channel=Invitation.Channel.EMAIL)
    assert delivery.reference_for(email_invitation) in message_id
    assert "kari" not in message_id
    response = report({"message_id": message_id})
    assert response.status_code == 200
    email_invitation.refresh_from_db()
    assert email_invitation.status == Invitation.Status.BOUNCED


def test_an_opt_out_stops_every_message_to_the_participant(
    scene: Scene, outboxes: list[sms.SmsMessage]
) -> None:
    response = report({"reference": outboxes[0].reference, "event": "opt_out"})
    assert response.status_code == 200
    assert response.json()["status"] == "stopped"
    contact = ContactDetails.objects.get(participant=scene.participant)
    assert contact.opted_out_at is not None
    assert set(Invitation.objects.values_list("status", "stop_reason")) == {
        (Invitation.Status.STOPPED, Invitation.StopReason.OPTED_OUT)
    }
    event = AuditEvent.objects.get(action="participant.opted_out")
    assert event.actor_name == PROVIDER_ACTOR_NAME
    assert event.data == {"through": "provider", "channel": "sms"}


def test_without_a_configured_secret_the_endpoint_is_not_there(
    scene: Scene, settings: Any, outboxes: list[sms.SmsMessage]
) -> None:
    settings.SURVEY_PROVIDER_SECRET = ""
    response = report({"reference": outboxes[0].reference}, secret="")
    assert response.status_code == 404
    assert not Invitation.objects.filter(status=Invitation.Status.BOUNCED).exists()


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_a_missing_or_wrong_secret_is_refused(
    scene: Scene, outboxes: list[sms.SmsMessage], secret: str | None
) -> None:
    response = report({"reference": outboxes[0].reference}, secret=secret)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Invitation.objects.filter(status=Invitation.Status.BOUNCED).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reference"),
        ({"reference": ""}, "reference"),
        ({"reference": "inv-1-00000000000000000000"}, "reference"),
        ({"message_id": "<something@else>"}, "message_id"),
        ({"reference": "x" * 101}, "reference"),
        ({"reference": "REF", "event": "delete"}, "event"),
        ({"reference": "REF", "detail": "d" * 201}, "detail"),
    ],
)
def test_a_bad_body_gets_field_errors(
    scene: Scene, outboxes: list[sms.SmsMessage], body: dict[str, Any], field: str
) -> None:
    if body.get("reference") == "REF":
        body = {**body, "reference": outboxes[0].reference}
    response = report(body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Invitation.objects.filter(status=Invitation.Status.BOUNCED).exists()


def test_a_forged_tag_names_nothing(scene: Scene, outboxes: list[sms.SmsMessage]) -> None:
    reference = outboxes[0].reference
    forged = reference[:-1] + ("0" if reference[-1] != "0" else "1")
    assert report({"reference": forged}).status_code == 400


def test_reports_are_throttled_per_address(
    scene: Scene, settings: Any, outboxes: list[sms.SmsMessage]
) -> None:
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "surveys_provider": "2/minute"}
    statuses = [report({"reference": "nope"}, secret="wrong").status_code for _ in range(3)]
    assert statuses == [403, 403, 429]


def test_without_the_header_the_answer_is_403_whether_or_not_a_secret_is_configured(
    scene: Scene, settings: Any, outboxes: list[sms.SmsMessage]
) -> None:
    """The schema names the header as required: a request without it is refused as such."""
    for configured in (SECRET, ""):
        settings.SURVEY_PROVIDER_SECRET = configured
        response = report({"reference": outboxes[0].reference}, secret=None)
        assert response.status_code == 403, configured
