"""Create a trial, edit its settings, move it along its statuses."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from trial import audit
from trial.models import Membership, Trial
from trial.services import TrialError
from trial.setup.services.common import locked_field, save_changes

# Codes that would clash with pages under /trials/.
RESERVED_TRIAL_CODES = frozenset({"new"})


def create_trial(
    *,
    code: str,
    title: str,
    registry_id: str = "",
    design: str = Trial.Design.INDIVIDUAL,
    target_size: int = 100,
    description: str = "",
    contamination_question: str = "",
    eligibility_check: str | None = None,
    actor: User,
) -> Trial:
    """Create a trial in set-up and make ``actor`` its coordinator.

    ``eligibility_check`` None: the trial refuses values outside the eligibility ranges.

    Raises TrialError if the code is taken or reserved. Not safe to repeat: the second call
    is refused because the code exists.
    """
    if code in RESERVED_TRIAL_CODES:
        raise TrialError(_("This code is reserved; choose another."), field="code")
    eligibility_check = eligibility_check or Trial.EligibilityCheck.REFUSE
    _check_eligibility_check(eligibility_check)
    with transaction.atomic():
        if Trial.objects.filter(code=code).exists():
            raise TrialError(_("A trial with this code exists already."), field="code")
        trial = Trial.objects.create(
            code=code,
            title=title,
            registry_id=registry_id,
            design=design,
            target_size=target_size,
            description=description,
            contamination_question=contamination_question.strip(),
            eligibility_check=eligibility_check,
            status=Trial.Status.SETUP,
        )
        audit.record_created(trial, actor=actor)
        membership = Membership.objects.create(
            trial=trial, user=actor, role=Membership.Role.COORDINATOR
        )
        audit.record_created(membership, actor=actor)
    return trial


def update_trial(
    trial: Trial,
    *,
    title: str,
    registry_id: str,
    design: str,
    target_size: int,
    description: str,
    actor: User,
    contamination_question: str | None = None,
    eligibility_check: str | None = None,
) -> Trial:
    """Edit the trial's settings (not its code or status).

    ``contamination_question=None`` and ``eligibility_check=None`` leave them as they are.
    Raises TrialError when the design is changed after set-up. Safe to repeat.
    """
    if design != trial.design and not trial.in_setup:
        raise locked_field(
            trial,
            "design",
            _("changing the design would make the data already collected inconsistent."),
        )
    values: dict[str, Any] = {
        "title": title,
        "registry_id": registry_id,
        "design": design,
        "target_size": target_size,
        "description": description,
    }
    if contamination_question is not None:
        values["contamination_question"] = contamination_question.strip()
    if eligibility_check is not None:
        _check_eligibility_check(eligibility_check)
        values["eligibility_check"] = eligibility_check
    save_changes(trial, values, actor=actor)
    return trial


def change_trial_status(trial: Trial, status: str, *, actor: User) -> Trial:
    """Move the trial to ``status`` along an allowed transition.

    Recruiting needs at least two arms, exactly one of them the control, and at least one
    site. Raises TrialError otherwise. Safe to repeat only in the sense that a repeat is
    refused (a status cannot move to itself).
    """
    if status not in Trial.Status.values or not trial.can_move_to(status):
        raise TrialError(
            _("A trial cannot move from %(current)s to %(new)s.")
            % {
                "current": trial.get_status_display(),
                "new": Trial.Status(status).label if status in Trial.Status.values else status,
            },
            field="status",
        )
    with transaction.atomic():
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        if status == Trial.Status.RECRUITING:
            arms = list(trial.arms.all())
            problems = []
            if len(arms) < 2:
                problems.append(_("add at least two arms"))
            if sum(arm.is_control for arm in arms) != 1:
                problems.append(_("mark exactly one arm as the control (usual services)"))
            if not trial.sites.exists():
                problems.append(_("add at least one site"))
            if problems:
                raise TrialError(
                    _("The trial cannot start recruiting yet: %(problems)s.")
                    % {"problems": "; ".join(problems)},
                    field="status",
                )
        before = audit.snapshot(trial)
        trial.status = status
        trial.save(update_fields=["status"])
        audit.record_changed(trial, before, actor=actor)
    return trial


def _check_eligibility_check(value: str) -> None:
    if value not in Trial.EligibilityCheck.values:
        raise TrialError(
            _("Choose whether values outside the eligibility ranges are refused or warned about."),
            field="eligibility_check",
        )
