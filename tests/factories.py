"""Builders for test data that every suite shares: keyword-override makers, each returning a
saved object, and ``randomise``/``allocate``, the one offline randomisation the suites use.
Builders only one app's tests need live beside them (``tests/<app>/builders.py`` and the like);
no test module imports from another (tests/test_layout.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from instruments.models import Assessment
from instruments.setup.services import default_instrument
from randomisation.allocation import services as randomisation
from randomisation.models import Allocation
from trial.models import Arm, Membership, Participant, Site, Trial, Visit
from trial.personal_numbers import check_digits, encrypt, lookup_hash

if TYPE_CHECKING:
    from tests.conftest import World

_counter = itertools.count(1)


def make_user(username: str | None = None, **fields: Any) -> User:
    """A saved user. The project uses Django's own ``User`` (no AUTH_USER_MODEL), so the
    builders say ``User``, which is what the services take."""
    n = next(_counter)
    return User.objects.create_user(
        username=username or f"user{n}", password="correct horse battery", **fields
    )


def make_trial(**fields: Any) -> Trial:
    n = next(_counter)
    values: dict[str, Any] = {"code": f"trial-{n}", "title": f"Trial {n}", "target_size": 100}
    values.update(fields)
    trial = Trial.objects.create(**values)
    if fields.get("with_arms", True):
        Arm.objects.create(trial=trial, code="A", name="Intervention")
        Arm.objects.create(trial=trial, code="B", name="Usual services", is_control=True)
    return trial


def make_site(trial: Trial, code: str | None = None, **fields: Any) -> Site:
    n = next(_counter)
    return Site.objects.create(trial=trial, code=code or f"S{n}", name=f"NAV {n}", **fields)


def make_membership(
    user: User, trial: Trial, role: str, sites: list[Site] | None = None, **fields: Any
) -> Membership:
    membership = Membership.objects.create(user=user, trial=trial, role=role, **fields)
    membership.sites.set(sites or [])
    return membership


_numbers = itertools.count(0)


def personal_number() -> str:
    """A distinct valid synthetic personal number (born in 1990, month + 80)."""
    while True:
        i = next(_numbers)
        first_nine = f"{1 + (i // 500) % 28:02d}8190{i % 500:03d}"
        check = check_digits(first_nine)
        if check is not None:
            return first_nine + check


def make_participant(trial: Trial, site: Site, **fields: Any) -> Participant:
    n = next(_counter)
    number = fields.pop("number", None) or personal_number()
    values: dict[str, Any] = {
        "study_id": f"{site.code}-{n:06d}",
        "personal_number_encrypted": encrypt(number),
        "personal_number_hash": lookup_hash(number),
        "enrolled_on": dt.date(2025, 3, 1),
    }
    values.update(fields)
    return Participant.objects.create(trial=trial, site=site, **values)


def make_assessment(visit: Visit, values: dict[str, Any], **fields: Any) -> Assessment:
    """Answers to the trial's default instrument ("Employment and benefits") saved as they are,
    without the service's checks, audit or visit completion (for data set up around them)."""
    instrument = fields.pop("instrument", None) or default_instrument(visit.participant.trial)
    row: dict[str, Any] = {
        "instrument": instrument,
        "version": instrument.current_version(),
        "assessed_on": visit.due_on,
    }
    row.update(fields)
    return Assessment.objects.create(visit=visit, values=values, **row)


def change_answers(assessments: QuerySet[Assessment], **changes: Any) -> int:
    """Overwrite stored answers directly, as a data fix in the database would (None removes
    the answer); no checks, no audit. Returns how many assessments changed."""
    rows = list(assessments)
    for assessment in rows:
        values = {**assessment.values, **changes}
        assessment.values = {k: v for k, v in values.items() if v is not None}
    Assessment.objects.bulk_update(rows, ["values"])
    return len(rows)


RANDOMISED_ON = dt.date(2025, 3, 3)


def randomise(
    participant: Participant,
    arm: Arm,
    *,
    actor: User,
    on: dt.date = RANDOMISED_ON,
    reference: str = "envelope",
) -> Allocation:
    """An offline (manual) randomisation through the randomisation service, after recording
    consent (v1 on 2025-03-01) as it requires. The participant is refreshed afterwards."""
    Participant.objects.filter(pk=participant.pk).update(
        consent_version="v1", consent_date=dt.date(2025, 3, 1)
    )
    participant.refresh_from_db()
    allocation = randomisation.record_manual(
        participant, arm=arm, on=on, reference=reference, reason="system down", actor=actor
    )
    participant.refresh_from_db()
    return allocation


def allocate(
    world: World, participant: Participant, arm_code: str, on: dt.date = RANDOMISED_ON
) -> None:
    """Allocate a participant of the world's trial to the arm with this code, as its
    coordinator recording an offline (manual) randomisation; the trial is set recruiting."""
    Trial.objects.filter(pk=world.trial.pk).update(status=Trial.Status.RECRUITING)
    arm = Arm.objects.get(trial=world.trial, code=arm_code)
    randomise(participant, arm, actor=world.users["coordinator"], on=on)
