"""Writing the audit trail.

Services call :func:`record` inside their transaction, so the event and the change commit or
roll back together. :func:`snapshot` and :func:`changes` give the before/after of an edit.
Fields a model lists in ``AUDIT_EXCLUDE`` (encrypted personal numbers, hashes) never enter an
event.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from trial import bulk
from trial.models import AuditEvent, Trial

Snapshot = dict[str, Any]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model) -> Snapshot:
    """The instance's concrete field values as JSON-ready data, without excluded fields."""
    excluded = set(getattr(instance, "AUDIT_EXCLUDE", ()))
    data: Snapshot = {}
    for field in instance._meta.concrete_fields:
        if field.name in excluded:
            continue
        data[field.name] = _jsonable(field.value_from_object(instance))
    return data


def changes(before: Snapshot, after: Snapshot) -> dict[str, list[Any]]:
    """Fields whose value differs, as ``{field: [before, after]}``."""
    keys = before.keys() | after.keys()
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def _trial_of(target: models.Model) -> Trial | None:
    """The trial an object belongs to, following visit and participant links where they are
    set (a site-level exposure or an employer contact has no participant: its own trial)."""
    current: object = target
    for attribute in ("visit", "participant", "trial"):
        if isinstance(current, Trial):
            return current
        linked = getattr(current, attribute, None)
        if linked is not None:
            current = linked
    return current if isinstance(current, Trial) else None


def record(
    action: str,
    target: models.Model,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    data: dict[str, Any] | None = None,
    trial: Trial | None = None,
) -> AuditEvent:
    """Append one event. ``action`` is dotted, e.g. ``participant.enrolled``."""
    event = build(action, target, actor=actor, data=data, trial=trial)
    event.save()
    return event


def build(
    action: str,
    target: models.Model,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    data: dict[str, Any] | None = None,
    trial: Trial | None = None,
) -> AuditEvent:
    """The event :func:`record` would append, unsaved: for services that write many objects
    and append their events with one :func:`record_many`."""
    user = actor if isinstance(actor, User) else None
    return AuditEvent(
        trial=trial or _trial_of(target),
        actor=user,
        actor_name=user.get_username() if user else "system",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        data=data or {},
    )


def record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Append events built with :func:`build`, in one statement."""
    return AuditEvent.objects.bulk_create(events)


def record_bulk(events: list[AuditEvent]) -> list[AuditEvent]:
    """:func:`record_many` for thousands of events (an import's): ``COPY`` on PostgreSQL
    (``trial.bulk.insert``), two statements whatever their number."""
    return bulk.insert(events)


def record_created(
    target: models.Model, *, actor: AbstractBaseUser | AnonymousUser | None
) -> AuditEvent:
    return record(
        f"{target._meta.model_name}.created", target, actor=actor, data={"after": snapshot(target)}
    )


def record_changed(
    target: models.Model,
    before: Snapshot,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
) -> AuditEvent | None:
    """Record an edit; returns None (and writes nothing) when nothing changed."""
    event = changed_event(target, before, actor=actor)
    if event is not None:
        event.save()
    return event


def changed_event(
    target: models.Model,
    before: Snapshot,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
) -> AuditEvent | None:
    """The event :func:`record_changed` would append, unsaved (None when nothing changed)."""
    diff = changes(before, snapshot(target))
    if not diff:
        return None
    return build(f"{target._meta.model_name}.changed", target, actor=actor, data={"changes": diff})


def record_deleted(
    target: models.Model, *, actor: AbstractBaseUser | AnonymousUser | None
) -> AuditEvent:
    return record(
        f"{target._meta.model_name}.deleted",
        target,
        actor=actor,
        data={"before": snapshot(target)},
    )
