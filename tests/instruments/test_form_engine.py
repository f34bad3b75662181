"""The form engine: a Django form from an instrument definition, checked by clean_answers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import translation

from instruments.builtin import employment_definition
from instruments.definition import Definition
from instruments.forms import (
    MISSING_SUFFIX,
    InstrumentForm,
    describe_condition,
    initial_from,
    raw_value,
    shown_answers,
    shown_scores,
)
from instruments.models import Assessment
from tests.instruments.entry import wellbeing_definition

DEFINITION = Definition.from_json(wellbeing_definition())


def posted(**values: Any) -> dict[str, Any]:
    """A browser's POST of the wellbeing form (prefix "w")."""
    data: dict[str, Any] = {}
    for name, value in values.items():
        data[f"w-{name}"] = value
    return data


def form(**values: Any) -> InstrumentForm:
    return InstrumentForm(DEFINITION, posted(**values), prefix="w")


def test_each_item_type_gets_its_widget() -> None:
    fields = InstrumentForm(DEFINITION).fields
    assert isinstance(fields["worked"].widget, forms.RadioSelect)
    assert [value for value, _label in fields["worked"].widget.choices] == ["1", "0"]
    hours = fields["work_hours"].widget
    assert isinstance(hours, forms.NumberInput)
    assert (
        hours.attrs.items()
        >= {"step": "0.1", "min": "0", "max": "80", "inputmode": "decimal"}.items()
    )
    assert isinstance(fields["mood_1"].widget, forms.RadioSelect)  # four choices: radios
    assert isinstance(fields["contract"].widget, forms.Select)  # six: a select
    assert next(iter(fields["contract"].widget.choices)) == ("", "—")
    assert isinstance(fields["supports"].widget, forms.CheckboxSelectMultiple)
    assert fields["checked_on"].widget.input_type == "date"
    assert fields["job_code"].widget.attrs["inputmode"] == "numeric"
    assert isinstance(fields["low_mood_note"].widget, forms.Textarea)  # 300 characters
    whole = InstrumentForm(Definition.from_json(employment_definition())).fields
    assert whole["monthly_earnings"].widget.attrs.items() >= {"step": "1", "max": "500000"}.items()


def test_labels_follow_the_language_and_help_gives_unit_range_and_note() -> None:
    with translation.override("nb"):
        nb = InstrumentForm(DEFINITION)
        assert nb.fields["worked"].label == "Arbeidet forrige uke"
        assert ("0", "Ikke i det hele tatt") in nb.fields["mood_1"].widget.choices
        assert (
            nb.fields["work_hours"].help_text
            == "0 til 80 h · høyst 1 desimal · Bare betalte timer."
        )
    en = InstrumentForm(DEFINITION)
    assert en.fields["worked"].label == "Worked last week"
    assert en.fields["work_hours"].help_text == "0 to 80 h · at most 1 decimal · Paid hours only."


def test_every_item_has_a_missing_data_code_beside_it_when_the_definition_has_codes() -> None:
    fields = InstrumentForm(DEFINITION).fields
    codes = fields["mood_1" + MISSING_SUFFIX].widget.choices
    assert codes == [
        ("", "Not missing"),
        ("refused", "Refused to answer"),
        ("dont_know", "Don't know"),
    ]
    assert fields["mood_1" + MISSING_SUFFIX].widget.attrs["aria-label"] == (
        "Missing-data code for Mood question 1"
    )
    without = {"items": [{"name": "x", "type": "yesno", "label": "X"}]}
    assert list(InstrumentForm(Definition.from_json(without)).fields) == ["x"]


def test_rows_mark_required_items_and_say_when_an_item_is_asked() -> None:
    rows = {row.item.name: row for row in InstrumentForm(DEFINITION).rows}
    assert rows["mood_1"].required and not rows["supports"].required
    assert rows["work_hours"].show_if == "[worked] = '1'"
    assert rows["work_hours"].asked_when == "Worked last week is Yes"
    assert rows["low_mood_note"].asked_when == "Mood question 1 ≥ 2 (More than half the days)"
    assert rows["mood_1"].asked_when == ""


def test_conditions_read_in_words() -> None:
    def said(text: str) -> str:
        return describe_condition(DEFINITION, text)

    assert said("[contract] = 'temp' or [contract] = 'hourly'") == (
        "Contract is Temporary or Contract is Hourly"
    )
    assert said("[supports(2)] = '1' and not [worked] = '0'") == (
        "Support received: Wage subsidy ticked and not (Worked last week is No)"
    )
    assert said("[low_mood_note] <> ''") == "What makes the days hard? is not blank"


def test_valid_answers_are_clean_and_typed() -> None:
    filled = form(
        mood_1="2",
        mood_2="0",
        mood_3="3",
        worked="1",
        work_hours="12,5",
        supports=["3", "1"],
        low_mood_note=" Long commute ",
        checked_on="2025-05-20",
        job_code="5223",
        contract="temp",
    )
    assert filled.is_valid(), filled.errors
    assert filled.cleaned_answers is not None
    assert filled.cleaned_answers.values == {
        "mood_1": 2,
        "mood_2": 0,
        "mood_3": 3,
        "worked": True,
        "work_hours": 12.5,
        "supports": [1, 3],
        "low_mood_note": "Long commute",
        "checked_on": "2025-05-20",
        "job_code": "5223",
        "contract": "temp",
    }


def test_refusals_of_clean_answers_are_put_next_to_their_items() -> None:
    refused = form(
        mood_1="1",
        mood_2="7",
        worked="0",
        work_hours="81",
        low_mood_note="shown only for a high first score",
    )
    assert not refused.is_valid()
    assert refused.errors["mood_2"] == ["Choose one of: 0, 1, 2, 3."]
    assert refused.errors["mood_3"] == [
        "This item is required: answer it or choose a missing-data code."
    ]
    assert refused.errors["work_hours"] == ["This item is not asked here: leave it empty."]
    assert refused.errors["low_mood_note"] == ["This item is not asked here: leave it empty."]
    assert refused.cleaned_answers is None
    too_many = form(mood_1="0", mood_2="0", mood_3="0", worked="1", work_hours="80.25")
    assert too_many.errors["work_hours"] == ["Use at most 1 decimals."]


def test_a_shown_required_item_needs_an_answer_or_a_missing_data_code_not_both() -> None:
    base = {"mood_1": "0", "mood_2": "0", "worked": "1"}
    neither = form(**base, mood_3="")
    assert "work_hours" in neither.errors and "mood_3" in neither.errors
    coded = form(
        **base,
        **{"mood_3" + MISSING_SUFFIX: "refused", "work_hours" + MISSING_SUFFIX: "dont_know"},
    )
    assert coded.is_valid(), coded.errors
    assert coded.cleaned_answers is not None
    assert coded.cleaned_answers.missing == {"mood_3": "refused", "work_hours": "dont_know"}
    both = form(**base, mood_3="1", **{"mood_3" + MISSING_SUFFIX: "refused", "work_hours": "3"})
    assert both.errors["mood_3"] == ["Give an answer or a missing-data code, not both."]
    unknown = form(**base, mood_3="1", work_hours="3", **{"mood_1" + MISSING_SUFFIX: "gone"})
    assert unknown.errors["mood_1"] == ["Give an answer or a missing-data code, not both."]


def test_stored_answers_fill_the_form_for_a_correction() -> None:
    assessment = Assessment(
        values={"mood_1": 2, "worked": False, "work_hours": 20.0, "supports": [1, 3]},
        missing={"mood_3": "refused"},
        scores={"mood_total": None},
    )
    initial = initial_from(DEFINITION, assessment)
    assert initial == {
        "mood_1": "2",
        "worked": "0",
        "work_hours": "20",
        "supports": ["1", "3"],
        "mood_3" + MISSING_SUFFIX: "refused",
    }
    item = DEFINITION.item("checked_on")
    assert item is not None and raw_value(item, "2025-01-02") == "2025-01-02"
    shown = {a.label: a for a in shown_answers(DEFINITION, assessment)}
    assert shown["Worked last week"].value == "No"
    assert shown["Hours worked"].value == "20 h"
    assert shown["Support received"].value == "Job coach, Adapted tasks"
    assert (
        shown["Mood question 3"].missing and shown["Mood question 3"].value == "Refused to answer"
    )
    assert shown["Contract"].blank and shown["Contract"].value == "skipped"  # not working
    assert shown["Date of the last check-up"].blank
    assert shown["Date of the last check-up"].value == "–"
    assert shown_scores(DEFINITION, assessment)[0].value == "–"


def test_scores_are_shown_with_their_band() -> None:
    assessment = Assessment(values={}, missing={}, scores={"mood_total": 7.0})
    (score,) = shown_scores(DEFINITION, assessment)
    assert (score.label, score.value, score.band) == ("Mood score", "7", "moderate")
