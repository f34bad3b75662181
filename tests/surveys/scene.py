"""A trial with a self-completed instrument (branching, a scale, missing-data codes) at a
visit whose window is open, and a participant with contact details."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from instruments.models import Instrument
from instruments.setup import services as setup
from surveys import services
from surveys.models import ContactDetails, Invitation
from tests import factories
from trial.models import Membership, Participant, Site, Trial, Visit, VisitDefinition
from trial.services import generate_visits

FREQUENCY = [("0", "Not at all", "Ikke i det hele tatt"), ("1", "Some days", "Noen dager")]


def _choices(rows: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "label": {"en": en, "nb": nb}} for code, en, nb in rows]


def definition() -> dict[str, Any]:
    """Four items: a required choice, a yes/no that opens an hours item, and a text."""
    return {
        "items": [
            {
                "name": "mood",
                "type": "choice",
                "label": {"en": "Felt down", "nb": "Følt deg nedfor"},
                "required": True,
                "choices": _choices(FREQUENCY),
            },
            {
                "name": "worked",
                "type": "yesno",
                "label": {"en": "Worked last week", "nb": "Arbeidet forrige uke"},
                "required": True,
            },
            {
                "name": "hours",
                "type": "integer",
                "label": {"en": "Hours worked", "nb": "Arbeidstimer"},
                "min": "0",
                "max": "80",
                "required": True,
                "show_if": "[worked] = '1'",
            },
            {
                "name": "comment",
                "type": "text",
                "label": {"en": "Anything else", "nb": "Noe mer"},
                "max_length": 100,
            },
        ],
        "scales": [
            {"name": "mood_score", "label": {"en": "Mood", "nb": "Humør"}, "items": ["mood"]}
        ],
        "missing_codes": [
            {"code": "refused", "label": {"en": "Refused to answer", "nb": "Vil ikke svare"}},
            {"code": "dont_know", "label": {"en": "Don't know", "nb": "Vet ikke"}},
        ],
    }


@dataclass
class Scene:
    trial: Trial
    site: Site
    participant: Participant
    visit: Visit
    instrument: Instrument
    coordinator: Any
    caseworker: Any


def make_scene(
    code: str = "ips-self",
    *,
    email: str = "kari@example.org",
    phone: str = "41234567",
    language: str = "nb",
) -> Scene:
    today = timezone.localdate()
    trial = factories.make_trial(code=code, title="IPS self-report")
    site = Site.objects.create(trial=trial, code=f"S{code[-3:]}", name="NAV Grünerløkka")
    visit_definition = VisitDefinition.objects.create(
        trial=trial, code="m3", label="3 months", offset_months=3
    )
    randomised = today - dt.timedelta(days=92)
    participant = factories.make_participant(
        trial, site, enrolled_on=randomised, randomised_on=randomised
    )
    generate_visits(participant, randomised_on=randomised)
    coordinator = factories.make_user(f"coord-{code}")
    factories.make_membership(coordinator, trial, Membership.Role.COORDINATOR)
    caseworker = factories.make_user(f"case-{code}")
    factories.make_membership(caseworker, trial, Membership.Role.CASEWORKER, [site])
    instrument = setup.create_instrument(
        trial,
        code="wellbeing",
        name_en="Wellbeing",
        name_nb="Trivsel",
        definition=definition(),
        actor=coordinator,
    )
    setup.attach_instrument(
        instrument, [visit_definition], actor=coordinator, self_completed=[visit_definition]
    )
    services.set_contact_details(
        participant, email=email, phone=phone, language=language, actor=coordinator
    )
    visit = Visit.objects.get(participant=participant)
    return Scene(trial, site, participant, visit, instrument, coordinator, caseworker)


def invitation_of(scene: Scene, channel: str = Invitation.Channel.EMAIL) -> Invitation:
    services.create_invitations(timezone.localdate())
    return Invitation.objects.get(visit=scene.visit, instrument=scene.instrument, channel=channel)


def contact_of(scene: Scene) -> ContactDetails:
    return ContactDetails.objects.get(participant=scene.participant)


def another_participant(scene: Scene, *, email: str, phone: str = "") -> Participant:
    """One more participant of the scene's trial and site, randomised as the first was (so
    their 3-month visit is open), with contact details."""
    randomised = timezone.localdate() - dt.timedelta(days=92)
    participant = factories.make_participant(
        scene.trial, scene.site, enrolled_on=randomised, randomised_on=randomised
    )
    generate_visits(participant, randomised_on=randomised)
    services.set_contact_details(
        participant, email=email, phone=phone, language="nb", actor=scene.coordinator
    )
    return participant
