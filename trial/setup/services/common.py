"""What the set-up services share: the refusal after set-up, and audited creates, edits and
deletes."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import models, transaction
from django.utils.translation import gettext as _

from trial import audit
from trial.models import Trial
from trial.services import TrialError

M = TypeVar("M", bound=models.Model)


def locked(trial: Trial, consequence: str) -> TrialError:
    """The error for a change refused because the trial has left set-up."""
    state = {
        Trial.Status.RECRUITING: _("The trial is recruiting"),
        Trial.Status.FOLLOW_UP: _("The trial is in follow-up"),
        Trial.Status.CLOSED: _("The trial is closed"),
    }[Trial.Status(trial.status)]
    return TrialError(
        _("%(state)s: %(consequence)s") % {"state": state, "consequence": consequence}
    )


def locked_field(trial: Trial, field: str, consequence: str) -> TrialError:
    error = locked(trial, consequence)
    error.field = field
    return error


def changed_values(instance: Any, values: dict[str, Any]) -> list[str]:
    """Set the attributes that differ and return their names (for ``update_fields``)."""
    changed = []
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def save_changes(instance: Any, values: dict[str, Any], *, actor: User) -> None:
    """Apply ``values``, save only the fields that changed, and audit before/after, in one
    transaction."""
    with transaction.atomic():
        before = audit.snapshot(instance)
        changed = changed_values(instance, values)
        if changed:
            instance.save(update_fields=changed)
            audit.record_changed(instance, before, actor=actor)


def create_audited(model: type[M], *, actor: User, **values: Any) -> M:
    """Create one ``model`` row from ``values`` and audit it, in one transaction."""
    with transaction.atomic():
        instance = model._default_manager.create(**values)
        audit.record_created(instance, actor=actor)
    return instance


def delete_audited(instance: models.Model, *, actor: User) -> None:
    """Audit ``instance`` as deleted and delete it, in one transaction."""
    with transaction.atomic():
        audit.record_deleted(instance, actor=actor)
        instance.delete()


def delete_in_setup(instance: models.Model, trial: Trial, consequence: str, *, actor: User) -> None:
    """Delete what may go only while ``trial`` is in set-up; after it, refuse with
    ``consequence`` (see :func:`locked`)."""
    if not trial.in_setup:
        raise locked(trial, consequence)
    delete_audited(instance, actor=actor)
