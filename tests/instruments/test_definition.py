"""Reading definitions, refusing broken ones, and checking answers against them."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instruments import branching
from instruments.builtin import employment_definition
from instruments.definition import (
    AnswerError,
    Definition,
    DefinitionError,
    Item,
    ItemType,
    clean_answers,
    parse_value,
)
from instruments.rules import check_definition


def definition(*items: dict, scales: tuple[dict, ...] = (), missing: bool = True) -> Definition:
    data: dict = {"items": list(items), "scales": list(scales)}
    if missing:
        data["missing_codes"] = [
            {"code": "refused", "label": {"en": "Refused", "nb": "Vil ikke svare"}}
        ]
    return Definition.from_json(data)


def faults(defn: Definition, taken: tuple[str, ...] = ()) -> dict[str, str]:
    with pytest.raises(DefinitionError) as info:
        check_definition(defn, taken=taken)
    return dict(info.value.errors)


def test_the_builtin_definition_is_valid_and_round_trips() -> None:
    parsed = Definition.from_json(employment_definition())
    check_definition(parsed)
    assert Definition.from_json(parsed.to_json()) == parsed
    assert parsed.names[:2] == ["in_paid_work", "hours_per_week"]


def test_broken_definitions_name_the_item_and_field() -> None:
    found = faults(
        definition(
            {"name": "Bad name", "type": "integer", "label": "x"},
            {"name": "mood", "type": "choice", "label": "Mood"},
            {"name": "age", "type": "integer", "label": "Age", "min": 30, "max": 18},
            {"name": "when", "type": "date", "label": "When", "show_if": "[later] = '1'"},
            {"name": "later", "type": "yesno", "label": "Later", "show_if": "[mood] ="},
            {"name": "mood", "type": "text", "label": "Again", "pattern": "("},
        )
    )
    assert "items[0].name" in found
    assert "items[1].choices" in found
    assert "items[2].max" in found
    assert "not an earlier item" in found["items[3].show_if"]
    assert "cannot be read" in found["items[4].show_if"]
    assert "used twice" in found["items[5].name"]
    assert "items[5].pattern" in found


def test_names_taken_by_another_instrument_are_refused() -> None:
    found = faults(
        definition({"name": "in_paid_work", "type": "yesno", "label": "x"}), ("in_paid_work",)
    )
    assert "Another instrument" in found["items[0].name"]


def test_scale_faults_are_named() -> None:
    found = faults(
        definition(
            {"name": "note", "type": "text", "label": "Note"},
            {"name": "score_me", "type": "integer", "label": "n"},
            scales=(
                {
                    "name": "total",
                    "label": "T",
                    "items": ["note", "ghost", "score_me"],
                    "reverse": ["score_me"],
                },
            ),
        )
    )
    assert "scales[0].items" in found
    assert "scales[0].reverse" in found  # no range to reverse within


def test_three_underscores_are_kept_for_the_columns_of_a_multiple_choice() -> None:
    """``support___nav`` is the data column of choice ``nav`` of ``support``: no item or scale
    may take that name."""
    found = faults(
        definition(
            {"name": "support___nav", "type": "integer", "label": "n"},
            {"name": "support__nav", "type": "integer", "label": "n"},
            scales=({"name": "sum___all", "label": "S", "items": ["support__nav"]},),
        )
    )
    assert "multiple choice" in found["items[0].name"]
    assert "items[1].name" not in found  # two underscores are a name like any other
    assert "multiple choice" in found["scales[0].name"]


def test_answers_are_stored_in_their_types() -> None:
    defn = definition(
        {"name": "works", "type": "yesno", "label": "Works"},
        {"name": "hours", "type": "decimal", "label": "Hours", "decimals": 1, "min": 0, "max": 80},
        {"name": "kids", "type": "integer", "label": "Children", "min": 0},
        {
            "name": "mood",
            "type": "choice",
            "label": "Mood",
            "choices": [{"code": "0", "label": "Low"}, {"code": "1", "label": "High"}],
        },
        {
            "name": "help",
            "type": "multi",
            "label": "Help",
            "choices": [{"code": "a", "label": "NAV"}, {"code": "b", "label": "GP"}],
        },
        {"name": "start", "type": "date", "label": "Start"},
    )
    clean = clean_answers(
        defn,
        {
            "works": "ja",
            "hours": "37,5",
            "kids": "2",
            "mood": 1,
            "help": ["b", "a"],
            "start": dt.date(2026, 1, 5),
        },
    )
    assert clean.values == {
        "works": True,
        "hours": 37.5,
        "kids": 2,
        "mood": 1,
        "help": ["a", "b"],
        "start": "2026-01-05",
    }


@pytest.mark.parametrize(
    ("item", "raw", "message"),
    [
        ({"type": "integer", "max": 5}, "6", "at most 5"),
        ({"type": "integer"}, "2.5", "whole number"),
        ({"type": "decimal", "decimals": 1}, "2.25", "1 decimals"),
        ({"type": "yesno"}, "maybe", "yes or no"),
        ({"type": "choice", "choices": [{"code": "1", "label": "x"}]}, "2", "Choose one of: 1"),
        ({"type": "date"}, "06.12.2026", "YYYY-MM-DD"),
        ({"type": "text", "pattern": r"\d{4}"}, "12a4", "expected format"),
        ({"type": "occupation"}, "9999", "STYRK-08"),
    ],
)
def test_wrong_answers_are_refused_with_a_message(item: dict, raw: str, message: str) -> None:
    parsed = Item.from_json({"name": "q", "label": "Q", **item})
    with pytest.raises(ValueError, match=message):
        parse_value(parsed, raw)


def test_hidden_items_must_be_empty_and_required_items_answered() -> None:
    defn = Definition.from_json(employment_definition())
    with pytest.raises(AnswerError) as info:
        clean_answers(defn, {"in_paid_work": False, "hours_per_week": "3", "benefit_type": "other"})
    assert set(info.value.errors) == {"hours_per_week", "on_benefits", "benefit_type"}
    assert "not asked" in info.value.errors["hours_per_week"]
    assert "required" in info.value.errors["on_benefits"]


def test_missing_data_codes_are_kept_apart_from_blanks() -> None:
    defn = Definition.from_json(employment_definition())
    clean = clean_answers(defn, {"in_paid_work": True}, {"on_benefits": "refused"})
    assert clean.values == {"in_paid_work": True}
    assert clean.missing == {"on_benefits": "refused"}
    with pytest.raises(AnswerError) as info:
        clean_answers(
            defn,
            {"in_paid_work": True, "on_benefits": True},
            {"on_benefits": "refused", "self_rated_health": "nope"},
        )
    assert "not both" in info.value.errors["on_benefits"]
    assert "Unknown missing-data code" in info.value.errors["self_rated_health"]


def test_choices_may_be_given_by_label_when_importing() -> None:
    defn = Definition.from_json(employment_definition())
    clean = clean_answers(
        defn, {"in_paid_work": "0", "on_benefits": "1", "benefit_type": "Dagpenger"}, labels=True
    )
    assert clean.values["benefit_type"] == "unemployment_benefit"
    with pytest.raises(AnswerError):
        clean_answers(defn, {"in_paid_work": "0", "on_benefits": "1", "benefit_type": "Dagpenger"})


def test_scores_cannot_be_entered() -> None:
    defn = definition(
        {"name": "a", "type": "integer", "label": "A", "min": 0, "max": 3},
        scales=({"name": "total", "label": "T", "items": ["a"]},),
    )
    check_definition(defn)
    with pytest.raises(AnswerError, match="computed"):
        clean_answers(defn, {"a": 1, "total": 3})


@pytest.mark.parametrize(
    ("condition", "values", "holds"),
    [
        ("[x] = '1'", {"x": True}, True),
        ("[x] = '1'", {"x": False}, False),
        ("[x] = ''", {}, True),
        ("[x] > 3", {}, False),
        ("[x] >= 2 and ([y] = 'f' or [z] < 30)", {"x": 2, "y": "m", "z": 29}, True),
        ("[x] >= 2 and ([y] = 'f' or [z] < 30)", {"x": 2, "y": "m", "z": 31}, False),
        ("[help(b)] = '1'", {"help": ["a", "b"]}, True),
        ("[help(b)] = '0'", {"help": ["a"]}, True),
        ('not [x] <> "10"', {"x": 10.0}, True),
        ("[x] != 2 or [x] = 2", {"x": 5}, True),
    ],
)
def test_conditions_evaluate_as_redcap_does(condition: str, values: dict, holds: bool) -> None:
    assert branching.evaluate(branching.parse(condition), values) is holds


@pytest.mark.parametrize(
    "broken", ["[x] =", "[x] == 2", "([x] = 1", "[x] = 1 and", "x = 1", "[x] like 1"]
)
def test_broken_conditions_are_refused(broken: str) -> None:
    with pytest.raises(branching.ConditionError):
        branching.parse(broken)


@given(
    st.lists(st.sampled_from(["[a] = '1'", "[b] > 2", "[c] <> 'x'"]), min_size=1, max_size=4),
    st.booleans(),
)
def test_and_or_follow_their_parts(parts: list[str], use_and: bool) -> None:
    values = {"a": 1, "b": 1, "c": "x"}
    joined = (" and " if use_and else " or ").join(parts)
    expected = [branching.evaluate(branching.parse(p), values) for p in parts]
    result = branching.evaluate(branching.parse(joined), values)
    assert result is (all(expected) if use_and else any(expected))


def test_item_types_cover_the_issue() -> None:
    assert {t.value for t in ItemType} >= {
        "yesno",
        "integer",
        "decimal",
        "choice",
        "multi",
        "date",
        "text",
        "occupation",
    }
