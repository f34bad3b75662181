"""The follow-up schedule: visit definitions, only extended once the trial has left set-up."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from trial.models import Trial, VisitDefinition
from trial.services import TrialError
from trial.setup.services.common import (
    create_audited,
    delete_in_setup,
    locked_field,
    save_changes,
)


def _check_visit(
    trial: Trial, code: str, offset_months: int, exclude: VisitDefinition | None = None
) -> None:
    others = trial.visit_definitions.all()
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    if others.filter(code=code).exists():
        raise TrialError(_("The schedule has a visit with this code already."), field="code")
    if others.filter(offset_months=offset_months).exists():
        raise TrialError(
            _("The schedule has a visit at this month already."), field="offset_months"
        )


# What fixes a visit in the schedule: unchangeable once the trial has left set-up.
SCHEDULE = ("code", "offset_months", "window_before_days", "window_after_days")


def _visit_values(
    code: str, label: str, offset_months: int, window_before_days: int, window_after_days: int
) -> dict[str, Any]:
    return {
        "code": code,
        "label": label,
        "offset_months": offset_months,
        "window_before_days": window_before_days,
        "window_after_days": window_after_days,
    }


def add_visit_definition(
    trial: Trial,
    *,
    code: str,
    label: str,
    offset_months: int,
    window_before_days: int = 14,
    window_after_days: int = 30,
    actor: User,
) -> VisitDefinition:
    """Add a follow-up visit. After set-up only a visit later than all others may be added.

    Raises TrialError for a taken code or month, or an earlier visit after set-up.
    """
    _check_visit(trial, code, offset_months)
    if not trial.in_setup:
        last = trial.visit_definitions.order_by("-offset_months").first()
        if last is not None and offset_months <= last.offset_months:
            raise locked_field(
                trial,
                "offset_months",
                _(
                    "a new visit must come after the last one (month %(month)s); an earlier "
                    "visit would change schedules already running."
                )
                % {"month": last.offset_months},
            )
    values = _visit_values(code, label, offset_months, window_before_days, window_after_days)
    return create_audited(VisitDefinition, trial=trial, actor=actor, **values)


def update_visit_definition(
    visit: VisitDefinition,
    *,
    code: str,
    label: str,
    offset_months: int,
    window_before_days: int,
    window_after_days: int,
    actor: User,
) -> VisitDefinition:
    """Edit a visit. After set-up only its label may change.

    Raises TrialError for a locked change or a taken code or month.
    """
    trial = visit.trial
    values = _visit_values(code, label, offset_months, window_before_days, window_after_days)
    if not trial.in_setup:
        for field in SCHEDULE:
            if values[field] != getattr(visit, field):
                raise locked_field(
                    trial,
                    field,
                    _("changing the schedule would move visits participants already have."),
                )
    _check_visit(trial, code, offset_months, exclude=visit)
    save_changes(visit, values, actor=actor)
    return visit


def remove_visit_definition(visit: VisitDefinition, *, actor: User) -> None:
    """Delete a visit while the trial is in set-up; raises TrialError afterwards."""
    delete_in_setup(
        visit,
        visit.trial,
        _("removing a visit would orphan visits participants already have."),
        actor=actor,
    )
