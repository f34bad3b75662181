"""What instruments add to the participant page: a panel of each visit's instruments, answered
or not, with their scores (the timeline's entries are in ``instruments.timeline``).

Nothing here writes: a trial whose default instrument is not made yet shows it by the built-in
name (it is made when its first answers are recorded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from instruments import builtin
from instruments.definition import Text
from instruments.models import Assessment, Instrument, VisitInstrument
from instruments.scoring import band
from trial import permissions
from trial.extensions import Panel, register_participant_panel
from trial.models import Participant, Visit
from trial.permissions import Perm


def score_texts(assessment: Assessment) -> list[str]:
    """Each scale score of an answered instrument, e.g. "PHQ-9: 12 (moderate)"."""
    texts = []
    for scale in assessment.version.parsed.scales:
        value = assessment.scores.get(scale.name)
        label = scale.label.get() or scale.name
        if value is None:
            texts.append(_("%(scale)s: missing") % {"scale": label})
            continue
        shown = format(Decimal(str(value)).normalize(), "f")
        found = band(scale, value)
        texts.append(
            _("%(scale)s: %(value)s (%(band)s)")
            % {"scale": label, "value": shown, "band": found.label.get()}
            if found is not None
            else _("%(scale)s: %(value)s") % {"scale": label, "value": shown}
        )
    return texts


@dataclass
class Asked:
    """One instrument at one visit, for the panel."""

    name: str
    assessment: Assessment | None = None
    scores: list[str] = field(default_factory=list)


@dataclass
class VisitRow:
    visit: Visit
    status: str
    instruments: list[Asked]
    url: str = ""


def _default_name(trial_id: int) -> tuple[Instrument | None, str]:
    found = Instrument.objects.filter(trial_id=trial_id, builtin=builtin.EMPLOYMENT).first()
    if found is not None:
        return found, found.name
    spec = builtin.BUILTIN[builtin.EMPLOYMENT]
    return None, Text(str(spec["name_en"]), str(spec["name_nb"])).get()


def recorded_answers(participant: Participant) -> list[Assessment]:
    return list(
        Assessment.objects.filter(visit__participant=participant)
        .select_related("instrument", "version", "visit__definition")
        .order_by("assessed_on", "id")
    )


@register_participant_panel
def instruments_panel(request: HttpRequest, participant: Participant) -> Panel | None:
    visits = list(participant.visits.select_related("definition").order_by("due_on"))
    if not visits:
        return None
    trial = participant.trial
    links: dict[int, list[Instrument]] = {}
    for link in VisitInstrument.objects.filter(
        visit_definition_id__in={v.definition_id for v in visits}
    ).select_related("instrument"):
        links.setdefault(link.visit_definition_id, []).append(link.instrument)
    default, default_name = _default_name(trial.pk)
    recorded: dict[tuple[int, int], Assessment] = {
        (a.visit_id, a.instrument_id): a for a in recorded_answers(participant)
    }
    can_assess = permissions.has_perm(request.user, trial, Perm.RECORD_ASSESSMENT)
    today = timezone.localdate()
    rows = []
    for visit in visits:
        asked: list[Asked] = []
        instruments = links.get(visit.definition_id) or ([default] if default else [])
        for instrument in instruments:
            assessment = recorded.get((visit.pk, instrument.pk))
            asked.append(
                Asked(
                    instrument.name,
                    assessment,
                    score_texts(assessment) if assessment is not None else [],
                )
            )
        # Answers to instruments no longer asked at this visit still show.
        shown = {i.pk for i in instruments}
        for (visit_id, instrument_id), assessment in recorded.items():
            if visit_id == visit.pk and instrument_id not in shown:
                asked.append(Asked(assessment.instrument.name, assessment, score_texts(assessment)))
        if not asked:
            asked.append(Asked(default_name))
        rows.append(
            VisitRow(
                visit,
                visit.status_on(today),
                asked,
                reverse("instruments:assess", args=[trial.code, visit.pk]) if can_assess else "",
            )
        )
    return Panel("instruments/_panel.html", {"rows": rows}, order=20)
