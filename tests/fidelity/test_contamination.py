"""Contamination sources beyond the contact log: follow-up answers (b), site-level events (c),
staff who worked at an intervention site (d), and the per-participant exposure flag."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import time_machine
from rest_framework.test import APIClient

from fidelity.contacts import services
from fidelity.contamination import arms, flags
from fidelity.contamination import services as contamination
from fidelity.models import Component, Contact, Exposure
from instruments import services as instruments
from instruments.models import Assessment
from randomisation.allocation import services as allocation_services
from randomisation.cluster import services as cluster_services
from randomisation.models import Scheme
from randomisation.schemes import services as scheme_services
from tests import factories
from tests.conftest import World
from tests.factories import allocate
from tests.fidelity.builders import make_components
from trial.models import (
    AuditEvent,
    Membership,
    Participant,
    SiteAssignment,
    Trial,
    Visit,
    VisitDefinition,
)
from trial.services import TrialError

TODAY = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)
QUESTION = "Since the last visit, has anyone helped you look for ordinary paid work?"


@pytest.fixture(autouse=True)
def today() -> Iterator[None]:
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def components(world: World) -> dict[str, Component]:
    return make_components(world.trial)


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


# (b) The contamination question at follow-up


@pytest.fixture
def followed_up(world: World) -> dict[str, Visit]:
    """OSLA's first participant in control, the second in the intervention arm, each with a
    three-month visit due on 2025-06-03."""
    Trial.objects.filter(pk=world.trial.pk).update(contamination_question=QUESTION)
    world.trial.refresh_from_db()
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    control, intervention = world.participants["OSLA"]
    allocate(world, control, "B")
    allocate(world, intervention, "A")
    return {"control": control.visits.get(), "intervention": intervention.visits.get()}


def assess(world: World, visit: Visit, answer: str, persona: str = "caseworker") -> Assessment:
    """Record the visit's answers, with ``answer`` to the contamination question."""
    values = {
        "assessed_on": "2025-06-01",
        "in_paid_work": False,
        "on_benefits": True,
        "benefit_type": "work_assessment_allowance",
        "self_rated_health": "3",
        "contamination_reported": answer,
    }
    return instruments.record_assessment(visit, values=values, actor=world.users[persona])


def test_a_yes_from_a_control_participant_is_an_exposure(
    world: World, followed_up: dict[str, Visit]
) -> None:
    assess(world, followed_up["control"], "yes")
    exposure = Exposure.objects.get()
    participant = followed_up["control"].participant
    assert exposure.source == Exposure.Source.ASSESSMENT
    assert exposure.participant == participant and exposure.site == participant.site
    assert exposure.exposed_on == dt.date(2025, 6, 1) and exposure.component is None
    # Asked once per visit, whatever the instruments: the answer is the visit's.
    assert participant.visits.get().contamination_reported is True
    event = AuditEvent.objects.get(action="exposure.created")
    assert event.target_id == str(exposure.pk) and event.actor == world.users["caseworker"]
    # The participant page's timeline shows it to those who may know the arm.
    page = world.client("coordinator").get(f"/trials/ips/participants/{participant.study_id}/")
    assert [e.kind for e in page.context["timeline"]].count("exposure") == 1


def test_a_yes_from_an_intervention_participant_or_a_no_is_not_an_exposure(
    world: World, followed_up: dict[str, Visit]
) -> None:
    assess(world, followed_up["intervention"], "yes")
    assess(world, followed_up["control"], "no")
    assert Exposure.objects.count() == 0
    assert followed_up["control"].participant.visits.get().contamination_reported is False


def test_the_exposure_is_saved_with_the_assessment_or_not_at_all(
    world: World, followed_up: dict[str, Visit]
) -> None:
    visit = followed_up["control"]
    refused = {"assessed_on": "2025-06-01", "self_rated_health": "9"}
    with pytest.raises(instruments.AnswersError):
        instruments.record_assessment(
            visit, values={**refused, "contamination_reported": "yes"}, actor=None
        )
    visit.refresh_from_db()
    assert visit.contamination_reported is None and not Exposure.objects.exists()
    assess(world, visit, "yes")
    with pytest.raises(TrialError, match="answered at this visit already"):
        assess(world, visit, "yes")
    assert Exposure.objects.count() == 1


def test_the_answer_is_kept_on_the_visit_and_audited(
    world: World, followed_up: dict[str, Visit]
) -> None:
    visit = followed_up["control"]
    assess(world, visit, "yes")
    event = AuditEvent.objects.get(action="visit.changed", target_id=str(visit.pk))
    assert event.data["changes"]["contamination_reported"] == [None, True]
    assert event.data["changes"]["completed_on"] == [None, "2025-06-01"]


def test_the_set_up_form_edits_the_question(world: World) -> None:
    client = world.client("coordinator")
    page = client.get("/trials/ips/setup/settings/")
    assert "contamination_question" in page.context["form"].fields
    data = {
        "title": world.trial.title,
        "registry_id": "",
        "design": world.trial.design,
        "target_size": "100",
        "description": "",
        "contamination_question": "  Has anyone helped you find a job?  ",
    }
    assert client.post("/trials/ips/setup/settings/", data).status_code == 302
    world.trial.refresh_from_db()
    assert world.trial.contamination_question == "Has anyone helped you find a job?"
    event = AuditEvent.objects.filter(action="trial.changed").latest("id")
    assert event.data["changes"]["contamination_question"] == [
        "",
        "Has anyone helped you find a job?",
    ]


# (c) Site-level events

EVENTS = "/trials/ips/contamination/site-events/"


def test_coordinator_records_a_site_level_event(
    world: World, components: dict[str, Component]
) -> None:
    client = world.client("coordinator")
    data = {
        "site": world.sites[1].pk,
        "occurred_on": "2025-05-15",
        "components": [components["rapid"].pk, components["jobdev"].pk],
        "note": "Two caseworkers attended an IPS course.",
    }
    response = client.post(EVENTS, data, follow=True)
    assert "The site-level event is recorded." in response.content.decode()
    exposures = Exposure.objects.order_by("component__order")
    assert [
        # Every exposure here has a component (a site event names them).
        (e.site, e.participant, e.source, e.component.code, e.exposed_on)  # type: ignore[union-attr]
        for e in exposures
    ] == [
        (world.sites[1], None, "site_event", "rapid", dt.date(2025, 5, 15)),
        (world.sites[1], None, "site_event", "jobdev", dt.date(2025, 5, 15)),
    ]
    assert AuditEvent.objects.filter(action="exposure.created").count() == 2
    assert len(response.context["events"]) == 2
    listed = client.get("/trials/ips/contamination/", {"source": "site_event"})
    assert len(listed.context["page"]) == 2


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"occurred_on": "2025-06-03"}, "occurred_on", "cannot be in the future"),
        ({"note": "   "}, "note", "This field is required"),
        ({"site": ""}, "site", "This field is required"),
    ],
)
def test_a_bad_site_event_is_refused_at_the_field(
    world: World, overrides: dict[str, Any], field: str, message: str
) -> None:
    data = {"site": world.sites[1].pk, "occurred_on": "2025-05-15", "note": "Course."}
    data.update(overrides)
    response = world.client("coordinator").post(EVENTS, data)
    assert message in response.context["form"].errors[field][0]
    assert Exposure.objects.count() == 0


def test_only_coordinators_record_site_events(world: World) -> None:
    assert world.client("caseworker").get(EVENTS).status_code == 403
    assert world.client("outsider").get(EVENTS).status_code == 404
    assert world.client("caseworker").get("/trials/ips/contamination/").status_code == 403


def record_event(
    world: World, components: dict[str, Component], client_id: uuid.UUID | None = None
) -> list[Exposure]:
    exposures, _created = contamination.record_site_event(
        world.trial,
        site=world.sites[1],
        occurred_on=dt.date(2025, 5, 15),
        components=[components["rapid"], components["jobdev"]],
        note="Two caseworkers attended an IPS course.",
        actor=world.users["coordinator"],
        client_id=client_id,
    )
    return exposures


def test_a_resubmitted_site_event_is_recorded_once(
    world: World, components: dict[str, Component]
) -> None:
    """A double click on the form, or a retried API request, with the same client id."""
    page = world.client("coordinator").get(EVENTS)
    client_id = page.context["form"]["client_id"].value()
    assert f'value="{client_id}"' in page.content.decode()
    data = {
        "site": world.sites[1].pk,
        "occurred_on": "2025-05-15",
        "components": [components["rapid"].pk],
        "note": "Two caseworkers attended an IPS course.",
        "client_id": str(client_id),
    }
    for _ in range(2):
        response = world.client("coordinator").post(EVENTS, data)
        assert response.status_code == 302
    assert Exposure.objects.count() == 1
    assert AuditEvent.objects.filter(action="exposure.created").count() == 1
    # The same id for another event is refused, above the form.
    other = world.client("coordinator").post(EVENTS, {**data, "note": "Another course."})
    assert "different event" in other.context["form"].non_field_errors()[0]
    assert "different event" in other.content.decode()  # shown, not on the hidden field
    # Through the API: 201, then 200 with the same event.
    api = APIClient()
    api.force_authenticate(world.users["coordinator"])
    body = {
        "site": "OSLB",
        "occurred_on": "2025-05-15",
        "components": ["rapid", "jobdev"],
        "note": "Two caseworkers attended an IPS course.",
        "client_id": "0b6f3c1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f",
    }
    first = api.post("/api/v1/trials/ips/site-events/", body, format="json")
    again = api.post("/api/v1/trials/ips/site-events/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Exposure.objects.count() == 3
    moved = api.post("/api/v1/trials/ips/site-events/", {**body, "site": "BGO"}, format="json")
    assert moved.status_code == 400 and "client_id" in moved.json()["errors"]


def test_a_resubmitted_site_event_without_components_is_recorded_once(
    world: World, components: dict[str, Component]
) -> None:
    """An event naming no component is one exposure without one; a retry returns it."""
    client_id = uuid.uuid4()
    recorded = []
    for _ in range(2):
        recorded.append(
            contamination.record_site_event(
                world.trial,
                site=world.sites[1],
                occurred_on=dt.date(2025, 5, 15),
                components=[],
                note="Staff met the IPS team.",
                actor=world.users["coordinator"],
                client_id=client_id,
            )
        )
    (first, created), (again, created_again) = recorded
    assert (created, created_again) == (True, False)
    assert [e.pk for e in again] == [e.pk for e in first]
    assert first[0].component is None
    assert Exposure.objects.count() == 1


def test_a_site_event_entered_in_error_is_removed_with_its_reason(
    world: World, components: dict[str, Component]
) -> None:
    wrong, kept = record_event(world, components)
    client = world.client("coordinator")
    listed = client.get(EVENTS).content.decode()
    remove = f"{EVENTS}{wrong.pk}/remove/"
    assert remove in listed
    page = client.get(remove)
    assert "Two caseworkers attended an IPS course." in page.content.decode()
    # No reason: refused at the field, nothing removed.
    refused = client.post(remove, {"reason": "  "})
    assert "This field is required" in refused.context["form"].errors["reason"][0]
    assert Exposure.objects.count() == 2
    response = client.post(remove, {"reason": "Entered for the wrong office."}, follow=True)
    assert "The entry is removed" in response.content.decode()
    assert list(Exposure.objects.all()) == [kept]
    assert [e.pk for e in response.context["events"]] == [kept.pk]
    event = AuditEvent.objects.get(action="exposure.deleted")
    assert event.actor == world.users["coordinator"] and event.target_id == str(wrong.pk)
    # In the trial's audit trail, as its recording was.
    assert event.trial == world.trial
    assert AuditEvent.objects.filter(action="exposure.created", trial=world.trial).count() == 2
    assert event.data["reason"] == "Entered for the wrong office."
    assert event.data["before"]["site"] == world.sites[1].pk
    assert event.data["before"]["component"] == components["rapid"].pk
    assert event.data["before"]["note"] == "Two caseworkers attended an IPS course."
    # Gone: a second removal of the same entry finds nothing.
    assert client.post(remove, {"reason": "again"}).status_code == 404
    assert world.client("caseworker").get(f"{EVENTS}{kept.pk}/remove/").status_code == 403


def test_an_event_of_several_components_is_removed_as_a_whole(
    world: World, components: dict[str, Component]
) -> None:
    first, second = record_event(world, components, client_id=uuid.uuid4())
    lone = record_event(world, components)[0]  # recorded without a client id
    client = world.client("coordinator")
    page = client.get(f"{EVENTS}{second.pk}/remove/")
    assert "Remove all 2 entries of this event" in page.content.decode()
    assert "whole_event" not in client.get(f"{EVENTS}{lone.pk}/remove/").context["form"].fields
    response = client.post(
        f"{EVENTS}{second.pk}/remove/",
        {"reason": "Entered for the wrong office.", "whole_event": "on"},
        follow=True,
    )
    assert "The 2 entries are removed" in response.content.decode()
    assert not Exposure.objects.filter(pk__in=[first.pk, second.pk]).exists()
    removed = AuditEvent.objects.filter(action="exposure.deleted")
    assert sorted(int(e.target_id) for e in removed) == [first.pk, second.pk]
    assert {e.data["reason"] for e in removed} == {"Entered for the wrong office."}
    # Without the box ticked, only the entry named goes; through the API as well.
    third, fourth = record_event(world, components, client_id=uuid.uuid4())
    api = APIClient()
    api.force_authenticate(world.users["coordinator"])
    url = f"/api/v1/trials/ips/site-events/{third.pk}/removal/"
    assert api.post(url, {"reason": "Wrong component."}, format="json").status_code == 204
    assert Exposure.objects.filter(pk=fourth.pk).exists()
    url = f"/api/v1/trials/ips/site-events/{fourth.pk}/removal/"
    body = {"reason": "Wrong office.", "whole_event": True}
    assert api.post(url, body, format="json").status_code == 204
    # The event recorded without a client id is untouched: its entries go one at a time.
    assert set(Exposure.objects.values_list("client_id", flat=True)) == {None}
    assert Exposure.objects.count() == 2 and Exposure.objects.filter(pk=lone.pk).exists()


def test_only_site_events_are_removed_and_only_once(
    world: World, components: dict[str, Component]
) -> None:
    coordinator = world.users["coordinator"]
    reported = Exposure.objects.create(
        trial=world.trial,
        participant=world.participants["OSLA"][0],
        source=Exposure.Source.STAFF,
        exposed_on=dt.date(2025, 5, 1),
    )
    with pytest.raises(TrialError, match="Only site-level events"):
        contamination.remove_site_event(reported, reason="wrong", actor=coordinator)
    page = world.client("coordinator").get(f"{EVENTS}{reported.pk}/remove/")
    assert page.status_code == 404
    event = record_event(world, components)[0]
    stale = Exposure.objects.get(pk=event.pk)
    with pytest.raises(TrialError) as too_long:
        contamination.remove_site_event(event, reason="x" * 501, actor=coordinator)
    assert too_long.value.field == "reason"
    contamination.remove_site_event(event, reason="Wrong office.", actor=coordinator)
    with pytest.raises(TrialError, match="already been removed"):
        contamination.remove_site_event(stale, reason="Wrong office.", actor=coordinator)
    assert AuditEvent.objects.filter(action="exposure.deleted").count() == 1
    assert Exposure.objects.filter(pk=reported.pk).exists()


def test_site_events_through_the_api(world: World, components: dict[str, Component]) -> None:
    api = APIClient()
    api.force_authenticate(world.users["coordinator"])
    url = "/api/v1/trials/ips/site-events/"
    body = {
        "site": "OSLB",
        "occurred_on": "2025-05-15",
        "components": ["rapid", "jobdev"],
        "note": "Two caseworkers attended an IPS course.",
    }
    created = api.post(url, body, format="json")
    assert created.status_code == 201
    event = created.json()
    assert (event["site"], event["occurred_on"]) == ("OSLB", "2025-05-15")
    assert [(e["site"], e["component"], e["source"]) for e in event["exposures"]] == [
        ("OSLB", "rapid", "site_event"),
        ("OSLB", "jobdev", "site_event"),
    ]
    bad = api.post(url, {**body, "occurred_on": "2025-06-03"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"occurred_on": ["The date cannot be in the future."]}
    unknown = api.post(url, {**body, "components": ["nope"]}, format="json")
    assert unknown.status_code == 400 and "components" in unknown.json()["errors"]
    assert api.get(url).json()["count"] == 2
    first, second = (e["id"] for e in event["exposures"])
    removal = f"{url}{first}/removal/"
    missing = api.post(removal, {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["errors"]
    assert api.post(removal, {"reason": "Wrong office."}, format="json").status_code == 204
    assert [e["id"] for e in api.get(url).json()["results"]] == [second]
    assert AuditEvent.objects.get(action="exposure.deleted").data["reason"] == "Wrong office."
    assert api.post(removal, {"reason": "again"}, format="json").status_code == 404
    caseworker = APIClient()
    caseworker.force_authenticate(world.users["caseworker"])
    assert caseworker.get(url).status_code == 403
    assert caseworker.post(f"{url}{second}/removal/", {"reason": "x"}).status_code == 403


def cluster_world() -> tuple[Trial, dict[str, Any], Any]:
    """A cluster trial of two sites, randomised: returns the trial, {"control", "intervention"}
    sites, and its coordinator."""
    trial = factories.make_trial(
        code="clu", status=Trial.Status.RECRUITING, design=Trial.Design.CLUSTER
    )
    for code in ("C1", "C2"):
        factories.make_site(trial, code)
    user = factories.make_user("clucoord")
    factories.make_membership(user, trial, Membership.Role.COORDINATOR)
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.CLUSTER_STRATIFIED, site_strata_field=""
    )
    scheme_services.lock_scheme(scheme, actor=user)
    allocations = cluster_services.randomise_sites(trial, actor=user)
    by_arm = {("control" if a.arm.is_control else "intervention"): a.site for a in allocations}
    return trial, by_arm, user


def test_a_cluster_trials_intervention_site_cannot_have_a_site_event(db: None) -> None:
    trial, sites, user = cluster_world()
    with pytest.raises(TrialError, match="is an intervention site") as refused:
        contamination.record_site_event(
            trial,
            site=sites["intervention"],
            occurred_on=dt.date(2025, 6, 2),
            components=[],
            note="Course.",
            actor=user,
        )
    assert refused.value.field == "site"
    # Before its allocation the site was not yet an intervention site.
    assert arms.site_is_control_on(sites["intervention"], dt.date(2025, 6, 1))
    made, _created = contamination.record_site_event(
        trial,
        site=sites["control"],
        occurred_on=dt.date(2025, 6, 1),
        components=[],
        note="Course.",
        actor=user,
    )
    assert [(e.site, e.component) for e in made] == [(sites["control"], None)]


def test_site_status_follows_the_site_allocation(db: None) -> None:
    _trial, sites, _user = cluster_world()
    assert arms.intervention_since(sites["control"]) is None
    assert arms.intervention_since(sites["intervention"]) == dt.date(2025, 6, 2)


# (d) Staff who worked at an intervention site


@pytest.fixture
def moved_caseworker(world: World) -> Membership:
    """OSLB's participants are all in the intervention arm (an intervention site from
    2025-03-03); OSLA's first participant is in control. The caseworker worked at OSLB from
    January to April and is at OSLA since May."""
    for participant in world.participants["OSLB"]:
        allocate(world, participant, "A")
    allocate(world, world.participants["OSLA"][0], "B")
    allocate(world, world.participants["OSLA"][1], "A")
    membership = Membership.objects.get(trial=world.trial, user=world.users["caseworker"])
    coordinator = world.users["coordinator"]
    contamination.add_site_assignment(
        membership,
        site=world.sites[1],
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 4, 30),
        actor=coordinator,
    )
    contamination.add_site_assignment(
        membership,
        site=world.sites[0],
        starts_on=dt.date(2025, 5, 1),
        ends_on=None,
        actor=coordinator,
    )
    return membership


def test_a_contact_for_a_control_participant_by_former_intervention_staff_is_a_risk(
    world: World, moved_caseworker: Membership
) -> None:
    contact = log(world, world.participants["OSLA"][0])
    contact.refresh_from_db()
    assert contact.contamination_risk is True
    exposure = Exposure.objects.get(source=Exposure.Source.STAFF)
    assert exposure.contact == contact and exposure.participant == contact.participant
    assert exposure.exposed_on == dt.date(2025, 5, 20) and exposure.component is None
    assert "OSLB" in exposure.note
    assert AuditEvent.objects.filter(action="contact.contamination_risk").count() == 1
    # The contact log and the contamination page make clear it is a risk flag.
    html = world.client("caseworker").get("/trials/ips/contacts/").content.decode()
    assert "contamination risk" in html
    listed = world.client("coordinator").get("/trials/ips/contamination/")
    assert "Staff assignment (risk)" in listed.content.decode()
    assert listed.context["risk_contacts"] == 1


def test_no_risk_for_an_intervention_participant_or_for_staff_who_left_before(
    world: World, moved_caseworker: Membership
) -> None:
    intervention = log(world, world.participants["OSLA"][1])
    assert Contact.objects.get(pk=intervention.pk).contamination_risk is False
    # A colleague who left OSLB before it became an intervention site (2025-03-03).
    colleague = factories.make_user("colleague")
    membership = factories.make_membership(
        colleague, world.trial, Membership.Role.CASEWORKER, [world.sites[0]]
    )
    contamination.add_site_assignment(
        membership,
        site=world.sites[1],
        starts_on=dt.date(2024, 1, 1),
        ends_on=dt.date(2025, 3, 2),
        actor=world.users["coordinator"],
    )
    control = log(world, world.participants["OSLA"][0], actor=colleague)
    assert Contact.objects.get(pk=control.pk).contamination_risk is False
    assert not Exposure.objects.filter(source=Exposure.Source.STAFF).exists()


def test_a_mixed_site_of_an_individual_trial_is_not_an_intervention_site(
    world: World, moved_caseworker: Membership
) -> None:
    assert arms.intervention_since(world.sites[1]) == dt.date(2025, 3, 3)
    assert arms.intervention_since(world.sites[0]) is None  # both arms
    assert arms.intervention_since(world.sites[2]) is None  # nobody allocated


def test_an_edit_moving_the_contact_before_the_move_keeps_the_flag_in_line(
    world: World, moved_caseworker: Membership
) -> None:
    contact = log(world, world.participants["OSLA"][0])
    # Before the participant's allocation (2025-03-03) the contact is with no control unit.
    services.edit_contact(contact, actor=world.users["caseworker"], contact_on=dt.date(2025, 3, 2))
    contact.refresh_from_db()
    assert contact.contamination_risk is False
    assert not Exposure.objects.filter(source=Exposure.Source.STAFF).exists()
    assert AuditEvent.objects.filter(action="exposure.deleted").count() == 1


def test_the_staff_flag_in_a_cluster_trial(db: None) -> None:
    trial, sites, coordinator = cluster_world()
    caseworker = factories.make_user("mover")
    membership = factories.make_membership(
        caseworker, trial, Membership.Role.CASEWORKER, [sites["control"]]
    )
    with time_machine.travel(dt.datetime(2025, 9, 1, 9, tzinfo=dt.UTC), tick=False):
        contamination.add_site_assignment(
            membership,
            site=sites["intervention"],
            starts_on=dt.date(2025, 6, 1),
            ends_on=dt.date(2025, 7, 31),
            actor=coordinator,
        )
        participant = factories.make_participant(
            trial,
            sites["control"],
            consent_version="v1",
            consent_date=dt.date(2025, 6, 1),
            enrolled_on=dt.date(2025, 6, 1),
        )
        allocation_services.randomise(participant, actor=coordinator, on=dt.date(2025, 6, 2))
        contact, _ = services.log_contact(
            trial,
            actor=caseworker,
            participant=participant,
            site=None,
            contact_on=dt.date(2025, 8, 15),
            mode="phone",
            minutes=20,
            partners=["participant"],
            components=[],
        )
        # A job-development contact at the control site by the same person is a risk too.
        employer, _ = services.log_contact(
            trial,
            actor=caseworker,
            participant=None,
            site=sites["control"],
            contact_on=dt.date(2025, 8, 16),
            mode="phone",
            minutes=20,
            partners=["employer"],
            components=[],
        )
    assert Contact.objects.get(pk=contact.pk).contamination_risk is True
    assert Contact.objects.get(pk=employer.pk).contamination_risk is True
    assert Exposure.objects.filter(source=Exposure.Source.STAFF).count() == 2


# Site assignments: the coordinator's page

STAFF = "/trials/ips/contamination/staff/"


def test_coordinator_adds_and_removes_dated_assignments(world: World) -> None:
    membership = Membership.objects.get(trial=world.trial, user=world.users["caseworker"])
    client = world.client("coordinator")
    url = f"{STAFF}{membership.pk}/"
    data = {"site": world.sites[1].pk, "starts_on": "2025-01-01", "ends_on": "2025-04-30"}
    response = client.post(url, data, follow=True)
    assert "The site assignment is added." in response.content.decode()
    assignment = SiteAssignment.objects.get()
    assert (assignment.site, assignment.starts_on, assignment.ends_on) == (
        world.sites[1],
        dt.date(2025, 1, 1),
        dt.date(2025, 4, 30),
    )
    assert AuditEvent.objects.filter(action="siteassignment.created").count() == 1
    overlap = client.post(url, {**data, "starts_on": "2025-04-01", "ends_on": ""})
    assert "overlaps another period at OSLB" in overlap.context["form"].errors["starts_on"][0]
    backwards = client.post(url, {**data, "starts_on": "2025-06-01", "ends_on": "2025-05-01"})
    assert "before the start" in backwards.context["form"].errors["ends_on"][0]
    assert SiteAssignment.objects.count() == 1
    assert membership.user.username in client.get(STAFF).content.decode()
    removed = client.post(f"{url}{assignment.pk}/remove/")
    assert removed.status_code == 302 and not SiteAssignment.objects.exists()
    event = AuditEvent.objects.get(action="siteassignment.deleted")
    assert event.data["before"]["starts_on"] == "2025-01-01"


def test_contacts_logged_before_an_assignment_is_entered_follow_it(world: World) -> None:
    """The coordinator enters, after the fact, that the caseworker worked at OSLB (an
    intervention site from 2025-03-03) from January to April: the caseworker's contact with a
    control participant on 2025-05-20 becomes a risk, and stops being one when the period is
    removed as entered in error. An earlier contact (before the participant was allocated)
    stays as it was."""
    for participant in world.participants["OSLB"]:
        allocate(world, participant, "A")
    allocate(world, world.participants["OSLA"][0], "B")
    control = world.participants["OSLA"][0]
    later = log(world, control)
    earlier = log(world, control, contact_on=dt.date(2025, 3, 1))
    assert not Contact.objects.filter(contamination_risk=True).exists()
    membership = Membership.objects.get(trial=world.trial, user=world.users["caseworker"])
    client = world.client("coordinator")
    url = f"{STAFF}{membership.pk}/"
    data = {"site": world.sites[1].pk, "starts_on": "2025-01-01", "ends_on": "2025-04-30"}
    response = client.post(url, data, follow=True)
    assert "The contamination-risk flag of 1 contact this person logged changed." in (
        response.content.decode()
    )
    assert list(Contact.objects.filter(contamination_risk=True)) == [later]
    exposure = Exposure.objects.get(source=Exposure.Source.STAFF)
    assert exposure.contact == later and "OSLB" in exposure.note
    flagged = AuditEvent.objects.get(action="contact.contamination_risk")
    assert flagged.actor == world.users["coordinator"] and flagged.target_id == str(later.pk)
    assignment = SiteAssignment.objects.get()
    client.post(f"{url}{assignment.pk}/remove/")
    assert not Contact.objects.filter(contamination_risk=True).exists()
    assert not Exposure.objects.filter(source=Exposure.Source.STAFF).exists()
    assert AuditEvent.objects.filter(action="contact.contamination_risk").count() == 2
    assert Contact.objects.get(pk=earlier.pk).contamination_risk is False


def test_only_member_managers_see_the_assignments(world: World) -> None:
    membership = Membership.objects.get(trial=world.trial, user=world.users["caseworker"])
    assert world.client("caseworker").get(STAFF).status_code == 403
    assert world.client("outsider").get(f"{STAFF}{membership.pk}/").status_code == 404
    other = Membership.objects.get(user=world.users["outsider"])
    assert world.client("coordinator").get(f"{STAFF}{other.pk}/").status_code == 404


# The per-participant exposure flag


def test_participant_exposure_has_one_row_per_participant(
    world: World, components: dict[str, Component], moved_caseworker: Membership
) -> None:
    control = world.participants["OSLA"][0]
    # Two contacts delivering the intervention-specific component: two contact exposures, each
    # also flagged as a staff risk (the caseworker worked at OSLB).
    log(world, control, contact_on=dt.date(2025, 5, 20), components=[components["rapid"]])
    log(world, control, contact_on=dt.date(2025, 5, 10), components=[components["benefits"]])
    log(
        world,
        control,
        contact_on=dt.date(2025, 5, 25),
        components=[components["rapid"], components["jobdev"]],
    )
    contamination.record_site_event(
        world.trial,
        site=world.sites[0],
        occurred_on=dt.date(2025, 4, 1),
        components=[components["rapid"]],
        note="Course.",
        actor=world.users["coordinator"],
    )
    contamination.record_site_event(
        world.trial,
        site=world.sites[0],
        occurred_on=dt.date(2025, 5, 1),
        components=[],
        note="Another course.",
        actor=world.users["coordinator"],
    )
    frame = flags.participant_exposure(world.trial)
    assert list(frame.columns) == flags.EXPOSURE_COLUMNS
    all_ids = sorted(p.study_id for ps in world.participants.values() for p in ps)
    all_ids.remove(world.participants["TRD"][0].study_id)
    assert list(frame["study_id"]) == all_ids
    row = frame.set_index("study_id").loc[control.study_id]
    # Hand count: rapid on 05-20, rapid + jobdev on 05-25 (benefits is usual service).
    assert row["exposed"] and row["exposures"] == 3
    assert row["first_exposed_on"] == pd.Timestamp("2025-05-20")
    assert row["sources"] == "contact"
    assert row["staff_risk"]
    assert row["site_event_on"] == pd.Timestamp("2025-04-01")
    others = frame[frame["study_id"] != control.study_id]
    assert not others["exposed"].any() and (others["exposures"] == 0).all()
    assert (others["sources"] == "").all() and others["first_exposed_on"].isna().all()
    osla_other = frame.set_index("study_id").loc[world.participants["OSLA"][1].study_id]
    assert osla_other["site_event_on"] == pd.Timestamp("2025-04-01")
    assert (
        frame.set_index("study_id").loc[world.participants["BGO"][0].study_id]["site_event_on"]
        is pd.NaT
    )


def test_participant_exposure_is_one_query(world: World, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        frame = flags.participant_exposure(world.trial)
    assert len(frame) == 6


def test_participant_exposure_of_an_empty_trial(db: None) -> None:
    trial = factories.make_trial(code="empty")
    frame = flags.participant_exposure(trial)
    assert frame.empty and list(frame.columns) == flags.EXPOSURE_COLUMNS


def test_both_sources_count_towards_the_flag(
    world: World, components: dict[str, Component], followed_up: dict[str, Visit]
) -> None:
    control = followed_up["control"].participant
    log(world, control, contact_on=dt.date(2025, 5, 20), components=[components["jobdev"]])
    assess(world, followed_up["control"], "yes")
    row = flags.participant_exposure(world.trial).set_index("study_id").loc[control.study_id]
    assert row["exposures"] == 2 and row["sources"] == "assessment,contact"
    assert row["first_exposed_on"] == pd.Timestamp("2025-05-20")
    assert not row["staff_risk"]
