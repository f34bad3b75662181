"""Recording and correcting answers: every staff form, API call, import and participant link
goes through :func:`record_assessment` and :func:`correct_assessment`.

Answers are checked against the instrument version they are entered under
(``instruments.definition.clean_answers``), scale scores are derived in the same step, and each
write is atomic and audited. A visit is completed when every instrument attached to its visit
definition has been answered (with none attached, the first answer completes it).

The trial's contamination question is asked once per visit, whatever the instruments: its answer
travels with the answers (``values["contamination_reported"]``) and is kept on the visit
(``Visit.contamination_reported``); ``fidelity`` turns a control participant's yes into an
exposure through ``trial.extensions.assessment_recorded``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from instruments import scoring
from instruments.definition import AnswerError, Answers, clean_answers
from instruments.models import Assessment, Instrument, InstrumentVersion, VisitInstrument
from instruments.setup.services import InstrumentError, default_instrument
from trial import audit, bulk, extensions
from trial.models import Visit
from trial.services import TrialError, ensure_data_entry_allowed


class AnswersError(InstrumentError):
    """Answers that cannot be stored: ``answer_errors`` maps each variable at fault to its
    message (shown next to the item; the API's 400 names the item)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(_("Some answers are invalid."), field=next(iter(errors), None))
        self.answer_errors = errors


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise TrialError(_("Enter a date as YYYY-MM-DD."), field="assessed_on") from None


def _check_date(visit: Visit, assessed_on: dt.date) -> None:
    if assessed_on > timezone.localdate():
        raise TrialError(_("The assessment date cannot be in the future."), field="assessed_on")
    randomised_on = visit.participant.randomised_on
    if randomised_on and assessed_on < randomised_on:
        raise TrialError(
            _("The assessment date cannot be before randomisation."), field="assessed_on"
        )


_YES = {"yes", "true", "1", "on", "ja"}
_NO = {"no", "false", "0", "off", "nei"}


def _contamination(value: Any) -> bool | None:
    """The contamination answer as stored: yes, no, or None (not asked or not answered)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise TrialError(_("Answer yes or no."), field="contamination_reported")


def instruments_at(visit: Visit) -> list[Instrument]:
    """The instruments asked at a visit, in order (none attached: the trial's default)."""
    linked = [
        link.instrument
        for link in VisitInstrument.objects.filter(
            visit_definition_id=visit.definition_id
        ).select_related("instrument")
    ]
    return linked or [default_instrument(visit.participant.trial)]


def check_entry(
    visit: Visit,
    instrument: Instrument,
    assessed_on: dt.date,
    *,
    attached: set[int],
    answered: Collection[int] = (),
) -> None:
    """The rules of one instrument's answers at a visit that need no lock: the participant has
    not withdrawn, the date is neither in the future nor before randomisation, the instrument
    is the trial's and asked at the visit (``attached``: the instruments attached to the
    visit's definition), and, as far as the caller knows (``answered``: the instruments
    answered there), not answered yet. Raises TrialError; reads nothing."""
    participant = visit.participant
    ensure_data_entry_allowed(participant)
    _check_date(visit, assessed_on)
    if instrument.trial_id != participant.trial_id:
        raise TrialError(_("The instrument belongs to another trial."), field="instrument")
    if attached and instrument.pk not in attached:
        raise TrialError(_("This instrument is not asked at this visit."), field="instrument")
    if visit.missed:
        raise TrialError(_("This visit is closed already."))
    if instrument.pk in answered or (visit.completed_on is not None and not attached):
        raise TrialError(
            _("This instrument is answered at this visit already: correct the answers.")
        )


def record_assessment(
    visit: Visit,
    *,
    values: Mapping[str, Any],
    actor: User | None,
    instrument: Instrument | None = None,
    missing: Mapping[str, str] | None = None,
    source: str = Assessment.Source.STAFF,
    labels: bool = False,
    version: InstrumentVersion | None = None,
) -> Assessment:
    """Record one instrument's answers at a visit (``values`` also carries ``assessed_on`` and,
    where the trial asks it, ``contamination_reported``: yes, no or None for not answered; a
    yes or no is kept on the visit, audited, and replaces an earlier answer at that visit).

    ``instrument`` defaults to the trial's default instrument. A completion outside the visit
    window is accepted and flagged (Visit.in_window). Raises TrialError for a withdrawn
    participant, a missed visit, an instrument not asked at this visit or answered there
    already, an assessment date in the future or before randomisation, and AnswersError
    (every item at fault) for answers the definition refuses. Not safe to repeat: a second
    call for the same visit and instrument is refused (correct the answers instead).

    ``version`` (default: the instrument's current one) is the version the answers were given
    under: a participant's link is bound to the version it was sent for.
    """
    answers = dict(values)
    assessed_on = _date(answers.pop("assessed_on", None) or timezone.localdate())
    contamination = _contamination(answers.pop("contamination_reported", None))
    participant = visit.participant
    if instrument is None:
        ensure_data_entry_allowed(participant)
        _check_date(visit, assessed_on)
        instrument = default_instrument(participant.trial, actor=actor)
    attached = set(
        VisitInstrument.objects.filter(visit_definition_id=visit.definition_id).values_list(
            "instrument_id", flat=True
        )
    )
    check_entry(visit, instrument, assessed_on, attached=attached)
    if version is None:
        version = instrument.current_version()
    elif version.instrument_id != instrument.pk:
        raise TrialError(_("The version belongs to another instrument."), field="instrument")
    try:
        clean = clean_answers(version.parsed, answers, missing, labels=labels)
    except AnswerError as exc:
        raise AnswersError(exc.errors) from None
    with transaction.atomic():
        locked = _lock_for_entry(visit, instrument, attached=attached)
        assessment = _create_assessment(
            locked,
            Entry(locked, instrument, version, assessed_on, clean),
            source=source,
            actor=actor,
        )
        _complete_visit(locked, assessed_on, contamination, attached=attached, actor=actor)
        # Apps built on trial react in the same transaction (fidelity: contamination answers).
        extensions.assessment_recorded(assessment, actor=actor)
    visit.completed_on = locked.completed_on
    visit.contamination_reported = locked.contamination_reported
    return assessment


def _lock_for_entry(visit: Visit, instrument: Instrument, *, attached: set[int]) -> Visit:
    """The visit locked, its rules checked again on the row as it stands now (``visit`` may
    have been read before a withdrawal, a missed visit or another answer). Raises
    TrialError."""
    locked = (
        Visit.objects.select_for_update(of=("self",))
        .select_related("definition", "participant__trial")
        .get(pk=visit.pk)
    )
    ensure_data_entry_allowed(locked.participant)
    if locked.missed:
        raise TrialError(_("This visit is closed already."))
    if Assessment.objects.filter(visit=locked, instrument=instrument).exists() or (
        locked.completed_on is not None and not attached
    ):
        raise TrialError(
            _("This instrument is answered at this visit already: correct the answers.")
        )
    return locked


def _create_assessment(
    locked: Visit, entry: Entry, *, source: str, actor: User | None
) -> Assessment:
    """One instrument's answers saved at the locked visit, scores derived, and audited."""
    try:
        with transaction.atomic():
            assessment = Assessment.objects.create(
                visit=locked,
                instrument=entry.instrument,
                version=entry.version,
                assessed_on=entry.assessed_on,
                values=entry.answers.values,
                missing=entry.answers.missing,
                scores=scoring.derive_scores(entry.version.parsed, entry.answers.values),
                source=source,
                recorded_by=actor,
            )
    except IntegrityError:
        raise TrialError(
            _("This instrument is answered at this visit already: correct the answers.")
        ) from None
    audit.record(
        "assessment.created",
        assessment,
        actor=actor,
        trial=locked.participant.trial,
        data={
            "after": audit.snapshot(assessment),
            "in_window": _in_window(locked, entry.assessed_on),
        },
    )
    return assessment


def _complete_visit(
    locked: Visit,
    assessed_on: dt.date,
    contamination: bool | None,
    *,
    attached: set[int],
    actor: User | None,
) -> None:
    """The locked visit completed once every attached instrument is answered (with none
    attached, by the first answer), and the contamination answer kept; the change audited."""
    answered = set(Assessment.objects.filter(visit=locked).values_list("instrument_id", flat=True))
    before = audit.snapshot(locked)
    changed = []
    if locked.completed_on is None and (not attached or attached <= answered):
        locked.completed_on = assessed_on
        changed.append("completed_on")
    if contamination is not None and contamination != locked.contamination_reported:
        locked.contamination_reported = contamination
        changed.append("contamination_reported")
    if changed:
        locked.save(update_fields=changed)
        audit.record_changed(locked, before, actor=actor)


@dataclass(frozen=True)
class Entry:
    """One instrument's answers at a visit for :func:`record_assessments`: checked by
    :func:`check_entry`, the answers cleaned by ``clean_answers`` against ``version`` (the
    instrument's latest)."""

    visit: Visit
    instrument: Instrument
    version: InstrumentVersion
    assessed_on: dt.date
    answers: Answers


def record_assessments(
    entries: list[Entry], *, actor: User | None, source: str = Assessment.Source.IMPORT
) -> list[Assessment]:
    """Record many instruments' answers at once, as :func:`record_assessment` records one
    (scores derived, each audited, visits completed when every attached instrument is
    answered, the apps told), in a fixed number of statements. Locks the visits inside the
    caller's transaction; an entry whose visit was closed or answered since the caller looked
    is refused: TrialError, nothing written. No contamination answer (imports
    do not carry one). Not safe to repeat."""
    if not entries:
        return []
    with transaction.atomic():
        ids = {entry.visit.pk for entry in entries}
        # The caller's visits, with their state as it stands under the lock.
        locked = {entry.visit.pk: entry.visit for entry in entries}
        for pk, missed, completed_on in (
            Visit.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .values_list("pk", "missed", "completed_on")
        ):
            locked[pk].missed, locked[pk].completed_on = missed, completed_on
        answered: dict[int, set[int]] = {}
        for visit_id, instrument_id in Assessment.objects.filter(visit__in=ids).values_list(
            "visit_id", "instrument_id"
        ):
            answered.setdefault(visit_id, set()).add(instrument_id)
        attached: dict[int, set[int]] = {}
        for definition_id, instrument_id in VisitInstrument.objects.filter(
            visit_definition__in={entry.visit.definition_id for entry in entries}
        ).values_list("visit_definition_id", "instrument_id"):
            attached.setdefault(definition_id, set()).add(instrument_id)
        assessments = []
        completing: list[Visit | None] = []  # the visit each entry completes, if any
        for entry in entries:
            visit = locked[entry.visit.pk]
            links = attached.get(visit.definition_id, set())
            check_entry(
                visit,
                entry.instrument,
                entry.assessed_on,
                attached=links,
                answered=answered.get(visit.pk, set()),
            )
            done = answered.setdefault(visit.pk, set())
            done.add(entry.instrument.pk)
            if visit.completed_on is None and (not links or links <= done):
                visit.completed_on = entry.assessed_on
                completing.append(visit)
            else:
                completing.append(None)
            definition = entry.version.parsed
            assessments.append(
                Assessment(
                    visit=visit,
                    instrument=entry.instrument,
                    version=entry.version,
                    assessed_on=entry.assessed_on,
                    values=entry.answers.values,
                    missing=entry.answers.missing,
                    scores=scoring.derive_scores(definition, entry.answers.values),
                    source=source,
                    recorded_by=actor,
                )
            )
        bulk.insert(assessments)
        _after_recording(assessments, completing, actor=actor)
    return assessments


def _after_recording(
    assessments: list[Assessment],
    completing: list[Visit | None],
    *,
    actor: User | None,
) -> None:
    """The audit events, visit completions and listeners of assessments just written, in the
    order :func:`record_assessment` writes them one by one. A completion changes the visit's
    ``completed_on`` alone (it was empty), so its event is written out as ``record_changed``
    would write it, without comparing two snapshots of every visit."""
    events = []
    for assessment, visit in zip(assessments, completing, strict=True):
        events.append(
            audit.build(
                "assessment.created",
                assessment,
                actor=actor,
                trial=assessment.visit.participant.trial,
                data={
                    "after": audit.snapshot(assessment),
                    "in_window": _in_window(assessment.visit, assessment.assessed_on),
                },
            )
        )
        if visit is not None and visit.completed_on is not None:
            change = {"completed_on": [None, visit.completed_on.isoformat()]}
            events.append(
                audit.build("visit.changed", visit, actor=actor, data={"changes": change})
            )
    bulk.set_column(
        Visit, "completed_on", {v.pk: v.completed_on for v in completing if v is not None}
    )
    audit.record_bulk(events)
    for assessment in assessments:
        extensions.assessment_recorded(assessment, actor=actor)


def _in_window(visit: Visit, day: dt.date) -> bool:
    return visit.window_start <= day <= visit.window_end


def correct_assessment(
    assessment: Assessment,
    *,
    values: Mapping[str, Any],
    reason: str,
    actor: User | None,
    missing: Mapping[str, str] | None = None,
) -> Assessment:
    """Replace an assessment's answers (checked against the version they were entered under)
    and recompute its scores. ``reason`` is required; the audit event keeps before, after and
    the reason. Raises TrialError without a reason or for a withdrawn participant, and
    AnswersError for answers the definition refuses. Safe to repeat."""
    if not reason or not reason.strip():
        raise TrialError(_("Say why the answers are corrected."), field="reason")
    answers = dict(values)
    assessed_on = answers.pop("assessed_on", None)
    with transaction.atomic():
        locked = (
            Assessment.objects.select_for_update(of=("self",))
            .select_related("version", "visit__participant__trial", "instrument")
            .get(pk=assessment.pk)
        )
        ensure_data_entry_allowed(locked.visit.participant)
        day = _date(assessed_on) if assessed_on else locked.assessed_on
        _check_date(locked.visit, day)
        definition = locked.version.parsed
        try:
            clean = clean_answers(definition, answers, missing)
        except AnswerError as exc:
            raise AnswersError(exc.errors) from None
        before = audit.snapshot(locked)
        locked.assessed_on = day
        locked.values = clean.values
        locked.missing = clean.missing
        locked.scores = scoring.derive_scores(definition, clean.values)
        locked.save(update_fields=["assessed_on", "values", "missing", "scores", "updated_at"])
        diff = audit.changes(before, audit.snapshot(locked))
        diff.pop("updated_at", None)
        audit.record(
            "assessment.corrected",
            locked,
            actor=actor,
            trial=locked.visit.participant.trial,
            data={"changes": diff, "reason": reason.strip()},
        )
        if "assessed_on" in diff:
            _follow_corrected_date(locked.visit, actor=actor)
    return locked


def _follow_corrected_date(visit: Visit, *, actor: User | None) -> None:
    """A completed visit's date is the day its last instrument was answered: after a corrected
    assessment date it follows the visit's answers (audited)."""
    locked = Visit.objects.select_for_update(of=("self",)).get(pk=visit.pk)
    if locked.completed_on is None:
        return
    latest = max(Assessment.objects.filter(visit=locked).values_list("assessed_on", flat=True))
    if latest != locked.completed_on:
        before = audit.snapshot(locked)
        locked.completed_on = latest
        locked.save(update_fields=["completed_on"])
        audit.record_changed(locked, before, actor=actor)
    visit.completed_on = locked.completed_on
