"""An instrument with a scale, branching and missing-data codes, for the data-entry tests, and a
trial world with a visit ready for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from instruments.models import Instrument
from instruments.setup import services as setup
from tests.conftest import World
from trial.models import Visit, VisitDefinition
from trial.services import generate_visits

FREQUENCY = [
    ("0", "Not at all", "Ikke i det hele tatt"),
    ("1", "Several days", "Flere dager"),
    ("2", "More than half the days", "Mer enn halvparten av dagene"),
    ("3", "Nearly every day", "Nesten hver dag"),
]


def _choices(rows: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "label": {"en": en, "nb": nb}} for code, en, nb in rows]


def wellbeing_definition() -> dict[str, Any]:
    """Three scored items (a short PHQ-style scale with bands), a yes/no that opens two items,
    a multiple choice, a text asked only for a high first score, a date and an occupation."""
    return {
        "items": [
            *[
                {
                    "name": f"mood_{i}",
                    "type": "choice",
                    "label": {"en": f"Mood question {i}", "nb": f"Humørspørsmål {i}"},
                    "required": True,
                    "choices": _choices(FREQUENCY),
                }
                for i in (1, 2, 3)
            ],
            {
                "name": "worked",
                "type": "yesno",
                "label": {"en": "Worked last week", "nb": "Arbeidet forrige uke"},
                "required": True,
            },
            {
                "name": "work_hours",
                "type": "decimal",
                "label": {"en": "Hours worked", "nb": "Arbeidstimer"},
                "min": "0",
                "max": "80",
                "decimals": 1,
                "unit": "h",
                "required": True,
                "show_if": "[worked] = '1'",
                "note": {"en": "Paid hours only.", "nb": "Bare betalte timer."},
            },
            {
                "name": "supports",
                "type": "multi",
                "label": {"en": "Support received", "nb": "Støtte mottatt"},
                "choices": _choices(
                    [
                        ("1", "Job coach", "Jobbcoach"),
                        ("2", "Wage subsidy", "Lønnstilskudd"),
                        ("3", "Adapted tasks", "Tilrettelagte oppgaver"),
                    ]
                ),
                "show_if": "[worked] = '1'",
            },
            {
                "name": "low_mood_note",
                "type": "text",
                "label": {"en": "What makes the days hard?", "nb": "Hva gjør dagene tunge?"},
                "max_length": 300,
                "show_if": "[mood_1] >= 2",
            },
            {
                "name": "checked_on",
                "type": "date",
                "label": {"en": "Date of the last check-up", "nb": "Dato for siste kontroll"},
            },
            {
                "name": "job_code",
                "type": "occupation",
                "label": {"en": "Occupation", "nb": "Yrke"},
                "show_if": "[worked] = '1'",
            },
            {
                "name": "contract",
                "type": "choice",
                "label": {"en": "Contract", "nb": "Kontrakt"},
                "choices": _choices(
                    [
                        ("perm", "Permanent", "Fast"),
                        ("temp", "Temporary", "Midlertidig"),
                        ("hourly", "Hourly", "Timebasert"),
                        ("self", "Self-employed", "Selvstendig"),
                        ("agency", "Agency", "Byrå"),
                        ("other", "Other", "Annet"),
                    ]
                ),
                "show_if": "[worked] = '1'",
            },
        ],
        "scales": [
            {
                "name": "mood_total",
                "label": {"en": "Mood score", "nb": "Humørskår"},
                "items": ["mood_1", "mood_2", "mood_3"],
                "decimals": 0,
                "bands": [
                    {"min": "0", "label": {"en": "minimal", "nb": "minimal"}},
                    {"min": "3", "label": {"en": "mild", "nb": "mild"}},
                    {"min": "6", "label": {"en": "moderate", "nb": "moderat"}},
                ],
            }
        ],
        "missing_codes": [
            {"code": "refused", "label": {"en": "Refused to answer", "nb": "Vil ikke svare"}},
            {"code": "dont_know", "label": {"en": "Don't know", "nb": "Vet ikke"}},
        ],
    }


def add_wellbeing(world: World, *, at: str = "m3") -> Instrument:
    """The instrument, attached to the visit ``at`` (with the trial's default instrument, so
    the visit asks two)."""
    instrument = setup.create_instrument(
        world.trial,
        code="wellbeing",
        name_en="Wellbeing at work",
        name_nb="Trivsel i arbeid",
        definition=wellbeing_definition(),
        actor=world.users["coordinator"],
    )
    definition = VisitDefinition.objects.get(trial=world.trial, code=at)
    setup.attach_instrument(
        setup.default_instrument(world.trial), [definition], actor=world.users["coordinator"]
    )
    setup.attach_instrument(instrument, [definition], actor=world.users["coordinator"])
    return instrument


def visit_at(
    world: World, site: str = "OSLA", *, index: int = 0, randomised_on: dt.date | None = None
) -> Visit:
    """The m3 visit of a participant at the site (the first by default), made with the schedule
    if need be."""
    VisitDefinition.objects.get_or_create(
        trial=world.trial, code="m3", defaults={"label": "3 months", "offset_months": 3}
    )
    participant = world.participants[site][index]
    day = randomised_on or dt.date(2025, 3, 1)
    if participant.randomised_on is None:
        participant.randomised_on = day
        participant.save(update_fields=["randomised_on"])
    generate_visits(participant, randomised_on=day)
    return Visit.objects.get(participant=participant, definition__code="m3")


def good_answers(**overrides: Any) -> dict[str, Any]:
    """Valid answers to the wellbeing instrument, as the API takes them."""
    values: dict[str, Any] = {
        "mood_1": 2,
        "mood_2": 1,
        "mood_3": 3,
        "worked": True,
        "work_hours": 12.5,
        "supports": [1, 3],
        "low_mood_note": "Long commute",
        "checked_on": "2025-05-20",
        "job_code": "5223",
        "contract": "temp",
    }
    values.update(overrides)
    return values
