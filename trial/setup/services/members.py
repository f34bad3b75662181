"""Who works on a trial, in which role, at which sites, blinded or not."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from trial import audit
from trial.models import Membership, Site, Trial
from trial.services import TrialError
from trial.setup.services.common import changed_values


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
        changed = changed_values(membership, {"role": role, "unblinded": unblinded})
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
