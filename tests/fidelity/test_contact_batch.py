"""Many contacts in one request: all saved or none, idempotent by client id, few queries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fidelity.models import Component, Contact, Exposure
from tests.conftest import World
from tests.factories import allocate
from trial.models import AuditEvent, Participant

URL = "/api/v1/trials/ips/contacts/batch/"


@pytest.fixture(autouse=True)
def today() -> Iterator[None]:
    with time_machine.travel(dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def components(world: World) -> dict[str, Component]:
    return {
        code: Component.objects.create(
            trial=world.trial, code=code, name=code, intervention_specific=specific, order=i
        )
        for i, (code, specific) in enumerate([("rapid", True), ("benefits", False)])
    }


def item(participant: Participant | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "study_id": participant.study_id if participant else None,
        "contact_on": "2025-05-20",
        "mode": "phone",
        "minutes": 20,
        "partners": ["participant"] if participant else ["employer"],
        "components": ["rapid", "benefits"],
        "note": "",
    }
    values.update(overrides)
    return values


def post(world: World, items: list[dict[str, Any]], persona: str = "caseworker") -> Any:
    return world.client(persona).post(URL, {"contacts": items}, content_type="application/json")


def errors(response: Any) -> dict[int, dict[str, list[str]]]:
    """The faults by position of the refused contacts."""
    body = response.json()
    return {int(k): v for k, v in body.get("errors", body)["contacts"].items()}


def test_a_batch_is_saved_with_exposures_and_audit_and_a_resend_saves_nothing(
    world: World, components: dict[str, Component]
) -> None:
    control, intervention = world.participants["OSLA"][:2]
    allocate(world, control, "B")
    allocate(world, intervention, "A")
    items = [
        item(control),
        item(intervention, minutes=45),
        item(None, site="OSLA", components=["benefits"]),
    ]
    response = post(world, items)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["existing"]) == (3, 0)
    assert [r["client_id"] for r in body["results"]] == [i["client_id"] for i in items]
    contacts = {c.pk: c for c in Contact.objects.filter(trial=world.trial)}
    assert sorted(contacts) == sorted(r["id"] for r in body["results"])
    first, second, third = (contacts[r["id"]] for r in body["results"])
    assert (first.participant, second.minutes, third.participant, third.site) == (
        control,
        45,
        None,
        world.sites[0],
    )
    assert sorted(second.components.values_list("code", flat=True)) == ["benefits", "rapid"]
    # Only the control participant's intervention-specific component is an exposure.
    exposure = Exposure.objects.get(trial=world.trial)
    assert exposure.component is not None
    assert (exposure.participant, exposure.component.code, exposure.contact) == (
        control,
        "rapid",
        first,
    )
    created = AuditEvent.objects.filter(action="contact.created").order_by("target_id")
    assert [e.data["after"]["minutes"] for e in created] == [20, 45, 20]
    assert created[0].data["after"]["components"] == ["benefits", "rapid"]
    assert AuditEvent.objects.filter(action="exposure.created").count() == 1

    again = post(world, items)
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["existing"]) == (0, 3)
    assert [r["id"] for r in again.json()["results"]] == [r["id"] for r in body["results"]]
    assert Contact.objects.count() == 3 and Exposure.objects.count() == 1


def test_one_bad_contact_refuses_the_batch_and_names_it_by_position(
    world: World, components: dict[str, Component]
) -> None:
    own, outside = world.participants["OSLA"][0], world.participants["BGO"][0]
    items = [
        item(own),
        item(own, contact_on="2025-07-01"),
        item(outside),
        item(None, study_id="OSLA-999999"),
        item(own, components=["rapid", "nope"]),
        item(None, site="BGO"),
    ]
    response = post(world, items)
    assert response.status_code == 400
    found = errors(response)
    assert sorted(found) == [1, 2, 3, 4, 5]
    assert found[1] == {"contact_on": ["The contact date cannot be in the future."]}
    # A participant outside the caseworker's sites reads like one that does not exist.
    assert found[2] == found[3] == {"study_id": ["Unknown participant."]}
    assert found[4] == {"components": ["Unknown intervention component: nope."]}
    assert found[5] == {"site": ["Unknown site."]}
    assert (
        Contact.objects.count() == 0
        and AuditEvent.objects.filter(action="contact.created").count() == 0
    )


def test_client_ids_twice_in_a_batch_or_reused_for_another_contact_are_refused(
    world: World, components: dict[str, Component]
) -> None:
    own = world.participants["OSLA"][0]
    first = item(own)
    assert post(world, [first]).status_code == 200
    twice = item(own, minutes=10)
    response = post(world, [twice, {**twice}, {**first, "minutes": 99}])
    assert response.status_code == 400
    found = errors(response)
    assert sorted(found) == [1, 2]
    assert found[1] == {"client_id": ["This client id appears twice in the batch."]}
    assert found[2] == {"client_id": ["This client id was used for a different contact."]}
    assert Contact.objects.count() == 1


def test_service_rules_apply_to_every_contact_of_a_batch(
    world: World, components: dict[str, Component]
) -> None:
    own = world.participants["OSLA"][0]
    response = post(
        world,
        [
            item(own, contact_on="2020-01-01"),
            item(None, site="OSLA", partners=["employer", "participant"]),
            item(None),
        ],
    )
    assert response.status_code == 400
    found = errors(response)
    assert list(found[0]) == ["contact_on"] and "before enrolment" in found[0]["contact_on"][0]
    assert list(found[1]) == ["partners"]
    assert found[2] == {"site": ["Choose the site."]}
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "status"), [("statistician", 403), ("monitor", 403), ("outsider", 404)]
)
def test_only_members_who_may_log_contacts_can_post_a_batch(
    world: World, components: dict[str, Component], persona: str, status: int
) -> None:
    assert post(world, [item(world.participants["OSLA"][0])], persona).status_code == status
    assert Contact.objects.count() == 0


def test_batch_shape_is_checked(world: World, components: dict[str, Component]) -> None:
    own = world.participants["OSLA"][0]
    assert post(world, []).status_code == 400
    too_many = post(world, [item(own) for _ in range(501)])
    assert too_many.status_code == 400
    missing = post(world, [{**item(own), "client_id": None}])
    assert missing.status_code == 400 and "client_id" in errors(missing)[0]


def test_queries_do_not_grow_with_the_batch(world: World, components: dict[str, Component]) -> None:
    people = world.participants["OSLA"]
    allocate(world, people[0], "B")
    client = world.client("caseworker")

    def count(n: int) -> int:
        items = [item(people[i % len(people)]) for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            response = client.post(URL, {"contacts": items}, content_type="application/json")
        assert response.status_code == 200, response.json()
        return len(queries)

    count(1)  # the session and membership caches warm up
    assert count(2) == count(40)
    assert Contact.objects.count() == 43
