"""The participant timeline's own entries: screening, consent, enrolment, missed visits,
withdrawal, loss to follow-up. Answered instruments come from ``instruments.timeline``."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpRequest
from django.utils.translation import gettext as _

from trial.extensions import TimelineEntry, register_timeline
from trial.models import LossToFollowUp, Participant, ScreeningRecord, Withdrawal


@register_timeline
def follow_up_entries(request: HttpRequest, participant: Participant) -> Iterator[TimelineEntry]:
    screening = ScreeningRecord.objects.filter(participant=participant).first()
    if screening is not None:
        yield TimelineEntry(
            screening.screened_on,
            "screening",
            _("Screened: eligible"),
            at=screening.created_at,
        )
    if participant.consent_date:
        yield TimelineEntry(
            participant.consent_date,
            "consent",
            _("Consented (form version %(version)s)") % {"version": participant.consent_version},
        )
    yield TimelineEntry(
        participant.enrolled_on,
        "enrolment",
        _("Enrolled at %(site)s") % {"site": participant.site.code},
        at=participant.created_at,
    )
    for visit in participant.visits.filter(missed=True).select_related("definition"):
        yield TimelineEntry(
            visit.window_end,
            "missed",
            _("Visit missed: %(visit)s") % {"visit": visit.definition.label},
        )
    withdrawal = Withdrawal.objects.filter(participant=participant).first()
    if withdrawal is not None:
        yield TimelineEntry(
            withdrawal.withdrawn_on,
            "withdrawal",
            _("Withdrew: %(scope)s") % {"scope": withdrawal.get_scope_display()},
            detail=withdrawal.reason,
            at=withdrawal.created_at,
        )
    loss = LossToFollowUp.objects.filter(participant=participant).first()
    if loss is not None:
        yield TimelineEntry(
            loss.lost_on,
            "lost",
            _("Lost to follow-up: %(reason)s") % {"reason": loss.get_reason_display()},
            detail=loss.detail,
            at=loss.created_at,
        )
