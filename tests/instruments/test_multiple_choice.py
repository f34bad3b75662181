"""A multiple-choice item: its answer with no choice ticked kept apart from no answer, and its
columns in the data sets named as REDCap names a checkbox's columns."""

from __future__ import annotations

import pytest
from django.utils import translation

from instruments.definition import (
    AnswerError,
    Choice,
    Definition,
    Item,
    ItemType,
    Text,
    clean_answers,
)
from instruments.dictionary.variables import indicator_columns, item_variable
from instruments.forms import shown_value
from instruments.schema import item_schema


def multi(*, required: bool = False, show_if: str = "") -> Item:
    return Item(
        name="support",
        type=ItemType.MULTI,
        label=Text("Support", "Støtte"),
        required=required,
        choices=(Choice("nav", Text("NAV")), Choice("gp", Text("GP", "Fastlege"))),
        show_if=show_if,
    )


def definition(item: Item) -> Definition:
    working = Item(name="working", type=ItemType.YESNO, label=Text("Working"))
    return Definition(items=(working, item), scales=(), missing_codes=())


@pytest.mark.parametrize(
    ("codes", "columns"),
    [
        (["1", "2", "10"], ["q___1", "q___2", "q___10"]),
        (["nav", "Emp-1", "a.b"], ["q___nav", "q___emp_1", "q___a_b"]),
        (["-1", "0"], ["q____1", "q___0"]),  # REDCap's name for a negative code
        (["A", "a", "1.5", "1_5"], ["q___a", "q___a_2", "q___1_5", "q___1_5_2"]),
    ],
)
def test_each_choice_gets_a_column_name_stata_and_r_accept(
    codes: list[str], columns: list[str]
) -> None:
    found = indicator_columns("q", [Choice(code, Text(code)) for code in codes])
    assert [i.column for i in found] == columns
    assert [i.code for i in found] == codes
    assert all(c.replace("_", "").isalnum() and c[0].isalpha() for c in columns)


def test_only_a_multiple_choice_variable_has_columns_per_choice() -> None:
    variable = item_variable(multi(), instrument="help", version=1)
    assert [(i.column, i.value) for i in variable.indicators] == [
        ("support___nav", "nav"),
        ("support___gp", "gp"),
    ]
    numbered = Item("n", ItemType.MULTI, Text("N"), choices=(Choice("1", Text("One")),))
    assert item_variable(numbered, instrument="help", version=1).indicators[0].value == 1
    single = Item("s", ItemType.CHOICE, Text("S"), choices=(Choice("1", Text("One")),))
    assert item_variable(single, instrument="help", version=1).indicators == ()


def test_an_empty_list_answers_with_no_choice_and_leaving_it_out_is_no_answer() -> None:
    parsed = definition(multi())
    assert clean_answers(parsed, {"working": True, "support": []}).values == {
        "working": True,
        "support": [],
    }
    assert clean_answers(parsed, {"working": True}).values == {"working": True}
    assert clean_answers(parsed, {"working": True, "support": None}).values == {"working": True}
    assert clean_answers(parsed, {"support": ["gp", "nav"]}).values == {"support": ["nav", "gp"]}


def test_a_required_multiple_choice_needs_a_choice() -> None:
    with pytest.raises(AnswerError) as refused:
        clean_answers(definition(multi(required=True)), {"support": []})
    assert refused.value.errors == {"support": "This item is required."}


def test_no_choice_on_an_item_not_asked_is_no_answer() -> None:
    parsed = definition(multi(show_if="[working] = '1'"))
    # A form sends every checkbox group, also of items its conditions hide.
    assert clean_answers(parsed, {"working": False, "support": []}).values == {"working": False}


def test_the_schema_allows_an_empty_list_only_where_no_choice_may_be_the_answer() -> None:
    assert item_schema(multi())["minItems"] == 0
    assert item_schema(multi(required=True))["minItems"] == 1


def test_no_choice_reads_as_such_on_the_answers_page() -> None:
    item = multi()
    assert shown_value(item, ["nav", "gp"]) == "NAV, GP"
    assert shown_value(item, []) == "None of the choices"
    with translation.override("nb"):
        assert shown_value(item, []) == "Ingen av valgene"
