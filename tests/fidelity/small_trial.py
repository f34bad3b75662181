"""A small hand-built trial whose dose, reach and contamination figures are worked out by hand.

Two sites (S1, S2), arms A (intervention) and B (control), components rapid and jobdev
(intervention-specific) and benefits (usual services). Cut-off 2025-06-30; "today" is
2025-07-01, so contacts and exposures dated 2025-07-01 lie after the cut-off.

Participants (site, arm, randomised on; contacts as date (minutes, components)):

- p1: S1, A, 2025-01-01. Contacts 01-01 (30, rapid), 01-31 (60, employer, jobdev),
  02-01 (45, benefits).
- p2: S1, B, 2025-01-15. Contact 01-10 before randomisation (25, rapid+benefits: not dose, no
  exposure); 03-05 (20, rapid: exposure). Exposures: assessment 05-05, staff 05-06.
- p3: S1, A, 2025-02-10. Contacts 02-28 (40, employer, rapid+jobdev), 03-31 (10, benefits);
  withdrew 03-31.
- p8: S1, B, 2025-06-01. No contact, no exposure.
- p4: S2, B, 2025-02-01. No contact; staff exposure 06-20.
- p5: S2, A, 2025-03-01. Contacts 06-30 (50, rapid), 07-01 (after the cut-off).
- p6: S2, B, 2025-04-30. Contacts 05-01 (15, benefits), 05-31 (25, employer, jobdev: exposure);
  staff exposure 07-01.
- p7: S2, not randomised. Contact 05-15 (not dose).

Employer contacts about no participant: S1 03-15 (90 min), S2 06-30 (30), S2 07-01 (after).
Site-level exposure at S2 on 05-10.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.models import User

from fidelity.contacts import services
from fidelity.models import Component, Contact, Exposure
from randomisation.allocation import services as rs
from randomisation.models import Allocation
from tests import factories
from trial import services as trial_services
from trial.models import Arm, Membership, Participant, Site, Trial, Withdrawal

TODAY = dt.datetime(2025, 7, 1, 9, tzinfo=dt.UTC)
END = dt.date(2025, 6, 30)
D = dt.date


@dataclass
class SmallTrial:
    trial: Trial
    sites: dict[str, Site]
    people: dict[str, Participant]
    components: dict[str, Component]
    coordinator: User
    users: dict[str, User] = field(default_factory=dict)


def build() -> SmallTrial:
    """Build the trial in the module docstring (call with the clock at ``TODAY``)."""
    trial = factories.make_trial(code="small", title="Small trial", status=Trial.Status.RECRUITING)
    sites = {code: factories.make_site(trial, code) for code in ("S1", "S2")}
    coordinator = factories.make_user("small-coordinator")
    factories.make_membership(coordinator, trial, Membership.Role.COORDINATOR)
    components = {
        code: Component.objects.create(
            trial=trial, code=code, name=name, intervention_specific=specific, order=i
        )
        for i, (code, name, specific) in enumerate(
            [
                ("rapid", "Rapid job search", True),
                ("jobdev", "Job development", True),
                ("benefits", "Benefits counselling", False),
            ]
        )
    }
    arms = {arm.code: arm for arm in Arm.objects.filter(trial=trial)}
    plan = {
        "p1": ("S1", "A", D(2025, 1, 1)),
        "p2": ("S1", "B", D(2025, 1, 15)),
        "p3": ("S1", "A", D(2025, 2, 10)),
        "p8": ("S1", "B", D(2025, 6, 1)),
        "p4": ("S2", "B", D(2025, 2, 1)),
        "p5": ("S2", "A", D(2025, 3, 1)),
        "p6": ("S2", "B", D(2025, 4, 30)),
        "p7": ("S2", None, None),
    }
    people: dict[str, Participant] = {}
    for name, (site, arm, on) in plan.items():
        person = factories.make_participant(
            trial, sites[site], study_id=name, enrolled_on=D(2025, 1, 1)
        )
        if arm is not None:
            assert on is not None
            rs.record_manual(
                person,
                arm=arms[arm],
                on=on,
                reference="",
                reason="",
                actor=coordinator,
                source=Allocation.Source.IMPORTED,
            )
        people[name] = person

    def log(
        who: str | None,
        on: dt.date,
        minutes: int,
        comps: tuple[str, ...] = (),
        *,
        employer: bool = False,
        site: str | None = None,
    ) -> Contact:
        participant = people[who] if who else None
        partners = (["participant"] if who else []) + (["employer"] if employer else [])
        contact, _created = services.log_contact(
            trial,
            actor=coordinator,
            participant=participant,
            site=sites[site] if site else None,
            contact_on=on,
            mode=Contact.Mode.IN_PERSON,
            minutes=minutes,
            partners=partners,
            components=[components[c] for c in comps],
        )
        return contact

    log("p1", D(2025, 1, 1), 30, ("rapid",))
    log("p1", D(2025, 1, 31), 60, ("jobdev",), employer=True)
    log("p1", D(2025, 2, 1), 45, ("benefits",))
    log("p2", D(2025, 1, 10), 25, ("rapid", "benefits"))
    log("p2", D(2025, 3, 5), 20, ("rapid",))
    log("p3", D(2025, 2, 28), 40, ("rapid", "jobdev"), employer=True)
    log("p3", D(2025, 3, 31), 10, ("benefits",))
    log("p5", D(2025, 6, 30), 50, ("rapid",))
    log("p5", D(2025, 7, 1), 35, ("rapid",))
    log("p6", D(2025, 5, 1), 15, ("benefits",))
    log("p6", D(2025, 5, 31), 25, ("jobdev",), employer=True)
    log("p7", D(2025, 5, 15), 45, ("rapid",))
    log(None, D(2025, 3, 15), 90, employer=True, site="S1")
    log(None, D(2025, 6, 30), 30, employer=True, site="S2")
    log(None, D(2025, 7, 1), 30, employer=True, site="S2")
    trial_services.withdraw_participant(
        people["p3"],
        withdrawn_on=D(2025, 3, 31),
        scope=Withdrawal.Scope.NO_CONTACT,
        reason="Moved away",
        actor=coordinator,
    )

    def expose(who: str | None, on: dt.date, source: str, site: str | None = None) -> None:
        Exposure.objects.create(
            trial=trial,
            participant=people[who] if who else None,
            site=sites[site] if site else people[who].site,  # type: ignore[index]
            source=source,
            exposed_on=on,
        )

    source = Exposure.Source
    expose("p2", D(2025, 5, 5), source.ASSESSMENT)
    expose("p2", D(2025, 5, 6), source.STAFF)
    expose(None, D(2025, 5, 10), source.SITE_EVENT, site="S2")
    expose("p4", D(2025, 6, 20), source.STAFF)
    expose("p6", D(2025, 7, 1), source.STAFF)
    return SmallTrial(
        trial=trial,
        sites=sites,
        people=people,
        components=components,
        coordinator=coordinator,
    )
