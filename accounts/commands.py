"""Who a management command acts as: the user named on its command line, checked once.

The import commands of the data apps (``import_spells``, ``import_jem``, ``import_trial``) and
``anchor_allocation_chain`` name the person they act for, who is then named in the audit trail.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import CommandError

from trial import permissions
from trial.models import Trial
from trial.permissions import Perm


def active_user(username: str) -> User:
    """The active user of that name. Raises CommandError when there is none."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return user


def importer(trial_code: str, username: str | None) -> tuple[Trial, User | None]:
    """The trial a command imports into, and the user it imports as (None: recorded as
    'system'). Raises CommandError for an unknown trial or user, or a user who may not import
    data into the trial."""
    trial = Trial.objects.filter(code=trial_code).first()
    if trial is None:
        raise CommandError(f"no trial with code {trial_code!r}")
    if not username:
        return trial, None
    user = active_user(username)
    if not permissions.has_perm(user, trial, Perm.IMPORT_DATA):
        raise CommandError(f"{user.get_username()} may not import data into {trial.code}")
    return trial, user
