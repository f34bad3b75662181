"""Built-in instruments a trial starts from.

"Employment and benefits" holds what every trial recorded before instruments existed (the seven
fixed columns of the old assessment): the migration that moved existing answers into the generic
store (``instruments/migrations/0002``) and every new trial use this definition, so the variable
names, codes and rules stay exactly those of the old columns. Its conditions are the old rules
("leave hours, earnings and occupation empty when not in paid work"; "a benefit type only when on
benefits").
"""

from __future__ import annotations

from typing import Any

from instruments.definition import DEFAULT_MISSING_CODES

EMPLOYMENT = "employment"

BENEFIT_TYPES = [
    (
        "work_assessment_allowance",
        "Work assessment allowance (AAP)",
        "Arbeidsavklaringspenger (AAP)",
    ),
    ("disability_benefit", "Disability benefit (uføretrygd)", "Uføretrygd"),
    ("unemployment_benefit", "Unemployment benefit (dagpenger)", "Dagpenger"),
    ("social_assistance", "Social assistance (sosialhjelp)", "Sosialhjelp"),
    ("sickness_benefit", "Sickness benefit (sykepenger)", "Sykepenger"),
    ("other", "Other", "Annet"),
]

HEALTH = [
    ("1", "1 Poor", "1 Dårlig"),
    ("2", "2 Fair", "2 Nokså god"),
    ("3", "3 Good", "3 God"),
    ("4", "4 Very good", "4 Svært god"),
    ("5", "5 Excellent", "5 Utmerket"),
]


IN_WORK = "[in_paid_work] = '1'"
ON_BENEFITS = "[on_benefits] = '1'"


def _choices(rows: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "label": {"en": en, "nb": nb}} for code, en, nb in rows]


def _item(name: str, kind: str, en: str, nb: str, **rest: Any) -> dict[str, Any]:
    """An item's JSON with its keys in the order ``Item.to_json`` writes them."""
    return {"name": name, "type": kind, "label": {"en": en, "nb": nb}, **rest}


def employment_definition() -> dict[str, Any]:
    """The "Employment and benefits" instrument's definition (JSON, as stored)."""
    return {
        "items": [
            _item("in_paid_work", "yesno", "In paid work", "I lønnet arbeid", required=True),
            _item(
                "hours_per_week",
                "decimal",
                "Hours per week",
                "Timer per uke",
                min="0",
                max="80",
                decimals=1,
                unit="h",
                show_if=IN_WORK,
            ),
            _item(
                "monthly_earnings",
                "integer",
                "Monthly earnings (NOK)",
                "Månedsinntekt (kr)",
                min="0",
                max="500000",
                unit="NOK",
                show_if=IN_WORK,
            ),
            _item(
                "occupation_code",
                "occupation",
                "Occupation (STYRK-08)",
                "Yrke (STYRK-08)",
                show_if=IN_WORK,
            ),
            _item("on_benefits", "yesno", "On benefits", "Mottar ytelse", required=True),
            _item(
                "benefit_type",
                "choice",
                "Benefit type",
                "Ytelsestype",
                choices=_choices(BENEFIT_TYPES),
                show_if=ON_BENEFITS,
            ),
            _item(
                "self_rated_health",
                "choice",
                "Self-rated health (1 poor – 5 excellent)",
                "Egenvurdert helse (1 dårlig – 5 utmerket)",
                choices=_choices(HEALTH),
            ),
        ],
        "missing_codes": [
            {"code": code, "label": label.to_json()} for code, label in DEFAULT_MISSING_CODES
        ],
    }


BUILTIN = {
    EMPLOYMENT: {
        "name_en": "Employment and benefits",
        "name_nb": "Arbeid og ytelser",
        "definition": employment_definition,
    },
}
