"""Eligibility: the reasons for excluding someone, and the baseline covariates with their ranges."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NotRequired, TypedDict, Unpack

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from trial.models import CovariateDefinition, ExclusionReason, Trial
from trial.services import TrialError
from trial.setup.services.common import (
    create_audited,
    delete_audited,
    delete_in_setup,
    locked_field,
    save_changes,
)


def add_exclusion_reason(
    trial: Trial, *, code: str, label: str, order: int = 0, actor: User
) -> ExclusionReason:
    """Add a reason for ineligibility (allowed at any status). Raises TrialError for a taken
    code."""
    if trial.exclusion_reasons.filter(code=code).exists():
        raise TrialError(_("The trial has a reason with this code already."), field="code")
    return create_audited(
        ExclusionReason, trial=trial, code=code, label=label, order=order, actor=actor
    )


def _reason_in_use(reason: ExclusionReason) -> bool:
    return reason.screeningrecord_set.exists()


def update_exclusion_reason(
    reason: ExclusionReason, *, code: str, label: str, order: int, actor: User
) -> ExclusionReason:
    """Edit a reason; its code is fixed once a screening record uses it.

    Raises TrialError for a taken code or a code change of a reason in use.
    """
    if code != reason.code:
        if reason.trial.exclusion_reasons.filter(code=code).exclude(pk=reason.pk).exists():
            raise TrialError(_("The trial has a reason with this code already."), field="code")
        if _reason_in_use(reason):
            raise TrialError(
                _("Screening records use this reason: its code cannot change."), field="code"
            )
    save_changes(reason, {"code": code, "label": label, "order": order}, actor=actor)
    return reason


def remove_exclusion_reason(reason: ExclusionReason, *, actor: User) -> None:
    """Delete a reason no screening record uses; raises TrialError otherwise."""
    if _reason_in_use(reason):
        raise TrialError(
            _("Screening records use the reason “%(label)s”; it cannot be removed.")
            % {"label": reason.label}
        )
    delete_audited(reason, actor=actor)


def _check_eligibility_range(
    kind: str,
    min_value: Decimal | None,
    max_value: Decimal | None,
    eligible_min: Decimal | None,
    eligible_max: Decimal | None,
) -> None:
    if eligible_min is None and eligible_max is None:
        return
    if kind not in (CovariateDefinition.Kind.INTEGER, CovariateDefinition.Kind.DECIMAL):
        raise TrialError(_("Only numbers have an eligibility range."), field="eligible_min")
    if eligible_min is not None and eligible_max is not None and eligible_min > eligible_max:
        raise TrialError(_("The highest eligible value is below the lowest."), field="eligible_max")
    if (eligible_min is not None and min_value is not None and eligible_min < min_value) or (
        eligible_max is not None and max_value is not None and eligible_max > max_value
    ):
        raise TrialError(
            _("The eligibility range must lie within the minimum and maximum."),
            field="eligible_min",
        )


def _check_covariate(
    kind: str, choices: list[list[str]], min_value: Decimal | None, max_value: Decimal | None
) -> None:
    if kind == CovariateDefinition.Kind.CHOICE and not choices:
        raise TrialError(_("A choice needs at least one option."), field="choices")
    if kind != CovariateDefinition.Kind.CHOICE and choices:
        raise TrialError(_("Only a choice has options."), field="choices")
    numeric = kind in (CovariateDefinition.Kind.INTEGER, CovariateDefinition.Kind.DECIMAL)
    if not numeric and (min_value is not None or max_value is not None):
        raise TrialError(_("Only numbers have a minimum and maximum."), field="min_value")
    if min_value is not None and max_value is not None and min_value > max_value:
        raise TrialError(_("The maximum is below the minimum."), field="max_value")


class CovariateFields(TypedDict):
    """What the coordinator says of a covariate (the set-up form's and the API's fields)."""

    key: str
    label: str
    kind: str
    choices: NotRequired[list[list[str]] | None]
    min_value: NotRequired[Decimal | None]
    max_value: NotRequired[Decimal | None]
    eligible_min: NotRequired[Decimal | None]
    eligible_max: NotRequired[Decimal | None]
    required: NotRequired[bool]
    order: NotRequired[int]


def _covariate_values(fields: CovariateFields) -> dict[str, Any]:
    """``fields`` with the defaults filled in, checked for consistent limits."""
    values: dict[str, Any] = {
        "min_value": None,
        "max_value": None,
        "eligible_min": None,
        "eligible_max": None,
        "required": True,
        "order": 0,
        **fields,
        "choices": fields.get("choices") or [],
    }
    kind, low, high = values["kind"], values["min_value"], values["max_value"]
    _check_covariate(kind, values["choices"], low, high)
    _check_eligibility_range(kind, low, high, values["eligible_min"], values["eligible_max"])
    return values


def add_covariate(
    trial: Trial, *, actor: User, **fields: Unpack[CovariateFields]
) -> CovariateDefinition:
    """Add a baseline covariate, with the range of possible values and, for a number, the
    trial's eligibility range. Raises TrialError for a taken key or inconsistent limits."""
    if trial.covariates.filter(key=fields["key"]).exists():
        raise TrialError(_("The trial has a covariate with this key already."), field="key")
    values = _covariate_values(fields)
    return create_audited(CovariateDefinition, trial=trial, actor=actor, **values)


def update_covariate(
    covariate: CovariateDefinition, *, actor: User, **fields: Unpack[CovariateFields]
) -> CovariateDefinition:
    """Edit a covariate. After set-up its key and type are fixed and options cannot go; a
    changed eligibility range applies to enrolments from then on.

    Raises TrialError for a locked change, a taken key or inconsistent limits.
    """
    key, kind, choices = fields["key"], fields["kind"], fields.get("choices") or []
    trial = covariate.trial
    if not trial.in_setup:
        if key != covariate.key:
            raise locked_field(
                trial, "key", _("changing a covariate's key would orphan the data collected.")
            )
        if kind != covariate.kind:
            raise locked_field(
                trial,
                "kind",
                _("changing a covariate's type would make the data collected invalid."),
            )
        kept = {str(value) for value, _label in choices}
        dropped = [str(value) for value, _label in covariate.choices if str(value) not in kept]
        if dropped:
            raise locked_field(
                trial,
                "choices",
                _("removing the option %(values)s would make data collected invalid.")
                % {"values": ", ".join(dropped)},
            )
    if key != covariate.key and trial.covariates.filter(key=key).exclude(pk=covariate.pk).exists():
        raise TrialError(_("The trial has a covariate with this key already."), field="key")
    save_changes(covariate, _covariate_values(fields), actor=actor)
    return covariate


def remove_covariate(covariate: CovariateDefinition, *, actor: User) -> None:
    """Delete a covariate while the trial is in set-up; raises TrialError afterwards."""
    delete_in_setup(
        covariate,
        covariate.trial,
        _("removing a covariate would lose the data collected for it."),
        actor=actor,
    )
