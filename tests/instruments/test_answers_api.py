"""The answers API: record, list and correct a visit's answers to an instrument, and the
per-trial JSON Schema of the answers, which accepts what the API accepts."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
import time_machine
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from instruments import services
from instruments.models import Assessment, Instrument
from instruments.setup import services as setup
from tests.conftest import World
from tests.instruments.entry import add_wellbeing, good_answers, visit_at, wellbeing_definition
from trial.models import AuditEvent, Visit

pytestmark = pytest.mark.usefixtures("today")


@pytest.fixture
def today() -> Any:
    with time_machine.travel(dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC), tick=False):
        yield


def post(client: Client, url: str, data: Any) -> Any:
    return client.post(url, json.dumps(data), content_type="application/json")


def record_url(visit: Visit) -> str:
    return f"/api/v1/trials/ips/visits/{visit.pk}/assessment/"


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "instrument": "wellbeing",
        "assessed_on": "2025-06-01",
        "values": good_answers(),
        "missing": {},
    }
    data.update(overrides)
    return data


def test_recording_answers_returns_the_stored_record(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    response = post(world.client("caseworker"), record_url(visit), body())
    assert response.status_code == 201, response.json()
    record = response.json()
    stored = Assessment.objects.get(pk=record["id"])
    assert {k: record[k] for k in ("visit_id", "study_id", "site", "visit", "instrument")} == {
        "visit_id": visit.pk,
        "study_id": visit.participant.study_id,
        "site": "OSLA",
        "visit": "m3",
        "instrument": "wellbeing",
    }
    assert record["version"] == 1 and record["assessed_on"] == "2025-06-01"
    assert record["values"] == good_answers() == stored.values
    assert record["missing"] == {}
    assert record["scores"] == {"mood_total": 6.0}
    assert record["source"] == "staff" and record["recorded_by"] == "caseworker"
    assert record["in_window"] is True
    assert {"created_at", "updated_at"} <= set(record)
    assert AuditEvent.objects.filter(action="assessment.created", target_id=str(stored.pk)).exists()


def test_without_an_instrument_code_the_default_instrument_is_recorded(world: World) -> None:
    visit = visit_at(world)
    response = post(
        world.client("coordinator"),
        record_url(visit),
        {
            "assessed_on": "2025-06-01",
            "values": {"in_paid_work": True, "hours_per_week": 20.5, "on_benefits": False},
            "missing": {"monthly_earnings": "refused"},
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["instrument"] == "employment"
    assert response.json()["missing"] == {"monthly_earnings": "refused"}
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 6, 1)


def test_refused_answers_name_each_item_and_save_nothing(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    client = world.client("caseworker")
    events = AuditEvent.objects.count()
    response = post(
        client,
        record_url(visit),
        body(
            values=good_answers(mood_2=7, worked=False, nonsense=1),
            missing={"mood_3": "asleep"},
        ),
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == {
        "values": {
            "nonsense": ["nonsense is not an item of this instrument."],
            "mood_2": ["Choose one of: 0, 1, 2, 3."],
            "mood_3": ["Give an answer or a missing-data code, not both."],
            "work_hours": ["This item is not asked here: leave it empty."],
            "supports": ["This item is not asked here: leave it empty."],
            "job_code": ["This item is not asked here: leave it empty."],
            "contract": ["This item is not asked here: leave it empty."],
        }
    }
    coded = post(
        client,
        record_url(visit),
        body(values=good_answers(mood_3=None), missing={"mood_3": "asleep"}),
    )
    assert coded.json()["errors"] == {"missing": {"mood_3": ["Unknown missing-data code asleep."]}}
    out_of_range = post(client, record_url(visit), body(values=good_answers(work_hours=80.5)))
    assert out_of_range.json()["errors"] == {"values": {"work_hours": ["Must be at most 80."]}}
    assert out_of_range.json()["detail"] == "values.work_hours: Must be at most 80."
    assert not Assessment.objects.exists()
    assert AuditEvent.objects.count() == events


def test_the_body_shape_is_checked_before_the_items(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    client = world.client("caseworker")
    wrong_type = post(client, record_url(visit), body(values=good_answers(mood_1={"a": 1})))
    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"] == {
        "values": {"mood_1": ["Give true or false, a number, a text, or a list of codes."]}
    }
    not_a_dict = post(client, record_url(visit), body(values=[1, 2]))
    assert not_a_dict.json()["errors"] == {
        "values": ['Expected a dictionary of items but got type "list".']
    }
    nul = post(client, record_url(visit), body(values=good_answers(low_mood_note="a\x00b")))
    assert nul.json()["errors"] == {
        "values": {"low_mood_note": ["Contains a character that is not allowed: NUL (U+0000)."]}
    }
    code_type = post(client, record_url(visit), body(missing={"mood_1": 3}))
    assert code_type.json()["errors"] == {"missing": {"mood_1": ["Not a valid string."]}}
    unknown = post(client, record_url(visit), body(instrument="nope"))
    assert unknown.json()["errors"] == {
        "instrument": ["The trial has no instrument with this code."]
    }
    no_date = post(client, record_url(visit), body(assessed_on=None))
    assert "assessed_on" in no_date.json()["errors"]
    future = post(client, record_url(visit), body(assessed_on="2025-07-01"))
    assert future.json()["errors"] == {
        "assessed_on": ["The assessment date cannot be in the future."]
    }
    assert not Assessment.objects.exists()


def test_an_instrument_is_recorded_once_per_visit(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    client = world.client("caseworker")
    assert post(client, record_url(visit), body()).status_code == 201
    again = post(client, record_url(visit), body())
    assert again.status_code == 400
    assert again.json()["errors"] == {
        "non_field_errors": [
            "This instrument is answered at this visit already: correct the answers."
        ]
    }


def test_access_follows_the_role_and_the_sites(world: World) -> None:
    own = visit_at(world)
    other = visit_at(world, "BGO")
    add_wellbeing(world)
    coordinator, caseworker = world.client("coordinator"), world.client("caseworker")
    assert post(world.client("outsider"), record_url(own), body()).status_code == 404
    assert post(world.client("statistician"), record_url(own), body()).status_code == 403
    assert post(caseworker, record_url(other), body()).status_code == 404
    assert post(coordinator, record_url(other), body()).status_code == 201
    assert post(caseworker, record_url(own), body()).status_code == 201
    listed = caseworker.get("/api/v1/trials/ips/assessments/").json()
    assert [row["site"] for row in listed["results"]] == ["OSLA"]
    assert world.client("statistician").get("/api/v1/trials/ips/assessments/").json()["count"] == 2
    other_record = Assessment.objects.get(visit=other)
    correction = f"/api/v1/trials/ips/assessments/{other_record.pk}/correction/"
    assert post(caseworker, correction, {"values": {}, "reason": "x"}).status_code == 404
    assert world.client("outsider").get("/api/v1/trials/ips/assessments/").status_code == 404


def test_the_list_filters_by_site_visit_instrument_participant_and_date(world: World) -> None:
    own = visit_at(world)
    other = visit_at(world, "BGO")
    add_wellbeing(world)
    client = world.client("coordinator")
    post(client, record_url(own), body(assessed_on="2025-05-20"))
    post(client, record_url(other), body())
    post(
        client,
        record_url(other),
        {
            "instrument": "employment",
            "assessed_on": "2025-06-01",
            "values": {"in_paid_work": False, "on_benefits": False},
        },
    )

    def listed(query: str) -> list[tuple[str, str]]:
        response = client.get("/api/v1/trials/ips/assessments/" + query)
        assert response.status_code == 200, response.json()
        return [(row["site"], row["instrument"]) for row in response.json()["results"]]

    assert len(listed("")) == 3
    assert listed("?site=OSLA") == [("OSLA", "wellbeing")]
    assert listed("?instrument=employment") == [("BGO", "employment")]
    assert listed("?visit=m3&instrument=wellbeing") == [
        ("BGO", "wellbeing"),
        ("OSLA", "wellbeing"),
    ]
    assert listed(f"?participant={own.participant.study_id}") == [("OSLA", "wellbeing")]
    assert listed("?assessed_before=2025-05-31") == [("OSLA", "wellbeing")]
    assert len(listed("?assessed_after=2025-06-01")) == 2
    assert listed("?visit=m6") == []
    bad = client.get("/api/v1/trials/ips/assessments/?assessed_after=soon")
    assert bad.status_code == 400 and "assessed_after" in bad.json()["errors"]


def test_a_correction_replaces_the_answers_with_a_reason(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    client = world.client("caseworker")
    created = post(client, record_url(visit), body()).json()
    url = f"/api/v1/trials/ips/assessments/{created['id']}/correction/"
    no_reason = post(client, url, {"values": good_answers(mood_3=0)})
    assert no_reason.json()["errors"] == {"reason": ["This field is required."]}
    refused = post(client, url, {"values": good_answers(mood_3=4), "reason": "typo"})
    assert refused.json()["errors"] == {"values": {"mood_3": ["Choose one of: 0, 1, 2, 3."]}}
    corrected = post(
        client,
        url,
        {
            "values": good_answers(mood_3=None),
            "missing": {"mood_3": "dont_know"},
            "reason": "The participant was unsure",
            "assessed_on": "2025-05-30",
        },
    )
    assert corrected.status_code == 200, corrected.json()
    record = corrected.json()
    assert record["missing"] == {"mood_3": "dont_know"}
    assert "mood_3" not in record["values"]
    assert record["scores"] == {"mood_total": None}  # a missing item: no score
    assert record["assessed_on"] == "2025-05-30"
    event = AuditEvent.objects.get(action="assessment.corrected", target_id=str(created["id"]))
    assert event.data["reason"] == "The participant was unsure"
    assert event.actor == world.users["caseworker"]
    assert post(world.client("statistician"), url, {"reason": "x"}).status_code == 403


# ---------------------------------------------------------------------------------------------
# The JSON Schema of the answers


def answers_schema(client: Client, code: str = "wellbeing", version: int = 1) -> dict[str, Any]:
    """The instrument version's schema, numbers read as decimals (so that multipleOf is exact:
    docs/api.md)."""
    response = client.get("/api/v1/trials/ips/instruments/schema/")
    assert response.status_code == 200
    document = json.loads(response.content, parse_float=Decimal)
    (entry,) = [e for e in document["instruments"] if e["code"] == code and e["version"] == version]
    jsonschema.Draft202012Validator.check_schema(entry["schema"])
    return entry["schema"]


def valid(schema: dict[str, Any], payload: dict[str, Any]) -> bool:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    as_decimals = json.loads(json.dumps(payload), parse_float=Decimal)
    return validator.is_valid(as_decimals)


def test_the_schema_describes_each_item(world: World) -> None:
    visit_at(world)
    add_wellbeing(world)
    schema = answers_schema(world.client("caseworker"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    items = schema["properties"]["values"]["properties"]
    assert schema["properties"]["values"]["additionalProperties"] is False
    assert items["worked"]["type"] == "boolean"
    assert items["worked"]["x-labels"] == {"en": "Worked last week", "nb": "Arbeidet forrige uke"}
    assert items["mood_1"]["type"] == "integer" and items["mood_1"]["enum"] == [0, 1, 2, 3]
    assert items["mood_1"]["oneOf"][2] == {
        "const": 2,
        "title": "More than half the days",
        "x-labels": {"en": "More than half the days", "nb": "Mer enn halvparten av dagene"},
    }
    hours = items["work_hours"]
    assert (hours["type"], hours["minimum"], hours["maximum"]) == ("number", 0, 80)
    assert hours["multipleOf"] == Decimal("0.1") and hours["x-decimals"] == 1
    assert hours["x-unit"] == "h" and hours["x-show-if"] == "[worked] = '1'"
    assert items["supports"]["type"] == "array" and items["supports"]["items"]["enum"] == [1, 2, 3]
    assert items["contract"]["type"] == "string" and "temp" in items["contract"]["enum"]
    assert items["checked_on"] == {
        "title": "Date of the last check-up",
        "x-labels": {"en": "Date of the last check-up", "nb": "Dato for siste kontroll"},
        "type": "string",
        "format": "date",
    }
    assert items["job_code"]["pattern"] == "^[0-9]{4}$"
    assert items["low_mood_note"]["maxLength"] == 300
    missing = schema["properties"]["missing"]["properties"]["mood_1"]
    assert missing["enum"] == ["refused", "dont_know"]
    assert schema["x-required-items"] == ["mood_1", "mood_2", "mood_3", "worked", "work_hours"]
    assert schema["required"] == ["assessed_on"]


def test_the_schema_and_the_api_accept_and_refuse_the_same_answers(world: World) -> None:
    visit_at(world)
    add_wellbeing(world)
    client = world.client("coordinator")
    schema = answers_schema(client)
    accepted = [
        body(),
        body(values=good_answers(work_hours=12.7, supports=[2])),
        # Not working: the work items are left out.
        body(values={"mood_1": 0, "mood_2": 0, "mood_3": 1, "worked": False}),
        # A missing-data code instead of an answer, also for a required item.
        body(
            values=good_answers(mood_2=None, work_hours=None),
            missing={"mood_2": "refused", "work_hours": "dont_know"},
        ),
    ]
    refused = {
        "out of range": body(values=good_answers(work_hours=80.5)),
        "too many decimals": body(values=good_answers(work_hours=12.25)),
        "wrong code": body(values=good_answers(mood_1=4)),
        "wrong multiple-choice code": body(values=good_answers(supports=[4])),
        "wrong type": body(values=good_answers(mood_1="often")),
        "a yes/no as text": body(values=good_answers(worked="maybe")),
        "a whole number as a decimal": body(values=good_answers(mood_2=1.5)),
        "a malformed date": body(values=good_answers(checked_on="20/05/2025")),
        "a malformed occupation": body(values=good_answers(job_code="52x3")),
        "an unknown item": body(values=good_answers(extra=1)),
        "an unknown missing-data code": body(
            values=good_answers(mood_2=None), missing={"mood_2": "asleep"}
        ),
        "an answer and a code": body(missing={"mood_2": "refused"}),
        "a required item left out": body(values=good_answers(mood_2=None)),
        "a shown required item left out": body(values=good_answers(work_hours=None)),
        "an item its condition hides": body(
            values=good_answers(worked=False, supports=None, job_code=None, contract=None)
        ),
        "a text asked only for a high score": body(values=good_answers(mood_1=1)),
    }
    # A participant per payload: each visit answers the instrument once.
    places = [("OSLA", 0), ("OSLA", 1), ("OSLB", 0), ("OSLB", 1)]
    for (site, index), payload in zip(places, accepted, strict=True):
        payload["values"] = {k: v for k, v in payload["values"].items() if v is not None}
        assert valid(schema, payload), payload
        response = post(client, record_url(visit_at(world, site, index=index)), payload)
        assert response.status_code == 201, (payload, response.json())
    visit = visit_at(world, "BGO")
    for name, payload in refused.items():
        payload["values"] = {k: v for k, v in payload["values"].items() if v is not None}
        assert not valid(schema, payload), name
        response = post(client, record_url(visit), payload)
        assert response.status_code == 400, (name, response.json())


def test_branching_becomes_if_then_else_and_keeps_the_raw_condition(world: World) -> None:
    visit_at(world)
    add_wellbeing(world)
    schema = answers_schema(world.client("coordinator"))
    rules = [rule for rule in schema["allOf"] if "if" in rule]
    assert len(rules) == 5  # the five conditional items
    hours = rules[0]
    assert hours["if"] == {
        "required": ["values"],
        "properties": {
            "values": {"required": ["worked"], "properties": {"worked": {"const": True}}}
        },
    }
    assert "then" in hours  # required when shown
    note = next(
        r
        for r in rules
        if r["else"]["properties"]["values"]["not"]["required"] == ["low_mood_note"]
    )
    assert note["if"]["properties"]["values"]["properties"]["mood_1"] == {"minimum": 2}


def test_every_version_is_described_and_the_default_is_not_made_by_reading(world: World) -> None:
    client = world.client("statistician")
    document = client.get("/api/v1/trials/ips/instruments/schema/").json()
    assert [
        (e["code"], e["version"], e["current"], e["default"]) for e in document["instruments"]
    ] == [("employment", 1, True, True)]
    assert not Instrument.objects.filter(trial=world.trial).exists()
    visit = visit_at(world)
    wellbeing = add_wellbeing(world)
    services.record_assessment(
        visit,
        values={"assessed_on": "2025-06-01", **good_answers()},
        instrument=wellbeing,
        actor=None,
    )
    changed = wellbeing_definition()
    changed["items"].append({"name": "extra_q", "type": "yesno", "label": "Extra"})
    setup.revise_instrument(wellbeing, definition=changed, actor=world.users["coordinator"])
    document = client.get("/api/v1/trials/ips/instruments/schema/").json()
    versions = [(e["code"], e["version"], e["current"]) for e in document["instruments"]]
    # In the trial's order: the wellbeing instrument was made first.
    assert versions == [("wellbeing", 1, False), ("wellbeing", 2, True), ("employment", 1, True)]
    assert world.client("outsider").get("/api/v1/trials/ips/instruments/schema/").status_code == 404


def test_titles_follow_the_request_language(world: World) -> None:
    visit_at(world)
    add_wellbeing(world)
    schema = json.loads(
        world.client("caseworker")
        .get("/api/v1/trials/ips/instruments/schema/", HTTP_ACCEPT_LANGUAGE="nb")
        .content
    )
    wellbeing = next(e for e in schema["instruments"] if e["code"] == "wellbeing")
    assert wellbeing["name"] == "Trivsel i arbeid"
    values = wellbeing["schema"]["properties"]["values"]["properties"]
    assert values["worked"]["title"] == "Arbeidet forrige uke"


def test_the_openapi_schema_describes_the_shape_of_answers() -> None:
    document = SchemaGenerator().get_schema(request=None, public=True)
    components = document["components"]["schemas"]
    request = components["AnswersInputRequest"]["properties"]
    assert request["values"]["type"] == "object"
    answer = request["values"]["additionalProperties"]
    assert [option["type"] for option in answer["oneOf"]] == [
        "boolean",
        "number",
        "string",
        "array",
    ]
    assert "/instruments/schema/" in request["values"]["description"]
    assert request["missing"]["additionalProperties"]["type"] == "string"
    record = components["AssessmentRecord"]["properties"]
    assert {"values", "missing", "scores", "version", "instrument", "source"} <= set(record)
    paths = document["paths"]
    assert "post" in paths["/api/v1/trials/{code}/visits/{visit_id}/assessment/"]
    assert "post" in paths["/api/v1/trials/{code}/assessments/{assessment_id}/correction/"]
    assert "get" in paths["/api/v1/trials/{code}/instruments/schema/"]


def test_the_contamination_answer_travels_with_the_answers_and_stays_on_the_visit(
    world: World,
) -> None:
    world.trial.contamination_question = "Helped by anyone?"
    world.trial.save(update_fields=["contamination_question"])
    visit = visit_at(world)
    client = world.client("caseworker")
    wrong = post(
        client,
        record_url(visit),
        {
            "assessed_on": "2025-06-01",
            "values": {"in_paid_work": False, "on_benefits": False},
            "contamination_reported": "often",
        },
    )
    assert wrong.status_code == 400 and "contamination_reported" in wrong.json()["errors"]
    response = post(
        client,
        record_url(visit),
        {
            "assessed_on": "2025-06-01",
            "values": {"in_paid_work": False, "on_benefits": False},
            "contamination_reported": True,
        },
    )
    assert response.status_code == 201, response.json()
    visit.refresh_from_db()
    assert visit.contamination_reported is True
