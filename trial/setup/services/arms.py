"""A trial's arms: added, edited and removed while the trial is in set-up."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from trial.models import Arm, Trial
from trial.services import TrialError
from trial.setup.services.common import (
    create_audited,
    delete_in_setup,
    locked,
    locked_field,
    save_changes,
)


def _check_single_control(trial: Trial, is_control: bool, exclude: Arm | None = None) -> None:
    if not is_control:
        return
    others = trial.arms.filter(is_control=True)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    other = others.first()
    if other is not None:
        raise TrialError(
            _("Arm %(code)s is the control arm already; untick it there first.")
            % {"code": other.code},
            field="is_control",
        )


def add_arm(
    trial: Trial,
    *,
    code: str,
    name: str,
    allocation_weight: int = 1,
    is_control: bool = False,
    description: str = "",
    actor: User,
) -> Arm:
    """Add an arm while the trial is in set-up.

    Raises TrialError after set-up, for a taken code, or for a second control arm.
    """
    if not trial.in_setup:
        raise locked(trial, _("adding an arm would corrupt the allocation sequence."))
    if trial.arms.filter(code=code).exists():
        raise TrialError(_("The trial has an arm with this code already."), field="code")
    _check_single_control(trial, is_control)
    return create_audited(
        Arm,
        trial=trial,
        code=code,
        name=name,
        allocation_weight=allocation_weight,
        is_control=is_control,
        description=description,
        actor=actor,
    )


def update_arm(
    arm: Arm,
    *,
    code: str,
    name: str,
    allocation_weight: int,
    is_control: bool,
    description: str,
    actor: User,
) -> Arm:
    """Edit an arm. After set-up only its name and description may change.

    Raises TrialError for a locked change, a taken code, or a second control arm.
    """
    trial = arm.trial
    if not trial.in_setup:
        if code != arm.code:
            raise locked_field(
                trial, "code", _("changing an arm's code would corrupt the allocation records.")
            )
        if allocation_weight != arm.allocation_weight:
            raise locked_field(
                trial,
                "allocation_weight",
                _("changing allocation weights would corrupt the allocation sequence."),
            )
        if is_control != arm.is_control:
            raise locked_field(
                trial,
                "is_control",
                _("changing the control arm would corrupt the allocation sequence."),
            )
    if code != arm.code and trial.arms.filter(code=code).exclude(pk=arm.pk).exists():
        raise TrialError(_("The trial has an arm with this code already."), field="code")
    _check_single_control(trial, is_control, exclude=arm)
    save_changes(
        arm,
        {
            "code": code,
            "name": name,
            "allocation_weight": allocation_weight,
            "is_control": is_control,
            "description": description,
        },
        actor=actor,
    )
    return arm


def remove_arm(arm: Arm, *, actor: User) -> None:
    """Delete an arm while the trial is in set-up; raises TrialError afterwards."""
    delete_in_setup(
        arm, arm.trial, _("removing an arm would corrupt the allocation sequence."), actor=actor
    )
