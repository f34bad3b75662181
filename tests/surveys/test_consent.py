"""Electronic consent: versions kept by coordinators (published ones immutable), consent
through a personal link in both languages and on a staff device, the record with its hash and
PDF, the typed name kept out of exports, API answers, the audit trail and logs, re-consent,
and withdrawal through the link."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from privacy import services as privacy
from surveys import services as survey_services
from surveys import sms
from surveys.consent import delivery, pdf, services
from surveys.consent.models import ConsentRecord, ConsentRequest, ConsentText
from surveys.consent.text import render, shown
from surveys.models import Invitation
from tests import factories
from tests.conftest import clear_cache, verified_login
from tests.surveys.consenting import NAME, answer, consent_link, publish
from tests.surveys.scene import Scene, invitation_of, make_scene
from trial.models import AuditEvent, Membership, Participant, Withdrawal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    clear_cache()


@pytest.fixture
def scene(settings: Any) -> Scene:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "surveys.sms.MemoryBackend"
    sms.MemoryBackend.outbox.clear()
    return make_scene()


def _set_language(scene: Scene, language: str) -> None:
    survey_services.set_contact_details(
        scene.participant,
        email="kari@example.org",
        phone="41234567",
        language=language,
        actor=scene.coordinator,
    )


def _no_name_anywhere(scene: Scene) -> None:
    for event in AuditEvent.objects.all():
        assert NAME not in json.dumps(event.data, ensure_ascii=False)
        assert NAME not in event.target_repr


# --- texts -----------------------------------------------------------------------------------


def test_a_published_version_never_changes(scene: Scene) -> None:
    text = publish(scene, "1.0")
    with pytest.raises(services.ConsentError):
        services.save_text(
            scene.trial,
            version="1.0",
            text_nb="endret",
            text_en="changed",
            effective_on=timezone.localdate(),
            actor=scene.coordinator,
            draft=text,
        )
    with pytest.raises(services.ConsentError):
        services.publish_text(text, actor=scene.coordinator)
    text.refresh_from_db()
    assert text.text_en.startswith("# About the study")
    with pytest.raises(services.ConsentError) as refused:
        publish(scene, "1.0")
    assert refused.value.field == "version"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"consenttext.created", "consenttext.changed"} <= actions


def test_the_text_is_rendered_escaped() -> None:
    html = render('# Title <b>\n\n<script>alert("x")</script> & more\n\n- one\n- <i>two</i>')
    assert "<script>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html and "&amp; more" in html
    assert html.startswith("<h2>Title &lt;b&gt;</h2>")
    assert "<ul><li>one</li><li>&lt;i&gt;two&lt;/i&gt;</li></ul>" in html


def test_coordinator_keeps_texts_in_the_browser(scene: Scene) -> None:
    client = verified_login(Client(), scene.coordinator)
    base = f"/trials/{scene.trial.code}/consent/"
    assert client.get(base).status_code == 200
    empty = client.post(
        base + "new/",
        {"version": "1.0", "effective_on": "2026-01-01", "text_nb": "", "text_en": "Text"},
    )
    assert empty.status_code == 200 and b"text_nb" in empty.content
    assert not ConsentText.objects.exists()
    made = client.post(
        base + "new/",
        {"version": "1.0", "effective_on": "2026-01-01", "text_nb": "Tekst", "text_en": "Text"},
    )
    assert made.status_code == 302
    text = ConsentText.objects.get()
    assert client.post(f"{base}{text.pk}/publish/").status_code == 302
    text.refresh_from_db()
    assert text.published
    page = client.get(f"{base}{text.pk}/")
    assert b"Ask for re-consent" in page.content
    # Posting to a published version's page changes nothing.
    client.post(
        f"{base}{text.pk}/",
        {"version": "1.0", "effective_on": "2026-01-01", "text_nb": "Ny", "text_en": "New"},
    )
    text.refresh_from_db()
    assert text.text_en == "Text"
    caseworker = verified_login(Client(), scene.caseworker)
    assert caseworker.get(base).status_code == 403


# --- consent through a link ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "shown_words", "button"),
    [("nb", "Du er invitert", "Jeg samtykker"), ("en", "You are invited", "I consent")],
)
def test_consent_through_the_link_in_the_participants_language(
    scene: Scene, client: Client, language: str, shown_words: str, button: str
) -> None:
    _set_language(scene, language)
    text = publish(scene)
    request, link = consent_link(scene, text)
    assert len(mail.outbox) == 1 and len(sms.MemoryBackend.outbox) == 1
    assert link in mail.outbox[0].body
    page = client.get(link)
    assert page.status_code == 200
    assert page["Content-Language"] == language
    assert shown_words in page.content.decode() and button in page.content.decode()
    assert shown(text, language).html in page.content.decode()
    response = client.post(link, answer(text, language))
    assert response.status_code == 302
    record = ConsentRecord.objects.get()
    assert record.outcome == "consented" and record.channel == "link"
    assert record.language == language and record.request == request
    assert record.recorded_by is None and record.signed_on == timezone.localdate()
    assert record.text_sha256 == shown(text, language).sha256
    assert record.typed_name == NAME and NAME not in record.typed_name_encrypted
    assert pdf.path_of(record).is_file()
    participant = Participant.objects.get(pk=scene.participant.pk)
    assert participant.consent_version == "2.0"
    assert participant.consent_date == timezone.localdate()
    event = AuditEvent.objects.get(action="consent.given")
    assert event.actor_name == "participant (link)"
    assert event.data["text_sha256"] == record.text_sha256
    _no_name_anywhere(scene)
    again = client.get(link)
    assert again.status_code == 200 and b'name="typed_name"' not in again.content
    assert ConsentRequest.objects.get().closed_at is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [({"typed_name": "  "}, "typed_name"), ({"signed_on": "2020-01-01"}, "signed_on")],
)
def test_a_name_and_todays_date_are_required(
    scene: Scene, client: Client, change: dict[str, str], field: str
) -> None:
    text = publish(scene)
    _request, link = consent_link(scene, text)
    response = client.post(link, {**answer(text, "nb"), **change})
    assert response.status_code == 200
    assert f'id="id_{field}_error"'.encode() in response.content
    assert not ConsentRecord.objects.exists()


def test_a_changed_text_is_shown_again_not_signed(scene: Scene, client: Client) -> None:
    text = publish(scene)
    _request, link = consent_link(scene, text)
    response = client.post(link, {**answer(text, "nb"), "shown_sha256": "0" * 64})
    assert response.status_code == 200
    assert not ConsentRecord.objects.exists()
    assert shown(text, "nb").sha256.encode() in response.content


def test_declining_records_no_name_and_keeps_the_earlier_consent(
    scene: Scene, client: Client
) -> None:
    Participant.objects.filter(pk=scene.participant.pk).update(consent_version="1.0")
    text = publish(scene)
    _request, link = consent_link(scene, text)
    assert client.post(link, answer(text, "nb", action="decline")).status_code == 302
    record = ConsentRecord.objects.get()
    assert record.outcome == "declined" and not record.typed_name_encrypted
    assert not record.pdf_file
    assert Participant.objects.get(pk=scene.participant.pk).consent_version == "1.0"
    assert AuditEvent.objects.filter(action="consent.declined").exists()


def test_the_pdf_shows_the_text_the_name_and_the_hash(scene: Scene, client: Client) -> None:
    _set_language(scene, "en")
    text = publish(scene)
    _request, link = consent_link(scene, text)
    client.post(link, answer(text, "en"))
    record = ConsentRecord.objects.get()
    assert shutil.which("pdftotext")
    out = subprocess.run(  # a fixed tool on a file we wrote
        ["pdftotext", "-layout", str(pdf.path_of(record)), "-"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for words in ("You are invited to take part", "Taking part is voluntary", NAME, "2.0"):
        assert words in out
    assert record.text_sha256 in out
    assert timezone.localdate().isoformat() in out


# --- the PDF download --------------------------------------------------------------------------


def test_only_the_coordinator_downloads_the_pdf_and_it_is_audited(
    scene: Scene, client: Client
) -> None:
    text = publish(scene)
    _request, link = consent_link(scene, text)
    client.post(link, answer(text, "nb"))
    record = ConsentRecord.objects.get()
    url = f"/trials/{scene.trial.code}/consent/records/{record.pk}/pdf/"
    coordinator = verified_login(Client(), scene.coordinator)
    response = coordinator.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]  # FileResponse
    assert body.startswith(b"%PDF")
    event = AuditEvent.objects.get(action="consent.pdf_downloaded")
    assert event.actor == scene.coordinator
    statistician = factories.make_user("stat-consent")
    factories.make_membership(statistician, scene.trial, Membership.Role.STATISTICIAN)
    for user in (scene.caseworker, statistician):
        assert verified_login(Client(), user).get(url).status_code == 403
    outsider = factories.make_user("outsider-consent")
    assert verified_login(Client(), outsider).get(url).status_code == 404
    assert AuditEvent.objects.filter(action="consent.pdf_downloaded").count() == 1


def test_the_typed_name_is_in_no_api_answer_export_or_log(
    scene: Scene, client: Client, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    text = publish(scene)
    _request, link = consent_link(scene, text)
    client.post(link, answer(text, "nb"))
    for user in (scene.coordinator, scene.caseworker):
        api = verified_login(Client(), user)
        response = api.get(f"/api/v1/trials/{scene.trial.code}/consent/records/")
        assert response.status_code == 200
        assert response.json()["results"][0]["outcome"] == "consented"
        assert NAME not in response.content.decode()
        page = api.get(scene.participant.get_absolute_url())
        assert page.status_code == 200 and b"2.0" in page.content
        assert NAME not in page.content.decode()
    data = privacy.collect_participant_data(scene.participant)
    assert data["consent_records"][0]["version"] == "2.0"
    assert NAME not in json.dumps(data, ensure_ascii=False, default=str)
    written = privacy.export_participant(scene.participant, tmp_path, actor=scene.coordinator)
    for path in written:
        if path.suffix != ".pdf":
            assert NAME not in path.read_text(encoding="utf-8")
    assert any(path.suffix == ".pdf" for path in written)  # the signed form, for the person
    assert NAME not in caplog.text
    _no_name_anywhere(scene)


# --- on a staff device -------------------------------------------------------------------------


def test_consent_on_a_staff_device_names_the_staff_member(scene: Scene) -> None:
    text = publish(scene)
    device = verified_login(Client(), scene.caseworker)
    url = f"/trials/{scene.trial.code}/participants/{scene.participant.study_id}/consent/"
    page = device.get(url)
    assert page.status_code == 200 and shown(text, "nb").html in page.content.decode()
    response = device.post(url, answer(text, "nb"))
    assert response.status_code == 302
    record = ConsentRecord.objects.get()
    assert record.channel == "staff_device" and record.recorded_by == scene.caseworker
    assert record.request is None
    event = AuditEvent.objects.get(action="consent.given")
    assert event.actor == scene.caseworker
    statistician = factories.make_user("stat-device")
    factories.make_membership(statistician, scene.trial, Membership.Role.STATISTICIAN)
    assert verified_login(Client(), statistician).get(url).status_code == 403


def test_consent_on_a_staff_device_answers_the_link_sent_for_the_same_text(scene: Scene) -> None:
    text = publish(scene)
    sent, _created = delivery.request_consent(scene.participant, text, actor=scene.coordinator)
    device = verified_login(Client(), scene.caseworker)
    url = f"/trials/{scene.trial.code}/participants/{scene.participant.study_id}/consent/"
    assert device.post(url, answer(text, "nb")).status_code == 302
    sent.refresh_from_db()
    assert sent.closed_at is not None  # no reminder for a consent already given


# --- re-consent ---------------------------------------------------------------------------------


def test_a_new_version_asks_earlier_participants_to_re_consent(
    scene: Scene, client: Client
) -> None:
    other = factories.make_participant(scene.trial, scene.site, consent_version="1.0")
    survey_services.set_contact_details(
        other, email="ola@example.org", phone="", language="en", actor=scene.coordinator
    )
    not_consented = factories.make_participant(scene.trial, scene.site, consent_version="")
    survey_services.set_contact_details(
        not_consented, email="x@example.org", phone="", language="nb", actor=scene.coordinator
    )
    Participant.objects.filter(pk=scene.participant.pk).update(consent_version="1.0")
    text = publish(scene, "2.0")
    coordinator = verified_login(Client(), scene.coordinator)
    url = f"/trials/{scene.trial.code}/consent/{text.pk}/reconsent/"
    assert coordinator.post(url).status_code == 302
    delivery.send_consent_requests(timezone.localdate())  # enqueued on commit
    requests = ConsentRequest.objects.filter(text=text)
    assert set(requests.values_list("participant_id", flat=True)) == {
        scene.participant.pk,
        other.pk,
    }
    assert {r.reason for r in requests} == {"reconsent"}
    assert len(mail.outbox) == 2 and len(sms.MemoryBackend.outbox) == 1
    assert "new version" in next(m.body for m in mail.outbox if m.to == ["ola@example.org"])
    # Asking again, and sending again, sends nothing twice.
    assert coordinator.post(url).status_code == 302
    delivery.send_consent_requests(timezone.localdate())
    assert requests.count() == 2 and len(mail.outbox) == 2
    mine = requests.get(participant=scene.participant)
    client.post(f"/c/{delivery.token_for(mine)}/", answer(text, "nb"))
    theirs = requests.get(participant=other)
    client.post(f"/c/{delivery.token_for(theirs)}/", answer(text, "en", action="decline"))
    assert services.counts_for([text])[text.pk] == services.Counts(2, 1, 1)
    listing = coordinator.get(f"/trials/{scene.trial.code}/consent/")
    assert listing.status_code == 200
    api = coordinator.post(f"/api/v1/trials/{scene.trial.code}/consent/texts/{text.pk}/reconsent/")
    assert api.json() == {"asked": 0, "asked_in_all": 2, "consented": 1, "declined": 1}


def test_a_request_that_sends_nothing_run_after_run_gives_up_and_says_so(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    text = publish(scene)

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(sms, "send_sms", down)
    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", down)
    delivery.request_consent(scene.participant, text, actor=scene.coordinator)
    for run in range(1, settings.SURVEY_MAX_ATTEMPTS + 1):
        with pytest.raises(delivery.ConsentDeliveryError):
            delivery.send_consent_requests(timezone.localdate())
        # Both channels failed: one run counts once.
        assert ConsentRequest.objects.get().attempts == run
    request = ConsentRequest.objects.with_state().get()
    assert delivery.summary_text(request, timezone.localdate()) == (
        f"consent link not sent: sending failed {settings.SURVEY_MAX_ATTEMPTS} times, "
        "no more attempts"
    )
    monkeypatch.undo()
    assert delivery.send_consent_requests(timezone.localdate()).sent == 0
    assert len(mail.outbox) == 0


def test_a_failed_message_is_retried_and_never_sent_twice(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = publish(scene)

    def down(to: str, body: str) -> None:
        raise sms.SmsUnavailable("gateway down")

    monkeypatch.setattr(sms, "send_sms", down)
    delivery.request_consent(scene.participant, text, actor=scene.coordinator)
    with pytest.raises(delivery.ConsentDeliveryError):
        delivery.send_consent_requests(timezone.localdate())
    request = ConsentRequest.objects.get()
    # The e-mail went: a working channel keeps the request going (attempts count runs in a
    # row that sent nothing).
    assert request.attempts == 0 and request.email_sent_at is not None
    assert request.sms_sent_at is None and "gateway down" in request.last_error
    monkeypatch.undo()
    delivery.send_consent_requests(timezone.localdate())
    delivery.send_consent_requests(timezone.localdate())
    request.refresh_from_db()
    assert request.sms_sent_at is not None
    assert len(mail.outbox) == 1 and len(sms.MemoryBackend.outbox) == 1


# --- withdrawal through the link ---------------------------------------------------------------


def test_withdrawal_through_the_link_records_the_scope_and_stops_everything(
    scene: Scene, client: Client
) -> None:
    invitation = invitation_of(scene)
    text = publish(scene)
    request, link = consent_link(scene, text)
    page = client.get(link + "withdraw/")
    assert page.status_code == 200 and b"no_data" in page.content
    refused = client.post(link + "withdraw/", {"scope": "everything"})
    assert refused.status_code == 200 and not Withdrawal.objects.exists()
    response = client.post(link + "withdraw/", {"scope": "no_data", "reason": ""})
    assert response.status_code == 200
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.scope == "no_data" and withdrawal.recorded_by is None
    assert withdrawal.withdrawn_on == timezone.localdate()
    assert Participant.objects.get(pk=scene.participant.pk).status == "withdrawn"
    event = AuditEvent.objects.get(action="participant.withdrew_through_link")
    assert event.actor_name == "participant (link)" and event.data["scope"] == "no_data"
    # The questionnaire invitation stops by its stop rules; no message goes out.
    sent_before = len(mail.outbox)
    survey_services.send_due(timezone.localdate())
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.STOPPED
    assert invitation.stop_reason == Invitation.StopReason.WITHDRAWN
    assert len(mail.outbox) == sent_before
    # The link now reads like an unknown one, and nothing more is recorded through it.
    unknown = client.get("/c/" + "0" * 64 + "/")
    after = client.get(link)
    assert after.status_code == 404 and after.content == unknown.content
    events = AuditEvent.objects.count()
    assert client.post(link, answer(text, "nb")).status_code == 404
    assert client.post(link + "withdraw/", {"scope": "no_contact"}).status_code == 404
    assert AuditEvent.objects.count() == events and not ConsentRecord.objects.exists()
    assert ConsentRequest.objects.get(pk=request.pk).closed_at is not None


def test_expired_unknown_and_switched_off_links_read_alike(scene: Scene, client: Client) -> None:
    text = publish(scene)
    request, link = consent_link(scene, text)
    unknown = client.get("/c/" + "0" * 64 + "/")
    questionnaire = client.get("/q/" + "0" * 64 + "/")
    malformed = client.get("/c/nope/")
    assert unknown.status_code == malformed.status_code == questionnaire.status_code == 404
    assert unknown.content == malformed.content == questionnaire.content
    ConsentRequest.objects.filter(pk=request.pk).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1)
    )
    expired = client.get(link)
    assert expired.status_code == 404 and expired.content == unknown.content
    ConsentRequest.objects.filter(pk=request.pk).update(expires_on=timezone.localdate())
    assert client.get(link).status_code == 200
    survey_services.update_settings(
        scene.trial, links_enabled=False, reminder_days="", actor=scene.coordinator
    )
    switched_off = client.get(link)
    assert switched_off.status_code == 404 and switched_off.content == unknown.content


# --- API -----------------------------------------------------------------------------------------


def test_the_api_keeps_texts_for_coordinators(scene: Scene) -> None:
    api = verified_login(Client(), scene.coordinator)
    base = f"/api/v1/trials/{scene.trial.code}/consent/texts/"
    body = {"version": "3.0", "text_nb": "Tekst", "text_en": "Text", "effective_on": "2026-01-01"}
    made = api.post(base, body, content_type="application/json")
    assert made.status_code == 201 and made.json()["status"] == "draft"
    pk = made.json()["id"]
    bad = api.post(base, {**body, "text_en": ""}, content_type="application/json")
    assert bad.status_code == 400 and "text_en" in bad.json()["errors"]
    duplicate = api.post(base, body, content_type="application/json")
    assert duplicate.status_code == 400 and "version" in duplicate.json()["errors"]
    changed = api.put(
        f"{base}{pk}/", {**body, "text_en": "Better"}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["text_en"] == "Better"
    assert api.post(f"{base}{pk}/publish/").json()["status"] == "published"
    again = api.put(f"{base}{pk}/", body, content_type="application/json")
    assert again.status_code == 400
    assert api.get(base).json()["results"][0]["version"] == "3.0"
    caseworker = verified_login(Client(), scene.caseworker)
    assert caseworker.get(base).status_code == 403
    assert caseworker.post(base, body, content_type="application/json").status_code == 403
    outsider = verified_login(Client(), factories.make_user("api-outsider"))
    assert outsider.get(base).status_code == 404


# --- privacy -------------------------------------------------------------------------------------


def test_erasure_blanks_the_typed_name_and_keeps_the_signed_pdf(
    scene: Scene, client: Client
) -> None:
    text = publish(scene)
    _request, link = consent_link(scene, text)
    client.post(link, answer(text, "nb"))
    client.post(link + "withdraw/", {"scope": Withdrawal.Scope.REMOVE_DATA})
    report = privacy.erase_participant(scene.participant, reason="Asked", actor=scene.coordinator)
    assert report.counts["consent_names"] == 1
    record = ConsentRecord.objects.get()
    assert record.typed_name_encrypted == "" and record.typed_name == ""
    assert pdf.path_of(record).is_file()
