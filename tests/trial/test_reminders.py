"""Daily reminder digests: who gets one, what it lists, when a reminder stops, and the task."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.schedules import crontab
from celery.signals import task_postrun
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.mail.message import EmailMessage
from django.core.management import CommandError, call_command
from django.db import connections
from kombu import Exchange
from kombu import Queue as KombuQueue
from pytest_django.fixtures import Settings as SettingsWrapper

from config.celery import app as celery_app
from instruments import services as instruments
from tests import factories
from tests.conftest import World
from trial import reminders, services
from trial.models import Membership, Participant, ReminderDigest, Trial, Visit, VisitDefinition
from trial.tasks import send_reminder_digests

DAY = dt.date(2025, 7, 1)
SITE_URL = "https://trials.example.org"


@dataclass
class Scene:
    """The world's trial with a follow-up schedule and visits in every state on ``DAY``."""

    world: World
    caseworker: User  # site OSLA
    colleague: User  # site OSLB
    overdue: Participant  # OSLA, m3 window closed 2025-06-14
    due: Participant  # OSLA, m3 window open until 2025-07-15
    opening: Participant  # OSLA, m3 window opens 2025-07-06, within the week
    later: Participant  # OSLA, m3 window opens 2025-07-17, beyond the week
    elsewhere: Participant  # OSLB, m3 due

    def visit(self, participant: Participant, code: str = "m3") -> Visit:
        return Visit.objects.get(participant=participant, definition__code=code)


@pytest.fixture
def mail_settings(settings: SettingsWrapper) -> SettingsWrapper:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = SITE_URL
    settings.LANGUAGE_CODE = "en"
    return settings


def _randomised(world: World, site_index: int, on: dt.date) -> Participant:
    participant = factories.make_participant(world.trial, world.sites[site_index])
    services.generate_visits(participant, randomised_on=on)
    return participant


@pytest.fixture
def scene(world: World, mail_settings: SettingsWrapper) -> Scene:
    for code, months in (("m3", 3), ("m6", 6)):
        # Windows: 14 days before to 30 days after the due date (the model's defaults).
        VisitDefinition.objects.create(
            trial=world.trial, code=code, label=f"{months} months", offset_months=months
        )
    caseworker = world.users["caseworker"]
    caseworker.email = "caseworker@nav.example"
    caseworker.save(update_fields=["email"])
    colleague = factories.make_user("colleague", email="colleague@nav.example")
    factories.make_membership(colleague, world.trial, Membership.Role.CASEWORKER, [world.sites[1]])
    # A caseworker with due visits at BGO but no e-mail address.
    no_address = factories.make_user("no-address")
    factories.make_membership(no_address, world.trial, Membership.Role.CASEWORKER, [world.sites[2]])
    _randomised(world, 2, dt.date(2025, 3, 15))
    # The coordinator sees every site but is not a caseworker.
    world.users["coordinator"].email = "coordinator@nav.example"
    world.users["coordinator"].save(update_fields=["email"])
    return Scene(
        world=world,
        caseworker=caseworker,
        colleague=colleague,
        overdue=_randomised(world, 0, dt.date(2025, 2, 15)),
        due=_randomised(world, 0, dt.date(2025, 3, 15)),
        opening=_randomised(world, 0, dt.date(2025, 4, 20)),
        later=_randomised(world, 0, dt.date(2025, 5, 1)),
        elsewhere=_randomised(world, 1, dt.date(2025, 3, 15)),
    )


def outcome(assessed_on: dt.date) -> dict[str, Any]:
    return {
        "assessed_on": assessed_on,
        "in_paid_work": True,
        "hours_per_week": Decimal("20.0"),
        "monthly_earnings": 18000,
        "occupation_code": "5223",
        "on_benefits": False,
        "benefit_type": "",
        "self_rated_health": 4,
    }


def digest_to(user: User) -> EmailMessage:
    messages = [m for m in mail.outbox if m.to == [user.email]]
    assert len(messages) == 1, f"{len(messages)} digests to {user.get_username()}"
    return messages[0]


def html_of(message: EmailMessage) -> str:
    alternatives = getattr(message, "alternatives", [])
    assert [mimetype for _, mimetype in alternatives] == ["text/html"]
    return str(alternatives[0][0])


def section(body: str, heading: str) -> str:
    """The lines of a plain-text digest under ``heading`` up to the next blank line."""
    match = re.search(rf"^{heading}:\n((?:- .*\n)+)", body, flags=re.MULTILINE)
    return match.group(1) if match else ""


def test_each_caseworker_gets_one_digest_of_their_own_sites(scene: Scene) -> None:
    summary = reminders.send_digests(DAY)

    assert sorted(m.to[0] for m in mail.outbox) == [
        "caseworker@nav.example",
        "colleague@nav.example",
    ]
    assert (summary.sent, summary.without_email) == (2, 1)
    message = digest_to(scene.caseworker)
    assert message.subject == "Follow-up reminder: 3 visits need attention"
    assert message.from_email == "trials@localhost"
    body = str(message.body)
    assert scene.overdue.study_id in section(body, "Overdue")
    coming = section(body, "Coming due")
    assert scene.due.study_id in coming
    assert scene.opening.study_id in coming
    assert scene.overdue.study_id not in coming
    for absent in (scene.later, scene.elsewhere, *scene.world.participants["OSLA"]):
        assert absent.study_id not in body
    assert f"{SITE_URL}/trials/ips/worklist/" in body
    html = html_of(message)
    assert f'href="{SITE_URL}/trials/ips/worklist/"' in html
    # Each row links to the visit's data-entry page.
    due_visit = scene.visit(scene.due)
    assert f'href="{SITE_URL}/trials/ips/visits/{due_visit.pk}/assess/"' in html
    assert scene.elsewhere.study_id not in html
    assert scene.elsewhere.study_id in digest_to(scene.colleague).body
    assert scene.due.study_id not in digest_to(scene.colleague).body
    assert dict(ReminderDigest.objects.values_list("user__username", "visit_count")) == {
        "caseworker": 3,
        "colleague": 1,
    }


def test_overdue_and_coming_due_visits_are_sorted_into_their_sections(scene: Scene) -> None:
    digest = reminders.digest_for(scene.caseworker, DAY)

    [trial] = digest.trials
    assert [(r.study_id, r.status) for r in trial.overdue] == [
        (scene.overdue.study_id, Visit.Status.OVERDUE)
    ]
    assert [(r.study_id, r.status) for r in trial.coming_due] == [
        (scene.due.study_id, Visit.Status.DUE),
        (scene.opening.study_id, Visit.Status.NOT_YET_DUE),
    ]


def test_caseworker_with_nothing_due_gets_no_email(scene: Scene) -> None:
    summary = reminders.send_digests(dt.date(2025, 3, 1))

    assert mail.outbox == []
    assert summary.nothing_due == 3
    assert not ReminderDigest.objects.exists()


def test_second_run_on_the_same_day_sends_nothing(scene: Scene) -> None:
    reminders.send_digests(DAY)
    again = reminders.send_digests(DAY)

    assert len(mail.outbox) == 2
    assert (again.sent, again.already_sent) == (0, 2)
    assert ReminderDigest.objects.filter(day=DAY).count() == 2
    reminders.send_digests(DAY + dt.timedelta(days=1))
    assert len(mail.outbox) == 4


def test_reminder_stops_once_the_assessment_is_recorded(scene: Scene) -> None:
    reminders.send_digests(DAY)
    assert scene.due.study_id in digest_to(scene.caseworker).body

    instruments.record_assessment(
        scene.visit(scene.due), values=outcome(DAY), actor=scene.caseworker
    )
    mail.outbox.clear()
    reminders.send_digests(DAY + dt.timedelta(days=1))

    body = digest_to(scene.caseworker).body
    assert scene.due.study_id not in body
    assert scene.overdue.study_id in body


def test_reminder_stops_once_the_visit_is_marked_missed(scene: Scene) -> None:
    services.mark_visit_missed(scene.visit(scene.overdue), actor=scene.caseworker)
    reminders.send_digests(DAY)

    assert scene.overdue.study_id not in digest_to(scene.caseworker).body


def test_reminder_stops_once_the_participant_withdraws(scene: Scene) -> None:
    services.withdraw_participant(
        scene.overdue,
        withdrawn_on=DAY,
        scope="no_contact",
        reason="Moved abroad",
        actor=scene.caseworker,
    )
    reminders.send_digests(DAY + dt.timedelta(days=1))

    body = digest_to(scene.caseworker).body
    assert scene.overdue.study_id not in body
    assert scene.due.study_id in body


@pytest.mark.parametrize("status", [Participant.Status.LOST, Participant.Status.COMPLETED])
def test_reminder_stops_when_the_participant_leaves_follow_up(
    scene: Scene, status: Participant.Status
) -> None:
    # No service sets these statuses yet; the digest only looks at the stored status.
    Participant.objects.filter(pk__in=[scene.due.pk, scene.elsewhere.pk]).update(status=status)
    reminders.send_digests(DAY)

    assert scene.due.study_id not in digest_to(scene.caseworker).body
    assert [m.to for m in mail.outbox] == [[scene.caseworker.email]]


def test_closed_trial_sends_no_reminders(scene: Scene) -> None:
    Trial.objects.filter(pk=scene.world.trial.pk).update(status=Trial.Status.CLOSED)
    summary = reminders.send_digests(DAY)

    assert mail.outbox == []
    assert summary.nothing_due == summary.sent == 0


def test_digest_shows_study_ids_never_personal_numbers(scene: Scene) -> None:
    number = factories.personal_number()
    participant = factories.make_participant(scene.world.trial, scene.world.sites[0], number=number)
    services.generate_visits(participant, randomised_on=dt.date(2025, 3, 20))
    reminders.send_digests(DAY)

    message = digest_to(scene.caseworker)
    text = "\n".join([str(message.subject), str(message.body), html_of(message)])
    assert participant.study_id in text
    assert number not in text
    assert participant.personal_number_hash
    assert participant.personal_number_hash not in text
    assert not re.search(r"\b\d{11}\b", text)


def test_digest_is_written_in_the_configured_language(
    scene: Scene, mail_settings: SettingsWrapper
) -> None:
    mail_settings.LANGUAGE_CODE = "nb"
    reminders.send_digests(DAY)

    message = digest_to(scene.caseworker)
    # Strings already in the Norwegian catalogue; the rest follow when it is regenerated.
    assert "Forsinket:" in message.body
    assert "Arbeidsliste:" in message.body
    html = html_of(message)
    assert '<html lang="nb">' in html
    assert "Studie-ID" in html


class FlakyBackend(EmailBackend):
    """The locmem backend, except that the mail server refuses some recipients."""

    refused: set[str] = set()
    attempts: list[str] = []

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        for message in messages:
            FlakyBackend.attempts.extend(message.to)
            if set(message.to) & FlakyBackend.refused:
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"no such user")})
        return super().send_messages(messages)


@pytest.fixture
def flaky_mail(mail_settings: SettingsWrapper) -> type[FlakyBackend]:
    mail_settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.refused = set()
    FlakyBackend.attempts = []
    return FlakyBackend


def test_mail_failure_sends_the_others_and_a_rerun_sends_only_the_failed(
    scene: Scene, flaky_mail: type[FlakyBackend]
) -> None:
    flaky_mail.refused = {scene.caseworker.email}
    with pytest.raises(reminders.DigestDeliveryError) as failure:
        reminders.send_digests(DAY)

    assert (failure.value.sent, failure.value.failed) == (1, 1)
    assert [m.to for m in mail.outbox] == [[scene.colleague.email]]
    assert list(ReminderDigest.objects.values_list("user__username", flat=True)) == ["colleague"]

    flaky_mail.refused = set()
    summary = reminders.send_digests(DAY)
    assert (summary.sent, summary.already_sent) == (1, 1)
    assert sorted(m.to[0] for m in mail.outbox) == [scene.caseworker.email, scene.colleague.email]


def test_task_retries_mail_failures_a_bounded_number_of_times(
    scene: Scene, flaky_mail: type[FlakyBackend]
) -> None:
    flaky_mail.refused = {scene.caseworker.email}
    result = send_reminder_digests.apply(kwargs={"day": DAY.isoformat()})

    assert result.failed()
    assert isinstance(result.result, reminders.DigestDeliveryError)
    # The first attempt and five retries, all for the same day; the colleague got one e-mail.
    assert flaky_mail.attempts.count(scene.caseworker.email) == 1 + 5
    assert flaky_mail.attempts.count(scene.colleague.email) == 1
    assert [m.to for m in mail.outbox] == [[scene.colleague.email]]


def test_task_run_twice_sends_once(scene: Scene) -> None:
    first = send_reminder_digests.apply(kwargs={"day": DAY.isoformat()}).get()
    second = send_reminder_digests.apply(kwargs={"day": DAY.isoformat()}).get()

    assert (first["sent"], second["sent"], second["already_sent"]) == (2, 0, 2)
    assert len(mail.outbox) == 2


def test_command_dry_run_sends_and_records_nothing(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("send_reminders", "--day", DAY.isoformat(), "--dry-run")

    out = capsys.readouterr().out
    assert "would send to caseworker: 3 visits (1 overdue) in ips" in out
    assert "1 without e-mail address" in out
    assert mail.outbox == []
    assert not ReminderDigest.objects.exists()

    call_command("send_reminders", "--day", DAY.isoformat())
    assert len(mail.outbox) == 2
    assert ReminderDigest.objects.count() == 2


def test_command_refuses_a_malformed_day(scene: Scene) -> None:
    with pytest.raises(CommandError, match="not a date"):
        call_command("send_reminders", "--day", "2025-13-01")


def test_digests_are_scheduled_daily_at_seven() -> None:
    [entry] = [
        e for e in celery_app.conf.beat_schedule.values() if e["task"] == send_reminder_digests.name
    ]
    assert send_reminder_digests.name in celery_app.tasks
    assert entry["schedule"] == crontab(hour=7, minute=0)
    assert celery_app.conf.timezone == "Europe/Oslo"


@pytest.mark.django_db(transaction=True)
def test_digests_are_sent_by_a_real_worker_on_redis(
    require_redis: str, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A queue of its own, so that workers of other test processes sharing this Redis (each
    # with its own test database) cannot take the job. The worker selects it on the shared app;
    # monkeypatch restores the app's queue selection afterwards.
    queue = f"test-reminders-{uuid.uuid4().hex}"
    monkeypatch.setattr(
        celery_app.amqp.queues, "_consume_from", celery_app.amqp.queues._consume_from
    )
    monkeypatch.setitem(celery_app.conf, "worker_hijack_root_logger", False)

    def close_worker_connections(**kwargs: Any) -> None:
        connections.close_all()  # runs in the worker thread: its own connection

    task_postrun.connect(close_worker_connections, weak=False)
    try:
        with start_worker(celery_app, perform_ping_check=False, queues=[queue], loglevel="WARNING"):
            send_reminder_digests.apply_async(kwargs={"day": DAY.isoformat()}, queue=queue)
            deadline = time.monotonic() + 60
            while ReminderDigest.objects.filter(day=DAY).count() < 2:
                assert time.monotonic() < deadline, "the worker did not send the digests"
                time.sleep(0.1)
    finally:
        task_postrun.disconnect(close_worker_connections)
        # Declared again on this channel so that deleting it also removes its bindings.
        with celery_app.connection_for_write() as conn:
            bound = KombuQueue(queue, Exchange(queue), routing_key=queue)(conn.default_channel)
            bound.declare()
            bound.delete()

    assert sorted(m.to[0] for m in mail.outbox) == [scene.caseworker.email, scene.colleague.email]
    assert scene.due.study_id in digest_to(scene.caseworker).body
