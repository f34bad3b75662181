"""The participant's link and pages: one participant, visit and instrument version per link,
one use, an unknown, expired or stopped link answered alike, answers through
``record_assessment`` as the participant's, and no other participant's data reachable."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from instruments.models import Assessment
from instruments.setup import services as setup
from surveys import services
from surveys.models import Draft, Invitation
from tests.conftest import clear_cache
from tests.surveys.links import answer_all, url
from tests.surveys.scene import Scene, definition, invitation_of, make_scene
from trial.models import AuditEvent
from trial.services import withdraw_participant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    clear_cache()


@pytest.fixture
def scene() -> Scene:
    return make_scene()


def test_token_is_stored_only_as_its_hash(scene: Scene) -> None:
    invitation = invitation_of(scene)
    token = services.token_for(invitation)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert token not in (invitation.token_hash, invitation.nonce)
    assert services.find_invitation(token).pk == invitation.pk
    # The link carries no personal data: not the study id, nor the e-mail address.
    assert scene.participant.study_id not in services.link_url(invitation)
    assert "kari" not in services.link_url(invitation)


@pytest.mark.parametrize("token", ["nope", "0" * 64, "g" * 64, "abc.def", "a" * 500])
def test_an_unknown_link_gets_the_unusable_page(client: Client, token: str) -> None:
    response = client.get(f"/q/{token}/")
    assert response.status_code == 404
    assert b"This link does not work" in response.content or b"Lenken virker ikke" in (
        response.content
    )


def test_an_expired_link_reads_like_an_unknown_one(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1)
    )
    expired = client.get(url(invitation))
    unknown = client.get("/q/" + "0" * 64 + "/")
    assert expired.status_code == unknown.status_code == 404
    assert expired.content == unknown.content


def test_a_link_after_withdrawal_shows_the_polite_page_and_records_nothing(
    client: Client, scene: Scene
) -> None:
    invitation = invitation_of(scene)
    withdraw_participant(
        scene.participant,
        withdrawn_on=timezone.localdate(),
        scope="no_data",
        reason="Asked to stop",
        actor=scene.coordinator,
    )
    events = AuditEvent.objects.count()
    response = client.post(url(invitation), {"item": "mood", "mood": "1", "action": "next"})
    assert response.status_code == 404
    assert not Draft.objects.exists()
    assert AuditEvent.objects.count() == events


def test_links_switched_off_for_the_trial_stop_working(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    services.update_settings(
        scene.trial, links_enabled=False, reminder_days="3", actor=scene.coordinator
    )
    assert client.get(url(invitation)).status_code == 404


def test_participant_answers_one_question_per_screen_and_submits(
    client: Client, scene: Scene
) -> None:
    invitation = invitation_of(scene)
    link = url(invitation)
    first = client.get(link)
    assert first.status_code == 200
    text = first.content.decode()
    assert '<html lang="nb">' in text  # the participant's language
    assert "Spørsmål 1 av 3" in text  # hours is not asked until worked = yes
    assert "Følt deg nedfor" in text
    answer_all(client, invitation)
    review = client.get(link)
    assert "Se over svarene dine" in review.content.decode()
    sent = client.post(link, {"action": "submit"})
    assert sent.status_code == 302
    assert sent["Location"].endswith("/thanks/")
    assessment = Assessment.objects.get(visit=scene.visit, instrument=scene.instrument)
    assert assessment.source == Assessment.Source.PARTICIPANT
    assert assessment.recorded_by is None
    assert assessment.values == {"mood": 1, "worked": True, "hours": 20, "comment": "Fine"}
    assert assessment.version_id == invitation.version_id
    event = AuditEvent.objects.get(action="assessment.answered_by_participant")
    assert event.actor_name == services.PARTICIPANT_ACTOR_NAME
    assert event.data["through"] == "link"
    assert event.data["version"] == invitation.version.number
    assert event.data["channel"] == "email"
    assert not Draft.objects.exists()
    # Works once: the link now says it is answered, and a second submission records nothing.
    again = client.get(link)
    assert again.status_code == 200
    assert "besvart" in again.content.decode()
    client.post(link, {"action": "submit"})
    assert Assessment.objects.filter(visit=scene.visit).count() == 1
    assert client.get(link + "thanks/").status_code == 200
    # Every channel's link is stopped for reminders.
    assert set(
        Invitation.objects.filter(visit=scene.visit).values_list("stop_reason", flat=True)
    ) == {"answered"}


def test_language_can_be_switched_on_the_page(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    response = client.get(url(invitation) + "?lang=en")
    assert '<html lang="en">' in response.content.decode()
    assert "Question 1 of 3" in response.content.decode()
    # The choice sticks for the next screen.
    assert "Felt down" in client.get(url(invitation)).content.decode()


def test_invalid_answer_is_explained_next_to_the_question_and_nothing_is_lost(
    client: Client, scene: Scene
) -> None:
    invitation = invitation_of(scene)
    link = url(invitation)
    client.post(link, {"item": "mood", "mood": "1", "action": "next"})
    client.post(link, {"item": "worked", "worked": "1", "action": "next"})
    response = client.post(link + "?lang=en", {"item": "hours", "hours": "500", "action": "next"})
    text = response.content.decode()
    assert response.status_code == 200
    assert 'class="error-summary"' in text
    assert 'aria-invalid="true"' in text
    assert 'href="#id_hours"' in text
    assert 'id="id_hours_error"' in text
    draft = Draft.objects.get()
    assert draft.values == {"mood": "1", "worked": "1"}
    # A required item left blank is refused as staff entry refuses it.
    blank = client.post(link, {"item": "hours", "hours": "", "action": "next"})
    assert "error-summary" in blank.content.decode()


def test_i_dont_want_to_answer_records_the_refused_code(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    link = url(invitation)
    client.post(link, {"item": "mood", "action": "decline"})
    client.post(link, {"item": "worked", "worked": "0", "action": "next"})
    client.post(link, {"item": "comment", "comment": "", "action": "next"})
    client.post(link, {"action": "submit"})
    assessment = Assessment.objects.get()
    assert assessment.missing == {"mood": "refused"}
    assert assessment.values == {"worked": False}


def test_changed_earlier_answer_drops_an_answer_no_longer_asked(
    client: Client, scene: Scene
) -> None:
    invitation = invitation_of(scene)
    answer_all(client, invitation)
    link = url(invitation)
    client.post(link, {"item": "worked", "worked": "0", "action": "next"})
    client.post(link, {"action": "submit"})
    assert "hours" not in Assessment.objects.get().values


def test_save_and_continue_later_on_the_same_link(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    link = url(invitation)
    saved = client.post(link, {"item": "mood", "mood": "0", "action": "save"})
    assert "lagret" in saved.content.decode()
    # Another browser, the same link: it continues at the first unanswered question.
    later = Client().get(link)
    assert "Arbeidet forrige uke" in later.content.decode()
    assert "Spørsmål 2 av 3" in later.content.decode()


def test_email_and_sms_links_share_the_saved_answers(client: Client, scene: Scene) -> None:
    by_mail = invitation_of(scene)
    by_sms = Invitation.objects.get(visit=scene.visit, channel=Invitation.Channel.SMS)
    client.post(url(by_mail), {"item": "mood", "mood": "0", "action": "next"})
    assert "Spørsmål 2 av 3" in Client().get(url(by_sms)).content.decode()


def test_a_link_reaches_only_its_own_participant(client: Client, scene: Scene) -> None:
    other = make_scene("ips-other", email="ola@example.org")
    mine = invitation_of(scene)
    theirs = invitation_of(other)
    client.post(url(mine), {"item": "mood", "mood": "1", "action": "next"})
    page = client.get(url(mine)).content.decode()
    assert other.participant.study_id not in page
    assert scene.participant.study_id not in page  # no study id on the participant's page
    # Their link shows their own (empty) answers.
    assert "Spørsmål 1 av 3" in client.get(url(theirs)).content.decode()
    # Posting another instrument's item through my link changes nothing of theirs.
    client.post(url(mine), {"item": "nope", "nope": "1", "action": "next"})
    assert not Draft.objects.filter(visit=other.visit).exists()


def test_the_link_is_bound_to_the_version_it_was_sent_for(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    revised = definition()
    revised["items"][3]["label"] = {"en": "Anything more", "nb": "Noe annet"}
    setup.revise_instrument(
        scene.instrument, definition=revised, note="wording", actor=scene.coordinator
    )
    answer_all(client, invitation)
    client.post(url(invitation), {"action": "submit"})
    assert Assessment.objects.get().version.number == 1


def test_opt_out_stops_every_message(client: Client, scene: Scene) -> None:
    invitation = invitation_of(scene)
    link = url(invitation) + "opt-out/"
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 200
    assert scene.participant.contact_details.__class__.objects.get().opted_out_at is not None
    assert set(Invitation.objects.values_list("stop_reason", flat=True)) == {"opted_out"}
    assert AuditEvent.objects.filter(action="participant.opted_out").count() == 1


def test_link_pages_are_rate_limited_per_address(
    client: Client, scene: Scene, settings: object
) -> None:
    settings.SURVEY_LINK_RATE = "3/minute"  # type: ignore[attr-defined]
    # A cache of its own: the shared Redis of a parallel run is cleared and counted into by
    # the other worker's link tests (same client address), which made this fail at random.
    settings.CACHES = {  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "surveys-rate-test",
        }
    }
    statuses = [client.get("/q/" + "0" * 64 + "/").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]


def test_csrf_is_enforced_on_link_pages(scene: Scene) -> None:
    invitation = invitation_of(scene)
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(url(invitation), {"item": "mood", "mood": "1", "action": "next"})
    assert response.status_code == 403
    assert not Draft.objects.exists()
