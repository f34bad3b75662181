"""The trial's variables as data: kinds, labels, visits, versions, covariates, and the cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from instruments.definition import Item, ItemType, Text
from instruments.dictionary.variables import COVARIATES, Kind, item_kind, variables
from instruments.setup.services import (
    attach_instrument,
    create_instrument,
    default_instrument,
    revise_instrument,
)
from tests import factories
from tests.instruments.dictionaries import MOOD, answer, visits
from trial.models import CovariateDefinition, Trial

pytestmark = pytest.mark.django_db


def integer(minimum: str | None = None, maximum: str | None = None, unit: str = "") -> Item:
    return Item(
        name="x",
        type=ItemType.INTEGER,
        label=Text("X"),
        minimum=None if minimum is None else Decimal(minimum),
        maximum=None if maximum is None else Decimal(maximum),
        unit=unit,
    )


def choice(*codes: str) -> Item:
    from instruments.definition import Choice

    return Item(
        name="x",
        type=ItemType.CHOICE,
        label=Text("X"),
        choices=tuple(Choice(code, Text(code)) for code in codes),
    )


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (Item("x", ItemType.YESNO, Text("X")), Kind.BINARY),
        (integer("0"), Kind.COUNT),
        (integer("0", "365"), Kind.COUNT),
        (integer("0", "10"), Kind.CONTINUOUS),
        (integer("-5", "100"), Kind.CONTINUOUS),
        (integer(), Kind.CONTINUOUS),
        (integer("0", "500000", unit="NOK"), Kind.CONTINUOUS),
        (Item("x", ItemType.DECIMAL, Text("X")), Kind.CONTINUOUS),
        (choice("0", "1"), Kind.BINARY),
        (choice("1", "2", "3", "4", "5"), Kind.ORDINAL),
        (choice("-1", "0", "1"), Kind.ORDINAL),
        (choice("public", "private"), Kind.CATEGORICAL),
        (Item("x", ItemType.MULTI, Text("X")), Kind.MULTI),
        (Item("x", ItemType.DATE, Text("X")), Kind.DATE),
        (Item("x", ItemType.TEXT, Text("X")), Kind.TEXT),
        (Item("x", ItemType.OCCUPATION, Text("X")), Kind.OCCUPATION),
    ],
)
def test_each_item_gets_the_documented_kind(item: Item, kind: Kind) -> None:
    assert item_kind(item) == kind


def test_variables_describe_items_scores_and_covariates() -> None:
    trial = factories.make_trial()
    m0, _m6, m12 = visits(trial)
    employment = default_instrument(trial)
    mood = create_instrument(
        trial, code="mood", name_en="Mood", name_nb="Humør", definition=MOOD, actor=None
    )
    attach_instrument(mood, [m12, m0], actor=None)
    CovariateDefinition.objects.create(
        trial=trial, key="age", label="Age", kind="integer", min_value=16, max_value=67, order=1
    )
    CovariateDefinition.objects.create(
        trial=trial,
        key="sex",
        label="Sex",
        kind="choice",
        choices=[["female", "Female"], ["male", "Male"]],
        order=2,
    )

    found = {v.name: v for v in variables(trial)}

    assert list(found)[:7] == [
        "in_paid_work",
        "hours_per_week",
        "monthly_earnings",
        "occupation_code",
        "on_benefits",
        "benefit_type",
        "self_rated_health",
    ]
    assert list(found)[7:] == ["mood_1", "mood_2", "mood_total", "age", "sex"]
    work = found["in_paid_work"]
    assert (work.kind, work.item_type, work.instrument_code) == (Kind.BINARY, "yesno", "employment")
    assert work.value_labels == {"1": Text("Yes", "Ja"), "0": Text("No", "Nei")}
    assert work.instrument_name == Text("Employment and benefits", "Arbeid og ytelser")
    assert found["hours_per_week"].unit == "h"
    assert found["monthly_earnings"].kind == Kind.CONTINUOUS  # kroner: an amount, not a count
    assert found["self_rated_health"].kind == Kind.ORDINAL
    assert found["benefit_type"].kind == Kind.CATEGORICAL
    assert found["occupation_code"].kind == Kind.OCCUPATION
    assert set(found["in_paid_work"].missing_codes) == {"not_asked", "refused", "dont_know"}
    assert employment.pk != mood.pk

    item = found["mood_1"]
    assert item.label == Text("Little interest", "Lite interesse")
    assert item.value_labels["2"] == Text("Most days", "De fleste dager")
    assert item.visits == ("m0", "m12")
    assert item.versions == (1,)
    assert item.missing_codes == {"refused": Text("Refused", "Nektet")}
    score = found["mood_total"]
    assert (score.kind, score.item_type, score.visits) == (Kind.SCORE, "score", ("m0", "m12"))
    assert score.scale is not None and score.scale.items == ("mood_1", "mood_2")

    age, sex = found["age"], found["sex"]
    assert (age.instrument_code, age.kind, age.item_type) == (COVARIATES, Kind.COUNT, "integer")
    assert age.item is not None and age.item.minimum == Decimal(16)
    assert (sex.kind, sex.value_labels["male"]) == (Kind.CATEGORICAL, Text("Male", "Male"))
    assert age.is_covariate and not item.is_covariate


def test_a_variable_lists_the_versions_that_have_it_and_dropped_ones_stay() -> None:
    trial = factories.make_trial()
    (m0, _m6, _m12) = visits(trial)
    mood = create_instrument(
        trial, code="mood", name_en="Mood", name_nb="Humør", definition=MOOD, actor=None
    )
    answer(mood, m0)
    changed = {
        "items": [
            {**MOOD["items"][0], "label": {"en": "Little pleasure", "nb": "Lite glede"}},
            {"name": "sleep", "type": "yesno", "label": {"en": "Sleeps well", "nb": "Sover godt"}},
        ]
    }
    assert revise_instrument(mood, definition=changed, actor=None).number == 2

    found = {v.name: v for v in variables(trial)}

    assert list(found) == ["mood_1", "sleep", "mood_2", "mood_total"]
    assert found["mood_1"].versions == (1, 2)
    assert found["mood_1"].label.en == "Little pleasure"  # from the newest version with it
    assert (found["mood_1"].instrument_version, found["mood_1"].current) == (2, True)
    assert found["sleep"].versions == (2,)
    assert (found["mood_2"].versions, found["mood_2"].current) == ((1,), False)
    assert found["mood_2"].instrument_version == 1
    assert found["mood_2"].missing_codes == {"refused": Text("Refused", "Nektet")}


def test_reading_the_variables_costs_three_queries(django_assert_num_queries: Any) -> None:
    trial = factories.make_trial()
    schedule = visits(trial)
    for n in range(4):
        definition = {
            **MOOD,
            "items": [{**i, "name": f"{i['name']}_{n}"} for i in MOOD["items"]],
            "scales": [
                {**MOOD["scales"][0], "name": f"total_{n}", "items": [f"mood_1_{n}", f"mood_2_{n}"]}
            ],
        }
        instrument = create_instrument(
            trial, code=f"i{n}", name_en="I", name_nb="I", definition=definition, actor=None
        )
        attach_instrument(instrument, schedule, actor=None)
    CovariateDefinition.objects.create(trial=trial, key="age", label="Age", kind="integer")
    trial = Trial.objects.get(pk=trial.pk)

    with django_assert_num_queries(3):
        found = variables(trial)

    assert len(found) == 4 * 3 + 1
