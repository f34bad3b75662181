"""Defining a trial's instruments: create, revise (a new version once answers exist), attach to
visits, remove.

Every write is atomic, audited and checked with ``instruments.rules.check_definition``;
variable names are unique across the trial's instruments.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from instruments import builtin
from instruments.definition import Definition, DefinitionError
from instruments.models import Assessment, Instrument, InstrumentVersion, VisitInstrument
from instruments.rules import check_definition
from trial import audit
from trial.models import Trial, VisitDefinition
from trial.services import TrialError


class InstrumentError(TrialError):
    """An instrument rule was broken. ``errors`` lists (where, message) pairs for a definition
    at fault (``items[2].choices``), empty for a rule about the instrument as a whole."""

    def __init__(
        self, message: str, field: str | None = None, errors: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.errors = errors or []


RESERVED_CODES = frozenset({"schema"})
"""Codes an instrument may not have: ``/api/v1/trials/<code>/instruments/schema/`` is the
answers' JSON Schema, beside ``/instruments/<code>/``, an instrument's definition."""


def _names_taken(trial: Trial, *, besides: Instrument | None = None) -> set[str]:
    """Variable names the trial's other instruments use (their latest versions)."""
    taken: set[str] = set()
    others = Instrument.objects.filter(trial=trial).prefetch_related("versions")
    for other in others:
        if besides is not None and other.pk == besides.pk:
            continue
        versions = sorted(other.versions.all(), key=lambda v: v.number)
        if versions:
            taken.update(versions[-1].parsed.names)
    return taken


def _checked(trial: Trial, definition: dict[str, Any], *, besides: Instrument | None) -> Definition:
    try:
        parsed = Definition.from_json(definition)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InstrumentError(
            _("The definition cannot be read: %(error)s") % {"error": exc}, field="definition"
        ) from None
    try:
        check_definition(parsed, taken=_names_taken(trial, besides=besides))
    except DefinitionError as exc:
        raise InstrumentError(
            _("The definition has faults."), field="definition", errors=exc.errors
        ) from None
    return parsed


def create_instrument(
    trial: Trial,
    *,
    code: str,
    name_en: str,
    name_nb: str,
    definition: dict[str, Any],
    actor: User | None,
    builtin_key: str = "",
    note: str = "",
) -> Instrument:
    """Create an instrument with its first version. Raises InstrumentError for a code in use
    or reserved, or a definition at fault (every fault listed)."""
    if code in RESERVED_CODES:
        raise InstrumentError(
            _("The code %(code)s is reserved: choose another.") % {"code": code}, field="code"
        )
    parsed = _checked(trial, definition, besides=None)
    with transaction.atomic():
        if Instrument.objects.filter(trial=trial, code=code).exists():
            raise InstrumentError(_("The trial has an instrument with this code."), field="code")
        order = Instrument.objects.filter(trial=trial).count()
        try:
            with transaction.atomic():
                instrument = Instrument.objects.create(
                    trial=trial,
                    code=code,
                    name_en=name_en,
                    name_nb=name_nb,
                    builtin=builtin_key,
                    order=order,
                )
        except IntegrityError:
            raise InstrumentError(
                _("The trial has an instrument with this code."), field="code"
            ) from None
        version = InstrumentVersion.objects.create(
            instrument=instrument,
            number=1,
            definition=parsed.to_json(),
            note=note,
            created_by=actor,
        )
        audit.record(
            "instrument.created",
            instrument,
            actor=actor,
            trial=trial,
            data={
                "after": audit.snapshot(instrument),
                "version": 1,
                "definition": version.definition,
            },
        )
    return instrument


def default_instrument(trial: Trial, *, actor: User | None = None) -> Instrument:
    """The trial's built-in "Employment and benefits" instrument, made on first use."""
    found = Instrument.objects.filter(trial=trial, builtin=builtin.EMPLOYMENT).first()
    if found is not None:
        return found
    spec = builtin.BUILTIN[builtin.EMPLOYMENT]
    try:
        return create_instrument(
            trial,
            code=builtin.EMPLOYMENT,
            name_en=str(spec["name_en"]),
            name_nb=str(spec["name_nb"]),
            definition=spec["definition"](),  # type: ignore[operator]  # a function in BUILTIN
            actor=actor,
            builtin_key=builtin.EMPLOYMENT,
        )
    except InstrumentError:
        # Made at the same moment by another request: use that one. If the code is taken by
        # another instrument or its names are used elsewhere in the trial, say so.
        made = Instrument.objects.filter(trial=trial, builtin=builtin.EMPLOYMENT).first()
        if made is None:
            raise
        return made


def revise_instrument(
    instrument: Instrument,
    *,
    definition: dict[str, Any],
    actor: User | None,
    note: str = "",
    name_en: str | None = None,
    name_nb: str | None = None,
) -> InstrumentVersion:
    """Change an instrument's items. While its latest version has no answers the version is
    changed in place; once answers refer to it, a new version is made, so every answer keeps
    the definition it was entered under. Audited either way (with before and after).

    Raises InstrumentError for a definition at fault."""
    parsed = _checked(instrument.trial, definition, besides=instrument)
    with transaction.atomic():
        locked = Instrument.objects.select_for_update().get(pk=instrument.pk)
        latest = locked.current_version()
        before_definition = latest.definition
        before_names = audit.snapshot(locked)
        if name_en is not None:
            locked.name_en = name_en
        if name_nb is not None:
            locked.name_nb = name_nb
        locked.save(update_fields=["name_en", "name_nb"])
        audit.record_changed(locked, before_names, actor=actor)
        new_json = parsed.to_json()
        if new_json == latest.definition:
            return latest
        if Assessment.objects.filter(version=latest).exists():
            version = InstrumentVersion.objects.create(
                instrument=locked,
                number=latest.number + 1,
                definition=new_json,
                note=note,
                created_by=actor,
            )
            action = "instrument.versioned"
        else:
            version = latest
            version.definition = new_json
            version.note = note or version.note
            version.save(update_fields=["definition", "note"])
            version.__dict__.pop("_parsed", None)
            action = "instrument.revised"
        audit.record(
            action,
            locked,
            actor=actor,
            trial=locked.trial,
            data={
                "version": version.number,
                "before": before_definition if action == "instrument.revised" else None,
                "after": new_json,
                "note": note,
            },
        )
    return version


def attach_instrument(
    instrument: Instrument,
    visits: Iterable[VisitDefinition],
    *,
    actor: User | None,
    self_completed: Iterable[VisitDefinition] | None = None,
) -> list[VisitDefinition]:
    """Ask the instrument at exactly these visits (of its trial). A visit with answers to the
    instrument cannot be detached (InstrumentError). ``self_completed``, when given, names the
    visits (among them) where the participant answers it through a link; the others are
    entered by staff. Returns the visits now attached."""
    wanted = {v.pk: v for v in visits}
    by_participant = None if self_completed is None else {v.pk for v in self_completed}
    if by_participant is not None and not by_participant <= set(wanted):
        raise InstrumentError(
            _("Only a visit that asks the instrument can have the participant answer it."),
            field="self_completed",
        )
    if any(v.trial_id != instrument.trial_id for v in wanted.values()):
        raise InstrumentError(_("The visit belongs to another trial."), field="visits")
    with transaction.atomic():
        current = {
            link.visit_definition_id: link
            for link in VisitInstrument.objects.select_for_update().filter(instrument=instrument)
        }
        dropped = [pk for pk in current if pk not in wanted]
        answered = (
            Assessment.objects.filter(instrument=instrument, visit__definition_id__in=dropped)
            .values_list("visit__definition__label", flat=True)
            .distinct()
        )
        if dropped and answered.exists():
            raise InstrumentError(
                _("Answers exist at %(visits)s: the instrument stays attached there.")
                % {"visits": ", ".join(sorted(answered))},
                field="visits",
            )
        VisitInstrument.objects.filter(
            instrument=instrument, visit_definition_id__in=dropped
        ).delete()
        added = [
            VisitInstrument(
                visit_definition=v,
                instrument=instrument,
                order=instrument.order,
                self_completed=by_participant is not None and pk in by_participant,
            )
            for pk, v in wanted.items()
            if pk not in current
        ]
        VisitInstrument.objects.bulk_create(added)
        switched = []
        if by_participant is not None:
            for pk, link in current.items():
                if pk in wanted and link.self_completed != (pk in by_participant):
                    link.self_completed = pk in by_participant
                    link.save(update_fields=["self_completed"])
                    switched.append(link)
        if added or dropped or switched:
            data: dict[str, Any] = {
                "added": sorted(v.visit_definition.code for v in added),
                "removed": sorted(current[pk].visit_definition.code for pk in dropped),
            }
            if by_participant or switched:
                data["answered_by_participant"] = sorted(
                    wanted[pk].code for pk in (by_participant or set())
                )
            audit.record(
                "instrument.visits_changed",
                instrument,
                actor=actor,
                trial=instrument.trial,
                data=data,
            )
    return sorted(wanted.values(), key=lambda v: v.offset_months)


def remove_instrument(instrument: Instrument, *, actor: User | None) -> None:
    """Delete an instrument that has no answers (InstrumentError otherwise)."""
    with transaction.atomic():
        locked = Instrument.objects.select_for_update().get(pk=instrument.pk)
        if Assessment.objects.filter(instrument=locked).exists():
            raise InstrumentError(
                _("The instrument has answers: it cannot be removed."), field="instrument"
            )
        audit.record_deleted(locked, actor=actor)
        VisitInstrument.objects.filter(instrument=locked).delete()
        locked.versions.all().delete()
        locked.delete()
