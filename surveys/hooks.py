"""What participant questionnaires add to staff pages: a panel on the participant page (how
to reach them, their links by visit), an entry on the participant's timeline for each
questionnaire they answered through a link, and a note per visit on the worklist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from surveys.delivery import summary_text
from surveys.models import ContactDetails, Invitation
from trial import permissions
from trial.extensions import (
    Panel,
    TimelineEntry,
    register_participant_panel,
    register_timeline,
    register_worklist_notes,
)
from trial.models import Participant
from trial.permissions import Perm


def _by_visit(invitations: list[Invitation]) -> dict[tuple[int, int], list[Invitation]]:
    grouped: dict[tuple[int, int], list[Invitation]] = {}
    for invitation in invitations:
        grouped.setdefault((invitation.visit_id, invitation.instrument_id), []).append(invitation)
    return grouped


@register_participant_panel
def links_panel(request: HttpRequest, participant: Participant) -> Panel | None:
    trial = participant.trial
    if not permissions.has_perm(request.user, trial, Perm.RECORD_ASSESSMENT):
        return None
    contact = ContactDetails.objects.filter(participant=participant).first()
    invitations = list(
        Invitation.objects.filter(participant=participant)
        .select_related("visit__definition", "instrument")
        .order_by("visit__due_on", "instrument__order", "channel")
    )
    today = timezone.localdate()
    rows = [
        {
            "visit": group[0].visit,
            "instrument": group[0].instrument,
            "channels": [i.get_channel_display() for i in group],
            "summary": summary_text(group, today),
        }
        for group in _by_visit(invitations).values()
    ]
    context: dict[str, Any] = {
        "contact": contact,
        "has_email": bool(contact and contact.email_encrypted),
        "has_phone": bool(contact and contact.phone_encrypted),
        "rows": rows,
        "edit_url": reverse("surveys_staff:contact", args=[trial.code, participant.study_id]),
    }
    return Panel("surveys/staff/_panel.html", context, order=25)


@register_timeline
def answered_through_link(
    request: HttpRequest, participant: Participant
) -> Iterator[TimelineEntry]:
    """ "Answered by the participant, through a link": one entry per instrument and visit, beside
    the assessment's own entry (instruments.timeline), with the instrument version and the time."""
    answered = (
        Invitation.objects.filter(participant=participant, answered_at__isnull=False)
        .select_related("visit__definition", "instrument", "version")
        .order_by("answered_at")
    )
    for group in _by_visit(list(answered)).values():
        first = group[0]
        assert first.answered_at is not None  # noqa: S101 - filtered above
        yield TimelineEntry(
            timezone.localdate(first.answered_at),
            "link-answer",
            _("Answered by the participant, through a link"),
            detail=_("%(instrument)s at %(visit)s, instrument version %(version)s, %(time)s")
            % {
                "instrument": first.instrument.name,
                "visit": first.visit.definition.label,
                "version": first.version.number,
                "time": timezone.localtime(first.answered_at).strftime("%H:%M"),
            },
            at=first.answered_at,
        )


@register_worklist_notes
def worklist_notes(request: HttpRequest, visits: list[Any]) -> dict[int, str]:
    invitations = list(Invitation.objects.filter(visit__in=[v.pk for v in visits]))
    today = timezone.localdate()
    by_visit: dict[int, list[Invitation]] = {}
    for invitation in invitations:
        by_visit.setdefault(invitation.visit_id, []).append(invitation)
    return {visit_id: summary_text(group, today) for visit_id, group in by_visit.items()}
