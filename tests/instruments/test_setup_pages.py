"""Defining instruments in the browser: who may, creating one with its first item, editing,
moving and removing items, scales, visits and versions; faults shown next to the field (or
item) they name with nothing saved; a change after answers exist saved as a new version."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from instruments import builtin
from instruments.models import Instrument, InstrumentVersion, VisitInstrument
from instruments.setup import services
from tests.conftest import World
from tests.instruments.builders import answer, item, scored, visit_definition
from trial.models import AuditEvent

BASE = "/trials/ips/instruments/"


@pytest.fixture
def wellbeing(world: World) -> Instrument:
    """An instrument of three items (the third shown only after the first), with a scale."""
    return services.create_instrument(
        world.trial,
        code="wellbeing",
        name_en="Well-being",
        name_nb="Trivsel",
        definition={
            "items": [
                item("in_school", "yesno"),
                scored("mood"),
                scored("sleep") | {"show_if": "[in_school] = '1'"},
            ],
            "scales": [{"name": "wb_total", "label": {"en": "Total"}, "items": ["mood", "sleep"]}],
        },
        actor=world.users["coordinator"],
    )


def client(world: World, persona: str = "coordinator") -> Client:
    return world.client(persona)


def current(instrument: Instrument) -> dict[str, Any]:
    return instrument.current_version().definition


def item_data(**values: Any) -> dict[str, Any]:
    data = {"name": "new_item", "label_en": "A new item", "label_nb": "", "type": "integer"}
    data.update(values)
    return data


PAGES = [
    "",
    "new/",
    "wellbeing/edit/",
    "wellbeing/items/new/",
    "wellbeing/items/1/",
    "wellbeing/items/1/remove/",
    "wellbeing/scales/new/",
    "wellbeing/scales/1/",
    "wellbeing/scales/1/remove/",
    "wellbeing/visits/",
    "wellbeing/versions/",
    "wellbeing/remove/",
]


@pytest.mark.parametrize("page", PAGES)
def test_outsider_gets_404_and_caseworker_403(
    world: World, wellbeing: Instrument, page: str
) -> None:
    assert client(world, "outsider").get(BASE + page).status_code == 404
    assert client(world, "caseworker").get(BASE + page).status_code == 403
    assert client(world, "monitor").post(BASE + page).status_code in {403, 405}


@pytest.mark.parametrize("persona", ["coordinator", "datamanager"])
@pytest.mark.parametrize("page", PAGES)
def test_coordinators_and_data_managers_open_every_page(
    world: World, wellbeing: Instrument, persona: str, page: str
) -> None:
    assert client(world, persona).get(BASE + page).status_code == 200


def test_the_trial_menu_offers_instruments_to_those_who_define_them(world: World) -> None:
    # In the set-up group: after the trial's set-up for coordinators, first for data managers.
    page = client(world, "coordinator").get(BASE).content.decode()
    assert f'<a href="{BASE}" aria-current="page">Instruments</a>' in page
    assert 'href="/trials/ips/setup/" aria-current="true">Set-up</a>' in page
    page = client(world, "datamanager").get("/trials/ips/").content.decode()
    assert f'<a href="{BASE}">Set-up</a>' in page
    page = client(world, "caseworker").get("/trials/ips/").content.decode()
    assert BASE not in page


def test_the_list_shows_versions_items_scales_visits_and_answers(
    world: World, wellbeing: Instrument
) -> None:
    baseline = visit_definition(world)
    services.attach_instrument(wellbeing, [baseline], actor=None)
    answer(world, wellbeing, baseline)
    page = client(world).get(BASE).content.decode()
    row = page[page.index("Well-being") :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    assert cells[:5] == ["1", "3", "1", "Month 0", "1"]
    assert f"{BASE}wellbeing/versions/" in row


def test_creating_an_instrument_with_its_first_item(world: World) -> None:
    response = client(world).post(
        BASE + "new/",
        {
            "code": "school",
            "name_en": "School",
            "name_nb": "Skole",
            "item-name": "in_school",
            "item-label_en": "In school",
            "item-label_nb": "I skole",
            "item-type": "yesno",
            "item-required": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}school/edit/"
    instrument = Instrument.objects.get(trial=world.trial, code="school")
    assert current(instrument) == {
        "items": [
            {
                "name": "in_school",
                "type": "yesno",
                "label": {"en": "In school", "nb": "I skole"},
                "required": True,
            }
        ]
    }
    event = AuditEvent.objects.get(action="instrument.created")
    assert event.actor == world.users["coordinator"]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"item-name": "2bad name"}, "item-name", "Use lower-case letters"),
        ({"item-type": "choice"}, "item-choices", "List the choices"),
        (
            {"item-show_if": "[in_school] = "},
            "item-show_if",
            "The condition cannot be read: the condition ends too early",
        ),
        (
            {"item-choices": "1, Yes\n2 No"},
            "item-choices",
            "Line 2: write the code, a comma and the label.",
        ),
    ],
)
def test_a_new_instrument_at_fault_shows_the_message_next_to_the_field(
    world: World, values: dict[str, str], field: str, message: str
) -> None:
    data = {
        "code": "school",
        "name_en": "School",
        **{f"item-{k}": v for k, v in item_data().items()},
    }
    data.update(values)
    response = client(world).post(BASE + "new/", data)
    assert response.status_code == 200
    page = response.content.decode()
    error = page[page.index(f'id="id_{field}_error"') :]
    assert message in error[: error.index("</ul>")]
    assert not Instrument.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="instrument.").exists()


def test_a_variable_name_another_instrument_uses_is_refused(
    world: World, wellbeing: Instrument
) -> None:
    before = current(wellbeing)
    response = client(world).post(
        BASE + "new/",
        {
            "code": "school",
            "name_en": "School",
            **{f"item-{k}": v for k, v in item_data(name="mood").items()},
        },
    )
    page = response.content.decode()
    error = page[page.index('id="id_item-name_error"') :]
    assert "Another instrument of the trial uses the name mood." in error[: error.index("</ul>")]
    assert Instrument.objects.count() == 1
    assert current(wellbeing) == before


def test_adding_an_item_appends_it_in_the_same_version_while_there_are_no_answers(
    world: World, wellbeing: Instrument
) -> None:
    response = client(world).post(
        BASE + "wellbeing/items/new/",
        item_data(
            name="school_type",
            type="choice",
            choices="1, Primary | Grunnskole\n2, Upper secondary | Videregående",
            show_if="[in_school] = '1'",
            required="on",
        ),
        follow=True,
    )
    assert "Saved in version 1." in response.content.decode()
    added = current(wellbeing)["items"][-1]
    assert added == {
        "name": "school_type",
        "type": "choice",
        "label": {"en": "A new item", "nb": ""},
        "required": True,
        "choices": [
            {"code": "1", "label": {"en": "Primary", "nb": "Grunnskole"}},
            {"code": "2", "label": {"en": "Upper secondary", "nb": "Videregående"}},
        ],
        "show_if": "[in_school] = '1'",
    }
    assert wellbeing.versions.count() == 1
    event = AuditEvent.objects.get(action="instrument.revised")
    assert event.data["version"] == 1
    assert len(event.data["before"]["items"]) == 3


def test_editing_an_item_keeps_its_place_and_shows_its_values(
    world: World, wellbeing: Instrument
) -> None:
    page = client(world).get(BASE + "wellbeing/items/3/").content.decode()
    assert 'value="[in_school] = &#x27;1&#x27;"' in page
    assert 'value="sleep"' in page
    response = client(world).post(
        BASE + "wellbeing/items/3/",
        item_data(name="sleep", label_en="Sleep", minimum="0", maximum="5", show_if=""),
    )
    assert response.status_code == 302
    items = current(wellbeing)["items"]
    assert [i["name"] for i in items] == ["in_school", "mood", "sleep"]
    assert items[2] == {
        "name": "sleep",
        "type": "integer",
        "label": {"en": "Sleep", "nb": ""},
        "min": "0",
        "max": "5",
    }


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": "Sleep"}, "name", "Use lower-case letters"),
        ({"name": "mood"}, "name", "The name mood is used twice."),
        ({"show_if": "[in_school] = '1' and"}, "show_if", "The condition cannot be read"),
        ({"show_if": "[later] = '1'"}, "show_if", "later, which is not an earlier item"),
        ({"type": "multi"}, "choices", "List the choices"),
        ({"minimum": "5", "maximum": "1"}, "maximum", "The maximum is below the minimum."),
        ({"decimals": "2"}, "decimals", "Decimals apply to decimal items"),
        ({"pattern": "[0-9"}, "pattern", "Only text items have a format check."),
    ],
)
def test_an_item_at_fault_shows_the_message_next_to_the_field_and_saves_nothing(
    world: World, wellbeing: Instrument, values: dict[str, str], field: str, message: str
) -> None:
    before = current(wellbeing)
    events = AuditEvent.objects.count()
    response = client(world).post(
        BASE + "wellbeing/items/3/", item_data(**{"name": "sleep", **values})
    )
    assert response.status_code == 200
    page = response.content.decode()
    error = page[page.index(f'id="id_{field}_error"') :]
    assert message in error[: error.index("</ul>")]
    assert current(wellbeing) == before
    assert AuditEvent.objects.count() == events


def test_renaming_an_item_a_scale_uses_says_where_the_fault_is(
    world: World, wellbeing: Instrument
) -> None:
    response = client(world).post(BASE + "wellbeing/items/2/", item_data(name="mood_now"))
    page = response.content.decode()
    assert "Scale wb_total, items scored: mood is not an item of this instrument." in page
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "mood", "sleep"]


def test_moving_items_up_and_down(world: World, wellbeing: Instrument) -> None:
    c = client(world)
    assert c.post(BASE + "wellbeing/items/2/move/", {"direction": "down"}).status_code == 302
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "sleep", "mood"]
    c.post(BASE + "wellbeing/items/3/move/", {"direction": "up"})
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "mood", "sleep"]
    # The first item cannot go further up: nothing changes.
    c.post(BASE + "wellbeing/items/1/move/", {"direction": "up"})
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "mood", "sleep"]


def test_a_move_that_would_break_a_condition_is_refused_next_to_the_item(
    world: World, wellbeing: Instrument
) -> None:
    c = client(world)
    c.post(BASE + "wellbeing/items/3/move/", {"direction": "up"})
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "sleep", "mood"]
    # sleep is shown only after in_school: it cannot go before it.
    response = c.post(BASE + "wellbeing/items/2/move/", {"direction": "up"})
    assert response.status_code == 200
    page = response.content.decode()
    faults = page[page.index('id="item-2-faults"') :]
    assert "in_school, which is not an earlier item" in faults[: faults.index("</ul>")]
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "sleep", "mood"]


def test_removing_an_item_asks_first_and_refuses_one_a_scale_scores(
    world: World, wellbeing: Instrument
) -> None:
    c = client(world)
    page = c.get(BASE + "wellbeing/items/2/remove/").content.decode()
    assert "“mood” will be removed from the instrument." in page
    response = c.post(BASE + "wellbeing/items/2/remove/")
    assert response.status_code == 200
    assert "mood is not an item of this instrument." in response.content.decode()
    assert len(current(wellbeing)["items"]) == 3
    assert c.post(BASE + "wellbeing/items/1/remove/").status_code == 200  # sleep's condition
    c.post(BASE + "wellbeing/scales/1/remove/")
    assert c.post(BASE + "wellbeing/items/2/remove/").status_code == 302
    assert [i["name"] for i in current(wellbeing)["items"]] == ["in_school", "sleep"]


def test_a_change_after_answers_exist_is_saved_as_a_new_version(
    world: World, wellbeing: Instrument
) -> None:
    baseline = visit_definition(world)
    first = answer(world, wellbeing, baseline)
    c = client(world)
    page = c.get(BASE + "wellbeing/edit/").content.decode()
    assert "Answers exist for version 1: your change will be saved as version 2" in page
    response = c.post(
        BASE + "wellbeing/items/new/",
        item_data(name="energy", change_note="Energy asked from now on"),
        follow=True,
    )
    assert "Answers exist for version 1: your change was saved as version 2." in (
        response.content.decode()
    )
    versions = list(wellbeing.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert len(versions[0].definition["items"]) == 3
    assert len(versions[1].definition["items"]) == 4
    assert versions[1].note == "Energy asked from now on"
    assert versions[1].created_by == world.users["coordinator"]
    first.refresh_from_db()
    assert first.version == versions[0]
    event = AuditEvent.objects.get(action="instrument.versioned")
    assert event.data["version"] == 2
    # The next change goes into version 2, which has no answers yet.
    c.post(BASE + "wellbeing/items/4/", item_data(name="energy", label_en="Energy"))
    assert wellbeing.versions.count() == 2


def test_the_versions_page_lists_each_version_with_what_changed(
    world: World, wellbeing: Instrument
) -> None:
    answer(world, wellbeing, visit_definition(world))
    c = client(world)
    c.post(BASE + "wellbeing/items/new/", item_data(name="energy", change_note="Energy added"))
    c.post(BASE + "wellbeing/items/3/", item_data(name="sleep", label_en="Sleep quality"))
    page = c.get(BASE + "wellbeing/versions/").content.decode()
    assert "First version: 3 items, 1 scales." in page
    assert "Items added: energy" in page
    assert "Items changed: sleep" in page
    assert "Energy added" in page
    assert page.index(">2</th>") < page.index(">1</th>")  # newest first


def test_adding_and_editing_a_scale(world: World, wellbeing: Instrument) -> None:
    c = client(world)
    data = {
        "name": "wb_mean",
        "label_en": "Mean well-being",
        "label_nb": "Gjennomsnittlig trivsel",
        "items": ["mood", "sleep"],
        "method": "mean",
        "reverse": ["sleep"],
        "max_missing": "1",
        "multiplier": "1",
        "decimals": "1",
        "bands": "0, Low | Lav\n1.5, High | Høy",
    }
    assert c.post(BASE + "wellbeing/scales/new/", data).status_code == 302
    scale = current(wellbeing)["scales"][1]
    assert scale == {
        "name": "wb_mean",
        "label": {"en": "Mean well-being", "nb": "Gjennomsnittlig trivsel"},
        "items": ["mood", "sleep"],
        "method": "mean",
        "reverse": ["sleep"],
        "max_missing": 1,
        "decimals": 1,
        "bands": [
            {"min": "0", "label": {"en": "Low", "nb": "Lav"}},
            {"min": "1.5", "label": {"en": "High", "nb": "Høy"}},
        ],
    }
    page = c.get(BASE + "wellbeing/scales/2/").content.decode()
    assert "1.5, High | Høy" in page
    data["multiplier"] = "4"
    c.post(BASE + "wellbeing/scales/2/", data)
    assert current(wellbeing)["scales"][1]["multiplier"] == "4"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": "mood"}, "name", "The name mood is used already."),
        ({"max_missing": "2"}, "max_missing", "At most 1 items may be missing."),
        ({"bands": "low, Low"}, "bands", "Line 1: low is not a number."),
    ],
)
def test_a_scale_at_fault_shows_the_message_next_to_the_field(
    world: World, wellbeing: Instrument, values: dict[str, Any], field: str, message: str
) -> None:
    data = {
        "name": "wb_mean",
        "items": ["mood", "sleep"],
        "method": "sum",
        "max_missing": "0",
        "multiplier": "1",
        "decimals": "2",
    }
    data.update(values)
    before = current(wellbeing)
    response = client(world).post(BASE + "wellbeing/scales/new/", data)
    page = response.content.decode()
    error = page[page.index(f'id="id_{field}_error"') :]
    assert message in error[: error.index("</ul>")]
    assert current(wellbeing) == before


def test_names_and_missing_data_codes(world: World, wellbeing: Instrument) -> None:
    c = client(world)
    response = c.post(
        BASE + "wellbeing/settings/",
        {
            "name_en": "Wellbeing",
            "name_nb": "Trivsel",
            "missing_codes": "refused, Refused | Vil ikke svare\ndont_know, Don't know",
        },
    )
    assert response.status_code == 302
    wellbeing.refresh_from_db()
    assert wellbeing.name_en == "Wellbeing"
    assert current(wellbeing)["missing_codes"] == [
        {"code": "refused", "label": {"en": "Refused", "nb": "Vil ikke svare"}},
        {"code": "dont_know", "label": {"en": "Don't know", "nb": ""}},
    ]
    response = c.post(
        BASE + "wellbeing/settings/",
        {"name_en": "Wellbeing", "missing_codes": "not asked, Not asked"},
    )
    page = response.content.decode()
    assert "The change was not saved: see the messages below." in page
    error = page[page.index('id="id_missing_codes_error"') :]
    assert "short, unique and without spaces" in error[: error.index("</ul>")]


def test_attaching_to_visits_marks_the_baseline(world: World, wellbeing: Instrument) -> None:
    baseline = visit_definition(world)
    m6 = visit_definition(world, "m6", 6)
    c = client(world)
    page = c.get(BASE + "wellbeing/visits/").content.decode()
    assert "Month 0 (baseline)" in page
    assert "Month 6 (month 6)" in page
    response = c.post(BASE + "wellbeing/visits/", {"visits": [baseline.pk, m6.pk]}, follow=True)
    assert "Well-being is asked at: Month 0 (baseline), Month 6 (month 6)." in (
        response.content.decode()
    )
    assert set(VisitInstrument.objects.values_list("visit_definition__code", flat=True)) == {
        "m0",
        "m6",
    }
    event = AuditEvent.objects.get(action="instrument.visits_changed")
    assert event.data == {"added": ["m0", "m6"], "removed": []}
    # A visit with answers stays attached.
    answer(world, wellbeing, m6)
    response = c.post(BASE + "wellbeing/visits/", {"visits": [baseline.pk]})
    page = response.content.decode()
    error = page[page.index('id="id_visits_error"') :]
    assert "Answers exist at Month 6" in error[: error.index("</ul>")]
    assert VisitInstrument.objects.count() == 2


def test_the_built_in_instrument_is_offered_until_it_is_added(world: World) -> None:
    c = client(world)
    assert "Employment and benefits" in c.get(BASE).content.decode()
    response = c.post(BASE + "add-builtin/")
    assert response["Location"] == f"{BASE}{builtin.EMPLOYMENT}/edit/"
    assert Instrument.objects.get().builtin == builtin.EMPLOYMENT
    assert "add-builtin" not in c.get(BASE).content.decode()
    c.post(BASE + "add-builtin/")
    assert Instrument.objects.count() == 1


def test_removing_an_instrument_without_answers(world: World, wellbeing: Instrument) -> None:
    c = client(world)
    baseline = visit_definition(world)
    services.attach_instrument(wellbeing, [baseline], actor=None)
    assert c.post(BASE + "wellbeing/remove/").status_code == 302
    assert not Instrument.objects.exists()
    assert not InstrumentVersion.objects.exists()
    assert AuditEvent.objects.filter(action="instrument.deleted").exists()


def test_an_instrument_with_answers_is_not_removed(world: World, wellbeing: Instrument) -> None:
    answer(world, wellbeing, visit_definition(world))
    c = client(world)
    assert "Remove this instrument" not in c.get(BASE + "wellbeing/edit/").content.decode()
    response = c.post(BASE + "wellbeing/remove/", follow=True)
    assert "The instrument has answers: it cannot be removed." in response.content.decode()
    assert Instrument.objects.exists()


def test_pages_in_norwegian(world: World, wellbeing: Instrument) -> None:
    c = client(world)
    c.cookies["django_language"] = "nb"
    page = c.get(BASE + "wellbeing/items/new/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert "Heltall" in page
    assert "Variabelnavn" in page
    page = c.get(BASE + "wellbeing/edit/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert "<h1>Trivsel" in page


def test_unknown_item_and_scale_numbers_are_404(world: World, wellbeing: Instrument) -> None:
    c = client(world)
    for page in ("items/4/", "items/0/", "scales/2/", "items/9/remove/", "scales/5/remove/"):
        assert c.get(f"{BASE}wellbeing/{page}").status_code == 404, page
    assert c.post(f"{BASE}wellbeing/items/9/move/", {"direction": "up"}).status_code == 404
    assert c.get(f"{BASE}nothing/edit/").status_code == 404


def test_a_scale_from_the_library_is_added_with_its_items(
    world: World, wellbeing: Instrument
) -> None:
    c = client(world)
    page = c.get(BASE + "wellbeing/edit/").content.decode()
    assert '<option value="who5">WHO-5 Well-Being Index</option>' in page
    response = c.post(BASE + "wellbeing/scales/library/", {"key": "who5", "name_prefix": ""})
    assert response.status_code == 302
    definition = current(wellbeing)
    assert [i["name"] for i in definition["items"]][3:] == [f"who5_{n}" for n in range(1, 6)]
    assert [s["name"] for s in definition["scales"]] == ["wb_total", "who5_raw", "who5_pct"]
    assert definition["scales"][1]["library"] == "who5"
    # Twice: the names are taken, unless a prefix makes new ones.
    response = c.post(BASE + "wellbeing/scales/library/", {"key": "who5", "name_prefix": ""})
    assert "Item 9 (who5_1), variable name: The name who5_1 is used twice." in (
        response.content.decode()
    )
    response = c.post(BASE + "wellbeing/scales/library/", {"key": "who5", "name_prefix": "Who 5"})
    page = response.content.decode()
    error = page[page.index('id="id_name_prefix_error"') :]
    assert "Use lower-case letters" in error[: error.index("</ul>")]
    c.post(BASE + "wellbeing/scales/library/", {"key": "who5", "name_prefix": "who5_m6"})
    assert current(wellbeing)["scales"][-1]["name"] == "who5_m6_pct"
