"""Daily reminder digests: each caseworker's follow-up visits coming due and overdue.

A digest lists open visits of active participants at the caseworker's own sites, in every trial
(not closed) where they are a caseworker. The query does the stopping: once a visit is
completed or marked missed, or the participant withdraws, is lost to follow-up or completes,
the visit is simply no longer found, so no reminder needs to be cancelled.

Digests carry study ids, site codes and visit labels only, never names or personal numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import ngettext

from trial.models import (
    COMING_DUE_DAYS,
    Membership,
    Participant,
    ReminderDigest,
    Trial,
    Visit,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser, User
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

HORIZON_DAYS = COMING_DUE_DAYS


class DigestDeliveryError(Exception):
    """The mail server refused or could not be reached for some digests.

    Those digests were not recorded as sent, so running again (the task retries) sends exactly
    them; the ones that went out are recorded and are not sent twice.
    """

    def __init__(self, day: dt.date, failed: int, sent: int) -> None:
        super().__init__(day, failed, sent)  # plain arguments, so Celery can pickle it
        self.day = day
        self.failed = failed
        self.sent = sent

    def __str__(self) -> str:
        return f"{self.failed} reminder digest(s) for {self.day} not sent ({self.sent} sent)"


@dataclass(frozen=True)
class VisitRow:
    """What a digest shows about one visit; deliberately no participant object."""

    study_id: str
    site_code: str
    visit_label: str
    due_on: dt.date
    window_start: dt.date
    window_end: dt.date
    status: str
    status_label: StrOrPromise
    assess_url: str


@dataclass
class TrialVisits:
    trial_code: str
    trial_title: str
    worklist_url: str
    overdue: list[VisitRow] = field(default_factory=list)
    coming_due: list[VisitRow] = field(default_factory=list)


@dataclass
class Digest:
    user: AbstractUser
    day: dt.date
    trials: list[TrialVisits]

    @property
    def visit_count(self) -> int:
        return sum(len(t.overdue) + len(t.coming_due) for t in self.trials)

    @property
    def overdue_count(self) -> int:
        return sum(len(t.overdue) for t in self.trials)


@dataclass
class RunSummary:
    day: dt.date
    sent: int = 0
    already_sent: int = 0
    nothing_due: int = 0
    without_email: int = 0
    failed: int = 0
    digests: list[Digest] = field(default_factory=list)  # sent, or would be sent in a dry run

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "sent": self.sent,
            "already_sent": self.already_sent,
            "nothing_due": self.nothing_due,
            "without_email": self.without_email,
            "failed": self.failed,
        }


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def caseworkers() -> QuerySet[User]:
    """Active users who are caseworkers in at least one trial that is not closed."""
    memberships = Membership.objects.filter(role=Membership.Role.CASEWORKER).exclude(
        trial__status=Trial.Status.CLOSED
    )
    return (
        get_user_model()
        .objects.filter(is_active=True, pk__in=memberships.values("user_id"))
        .order_by("pk")
    )


def digest_for(user: User, day: dt.date) -> Digest:
    """The visits ``user`` should hear about on ``day``, grouped by trial; may be empty.

    Participants are scoped through the permission layer (``visible_to``), so a digest never
    lists a visit the caseworker could not open from the worklist it links to.
    """
    trial_ids = (
        Membership.objects.filter(user_id=user.pk, role=Membership.Role.CASEWORKER)
        .exclude(trial__status=Trial.Status.CLOSED)
        .values("trial_id")
    )
    participants = Participant.objects.visible_to(user).active().filter(trial_id__in=trial_ids)
    visits = (
        Visit.objects.due_by(day + dt.timedelta(days=HORIZON_DAYS))
        .filter(participant__in=participants)
        .select_related("participant__site", "participant__trial", "definition")
        .order_by("participant__trial__title", "window_end", "participant__study_id")
    )
    by_trial: dict[int, TrialVisits] = {}
    for visit in visits:
        trial = visit.participant.trial
        section = by_trial.get(trial.pk)
        if section is None:
            section = by_trial[trial.pk] = TrialVisits(
                trial_code=trial.code,
                trial_title=trial.title,
                worklist_url=_absolute(reverse("trial:worklist", args=[trial.code])),
            )
        status = visit.status_on(day)
        row = VisitRow(
            study_id=visit.participant.study_id,
            site_code=visit.participant.site.code,
            visit_label=visit.definition.label,
            due_on=visit.due_on,
            window_start=visit.window_start,
            window_end=visit.window_end,
            status=status,
            status_label=status.label,
            assess_url=_absolute(reverse("instruments:assess", args=[trial.code, visit.pk])),
        )
        if status == Visit.Status.OVERDUE:
            section.overdue.append(row)
        else:
            section.coming_due.append(row)
    for section in by_trial.values():
        section.coming_due.sort(key=lambda r: (r.window_start, r.study_id))
    return Digest(user=user, day=day, trials=list(by_trial.values()))


def build_message(digest: Digest) -> EmailMultiAlternatives:
    """The digest as one e-mail, plain text with an HTML alternative.

    There is no per-user language setting (the browser's choice lives in a cookie), so the
    e-mail is written in ``LANGUAGE_CODE``, whatever language the worker happens to have active.
    """
    user = digest.user
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "name": user.get_full_name() or user.get_username(),
            "day": digest.day,
            "trials": digest.trials,
        }
        subject = ngettext(
            "Follow-up reminder: %(count)d visit needs attention",
            "Follow-up reminder: %(count)d visits need attention",
            digest.visit_count,
        ) % {"count": digest.visit_count}
        text = render_to_string("email/reminder_digest.txt", context)
        html = render_to_string("email/reminder_digest.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]
    )
    message.attach_alternative(html, "text/html")
    return message


def send_digests(day: dt.date, *, dry_run: bool = False) -> RunSummary:
    """Send each caseworker one digest for ``day``; skip those with nothing due or no e-mail.

    Safe to repeat: a ``ReminderDigest`` row is written in the same transaction as the
    sending, and (user, day) is unique, so a second run, a duplicate beat or a concurrent worker
    sends nothing more. If the mail server fails for some users, the others are still sent
    and ``DigestDeliveryError`` is raised at the end; the failed ones are retried by the next
    run. A crash between handing the mail over and committing could send one digest twice;
    we prefer that to losing it. ``dry_run`` renders the digests but neither sends nor records.
    """
    summary = RunSummary(day=day)
    for user in caseworkers():
        if ReminderDigest.objects.filter(user_id=user.pk, day=day).exists():
            summary.already_sent += 1
            continue
        digest = digest_for(user, day)
        if digest.visit_count == 0:
            summary.nothing_due += 1
            continue
        if not user.email:
            summary.without_email += 1
            continue
        message = build_message(digest)
        if dry_run:
            summary.digests.append(digest)
            continue
        try:
            with transaction.atomic():
                ReminderDigest.objects.create(
                    user_id=user.pk, day=day, visit_count=digest.visit_count
                )
                message.send()
        except IntegrityError:
            summary.already_sent += 1  # a concurrent run recorded it first
        except OSError as error:  # smtplib.SMTPException and socket errors are OSErrors
            summary.failed += 1
            logger.warning("Reminder digest for user %s on %s not sent: %s", user.pk, day, error)
        else:
            summary.sent += 1
            summary.digests.append(digest)
    logger.info(
        "Reminder digests for %s%s: %s", day, " (dry run)" if dry_run else "", summary.as_dict()
    )
    if summary.failed:
        raise DigestDeliveryError(day, summary.failed, summary.sent)
    return summary
