"""A participant who answers a multiple-choice screen with no box ticked has answered it."""

from __future__ import annotations

from instruments.definition import Choice, Definition, Item, ItemType, Text
from surveys.flow import submission


def test_a_screen_answered_with_no_choice_is_submitted_as_such() -> None:
    support = Item(
        name="support",
        type=ItemType.MULTI,
        label=Text("Support"),
        choices=(Choice("nav", Text("NAV")), Choice("gp", Text("GP"))),
    )
    note = Item(name="note", type=ItemType.TEXT, label=Text("Note"))
    definition = Definition(items=(support, note))
    values, missing = submission(definition, {"support": [], "note": ""}, {})
    assert values == {"support": []} and missing == {}
    assert submission(definition, {"note": "x"}, {}) == ({"note": "x"}, {})
