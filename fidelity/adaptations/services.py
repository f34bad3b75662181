"""Adaptations of the intervention that coordinators note: recording and correcting them.

An adaptation is dated, belongs to one site or to the whole trial, may name the component it
affected, and says what changed. Both services are audited in the same transaction; neither
deletes anything (a wrong entry is corrected, and the audit trail keeps the earlier text).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidelity.models import ADAPTATION_DESCRIPTION_MAX, Adaptation, Component
from trial import audit
from trial.models import Site, Trial
from trial.services import TrialError


def _checked(
    trial: Trial,
    *,
    site: Site | None,
    adapted_on: dt.date,
    component: Component | None,
    description: str,
) -> str:
    """The description, stripped, once the values pass the rules; else TrialError."""
    if site is not None and site.trial_id != trial.pk:
        raise TrialError(_("Unknown site."), field="site")
    if component is not None and component.trial_id != trial.pk:
        raise TrialError(_("Unknown intervention component."), field="component")
    if adapted_on > timezone.localdate():
        raise TrialError(_("The date cannot be in the future."), field="adapted_on")
    description = description.strip()
    if not description:
        raise TrialError(_("Say what changed."), field="description")
    if len(description) > ADAPTATION_DESCRIPTION_MAX:
        raise TrialError(
            _("Keep the description to %(max)s characters.") % {"max": ADAPTATION_DESCRIPTION_MAX},
            field="description",
        )
    return description


def record_adaptation(
    trial: Trial,
    *,
    site: Site | None,
    adapted_on: dt.date,
    component: Component | None,
    description: str,
    actor: User,
    client_id: uuid.UUID | None = None,
) -> tuple[Adaptation, bool]:
    """Record an adaptation of the intervention at ``site`` (None: across the trial); returns
    it and whether it was recorded now.

    Raises TrialError for a site or component of another trial, a date in the future, an
    empty or overlong description, or a ``client_id`` used before for a different adaptation.
    Audited. Idempotent with a ``client_id`` (a resubmission returns the adaptation first
    recorded, False); without one, each call records an adaptation.
    """
    text = _checked(
        trial, site=site, adapted_on=adapted_on, component=component, description=description
    )
    given = (site.pk if site else None, adapted_on, component.pk if component else None, text)
    with transaction.atomic():
        if client_id is not None:
            earlier = Adaptation.objects.filter(trial=trial, client_id=client_id).first()
            if earlier is not None:
                return _same(earlier, given), False
        try:
            with transaction.atomic():
                adaptation = Adaptation.objects.create(
                    trial=trial,
                    site=site,
                    adapted_on=adapted_on,
                    component=component,
                    description=text,
                    recorded_by=actor,
                    recorded_by_name=actor.get_username(),
                    client_id=client_id,
                )
        except IntegrityError:
            # The same submission at the same moment: the unique client id let one through.
            return _same(Adaptation.objects.get(trial=trial, client_id=client_id), given), False
        audit.record_created(adaptation, actor=actor)
    return adaptation, True


def _same(earlier: Adaptation, given: tuple[object, ...]) -> Adaptation:
    """The adaptation a client id was first used for, if the resubmission says the same."""
    stored = (earlier.site_id, earlier.adapted_on, earlier.component_id, earlier.description)
    if stored != given:
        raise TrialError(
            _("This client id was used for a different adaptation."), field="client_id"
        )
    return earlier


def edit_adaptation(
    adaptation: Adaptation,
    *,
    site: Site | None,
    adapted_on: dt.date,
    component: Component | None,
    description: str,
    actor: User,
) -> Adaptation:
    """Correct an adaptation; the audit event holds each changed field's before and after.

    Same rules as :func:`record_adaptation`. Safe to repeat: an edit that changes nothing
    writes nothing and records no event.
    """
    text = _checked(
        adaptation.trial,
        site=site,
        adapted_on=adapted_on,
        component=component,
        description=description,
    )
    with transaction.atomic():
        locked = Adaptation.objects.select_for_update().get(pk=adaptation.pk)
        before = audit.snapshot(locked)
        locked.site = site
        locked.adapted_on = adapted_on
        locked.component = component
        locked.description = text
        if audit.snapshot(locked) != before:
            locked.save(
                update_fields=["site", "adapted_on", "component", "description", "updated_at"]
            )
            audit.record_changed(locked, before, actor=actor)
    return locked
