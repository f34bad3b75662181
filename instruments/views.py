"""The data-entry pages: a visit's instruments, each its own form, and the correction of
answers already recorded. Access is decided in trial.permissions (RECORD_ASSESSMENT, and the
participant inside the user's sites)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from instruments import services
from instruments.forms import (
    CorrectionForm,
    InstrumentForm,
    RecordForm,
    ShownAnswer,
    ShownScore,
    shown_answers,
    shown_scores,
)
from instruments.models import Assessment, Instrument
from trial.models import Participant, Trial, Visit
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError, ensure_data_entry_allowed
from trial.views import show_error, trial_view


@dataclass
class Section:
    """One instrument of the visit on the page: its answers once recorded, else its form."""

    instrument: Instrument
    assessment: Assessment | None = None
    answers: list[ShownAnswer] | None = None
    scores: list[ShownScore] | None = None
    form: InstrumentForm | None = None
    record: RecordForm | None = None

    @property
    def code(self) -> str:
        return self.instrument.code


def _visible(request: AuthenticatedHttpRequest, trial: Trial) -> QuerySet[Participant]:
    return Participant.objects.filter(trial=trial).visible_to(request.user)


def _blocked(participant: Participant) -> str | None:
    try:
        ensure_data_entry_allowed(participant)
    except TrialError as error:
        return error.message
    return None


def _contamination_initial(trial: Trial, visit: Visit) -> dict[str, Any]:
    """The visit's answer to the contamination question so far (asked once per visit: an
    answer given with a later instrument replaces it)."""
    if not trial.contamination_question:
        return {}
    answer = visit.contamination_reported
    return {"contamination_reported": "" if answer is None else ("yes" if answer else "no")}


@trial_view(Perm.RECORD_ASSESSMENT)
def assess(request: AuthenticatedHttpRequest, trial: Trial, visit_id: int) -> HttpResponse:
    """A visit's instruments: the answered ones read-only (with a link to correct them), the
    others each as a form; saving one records that instrument."""
    visit = get_object_or_404(
        Visit.objects.select_related("participant__site", "participant__trial", "definition"),
        pk=visit_id,
        participant__in=_visible(request, trial),
    )
    participant = visit.participant
    blocked = _blocked(participant)
    instruments = services.instruments_at(visit)
    recorded = {
        a.instrument_id: a
        for a in Assessment.objects.filter(visit=visit).select_related("version", "instrument")
    }
    # Instruments answered at this visit but no longer attached to it still show.
    extra = [a.instrument for a in recorded.values() if a.instrument not in instruments]
    posted = request.POST.get("instrument") if request.method == "POST" else None
    question = trial.contamination_question
    open_for_entry = blocked is None and not visit.missed
    today = timezone.localdate()
    sections: list[Section] = []
    for instrument in [*instruments, *extra]:
        assessment = recorded.get(instrument.pk)
        if assessment is not None:
            definition = assessment.version.parsed
            sections.append(
                Section(
                    instrument,
                    assessment,
                    answers=shown_answers(definition, assessment),
                    scores=shown_scores(definition, assessment),
                )
            )
            continue
        if not open_for_entry or instrument in extra:
            sections.append(Section(instrument))
            continue
        bound = posted == instrument.code
        data = request.POST if bound else None
        definition = instrument.current_version().parsed
        sections.append(
            Section(
                instrument,
                form=InstrumentForm(definition, data, prefix=instrument.code),
                record=RecordForm(
                    data,
                    prefix=instrument.code,
                    question=question,
                    initial={"assessed_on": today, **_contamination_initial(trial, visit)},
                ),
            )
        )
    if request.method == "POST" and open_for_entry:
        section = next((s for s in sections if s.form is not None and s.code == posted), None)
        if section is None or section.form is None or section.record is None:
            messages.error(request, _("This instrument cannot be recorded at this visit."))
        elif _record(request, visit, section, section.form, section.record):
            return redirect(reverse("instruments:assess", args=[trial.code, visit.pk]))
    context: dict[str, Any] = {
        "trial": trial,
        "visit": visit,
        "participant": participant,
        "sections": sections,
        "blocked": blocked,
        "status": visit.status_on(today),
        "branching": any(s.form is not None and s.form.has_branching for s in sections),
        "can_correct": blocked is None,
    }
    return render(request, "instruments/assess.html", context, status=200)


def _record(
    request: AuthenticatedHttpRequest,
    visit: Visit,
    section: Section,
    form: InstrumentForm,
    record: RecordForm,
) -> bool:
    """Record one instrument from its posted form; False (errors on the forms) if refused."""
    valid = record.is_valid() & form.is_valid()  # both, so every error shows at once
    if not valid:
        return False
    values, missing = form.raw_answers()
    values["assessed_on"] = record.cleaned_data["assessed_on"]
    if record.cleaned_data.get("contamination_reported") is not None:
        values["contamination_reported"] = record.cleaned_data["contamination_reported"]
    try:
        services.record_assessment(
            visit,
            values=values,
            missing=missing,
            instrument=section.instrument,
            actor=request.user,
        )
    except services.AnswersError as error:
        form.add_answer_errors(error.answer_errors)
        return False
    except TrialError as error:
        show_error(record if error.field in record.fields else form, error)
        return False
    messages.success(
        request, _("%(instrument)s recorded.") % {"instrument": section.instrument.name}
    )
    return True


@trial_view(Perm.RECORD_ASSESSMENT)
def correct(request: AuthenticatedHttpRequest, trial: Trial, assessment_id: int) -> HttpResponse:
    """Correct recorded answers (checked against the version they were entered under), with a
    reason kept in the audit trail."""
    assessment = get_object_or_404(
        Assessment.objects.select_related(
            "version", "instrument", "visit__definition", "visit__participant__site"
        ),
        pk=assessment_id,
        visit__participant__in=_visible(request, trial),
    )
    visit = assessment.visit
    participant = visit.participant
    blocked = _blocked(participant)
    definition = assessment.version.parsed
    data = request.POST if request.method == "POST" and blocked is None else None
    form = InstrumentForm(
        definition, data, assessment=assessment, prefix=assessment.instrument.code
    )
    details = CorrectionForm(
        data, prefix="correction", initial={"assessed_on": assessment.assessed_on}
    )
    if data is not None:
        valid = details.is_valid() & form.is_valid()
        if valid:
            values, missing = form.raw_answers()
            try:
                services.correct_assessment(
                    assessment,
                    values={**values, "assessed_on": details.cleaned_data["assessed_on"]},
                    missing=missing,
                    reason=details.cleaned_data["reason"],
                    actor=request.user,
                )
            except services.AnswersError as error:
                form.add_answer_errors(error.answer_errors)
            except TrialError as error:
                show_error(details if error.field in details.fields else form, error)
            else:
                messages.success(
                    request,
                    _("The answers to %(instrument)s were corrected.")
                    % {"instrument": assessment.instrument.name},
                )
                return redirect(reverse("instruments:assess", args=[trial.code, visit.pk]))
    context = {
        "trial": trial,
        "visit": visit,
        "participant": participant,
        "assessment": assessment,
        "instrument": assessment.instrument,
        "form": form,
        "details": details,
        "blocked": blocked,
        "branching": form.has_branching,
    }
    return render(request, "instruments/correct.html", context)
