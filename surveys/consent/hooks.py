"""What electronic consent adds to the participant page: the consent history (never the
typed name), the open consent links (sent when, reminded how often, why reminders stopped),
and the ways to ask (a link, or this device)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from surveys.consent.delivery import summary_text
from surveys.consent.models import ConsentRecord, ConsentRequest
from trial import permissions
from trial.extensions import Panel, register_participant_panel
from trial.models import Participant
from trial.permissions import Perm


@register_participant_panel
def consent_panel(request: HttpRequest, participant: Participant) -> Panel | None:
    trial = participant.trial
    if not permissions.has_perm(request.user, trial, Perm.VIEW_PARTICIPANTS):
        return None
    can_manage = permissions.has_perm(request.user, trial, Perm.MANAGE_CONSENT)
    records = list(
        ConsentRecord.objects.filter(participant=participant)
        .select_related("text", "recorded_by")
        .order_by("-recorded_at", "-pk")
    )
    rows = [
        {
            "record": record,
            "by": record.recorded_by.get_username() if record.recorded_by else "",
            "pdf_url": reverse("consent_staff:pdf", args=[trial.code, record.pk])
            if can_manage and record.pdf_file
            else "",
        }
        for record in records
    ]
    today = timezone.localdate()
    requests = [
        {"request": row, "summary": summary_text(row, today)}
        for row in ConsentRequest.objects.with_state()
        .filter(participant=participant, closed_at__isnull=True)
        .select_related("text", "participant__contact_details")
        .order_by("-created_at", "-pk")
    ]
    active = participant.status == Participant.Status.ACTIVE
    args = [trial.code, participant.study_id]
    context = {
        "rows": rows,
        "requests": requests,
        "device_url": reverse("consent_staff:device", args=args)
        if active and permissions.has_perm(request.user, trial, Perm.RECORD_ASSESSMENT)
        else "",
        "send_url": reverse("consent_staff:send", args=args) if active and can_manage else "",
    }
    return Panel("surveys/consent/_panel.html", context, order=26)
