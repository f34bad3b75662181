"""Adaptations of the intervention: noted and corrected by coordinators in the browser and the
API, validated, audited, and readable by those who may see allocations."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from fidelity.adaptations import services as adaptations
from fidelity.models import Adaptation, Component
from tests.conftest import World
from trial.models import AuditEvent
from trial.services import TrialError

PAGE = "/trials/ips/fidelity/adaptations/"
API = "/api/v1/trials/ips/fidelity/adaptations/"
DAY = dt.date(2025, 3, 1)


@pytest.fixture
def component(world: World) -> Component:
    return Component.objects.create(trial=world.trial, code="rapid_search", name="Rapid search")


def api_for(world: World, persona: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.users[persona])
    return client


def note(world: World, **values: object) -> Adaptation:
    defaults: dict[str, object] = {
        "site": world.sites[0],
        "adapted_on": DAY,
        "component": None,
        "description": "Employer visits paused for six weeks.",
    }
    defaults.update(values)
    adaptation, _created = adaptations.record_adaptation(
        world.trial,
        actor=world.users["coordinator"],
        **defaults,  # type: ignore[arg-type]
    )
    return adaptation


def test_recording_and_correcting_an_adaptation_is_audited(
    world: World, component: Component
) -> None:
    adaptation = note(world, component=component, description="  Employer visits paused.  ")
    assert adaptation.description == "Employer visits paused."
    assert adaptation.recorded_by_name == "coordinator"
    created = AuditEvent.objects.get(action="adaptation.created")
    assert created.trial == world.trial and created.data["after"]["site"] == world.sites[0].pk
    adaptations.edit_adaptation(
        adaptation,
        site=None,
        adapted_on=DAY,
        component=component,
        description="Employer visits paused at every office.",
        actor=world.users["coordinator"],
    )
    adaptation.refresh_from_db()
    assert adaptation.site is None
    changed = AuditEvent.objects.get(action="adaptation.changed")
    assert changed.data["changes"]["site"] == [world.sites[0].pk, None]
    assert changed.data["changes"]["description"][1] == "Employer visits paused at every office."
    # The same values again change nothing and record nothing.
    adaptations.edit_adaptation(
        adaptation,
        site=None,
        adapted_on=DAY,
        component=component,
        description="Employer visits paused at every office.",
        actor=world.users["coordinator"],
    )
    assert AuditEvent.objects.filter(action="adaptation.changed").count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"adapted_on": dt.date(2999, 1, 1)}, "adapted_on"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 1001}, "description"),
    ],
)
def test_adaptations_are_validated(world: World, values: dict[str, object], field: str) -> None:
    with pytest.raises(TrialError) as refused:
        note(world, **values)
    assert refused.value.field == field
    assert (
        not Adaptation.objects.exists()
        and not AuditEvent.objects.filter(action="adaptation.created").exists()
    )


def test_site_and_component_must_belong_to_the_trial(world: World) -> None:
    other_site = world.other_trial.sites.get()
    other_component = Component.objects.create(trial=world.other_trial, code="x", name="X")
    with pytest.raises(TrialError) as refused:
        note(world, site=other_site)
    assert refused.value.field == "site"
    with pytest.raises(TrialError) as refused:
        note(world, component=other_component)
    assert refused.value.field == "component"


def test_coordinator_notes_and_corrects_an_adaptation_in_the_browser(
    world: World, component: Component
) -> None:
    client = world.client("coordinator")
    assert "Note an adaptation" in client.get(PAGE).content.decode()
    response = client.post(
        PAGE,
        {
            "site": "",
            "adapted_on": "2025-02-01",
            "component": component.pk,
            "description": "Video meetings with the health teams.",
        },
    )
    assert response.status_code == 302
    adaptation = Adaptation.objects.get()
    assert adaptation.site is None and adaptation.component == component
    page = client.get(PAGE).content.decode()
    assert "Video meetings with the health teams." in page and "Whole trial" in page
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    page = client.post(PAGE, {"adapted_on": future, "description": "Later."}).content.decode()
    assert "The date cannot be in the future." in page
    edit = f"{PAGE}{adaptation.pk}/edit/"
    assert client.get(edit).status_code == 200
    response = client.post(
        edit,
        {
            "site": world.sites[1].pk,
            "adapted_on": "2025-02-01",
            "component": "",
            "description": "Video meetings with the health team at one office.",
        },
    )
    assert response.status_code == 302
    adaptation.refresh_from_db()
    assert adaptation.site == world.sites[1] and adaptation.component is None
    page = client.post(edit, {"adapted_on": "2025-02-01", "description": ""}).content.decode()
    assert "This field is required." in page


def test_who_may_read_and_write_adaptations_in_the_browser(world: World) -> None:
    note(world, site=world.sites[0], description="At the caseworker's office.")
    note(world, site=world.sites[1], description="At another office.")
    note(world, site=None, description="Across the trial.")
    caseworker = world.client("caseworker")  # sees allocations, at site 0 only
    page = caseworker.get(PAGE).content.decode()
    assert "At the caseworker&#x27;s office." in page and "Across the trial." in page
    assert "At another office." not in page and "Note an adaptation" not in page
    assert (
        caseworker.post(PAGE, {"adapted_on": "2025-01-01", "description": "x"}).status_code == 403
    )
    other = Adaptation.objects.get(description="At another office.")
    assert caseworker.get(f"{PAGE}{other.pk}/edit/").status_code == 403
    assert world.client("statistician").get(PAGE).status_code == 403  # blinded
    assert world.client("outsider").get(PAGE).status_code == 404
    assert Adaptation.objects.count() == 3


def test_adaptations_through_the_api(world: World, component: Component) -> None:
    coordinator = api_for(world, "coordinator")
    created = coordinator.post(
        API,
        {
            "site": "OSLA",
            "adapted_on": "2025-02-01",
            "component": "rapid_search",
            "description": "First contact within four weeks.",
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["site"] == "OSLA" and body["component"] == "rapid_search"
    assert created["Location"].endswith(f"{API}{body['id']}/")
    changed = coordinator.put(
        f"{API}{body['id']}/",
        {"site": None, "adapted_on": "2025-02-01", "description": "Across the trial now."},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["site"] is None
    assert changed.json()["component"] is None
    assert AuditEvent.objects.filter(action="adaptation.changed").count() == 1
    bad = coordinator.post(
        API,
        {"site": "TRD", "adapted_on": "2999-01-01", "description": ""},
        format="json",
    )
    assert bad.status_code == 400
    assert "site" in str(bad.json()) and "description" in str(bad.json())
    future = coordinator.post(API, {"adapted_on": "2999-01-01", "description": "x"}, format="json")
    assert future.status_code == 400 and "adapted_on" in str(future.json())
    listed = api_for(world, "monitor").get(API).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["description"] for row in rows] == ["Across the trial now."]
    assert api_for(world, "monitor").post(API, {}, format="json").status_code == 403
    assert api_for(world, "statistician").get(API).status_code == 403
    assert api_for(world, "outsider").get(API).status_code == 404
    assert Adaptation.objects.count() == 1


def test_fidelity_page_links_to_adaptations(world: World) -> None:
    page = world.client("reviewer").get("/trials/ips/fidelity/reviews/").content.decode()
    assert PAGE in page


def test_a_resubmitted_adaptation_is_recorded_once(world: World, component: Component) -> None:
    """A double click on the form, or a retried API request, with the same client id."""
    client = world.client("coordinator")
    page = client.get(PAGE)
    client_id = page.context["form"]["client_id"].value()
    assert f'value="{client_id}"' in page.content.decode()
    data = {
        "site": world.sites[0].pk,
        "adapted_on": "2025-03-01",
        "description": "Employer visits paused for six weeks.",
        "client_id": str(client_id),
    }
    for _ in range(2):
        assert client.post(PAGE, data).status_code == 302
    assert Adaptation.objects.count() == 1
    assert AuditEvent.objects.filter(action="adaptation.created").count() == 1
    # The same id for something else is refused where the coordinator can see it.
    other = client.post(PAGE, {**data, "description": "Something else."})
    assert "different adaptation" in other.context["form"].non_field_errors()[0]
    assert "different adaptation" in other.content.decode()
    api = api_for(world, "coordinator")
    body = {
        "adapted_on": "2025-02-01",
        "description": "First contact within four weeks.",
        "client_id": "7d1c0a52-2f7e-4a53-b8f1-0c9a4e3d2b11",
    }
    first = api.post(API, body, format="json")
    again = api.post(API, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    changed = api.post(API, {**body, "description": "Changed."}, format="json")
    assert changed.status_code == 400 and "client_id" in changed.json()["errors"]
    assert Adaptation.objects.count() == 2
