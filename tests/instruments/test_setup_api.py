"""Defining instruments through the API: who may, create / read / revise / remove, the visits
sub-resource, definition faults in the definition's own shape, and the version rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from instruments.models import Instrument, VisitInstrument
from tests.conftest import World
from tests.instruments.builders import answer, item, scored, visit_definition
from trial.models import AuditEvent

LIST = "/api/v1/trials/ips/instruments/"
ONE = LIST + "wellbeing/"


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    return client.generic(method, url, json.dumps(body or {}), "application/json")


def definition(**extra: Any) -> dict[str, Any]:
    return {
        "items": [
            item("in_school", "yesno", required=True),
            scored("mood"),
            scored("sleep") | {"show_if": "[in_school] = '1'"},
        ],
        "scales": [{"name": "wb_total", "label": {"en": "Total"}, "items": ["mood", "sleep"]}],
        **extra,
    }


def create(client: Client, **overrides: Any) -> Any:
    body = {"code": "wellbeing", "name_en": "Well-being", "definition": definition()}
    body.update(overrides)
    return send(client, "POST", LIST, body)


@pytest.fixture
def coordinator(world: World) -> Client:
    return world.client("coordinator")


def test_outsider_gets_404_and_caseworker_403(world: World, coordinator: Client) -> None:
    create(coordinator)
    for url in (LIST, ONE, ONE + "visits/"):
        assert world.client("outsider").get(url).status_code == 404, url
        assert world.client("caseworker").get(url).status_code == 403, url
    assert send(world.client("caseworker"), "POST", LIST, {}).status_code == 403
    assert send(world.client("monitor"), "DELETE", ONE).status_code == 403
    assert Instrument.objects.count() == 1


def test_creating_and_reading_an_instrument(world: World, coordinator: Client) -> None:
    response = create(coordinator)
    assert response.status_code == 201, response.json()
    assert response["Location"] == ONE
    body = response.json()
    assert body["code"] == "wellbeing"
    assert body["version"] == 1
    assert body["item_count"] == 3
    assert body["scale_count"] == 1
    assert body["current_version_answered"] is False
    assert body["definition"]["items"][1] == {
        "name": "mood",
        "type": "integer",
        "label": {"en": "Mood", "nb": ""},
        "required": False,
        "min": "0",
        "max": "3",
    }
    assert body["versions"][0]["number"] == 1
    assert body["versions"][0]["created_by"] == "coordinator"
    assert AuditEvent.objects.filter(action="instrument.created").count() == 1
    listed = world.client("datamanager").get(LIST).json()
    assert [i["code"] for i in listed] == ["wellbeing"]
    assert world.client("datamanager").get(ONE).json()["definition"] == body["definition"]


def test_a_definition_at_fault_is_refused_in_its_own_shape(
    world: World, coordinator: Client
) -> None:
    broken = definition()
    broken["items"][0]["type"] = "choice"
    broken["items"][2]["show_if"] = "[in_school] = "
    broken["scales"][0]["items"] = ["mood", "nothing"]
    response = create(coordinator, definition=broken)
    assert response.status_code == 400
    errors = response.json()["errors"]["definition"]
    assert errors["items"]["0"] == {"choices": ["List the choices, one code and label each."]}
    assert "1" not in errors["items"]
    assert errors["items"]["2"]["show_if"][0].startswith("The condition cannot be read")
    assert errors["scales"] == {"0": {"items": ["nothing is not an item of this instrument."]}}
    assert not Instrument.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="instrument.").exists()


def test_a_bad_variable_name_is_refused_with_the_naming_rule(coordinator: Client) -> None:
    broken = definition()
    broken["items"][1]["name"] = "Mood score"
    response = create(coordinator, definition=broken)
    assert response.status_code == 400
    assert response.json()["errors"]["definition"]["items"]["1"] == {
        "name": [
            "Use lower-case letters, digits and underscores, starting with a letter "
            "(at most 32 characters)."
        ]
    }


def test_a_variable_name_another_instrument_uses_is_refused(coordinator: Client) -> None:
    create(coordinator)
    response = create(coordinator, code="school", definition={"items": [scored("mood")]})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "definition": {
            "items": {"0": {"name": ["Another instrument of the trial uses the name mood."]}}
        }
    }
    response = create(coordinator, definition={"items": [scored("other")]})
    assert response.json()["errors"] == {"code": ["The trial has an instrument with this code."]}
    assert Instrument.objects.count() == 1


def test_unknown_types_and_shapes_are_refused_by_the_schema(coordinator: Client) -> None:
    broken = definition()
    broken["items"][0]["type"] = "slider"
    broken["items"][1]["min"] = "low"
    broken["scales"][0]["method"] = "median"
    response = create(coordinator, definition=broken)
    assert response.status_code == 400
    errors = response.json()["errors"]["definition"]
    assert list(errors["items"]["0"]) == ["type"]
    assert list(errors["items"]["1"]) == ["min"]
    assert list(errors["scales"]["0"]) == ["method"]


def test_revising_without_answers_changes_the_version_in_place(
    world: World, coordinator: Client
) -> None:
    create(coordinator)
    changed = definition()
    changed["items"].append(scored("energy"))
    response = send(coordinator, "PUT", ONE, {"definition": changed, "note": "Energy"})
    assert response.status_code == 200
    body = response.json()
    assert body["change"] == "revised"
    assert body["version"] == 1
    assert [i["name"] for i in body["definition"]["items"]][-1] == "energy"
    response = send(coordinator, "PATCH", ONE, {"name_nb": "Trivsel"})
    assert response.json()["change"] == "unchanged"
    assert response.json()["name_nb"] == "Trivsel"
    assert send(coordinator, "PUT", ONE, {"name_nb": "x"}).json()["errors"] == {
        "definition": ["This field is required."]
    }


def test_revising_after_answers_exist_makes_a_new_version(
    world: World, coordinator: Client
) -> None:
    create(coordinator)
    instrument = Instrument.objects.get()
    answered = answer(world, instrument, visit_definition(world))
    changed = definition()
    changed["items"][1]["max"] = "4"
    response = send(coordinator, "PUT", ONE, {"definition": changed, "note": "Mood 0-4"})
    body = response.json()
    assert body["change"] == "versioned"
    assert body["version"] == 2
    assert body["current_version_answered"] is False
    assert [(v["number"], v["answers"], v["note"]) for v in body["versions"]] == [
        (1, 1, ""),
        (2, 0, "Mood 0-4"),
    ]
    answered.refresh_from_db()
    assert answered.version.number == 1
    assert AuditEvent.objects.get(action="instrument.versioned").data["version"] == 2
    faulty = definition()
    faulty["items"][1]["min"] = "9"
    response = send(coordinator, "PATCH", ONE, {"definition": faulty})
    assert response.json()["errors"]["definition"]["items"]["1"] == {
        "max": ["The maximum is below the minimum."]
    }
    assert instrument.versions.count() == 2


def test_setting_the_visits(world: World, coordinator: Client) -> None:
    create(coordinator)
    baseline = visit_definition(world)
    visit_definition(world, "m6", 6)
    url = ONE + "visits/"
    response = send(coordinator, "PUT", url, {"visits": ["m6", "m0"]})
    assert response.json() == {"visits": ["m0", "m6"]}
    assert coordinator.get(url).json() == {"visits": ["m0", "m6"]}
    assert create(coordinator, code="other", definition={"items": [scored("x")]}).status_code == 201
    assert coordinator.get(LIST).json()[0]["visits"] == ["m0", "m6"]
    response = send(coordinator, "PUT", url, {"visits": ["m24"]})
    assert response.json()["errors"] == {"visits": ["The trial has no visit m24."]}
    answer(world, Instrument.objects.get(code="wellbeing"), baseline)
    response = send(coordinator, "PUT", url, {"visits": ["m6"]})
    assert response.status_code == 400
    assert "Answers exist at Month 0" in response.json()["errors"]["visits"][0]
    assert VisitInstrument.objects.filter(instrument__code="wellbeing").count() == 2


def test_removing_an_instrument(world: World, coordinator: Client) -> None:
    create(coordinator)
    assert send(coordinator, "DELETE", ONE).status_code == 204
    assert coordinator.get(ONE).status_code == 404
    create(coordinator)
    answer(world, Instrument.objects.get(), visit_definition(world))
    response = send(coordinator, "DELETE", ONE)
    assert response.json()["errors"] == {
        "non_field_errors": ["The instrument has answers: it cannot be removed."]
    }


def test_errors_come_in_the_request_language(coordinator: Client) -> None:
    create(coordinator)
    response = coordinator.put(
        ONE + "visits/",
        json.dumps({"visits": ["m24"]}),
        "application/json",
        HTTP_ACCEPT_LANGUAGE="nb",
    )
    assert response.json()["errors"] == {"visits": ["Studien har ikke noe oppfølgingspunkt m24."]}


def test_the_schema_describes_the_definition(tmp_path: Any) -> None:
    path = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(path))
    schemas = json.loads(path.read_text())["components"]["schemas"]
    item_schema = schemas["InstrumentItemRequest"]["properties"]
    kinds = schemas[item_schema["type"]["allOf"][0]["$ref"].split("/")[-1]]["enum"]
    assert set(kinds) == {
        "yesno",
        "integer",
        "decimal",
        "choice",
        "multi",
        "date",
        "text",
        "occupation",
    }
    assert item_schema["name"]["pattern"] == "^[a-z][a-z0-9_]{0,31}$"
    assert item_schema["choices"]["items"]["$ref"].endswith("InstrumentChoiceRequest")
    scale = schemas["InstrumentScaleRequest"]["properties"]
    assert scale["items"]["type"] == "array"
    assert "definition" in schemas["InstrumentCreateRequest"]["required"]
