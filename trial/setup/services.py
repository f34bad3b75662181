"""Writes that configure a trial. Each service checks the rules, writes, and audits.

Once a trial has left set-up, anything the allocation sequence, the follow-up schedule or the
collected data depend on is locked; the ``TrialError`` says why. Edits that only relabel
(names, labels, descriptions) stay open.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from trial import audit
from trial.models import (
    Arm,
    CovariateDefinition,
    ExclusionReason,
    Membership,
    Site,
    Trial,
    VisitDefinition,
)
from trial.services import TrialError

# Codes that would clash with pages under /trials/.
RESERVED_TRIAL_CODES = frozenset({"new"})


def _locked(trial: Trial, consequence: str) -> TrialError:
    """The error for a change refused because the trial has left set-up."""
    state = {
        Trial.Status.RECRUITING: _("The trial is recruiting"),
        Trial.Status.FOLLOW_UP: _("The trial is in follow-up"),
        Trial.Status.CLOSED: _("The trial is closed"),
    }[Trial.Status(trial.status)]
    return TrialError(
        _("%(state)s: %(consequence)s") % {"state": state, "consequence": consequence}
    )


def _locked_field(trial: Trial, field: str, consequence: str) -> TrialError:
    error = _locked(trial, consequence)
    error.field = field
    return error


def _in_setup(trial: Trial) -> bool:
    return trial.status == Trial.Status.SETUP


def _apply(instance: Any, values: dict[str, Any]) -> list[str]:
    """Set the attributes that differ and return their names (for ``update_fields``)."""
    changed = []
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _save_changes(instance: Any, values: dict[str, Any], *, actor: User) -> None:
    """Apply ``values``, save only the fields that changed, and audit before/after."""
    before = audit.snapshot(instance)
    changed = _apply(instance, values)
    if changed:
        instance.save(update_fields=changed)
        audit.record_changed(instance, before, actor=actor)


# Trial ------------------------------------------------------------------------------------


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
    if design != trial.design and not _in_setup(trial):
        raise _locked_field(
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
    with transaction.atomic():
        _save_changes(trial, values, actor=actor)
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


# Arms -------------------------------------------------------------------------------------


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
    if not _in_setup(trial):
        raise _locked(trial, _("adding an arm would corrupt the allocation sequence."))
    if trial.arms.filter(code=code).exists():
        raise TrialError(_("The trial has an arm with this code already."), field="code")
    _check_single_control(trial, is_control)
    with transaction.atomic():
        arm = Arm.objects.create(
            trial=trial,
            code=code,
            name=name,
            allocation_weight=allocation_weight,
            is_control=is_control,
            description=description,
        )
        audit.record_created(arm, actor=actor)
    return arm


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
    if not _in_setup(trial):
        if code != arm.code:
            raise _locked_field(
                trial, "code", _("changing an arm's code would corrupt the allocation records.")
            )
        if allocation_weight != arm.allocation_weight:
            raise _locked_field(
                trial,
                "allocation_weight",
                _("changing allocation weights would corrupt the allocation sequence."),
            )
        if is_control != arm.is_control:
            raise _locked_field(
                trial,
                "is_control",
                _("changing the control arm would corrupt the allocation sequence."),
            )
    if code != arm.code and trial.arms.filter(code=code).exclude(pk=arm.pk).exists():
        raise TrialError(_("The trial has an arm with this code already."), field="code")
    _check_single_control(trial, is_control, exclude=arm)
    with transaction.atomic():
        _save_changes(
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
    if not _in_setup(arm.trial):
        raise _locked(arm.trial, _("removing an arm would corrupt the allocation sequence."))
    with transaction.atomic():
        audit.record_deleted(arm, actor=actor)
        arm.delete()


# Sites ------------------------------------------------------------------------------------


def add_site(
    trial: Trial,
    *,
    code: str,
    name: str,
    municipality_number: str = "",
    region: str = "",
    actor: User,
) -> Site:
    """Add a site (allowed at any status). Raises TrialError for a taken code."""
    if trial.sites.filter(code=code).exists():
        raise TrialError(_("The trial has a site with this code already."), field="code")
    with transaction.atomic():
        site = Site.objects.create(
            trial=trial,
            code=code,
            name=name,
            municipality_number=municipality_number,
            region=region,
        )
        audit.record_created(site, actor=actor)
    return site


def _site_in_use(site: Site) -> bool:
    return site.participants.exists() or site.screenings.exists()


def update_site(
    site: Site,
    *,
    code: str,
    name: str,
    municipality_number: str,
    region: str,
    actor: User,
) -> Site:
    """Edit a site. Its code, the prefix of study ids, is fixed once people are recorded there.

    Raises TrialError for a taken code or a code change at a site in use.
    """
    if code != site.code:
        if site.trial.sites.filter(code=code).exclude(pk=site.pk).exists():
            raise TrialError(_("The trial has a site with this code already."), field="code")
        if _site_in_use(site):
            raise TrialError(
                _(
                    "People have been screened or enrolled at this site: its code is part of "
                    "their study ids and cannot change."
                ),
                field="code",
            )
    with transaction.atomic():
        _save_changes(
            site,
            {
                "code": code,
                "name": name,
                "municipality_number": municipality_number,
                "region": region,
            },
            actor=actor,
        )
    return site


def remove_site(site: Site, *, actor: User) -> None:
    """Delete a site that has no participants and no screening records.

    Raises TrialError otherwise. Memberships lose the site from their list.
    """
    if _site_in_use(site):
        raise TrialError(
            _(
                "Site %(code)s has participants or screening records; it cannot be removed "
                "without losing their data."
            )
            % {"code": site.code}
        )
    with transaction.atomic():
        audit.record_deleted(site, actor=actor)
        site.delete()


# Members ----------------------------------------------------------------------------------


def _membership_snapshot(membership: Membership) -> audit.Snapshot:
    data = audit.snapshot(membership)
    data["sites"] = sorted(site.code for site in membership.sites.all())
    return data


def _check_membership(
    trial: Trial, role: str, sites: Iterable[Site], unblinded: bool
) -> list[Site]:
    site_list = list(sites)
    if any(site.trial_id != trial.pk for site in site_list):
        raise TrialError(_("A site does not belong to this trial."), field="sites")
    if role == Membership.Role.CASEWORKER and not site_list:
        raise TrialError(_("Choose the sites this caseworker works at."), field="sites")
    if unblinded and role != Membership.Role.STATISTICIAN:
        raise TrialError(_("Only a statistician can be unblinded."), field="unblinded")
    return site_list


def _is_last_coordinator(membership: Membership) -> bool:
    return (
        membership.role == Membership.Role.COORDINATOR
        and not membership.trial.memberships.filter(role=Membership.Role.COORDINATOR)
        .exclude(pk=membership.pk)
        .exists()
    )


def add_membership(
    trial: Trial,
    *,
    username: str,
    role: str,
    sites: Iterable[Site] = (),
    unblinded: bool = False,
    actor: User,
) -> Membership:
    """Give an existing user a role in the trial.

    Raises TrialError for an unknown user, someone who is a member already, a caseworker
    without sites, or an unblinded non-statistician. Not safe to repeat: the second call is
    refused because the user is a member.
    """
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise TrialError(_("There is no active user with this username."), field="username")
    if trial.memberships.filter(user=user).exists():
        raise TrialError(_("This user is a member of the trial already."), field="username")
    site_list = _check_membership(trial, role, sites, unblinded)
    if role != Membership.Role.CASEWORKER:
        site_list = []  # only caseworkers are limited to sites
    with transaction.atomic():
        membership = Membership.objects.create(
            trial=trial, user=user, role=role, unblinded=unblinded
        )
        membership.sites.set(site_list)
        audit.record(
            "membership.created",
            membership,
            actor=actor,
            data={"after": _membership_snapshot(membership)},
        )
    return membership


def update_membership(
    membership: Membership,
    *,
    role: str,
    sites: Iterable[Site] = (),
    unblinded: bool = False,
    actor: User,
) -> Membership:
    """Change a member's role, sites or unblinding.

    Raises TrialError for the rules of :func:`add_membership` and when the last coordinator
    would lose the role. Safe to repeat.
    """
    site_list = _check_membership(membership.trial, role, sites, unblinded)
    if role != Membership.Role.CASEWORKER:
        site_list = []
    if role != membership.role and _is_last_coordinator(membership):
        raise TrialError(
            _("This is the trial's only coordinator; make someone else coordinator first."),
            field="role",
        )
    with transaction.atomic():
        before = _membership_snapshot(membership)
        changed = _apply(membership, {"role": role, "unblinded": unblinded})
        if changed:
            membership.save(update_fields=changed)
        membership.sites.set(site_list)
        after = _membership_snapshot(membership)
        diff = audit.changes(before, after)
        if diff:
            audit.record("membership.changed", membership, actor=actor, data={"changes": diff})
    return membership


def remove_membership(membership: Membership, *, actor: User) -> None:
    """End someone's membership; raises TrialError for the trial's last coordinator."""
    if _is_last_coordinator(membership):
        raise TrialError(
            _("This is the trial's only coordinator; make someone else coordinator first.")
        )
    with transaction.atomic():
        audit.record(
            "membership.deleted",
            membership,
            actor=actor,
            data={"before": _membership_snapshot(membership)},
        )
        membership.delete()


# Exclusion reasons ------------------------------------------------------------------------


def add_exclusion_reason(
    trial: Trial, *, code: str, label: str, order: int = 0, actor: User
) -> ExclusionReason:
    """Add a reason for ineligibility (allowed at any status). Raises TrialError for a taken
    code."""
    if trial.exclusion_reasons.filter(code=code).exists():
        raise TrialError(_("The trial has a reason with this code already."), field="code")
    with transaction.atomic():
        reason = ExclusionReason.objects.create(trial=trial, code=code, label=label, order=order)
        audit.record_created(reason, actor=actor)
    return reason


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
    with transaction.atomic():
        _save_changes(reason, {"code": code, "label": label, "order": order}, actor=actor)
    return reason


def remove_exclusion_reason(reason: ExclusionReason, *, actor: User) -> None:
    """Delete a reason no screening record uses; raises TrialError otherwise."""
    if _reason_in_use(reason):
        raise TrialError(
            _("Screening records use the reason “%(label)s”; it cannot be removed.")
            % {"label": reason.label}
        )
    with transaction.atomic():
        audit.record_deleted(reason, actor=actor)
        reason.delete()


# Baseline covariates ----------------------------------------------------------------------


def _check_eligibility_check(value: str) -> None:
    if value not in Trial.EligibilityCheck.values:
        raise TrialError(
            _("Choose whether values outside the eligibility ranges are refused or warned about."),
            field="eligibility_check",
        )


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


def add_covariate(
    trial: Trial,
    *,
    key: str,
    label: str,
    kind: str,
    choices: list[list[str]] | None = None,
    min_value: Decimal | None = None,
    max_value: Decimal | None = None,
    eligible_min: Decimal | None = None,
    eligible_max: Decimal | None = None,
    required: bool = True,
    order: int = 0,
    actor: User,
) -> CovariateDefinition:
    """Add a baseline covariate, with the range of possible values and, for a number, the
    trial's eligibility range. Raises TrialError for a taken key or inconsistent limits."""
    choices = choices or []
    if trial.covariates.filter(key=key).exists():
        raise TrialError(_("The trial has a covariate with this key already."), field="key")
    _check_covariate(kind, choices, min_value, max_value)
    _check_eligibility_range(kind, min_value, max_value, eligible_min, eligible_max)
    with transaction.atomic():
        covariate = CovariateDefinition.objects.create(
            trial=trial,
            key=key,
            label=label,
            kind=kind,
            choices=choices,
            min_value=min_value,
            max_value=max_value,
            eligible_min=eligible_min,
            eligible_max=eligible_max,
            required=required,
            order=order,
        )
        audit.record_created(covariate, actor=actor)
    return covariate


def update_covariate(
    covariate: CovariateDefinition,
    *,
    key: str,
    label: str,
    kind: str,
    choices: list[list[str]] | None = None,
    min_value: Decimal | None = None,
    max_value: Decimal | None = None,
    eligible_min: Decimal | None = None,
    eligible_max: Decimal | None = None,
    required: bool = True,
    order: int = 0,
    actor: User,
) -> CovariateDefinition:
    """Edit a covariate. After set-up its key and type are fixed and options cannot go; a
    changed eligibility range applies to enrolments from then on.

    Raises TrialError for a locked change, a taken key or inconsistent limits.
    """
    choices = choices or []
    trial = covariate.trial
    if not _in_setup(trial):
        if key != covariate.key:
            raise _locked_field(
                trial, "key", _("changing a covariate's key would orphan the data collected.")
            )
        if kind != covariate.kind:
            raise _locked_field(
                trial,
                "kind",
                _("changing a covariate's type would make the data collected invalid."),
            )
        kept = {str(value) for value, _label in choices}
        dropped = [str(value) for value, _label in covariate.choices if str(value) not in kept]
        if dropped:
            raise _locked_field(
                trial,
                "choices",
                _("removing the option %(values)s would make data collected invalid.")
                % {"values": ", ".join(dropped)},
            )
    if key != covariate.key and trial.covariates.filter(key=key).exclude(pk=covariate.pk).exists():
        raise TrialError(_("The trial has a covariate with this key already."), field="key")
    _check_covariate(kind, choices, min_value, max_value)
    _check_eligibility_range(kind, min_value, max_value, eligible_min, eligible_max)
    with transaction.atomic():
        _save_changes(
            covariate,
            {
                "key": key,
                "label": label,
                "kind": kind,
                "choices": choices,
                "min_value": min_value,
                "max_value": max_value,
                "eligible_min": eligible_min,
                "eligible_max": eligible_max,
                "required": required,
                "order": order,
            },
            actor=actor,
        )
    return covariate


def remove_covariate(covariate: CovariateDefinition, *, actor: User) -> None:
    """Delete a covariate while the trial is in set-up; raises TrialError afterwards."""
    if not _in_setup(covariate.trial):
        raise _locked(
            covariate.trial, _("removing a covariate would lose the data collected for it.")
        )
    with transaction.atomic():
        audit.record_deleted(covariate, actor=actor)
        covariate.delete()


# Follow-up schedule -----------------------------------------------------------------------


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
    if not _in_setup(trial):
        last = trial.visit_definitions.order_by("-offset_months").first()
        if last is not None and offset_months <= last.offset_months:
            raise _locked_field(
                trial,
                "offset_months",
                _(
                    "a new visit must come after the last one (month %(month)s); an earlier "
                    "visit would change schedules already running."
                )
                % {"month": last.offset_months},
            )
    with transaction.atomic():
        visit = VisitDefinition.objects.create(
            trial=trial,
            code=code,
            label=label,
            offset_months=offset_months,
            window_before_days=window_before_days,
            window_after_days=window_after_days,
        )
        audit.record_created(visit, actor=actor)
    return visit


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
    if not _in_setup(trial):
        for field, value in (
            ("code", code),
            ("offset_months", offset_months),
            ("window_before_days", window_before_days),
            ("window_after_days", window_after_days),
        ):
            if value != getattr(visit, field):
                raise _locked_field(
                    trial,
                    field,
                    _("changing the schedule would move visits participants already have."),
                )
    _check_visit(trial, code, offset_months, exclude=visit)
    with transaction.atomic():
        _save_changes(
            visit,
            {
                "code": code,
                "label": label,
                "offset_months": offset_months,
                "window_before_days": window_before_days,
                "window_after_days": window_after_days,
            },
            actor=actor,
        )
    return visit


def remove_visit_definition(visit: VisitDefinition, *, actor: User) -> None:
    """Delete a visit while the trial is in set-up; raises TrialError afterwards."""
    if not _in_setup(visit.trial):
        raise _locked(
            visit.trial,
            _("removing a visit would orphan visits participants already have."),
        )
    with transaction.atomic():
        audit.record_deleted(visit, actor=actor)
        visit.delete()
