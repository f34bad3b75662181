"""The contact log: logging, idempotent retries, corrections, audit and derived exposures."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import connections
from django.test import Client

from fidelity.contacts import services
from fidelity.models import Component, Contact, Exposure
from tests import factories
from tests.conftest import World
from tests.factories import allocate
from tests.fidelity.builders import make_components
from trial import services as trial_services
from trial.models import AuditEvent, Membership, Participant, Withdrawal
from trial.services import TrialError

TODAY = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)
URL = "/api/v1/trials/ips/contacts/"


@pytest.fixture(autouse=True)
def today() -> Iterator[None]:
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def components(world: World) -> dict[str, Component]:
    made = make_components(world.trial)
    Component.objects.create(trial=world.other_trial, code="foreign", name="Other trial's")
    return made


def body(participant: Participant | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "study_id": participant.study_id if participant else None,
        "contact_on": "2025-05-20",
        "mode": "in_person",
        "minutes": 30,
        "partners": ["participant", "health_service"],
        "components": ["rapid", "benefits"],
        "note": "Talked about a warehouse job.",
    }
    values.update(overrides)
    return values


def post(client: Client, data: dict[str, Any], url: str = URL) -> Any:
    return client.post(url, data, content_type="application/json")


def patch(client: Client, contact_id: int, data: dict[str, Any]) -> Any:
    return client.patch(f"{URL}{contact_id}/", data, content_type="application/json")


def log(world: World, participant: Participant | None, **overrides: Any) -> Contact:
    values: dict[str, Any] = {
        "participant": participant,
        "site": None if participant else world.sites[0],
        "contact_on": dt.date(2025, 5, 20),
        "mode": Contact.Mode.PHONE,
        "minutes": 30,
        "partners": ["participant"] if participant else ["employer"],
        "components": [],
        "note": "",
    }
    values.update(overrides)
    actor = values.pop("actor", world.users["caseworker"])
    contact, _created = services.log_contact(world.trial, actor=actor, **values)
    return contact


# Logging and idempotent retries


def test_caseworker_logs_a_contact_and_a_retry_returns_the_same_one(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    client = world.client("caseworker")
    client_id = str(uuid.uuid4())
    first = post(client, body(participant, client_id=client_id))
    assert first.status_code == 201, first.json()
    data = first.json()
    contact = Contact.objects.get(pk=data["id"])
    assert first["Location"] == f"{URL}{contact.pk}/"
    assert data["study_id"] == participant.study_id and data["site"] == "OSLA"
    assert data["components"] == ["rapid", "benefits"]
    assert data["partners"] == ["participant", "health_service"]
    assert data["author_name"] == "caseworker"
    assert contact.author == world.users["caseworker"]
    assert str(contact.client_id) == client_id

    again = post(client, body(participant, client_id=client_id))
    assert again.status_code == 200
    assert again.json()["id"] == contact.pk
    assert Contact.objects.count() == 1
    event = AuditEvent.objects.get(action="contact.created")
    assert event.target_id == str(contact.pk) and event.trial == world.trial
    assert event.actor == world.users["caseworker"]
    assert event.data["after"]["components"] == ["benefits", "rapid"]
    assert event.data["after"]["minutes"] == 30


def test_a_client_id_reused_for_another_contact_is_refused(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    client = world.client("caseworker")
    client_id = str(uuid.uuid4())
    assert post(client, body(participant, client_id=client_id)).status_code == 201
    other = post(client, body(participant, client_id=client_id, minutes=45))
    assert other.status_code == 400
    assert other.json()["errors"] == {
        "client_id": ["This client id was used for a different contact."]
    }
    # The same client id from another user is another contact too.
    coordinator = post(world.client("coordinator"), body(participant, client_id=client_id))
    assert coordinator.status_code == 400 and list(coordinator.json()["errors"]) == ["client_id"]
    assert Contact.objects.get().minutes == 30


def test_employer_contact_about_no_single_participant(
    world: World, components: dict[str, Component]
) -> None:
    client = world.client("caseworker")
    data = body(None, site="OSLA", partners=["employer"], components=["jobdev"])
    response = post(client, data)
    assert response.status_code == 201, response.json()
    assert response.json()["study_id"] is None and response.json()["site"] == "OSLA"
    contact = Contact.objects.get()
    assert contact.participant is None and contact.site == world.sites[0]
    assert AuditEvent.objects.filter(
        action="contact.created", trial=world.trial, target_id=str(contact.pk)
    ).exists()
    assert not Exposure.objects.exists()


# Refusals


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"contact_on": "2025-06-03"}, "contact_on", "The contact date cannot be in the future."),
        (
            {"contact_on": "2025-02-28"},
            "contact_on",
            "The contact date cannot be before enrolment (2025-03-01).",
        ),
        ({"minutes": 0}, "minutes", None),
        ({"minutes": 601}, "minutes", None),
        ({"mode": "letter"}, "mode", None),
        ({"partners": ["participant", "neighbour"]}, "partners", None),
        ({"components": ["foreign"]}, "components", None),
        ({"note": "x" * 501}, "note", None),
        ({"study_id": None, "site": "OSLA", "partners": ["school"]}, "partners", None),
        ({"study_id": None, "site": None, "partners": ["employer"]}, "site", "Choose the site."),
        ({"study_id": None, "site": "OSLB", "partners": ["employer"]}, "site", None),
        ({"study_id": None, "site": "TRD", "partners": ["employer"]}, "site", None),
        ({"client_id": "not-a-uuid"}, "client_id", None),
    ],
)
def test_refused_contacts_are_field_errors_and_save_nothing(
    world: World,
    components: dict[str, Component],
    overrides: dict[str, Any],
    field: str,
    message: str | None,
) -> None:
    participant = world.participants["OSLA"][0]
    events = AuditEvent.objects.count()
    response = post(world.client("caseworker"), body(participant, **overrides))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field], response.json()
    if message is not None:
        assert response.json()["errors"][field] == [message]
    assert not Contact.objects.exists()
    assert not Exposure.objects.exists()
    assert AuditEvent.objects.count() == events


def test_no_contact_after_a_withdrawal_but_earlier_contacts_may_be_logged_late(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    trial_services.withdraw_participant(
        participant,
        withdrawn_on=dt.date(2025, 5, 1),
        scope=Withdrawal.Scope.NO_CONTACT,
        reason="Does not want to be contacted",
        actor=world.users["coordinator"],
    )
    events = AuditEvent.objects.count()
    client = world.client("caseworker")
    after = post(client, body(participant, contact_on="2025-05-02"))
    assert after.status_code == 400
    assert after.json()["errors"] == {
        "contact_on": [
            f"{participant.study_id} withdrew on 2025-05-01 and asked for no further contact: "
            "a contact after that date cannot be logged."
        ]
    }
    assert not Contact.objects.exists() and AuditEvent.objects.count() == events
    before = post(client, body(participant, contact_on="2025-04-30"))
    assert before.status_code == 201


def test_service_refuses_participants_and_components_outside_its_reach(
    world: World, components: dict[str, Component]
) -> None:
    outside = world.participants["OSLB"][0]
    with pytest.raises(TrialError) as refused:
        log(world, outside)
    assert refused.value.field == "participant"
    foreign = Component.objects.get(code="foreign")
    with pytest.raises(TrialError) as refused:
        log(world, world.participants["OSLA"][0], components=[foreign])
    assert refused.value.field == "components"
    with pytest.raises(TrialError) as refused:
        log(world, world.participants["OSLA"][0], minutes=601)
    assert refused.value.field == "minutes"
    assert not Contact.objects.exists()


# Access


def test_caseworker_sees_and_logs_only_at_own_sites(
    world: World, components: dict[str, Component]
) -> None:
    osla = log(world, world.participants["OSLA"][0])
    oslb = log(world, world.participants["OSLB"][0], actor=world.users["coordinator"])
    caseworker = world.client("caseworker")
    outside = post(caseworker, body(world.participants["OSLB"][0]))
    assert outside.status_code == 404
    assert post(caseworker, body(world.participants["TRD"][0])).status_code == 404
    assert [row["id"] for row in caseworker.get(URL).json()["results"]] == [osla.pk]
    assert caseworker.get(f"{URL}{oslb.pk}/").status_code == 404
    assert caseworker.get(f"{URL}{osla.pk}/").status_code == 200
    assert world.client("coordinator").get(URL).json()["count"] == 2
    assert world.client("outsider").get(URL).status_code == 404
    assert post(world.client("outsider"), body(world.participants["OSLA"][0])).status_code == 404
    assert post(world.client("monitor"), body(world.participants["OSLA"][0])).status_code == 403
    assert world.client("reviewer").get(URL).status_code == 403
    assert Contact.objects.count() == 2


def test_contact_list_filters(world: World, components: dict[str, Component]) -> None:
    first = log(world, world.participants["OSLA"][0], contact_on=dt.date(2025, 4, 1))
    second = log(world, world.participants["OSLA"][1], contact_on=dt.date(2025, 5, 1))
    third = log(world, world.participants["BGO"][0], actor=world.users["coordinator"])
    client = world.client("coordinator")

    def ids(query: str) -> list[int]:
        response = client.get(URL + query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [third.pk, second.pk, first.pk]
    assert ids("?site=BGO") == [third.pk]
    assert ids(f"?participant={world.participants['OSLA'][1].study_id}") == [second.pk]
    assert ids("?contact_from=2025-04-02") == [third.pk, second.pk]
    assert ids("?contact_to=2025-04-30") == [first.pk]
    bad = client.get(URL + "?contact_from=soon")
    assert bad.status_code == 400 and "contact_from" in bad.json()["errors"]


def test_components_are_listed_in_order(world: World, components: dict[str, Component]) -> None:
    response = world.client("caseworker").get("/api/v1/trials/ips/components/")
    assert response.status_code == 200
    assert [(c["code"], c["intervention_specific"]) for c in response.json()] == [
        ("rapid", True),
        ("jobdev", True),
        ("benefits", False),
    ]
    assert world.client("outsider").get("/api/v1/trials/ips/components/").status_code == 404


# Corrections


def test_only_the_author_may_correct_a_contact_within_the_window(
    world: World, components: dict[str, Component], settings: Any
) -> None:
    # Shorter than the default, so the login session (8 hours) outlasts the window.
    settings.CONTACT_EDIT_HOURS = 2
    contact = log(world, world.participants["OSLA"][0], components=[components["benefits"]])
    coordinator = patch(world.client("coordinator"), contact.pk, {"minutes": 45})
    assert coordinator.status_code == 403
    assert coordinator.json() == {
        "detail": "Only the caseworker who logged a contact may change it.",
        "code": "permission_denied",
    }

    caseworker = world.client("caseworker")
    changed = patch(caseworker, contact.pk, {"minutes": 45, "components": ["rapid", "benefits"]})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["minutes"] == 45
    assert changed.json()["components"] == ["rapid", "benefits"]
    event = AuditEvent.objects.get(action="contact.changed")
    assert event.actor == world.users["caseworker"]
    assert event.data["changes"] == {
        "minutes": [30, 45],
        "components": [["benefits"], ["benefits", "rapid"]],
    }
    # A correction that changes nothing writes nothing.
    assert patch(caseworker, contact.pk, {"minutes": 45}).status_code == 200
    assert AuditEvent.objects.filter(action="contact.changed").count() == 1

    bad = patch(caseworker, contact.pk, {"contact_on": "2025-06-05"})
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"contact_on": ["The contact date cannot be in the future."]}

    with time_machine.travel(TODAY + dt.timedelta(hours=2, minutes=1), tick=False):
        late = patch(caseworker, contact.pk, {"minutes": 50})
    assert late.status_code == 403
    assert late.json() == {
        "detail": "This contact was locked 2 hours after it was logged; it cannot be changed.",
        "code": "permission_denied",
    }
    contact.refresh_from_db()
    assert contact.minutes == 45
    assert AuditEvent.objects.filter(action="contact.changed").count() == 1


def test_the_participant_of_a_contact_cannot_be_changed(world: World) -> None:
    contact = log(world, world.participants["OSLA"][0])
    with pytest.raises(TrialError):
        services.edit_contact(
            contact, actor=world.users["caseworker"], participant=world.participants["OSLA"][1]
        )
    contact.refresh_from_db()
    assert contact.participant == world.participants["OSLA"][0]


# Contamination


def test_intervention_specific_component_to_a_control_participant_is_an_exposure(
    world: World, components: dict[str, Component]
) -> None:
    control, intervention = world.participants["OSLA"]
    allocate(world, control, "B")
    allocate(world, intervention, "A")
    client = world.client("caseworker")

    response = post(client, body(control, client_id=str(uuid.uuid4())))
    assert response.status_code == 201
    contact = Contact.objects.get(pk=response.json()["id"])
    exposure = Exposure.objects.get()
    assert (exposure.participant, exposure.site, exposure.contact) == (
        control,
        world.sites[0],
        contact,
    )
    assert exposure.component == components["rapid"]  # not benefits counselling: usual services
    assert exposure.source == Exposure.Source.CONTACT
    assert exposure.exposed_on == dt.date(2025, 5, 20)
    assert AuditEvent.objects.filter(
        action="exposure.created", target_id=str(exposure.pk), trial=world.trial
    ).exists()

    assert post(client, body(intervention)).status_code == 201  # intervention arm: no exposure
    assert post(client, body(control, components=["benefits"])).status_code == 201
    assert Exposure.objects.count() == 1

    # A correction brings the exposures in line in the same transaction.
    patch(client, contact.pk, {"components": ["rapid", "jobdev"], "contact_on": "2025-05-21"})
    assert sorted(Exposure.objects.values_list("component__code", "exposed_on")) == [
        ("jobdev", dt.date(2025, 5, 21)),
        ("rapid", dt.date(2025, 5, 21)),
    ]
    patch(client, contact.pk, {"components": ["benefits"]})
    assert not Exposure.objects.exists()
    assert AuditEvent.objects.filter(action="exposure.deleted").count() == 2


def test_exposures_reveal_the_arm_so_blinded_users_cannot_list_them(
    world: World, components: dict[str, Component]
) -> None:
    osla, oslb = world.participants["OSLA"][0], world.participants["OSLB"][0]
    allocate(world, osla, "B")
    allocate(world, oslb, "B")
    log(world, osla, components=[components["rapid"]])
    log(world, oslb, components=[components["rapid"]], actor=world.users["coordinator"])
    url = "/api/v1/trials/ips/exposures/"
    assert world.client("statistician").get(url).status_code == 403
    assert world.client("outsider").get(url).status_code == 404
    assert world.client("unblinded").get(url).json()["count"] == 2
    rows = world.client("caseworker").get(url).json()["results"]
    assert [(r["study_id"], r["component"], r["source"]) for r in rows] == [
        (osla.study_id, "rapid", "contact")
    ]
    monitor = world.client("monitor").get(url + f"?participant={oslb.study_id}")
    assert [r["study_id"] for r in monitor.json()["results"]] == [oslb.study_id]


# Concurrency


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submissions_with_one_client_id_create_one_contact(
    require_postgres: None,
) -> None:
    trial = factories.make_trial(code="race")
    site = factories.make_site(trial, "OSL")
    user = factories.make_user("worker")
    factories.make_membership(user, trial, Membership.Role.CASEWORKER, [site])
    participant = factories.make_participant(trial, site)
    component = Component.objects.create(trial=trial, code="rapid", name="Rapid job search")
    client_id = uuid.uuid4()
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait(timeout=30)
            contact, created = services.log_contact(
                trial,
                actor=user,
                participant=participant,
                site=None,
                contact_on=dt.date(2025, 5, 20),
                mode=Contact.Mode.PHONE,
                minutes=20,
                partners=["participant"],
                components=[component],
                client_id=client_id,
            )
            results.append((contact.pk, created))
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()  # runs in the worker thread: its own connection

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    assert Contact.objects.filter(trial=trial).count() == 1
    assert len({pk for pk, _created in results}) == 1
    assert sum(created for _pk, created in results) == 1
    assert AuditEvent.objects.filter(action="contact.created", trial=trial).count() == 1


def test_contacts_reveal_the_arm_so_blinded_users_cannot_read_them(
    world: World, components: dict[str, Component]
) -> None:
    contact = log(world, world.participants["OSLA"][0], components=[components["rapid"]])
    for url in (URL, f"{URL}{contact.pk}/"):
        assert world.client("statistician").get(url).status_code == 403
        assert world.client("unblinded").get(url).status_code == 200
        assert world.client("monitor").get(url).status_code == 200


def test_an_empty_date_in_a_form_correction_is_refused_not_ignored(
    world: World, components: dict[str, Component]
) -> None:
    """In a form body DRF reads a field sent empty as not sent, so an empty contact_on changed
    nothing and answered 200; it is refused as the JSON "" is."""
    contact = log(world, world.participants["OSLA"][0])
    client = world.client("caseworker")
    url = f"{URL}{contact.pk}/"
    for content_type, body in [
        ("application/x-www-form-urlencoded", "contact_on=&minutes=45"),
        ("multipart/form-data; boundary=b", MULTIPART_EMPTY_DATE),
        ("application/json", '{"contact_on": "", "minutes": 45}'),
    ]:
        response = client.patch(url, body, content_type=content_type)
        assert response.status_code == 400, content_type
        assert set(response.json()["errors"]) == {"contact_on"}, content_type
    contact.refresh_from_db()
    assert (contact.contact_on, contact.minutes) == (dt.date(2025, 5, 20), 30)


MULTIPART_EMPTY_DATE = (
    '--b\r\nContent-Disposition: form-data; name="contact_on"\r\n\r\n\r\n'
    '--b\r\nContent-Disposition: form-data; name="minutes"\r\n\r\n45\r\n--b--\r\n'
)


def test_exposure_components_are_the_specific_ones_for_a_control_participant_after_allocation(
    world: World, components: dict[str, Component]
) -> None:
    treated, control = world.participants["OSLA"]
    allocate(world, treated, "A")
    allocate(world, control, "B")
    given = list(components.values())
    found = services.exposure_components(control, dt.date(2025, 5, 20), given)
    assert [c.code for c in found] == ["rapid", "jobdev"]
    # Before the allocation (2025-03-03), and in the intervention arm, nothing is an exposure.
    assert services.exposure_components(control, dt.date(2025, 3, 2), given) == []
    assert services.exposure_components(treated, dt.date(2025, 5, 20), given) == []
    unallocated = world.participants["OSLB"][0]
    assert services.exposure_components(unallocated, dt.date(2025, 5, 20), given) == []
    assert not Exposure.objects.exists()  # asking writes nothing
