"""What pathways adds to the participant page: the monthly sequence as a coloured strip."""

from __future__ import annotations

from django.http import HttpRequest

from pathways import charts, services
from pathways.models import QualityFlag, Spell
from trial import permissions
from trial.extensions import Panel, register_participant_panel
from trial.models import Participant
from trial.permissions import Perm


@register_participant_panel
def pathway_panel(request: HttpRequest, participant: Participant) -> Panel | None:
    trial = participant.trial
    if not permissions.has_perm(request.user, trial, Perm.VIEW_PARTICIPANTS):
        return None
    spells = list(
        Spell.objects.filter(participant=participant)
        .select_related("state")
        .order_by("starts_on", "state__priority")
    )
    states = services.alphabet(trial)
    if not spells and not states:
        return None
    entries = charts.legend(states)
    table = services.sequence_table(trial)
    row = table.row_of(participant.pk)
    strip = runs = None
    if row is not None:
        strip = charts.strip(table.values[row], entries)
        runs = charts.runs_text(table.values[row], entries)
    return Panel(
        "pathways/_panel.html",
        {
            "spells": spells,
            "legend": entries,
            "strip": strip,
            "runs": runs,
            "anchor": table.anchors[row].item() if row is not None else None,
            "months": table.months,
            "open_flags": QualityFlag.objects.filter(
                participant=participant, reviewed_at__isnull=True
            ).count(),
            "can_import": permissions.has_perm(request.user, trial, Perm.IMPORT_DATA),
        },
        order=30,
    )
