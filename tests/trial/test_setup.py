"""Trial set-up in the browser: who may use it, each section's happy path and field errors,
the locks once a trial recruits, and the audit events written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.conftest import PERSONAS, World
from trial.models import (
    Arm,
    AuditEvent,
    CovariateDefinition,
    ExclusionReason,
    Membership,
    ScreeningRecord,
    Site,
    Trial,
    VisitDefinition,
)
from trial.services import TrialError
from trial.setup import services

BASE = "/trials/ips/setup/"


@pytest.fixture
def setup_world(world: World) -> World:
    """The world, plus one exclusion reason, covariate and visit to edit."""
    ExclusionReason.objects.create(trial=world.trial, code="no_consent", label="No consent")
    CovariateDefinition.objects.create(
        trial=world.trial,
        key="sex",
        label="Sex",
        kind=CovariateDefinition.Kind.CHOICE,
        choices=[["f", "Female"], ["m", "Male"]],
    )
    VisitDefinition.objects.create(trial=world.trial, code="m6", label="6 months", offset_months=6)
    return world


def _ids(world: World) -> dict[str, int]:
    trial = world.trial
    return {
        "arm": trial.arms.get(code="A").pk,
        "site": world.sites[0].pk,
        "member": Membership.objects.get(trial=trial, user=world.users["monitor"]).pk,
        "reason": trial.exclusion_reasons.get().pk,
        "covariate": trial.covariates.get().pk,
        "visit": trial.visit_definitions.get().pk,
    }


PAGES = [
    "",
    "settings/",
    "arms/new/",
    "arms/{arm}/",
    "arms/{arm}/remove/",
    "sites/new/",
    "sites/{site}/",
    "sites/{site}/remove/",
    "members/new/",
    "members/{member}/",
    "members/{member}/remove/",
    "exclusion-reasons/new/",
    "exclusion-reasons/{reason}/",
    "exclusion-reasons/{reason}/remove/",
    "covariates/new/",
    "covariates/{covariate}/",
    "covariates/{covariate}/remove/",
    "visits/new/",
    "visits/{visit}/",
    "visits/{visit}/remove/",
]


def recruiting(world: World) -> Trial:
    Trial.objects.filter(pk=world.trial.pk).update(status=Trial.Status.RECRUITING)
    world.trial.refresh_from_db()
    return world.trial


def field_error(response: Any, field: str) -> str:
    """The error shown next to ``field``; asserts it is rendered there."""
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert f'id="id_{field}_error"' in response.content.decode()
    return " ".join(errors[field])


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_outsider_gets_404_on_every_setup_page(setup_world: World, page: str) -> None:
    url = BASE + page.format(**_ids(setup_world))
    client = setup_world.client("outsider")
    assert client.get(url).status_code == 404
    assert client.post(url, {}).status_code == 404


def test_outsider_gets_404_on_status_change(setup_world: World) -> None:
    response = setup_world.client("outsider").post(BASE + "status/", {"status": "recruiting"})
    assert response.status_code == 404


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "coordinator"])
@pytest.mark.parametrize("page", PAGES)
def test_other_roles_get_403_on_every_setup_page(
    setup_world: World, persona: str, page: str
) -> None:
    url = BASE + page.format(**_ids(setup_world))
    assert setup_world.client(persona).get(url).status_code == 403


def test_caseworker_cannot_change_anything(setup_world: World) -> None:
    client = setup_world.client("caseworker")
    assert client.post(BASE + "status/", {"status": "recruiting"}).status_code == 403
    response = client.post(BASE + "arms/new/", {"code": "C", "name": "X", "allocation_weight": 1})
    assert response.status_code == 403
    assert not Arm.objects.filter(code="C").exists()


def test_coordinator_sees_every_setup_page(setup_world: World) -> None:
    client = setup_world.client("coordinator")
    for page in PAGES:
        response = client.get(BASE + page.format(**_ids(setup_world)))
        assert response.status_code == 200, page


def test_setup_is_in_the_trial_menu_for_coordinators_only(world: World) -> None:
    url = reverse("trial:setup:overview", args=["ips"])
    response = world.client("coordinator").get("/trials/ips/")
    assert any(item["url"] == url for item in response.context["trial_nav"])
    response = world.client("caseworker").get("/trials/ips/")
    assert all(item["url"] != url for item in response.context["trial_nav"])


def test_overview_lists_every_section(setup_world: World) -> None:
    response = setup_world.client("coordinator").get(BASE)
    content = response.content.decode()
    for text in ("OSLA", "Usual services", "monitor", "No consent", "sex", "6 months"):
        assert text in content


# New trial ---------------------------------------------------------------------------------


def coordinator_with_add_permission(world: World) -> Client:
    user = world.users["outsider"]
    user.user_permissions.add(Permission.objects.get(codename="add_trial"))
    return world.client("outsider")


def test_new_trial_needs_the_add_trial_permission(world: World) -> None:
    assert world.client("coordinator").get("/trials/new/").status_code == 403
    assert Client().get("/trials/new/").status_code == 302  # to the login page


def test_new_trial_link_on_home_page_only_with_permission(world: World) -> None:
    assert b"/trials/new/" not in world.client("outsider").get("/").content
    client = coordinator_with_add_permission(world)
    Membership.objects.create(trial=world.trial, user=world.users["outsider"], role="monitor")
    assert b"/trials/new/" in client.get("/").content


def test_creating_a_trial_makes_the_creator_its_coordinator(world: World) -> None:
    client = coordinator_with_add_permission(world)
    response = client.post(
        "/trials/new/",
        {
            "code": "ips-young",
            "title": "IPS for young adults",
            "registry_id": "NCT01234567",
            "design": Trial.Design.CLUSTER,
            "target_size": 240,
            "description": "",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/trials/ips-young/setup/"
    trial = Trial.objects.get(code="ips-young")
    assert trial.status == Trial.Status.SETUP
    assert trial.design == Trial.Design.CLUSTER
    membership = Membership.objects.get(trial=trial, user=world.users["outsider"])
    assert membership.role == Membership.Role.COORDINATOR
    created = AuditEvent.objects.filter(trial=trial).values_list("action", flat=True)
    assert set(created) == {"trial.created", "membership.created"}
    assert client.get("/trials/ips-young/setup/").status_code == 200


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ips", "exists already"), ("new", "reserved"), ("not a slug", "")],
)
def test_new_trial_with_bad_code_shows_field_error_and_creates_nothing(
    world: World, code: str, expected: str
) -> None:
    client = coordinator_with_add_permission(world)
    before = Trial.objects.count()
    response = client.post(
        "/trials/new/",
        {"code": code, "title": "X", "design": "individual", "target_size": 10},
    )
    assert expected in field_error(response, "code")
    assert Trial.objects.count() == before


# Settings and status -----------------------------------------------------------------------


def test_editing_settings_is_audited_with_before_and_after(world: World) -> None:
    response = world.client("coordinator").post(
        BASE + "settings/",
        {"title": "IPS trial, revised", "registry_id": "", "design": "individual",
         "target_size": 150, "description": ""},
    )  # fmt: skip
    assert response.status_code == 302
    world.trial.refresh_from_db()
    assert world.trial.title == "IPS trial, revised"
    (event,) = events("trial.changed")
    assert event.data["changes"]["title"] == ["IPS trial", "IPS trial, revised"]
    assert event.data["changes"]["target_size"] == [100, 150]


def test_settings_with_invalid_target_shows_field_error(world: World) -> None:
    response = world.client("coordinator").post(
        BASE + "settings/",
        {"title": "X", "registry_id": "", "design": "individual", "target_size": 0},
    )
    field_error(response, "target_size")
    world.trial.refresh_from_db()
    assert world.trial.title == "IPS trial"
    assert not events("trial.changed")


def test_design_is_locked_once_recruiting(world: World) -> None:
    recruiting(world)
    response = world.client("coordinator").post(
        BASE + "settings/",
        {"title": "IPS trial", "registry_id": "", "design": "cluster", "target_size": 100},
    )
    assert "The trial is recruiting" in field_error(response, "design")


def test_coordinator_moves_trial_to_recruiting(world: World) -> None:
    response = world.client("coordinator").post(
        BASE + "status/", {"status": "recruiting"}, follow=True
    )
    world.trial.refresh_from_db()
    assert world.trial.status == Trial.Status.RECRUITING
    assert "The trial is now: Recruiting." in messages_of(response)
    (event,) = events("trial.changed")
    assert event.data["changes"]["status"] == ["setup", "recruiting"]


def test_recruiting_needs_exactly_one_control_arm(world: World) -> None:
    Arm.objects.filter(trial=world.trial).update(is_control=False)
    response = world.client("coordinator").post(
        BASE + "status/", {"status": "recruiting"}, follow=True
    )
    world.trial.refresh_from_db()
    assert world.trial.status == Trial.Status.SETUP
    (message,) = messages_of(response)
    assert "cannot start recruiting yet" in message
    assert "exactly one arm as the control" in message


def test_recruiting_needs_two_arms_and_a_site(db: None) -> None:
    trial = Trial.objects.create(code="bare", title="Bare")
    user = factories.make_user()
    with pytest.raises(TrialError) as caught:
        services.change_trial_status(trial, Trial.Status.RECRUITING, actor=user)
    assert "at least two arms" in caught.value.message
    assert "at least one site" in caught.value.message


def test_status_cannot_go_back_to_setup(world: World) -> None:
    recruiting(world)
    response = world.client("coordinator").post(BASE + "status/", {"status": "setup"}, follow=True)
    world.trial.refresh_from_db()
    assert world.trial.status == Trial.Status.RECRUITING
    assert messages_of(response) == ["Choose one of the statuses offered."]
    with pytest.raises(TrialError):
        services.change_trial_status(world.trial, "setup", actor=world.users["coordinator"])


# Arms --------------------------------------------------------------------------------------


def arm_data(**overrides: Any) -> dict[str, Any]:
    data = {"code": "C", "name": "IPS light", "allocation_weight": 1, "description": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not False}


def test_coordinator_adds_edits_and_removes_an_arm(world: World) -> None:
    client = world.client("coordinator")
    response = client.post(BASE + "arms/new/", arm_data(allocation_weight=2))
    assert response.status_code == 302
    arm = Arm.objects.get(trial=world.trial, code="C")
    assert arm.allocation_weight == 2
    assert events("arm.created")[0].data["after"]["code"] == "C"

    response = client.post(BASE + f"arms/{arm.pk}/", arm_data(name="IPS lite", allocation_weight=2))
    assert response.status_code == 302
    (changed,) = events("arm.changed")
    assert changed.data["changes"] == {"name": ["IPS light", "IPS lite"]}

    response = client.post(BASE + f"arms/{arm.pk}/remove/")
    assert response.status_code == 302
    assert not Arm.objects.filter(pk=arm.pk).exists()
    assert events("arm.deleted")[0].data["before"]["name"] == "IPS lite"


def test_duplicate_arm_code_shows_field_error_and_writes_nothing(world: World) -> None:
    response = world.client("coordinator").post(BASE + "arms/new/", arm_data(code="A"))
    assert "already" in field_error(response, "code")
    assert world.trial.arms.count() == 2
    assert not events("arm.created")


def test_second_control_arm_is_refused(world: World) -> None:
    response = world.client("coordinator").post(BASE + "arms/new/", arm_data(is_control="on"))
    assert "Arm B is the control arm already" in field_error(response, "is_control")


def test_arms_cannot_be_added_once_recruiting(world: World) -> None:
    recruiting(world)
    response = world.client("coordinator").post(BASE + "arms/new/", arm_data())
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "The trial is recruiting: adding an arm would corrupt the allocation sequence."
    ]
    assert not Arm.objects.filter(code="C").exists()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("allocation_weight", 3, "changing allocation weights would corrupt the allocation"),
        ("code", "Z", "changing an arm's code would corrupt the allocation records"),
        ("is_control", "on", "changing the control arm would corrupt the allocation"),
    ],
)
def test_arm_allocation_fields_are_locked_once_recruiting(
    world: World, field: str, value: Any, expected: str
) -> None:
    recruiting(world)
    arm = world.trial.arms.get(code="A")
    data = {**arm_data(code="A", name="Intervention"), field: value}
    response = world.client("coordinator").post(BASE + f"arms/{arm.pk}/", data)
    assert field_error(response, field).startswith(f"The trial is recruiting: {expected}")
    arm.refresh_from_db()
    assert (arm.code, arm.allocation_weight, arm.is_control) == ("A", 1, False)
    assert not events("arm.changed")


def test_arm_name_can_change_once_recruiting(world: World) -> None:
    recruiting(world)
    arm = world.trial.arms.get(code="A")
    response = world.client("coordinator").post(
        BASE + f"arms/{arm.pk}/", arm_data(code="A", name="IPS")
    )
    assert response.status_code == 302
    arm.refresh_from_db()
    assert arm.name == "IPS"


def test_arms_cannot_be_removed_once_recruiting(world: World) -> None:
    recruiting(world)
    arm = world.trial.arms.get(code="A")
    response = world.client("coordinator").post(BASE + f"arms/{arm.pk}/remove/", follow=True)
    assert messages_of(response) == [
        "The trial is recruiting: removing an arm would corrupt the allocation sequence."
    ]
    assert Arm.objects.filter(pk=arm.pk).exists()


# Sites -------------------------------------------------------------------------------------


def site_data(**overrides: Any) -> dict[str, Any]:
    data = {"code": "TRD", "name": "NAV Trondheim", "municipality_number": "5001",
            "region": "Trøndelag"}  # fmt: skip
    data.update(overrides)
    return data


def test_coordinator_adds_edits_and_removes_a_site(world: World) -> None:
    recruiting(world)  # sites can be added at any time
    client = world.client("coordinator")
    assert client.post(BASE + "sites/new/", site_data()).status_code == 302
    site = Site.objects.get(trial=world.trial, code="TRD")
    assert events("site.created")[0].target_id == str(site.pk)

    response = client.post(BASE + f"sites/{site.pk}/", site_data(name="NAV Midtbyen"))
    assert response.status_code == 302
    (changed,) = events("site.changed")
    assert changed.data["changes"] == {"name": ["NAV Trondheim", "NAV Midtbyen"]}

    assert client.post(BASE + f"sites/{site.pk}/remove/").status_code == 302
    assert not Site.objects.filter(pk=site.pk).exists()
    assert events("site.deleted")[0].data["before"]["code"] == "TRD"


def test_invalid_municipality_number_shows_field_error(world: World) -> None:
    response = world.client("coordinator").post(
        BASE + "sites/new/", site_data(municipality_number="50")
    )
    assert "four digits" in field_error(response, "municipality_number")
    assert not Site.objects.filter(code="TRD", trial=world.trial).exists()


def test_site_with_participants_cannot_be_removed(world: World) -> None:
    site = world.sites[0]
    response = world.client("coordinator").post(BASE + f"sites/{site.pk}/remove/", follow=True)
    assert messages_of(response) == [
        "Site OSLA has participants or screening records; it cannot be removed without losing "
        "their data."
    ]
    assert Site.objects.filter(pk=site.pk).exists()
    assert not events("site.deleted")


def test_site_with_screening_records_cannot_be_removed(world: World) -> None:
    site = factories.make_site(world.trial, "EMPTY")
    ScreeningRecord.objects.create(
        trial=world.trial, site=site, screened_on=dt.date(2025, 3, 1), eligible=True
    )
    with pytest.raises(TrialError, match="screening records"):
        services.remove_site(site, actor=world.users["coordinator"])


def test_site_code_is_fixed_once_people_are_enrolled(world: World) -> None:
    site = world.sites[0]
    response = world.client("coordinator").post(
        BASE + f"sites/{site.pk}/", site_data(code="OSLX", name=site.name)
    )
    assert "study ids" in field_error(response, "code")


# Members -----------------------------------------------------------------------------------


def test_coordinator_adds_a_caseworker_limited_to_a_site(world: World) -> None:
    factories.make_user("newcomer")
    response = world.client("coordinator").post(
        BASE + "members/new/",
        {"username": "newcomer", "role": "caseworker", "sites": [world.sites[1].pk]},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(trial=world.trial, user__username="newcomer")
    assert membership.role == Membership.Role.CASEWORKER
    assert [s.code for s in membership.sites.all()] == ["OSLB"]
    (event,) = events("membership.created")
    assert event.data["after"]["sites"] == ["OSLB"]


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"username": "newcomer", "role": "caseworker"}, "sites", "Choose the sites"),
        (
            {"username": "newcomer", "role": "fidelity_reviewer", "unblinded": "on"},
            "unblinded",
            "Only a statistician can be unblinded",
        ),
        ({"username": "nobody", "role": "monitor"}, "username", "no active user"),
        ({"username": "monitor", "role": "monitor"}, "username", "member of the trial already"),
    ],
)
def test_invalid_membership_shows_field_error_and_writes_nothing(
    world: World, data: dict[str, Any], field: str, expected: str
) -> None:
    factories.make_user("newcomer")
    before = Membership.objects.count()
    response = world.client("coordinator").post(BASE + "members/new/", data)
    assert expected in field_error(response, field)
    assert Membership.objects.count() == before
    assert not events("membership.created")


def test_statistician_can_be_made_unblinded_and_it_is_audited(world: World) -> None:
    membership = Membership.objects.get(trial=world.trial, user=world.users["statistician"])
    response = world.client("coordinator").post(
        BASE + f"members/{membership.pk}/", {"role": "statistician", "unblinded": "on"}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.unblinded
    (event,) = events("membership.changed")
    assert event.data["changes"] == {"unblinded": [False, True]}


def test_caseworker_sites_change_is_audited(world: World) -> None:
    membership = Membership.objects.get(trial=world.trial, user=world.users["caseworker"])
    response = world.client("coordinator").post(
        BASE + f"members/{membership.pk}/",
        {"role": "caseworker", "sites": [world.sites[0].pk, world.sites[2].pk]},
    )
    assert response.status_code == 302
    (event,) = events("membership.changed")
    assert event.data["changes"] == {"sites": [["OSLA"], ["BGO", "OSLA"]]}


def test_coordinator_removes_a_member(world: World) -> None:
    membership = Membership.objects.get(trial=world.trial, user=world.users["monitor"])
    response = world.client("coordinator").post(BASE + f"members/{membership.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert events("membership.deleted")[0].data["before"]["role"] == "monitor"
    assert world.client("monitor").get("/trials/ips/").status_code == 404


def test_last_coordinator_cannot_be_removed_or_demoted(world: World) -> None:
    membership = Membership.objects.get(trial=world.trial, user=world.users["coordinator"])
    client = world.client("coordinator")
    response = client.post(BASE + f"members/{membership.pk}/remove/", follow=True)
    assert messages_of(response) == [
        "This is the trial's only coordinator; make someone else coordinator first."
    ]
    response = client.post(BASE + f"members/{membership.pk}/", {"role": "monitor"})
    assert "only coordinator" in field_error(response, "role")
    membership.refresh_from_db()
    assert membership.role == Membership.Role.COORDINATOR


# Exclusion reasons -------------------------------------------------------------------------


def test_coordinator_adds_edits_and_removes_exclusion_reasons(setup_world: World) -> None:
    recruiting(setup_world)  # reasons can be added at any time
    client = setup_world.client("coordinator")
    data = {"code": "too_old", "label": "Over 30", "order": 2}
    assert client.post(BASE + "exclusion-reasons/new/", data).status_code == 302
    reason = ExclusionReason.objects.get(code="too_old")
    response = client.post(
        BASE + f"exclusion-reasons/{reason.pk}/", {**data, "label": "Aged 30 or over"}
    )
    assert response.status_code == 302
    (event,) = events("exclusionreason.changed")
    assert event.data["changes"] == {"label": ["Over 30", "Aged 30 or over"]}
    assert client.post(BASE + f"exclusion-reasons/{reason.pk}/remove/").status_code == 302
    assert not ExclusionReason.objects.filter(pk=reason.pk).exists()
    assert events("exclusionreason.deleted")


def test_duplicate_exclusion_reason_code_shows_field_error(setup_world: World) -> None:
    response = setup_world.client("coordinator").post(
        BASE + "exclusion-reasons/new/", {"code": "no_consent", "label": "Again", "order": 0}
    )
    assert "already" in field_error(response, "code")
    assert setup_world.trial.exclusion_reasons.count() == 1


def test_exclusion_reason_in_use_cannot_be_removed(setup_world: World) -> None:
    reason = setup_world.trial.exclusion_reasons.get()
    ScreeningRecord.objects.create(
        trial=setup_world.trial,
        site=setup_world.sites[0],
        screened_on=dt.date(2025, 3, 1),
        eligible=False,
        exclusion_reason=reason,
    )
    response = setup_world.client("coordinator").post(
        BASE + f"exclusion-reasons/{reason.pk}/remove/", follow=True
    )
    assert messages_of(response) == [
        "Screening records use the reason “No consent”; it cannot be removed."
    ]
    assert ExclusionReason.objects.filter(pk=reason.pk).exists()


# Covariates --------------------------------------------------------------------------------


def covariate_data(**overrides: Any) -> dict[str, Any]:
    data = {"key": "sex", "label": "Sex", "kind": "choice", "choices": "f | Female\nm | Male",
            "min_value": "", "max_value": "", "required": "on", "order": 0}  # fmt: skip
    data.update(overrides)
    return data


def test_coordinator_adds_a_choice_covariate(world: World) -> None:
    response = world.client("coordinator").post(BASE + "covariates/new/", covariate_data())
    assert response.status_code == 302
    covariate = CovariateDefinition.objects.get(trial=world.trial, key="sex")
    assert covariate.choices == [["f", "Female"], ["m", "Male"]]
    assert events("covariatedefinition.created")[0].data["after"]["kind"] == "choice"


def test_coordinator_adds_a_numeric_covariate_with_limits(world: World) -> None:
    data = covariate_data(key="age", label="Age", kind="integer", choices="",
                          min_value="18", max_value="29")  # fmt: skip
    assert world.client("coordinator").post(BASE + "covariates/new/", data).status_code == 302
    covariate = CovariateDefinition.objects.get(trial=world.trial, key="age")
    assert (covariate.min_value, covariate.max_value) == (Decimal(18), Decimal(29))


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"choices": "f Female"}, "choices", "Line 1"),
        ({"choices": ""}, "choices", "at least one option"),
        ({"kind": "integer", "choices": "", "min_value": "5", "max_value": "1"}, "max_value",
         "below the minimum"),
    ],
)  # fmt: skip
def test_invalid_covariate_shows_field_error_and_writes_nothing(
    world: World, overrides: dict[str, Any], field: str, expected: str
) -> None:
    response = world.client("coordinator").post(
        BASE + "covariates/new/", covariate_data(**overrides)
    )
    assert expected in field_error(response, field)
    assert not world.trial.covariates.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"key": "gender"}, "key", "changing a covariate's key"),
        ({"kind": "boolean", "choices": ""}, "kind", "changing a covariate's type"),
        ({"choices": "f | Female"}, "choices", "removing the option m"),
    ],
)
def test_covariate_key_type_and_options_are_locked_once_recruiting(
    setup_world: World, overrides: dict[str, Any], field: str, expected: str
) -> None:
    recruiting(setup_world)
    covariate = setup_world.trial.covariates.get()
    response = setup_world.client("coordinator").post(
        BASE + f"covariates/{covariate.pk}/", covariate_data(**overrides)
    )
    assert field_error(response, field).startswith(f"The trial is recruiting: {expected}")
    assert not events("covariatedefinition.changed")


def test_covariate_label_and_new_option_allowed_once_recruiting(setup_world: World) -> None:
    recruiting(setup_world)
    covariate = setup_world.trial.covariates.get()
    data = covariate_data(label="Sex at birth", choices="f | Female\nm | Male\nx | Other")
    response = setup_world.client("coordinator").post(BASE + f"covariates/{covariate.pk}/", data)
    assert response.status_code == 302
    (event,) = events("covariatedefinition.changed")
    assert event.data["changes"]["label"] == ["Sex", "Sex at birth"]


def test_covariate_cannot_be_removed_once_recruiting(setup_world: World) -> None:
    recruiting(setup_world)
    covariate = setup_world.trial.covariates.get()
    response = setup_world.client("coordinator").post(
        BASE + f"covariates/{covariate.pk}/remove/", follow=True
    )
    assert messages_of(response) == [
        "The trial is recruiting: removing a covariate would lose the data collected for it."
    ]
    assert CovariateDefinition.objects.filter(pk=covariate.pk).exists()


def test_covariate_can_be_removed_in_setup(setup_world: World) -> None:
    covariate = setup_world.trial.covariates.get()
    client = setup_world.client("coordinator")
    assert client.post(BASE + f"covariates/{covariate.pk}/remove/").status_code == 302
    assert events("covariatedefinition.deleted")[0].data["before"]["key"] == "sex"


# Follow-up schedule ------------------------------------------------------------------------


def visit_data(**overrides: Any) -> dict[str, Any]:
    data = {"code": "m12", "label": "12 months", "offset_months": 12, "window_before_days": 14,
            "window_after_days": 30}  # fmt: skip
    data.update(overrides)
    return data


def test_coordinator_adds_edits_and_removes_a_visit(setup_world: World) -> None:
    client = setup_world.client("coordinator")
    assert client.post(BASE + "visits/new/", visit_data()).status_code == 302
    visit = VisitDefinition.objects.get(trial=setup_world.trial, code="m12")
    assert events("visitdefinition.created")[0].data["after"]["offset_months"] == 12
    response = client.post(BASE + f"visits/{visit.pk}/", visit_data(window_after_days=45))
    assert response.status_code == 302
    (event,) = events("visitdefinition.changed")
    assert event.data["changes"] == {"window_after_days": [30, 45]}
    assert client.post(BASE + f"visits/{visit.pk}/remove/").status_code == 302
    assert events("visitdefinition.deleted")


def test_invalid_visit_shows_field_error_and_writes_nothing(setup_world: World) -> None:
    client = setup_world.client("coordinator")
    response = client.post(BASE + "visits/new/", visit_data(window_before_days=-1))
    field_error(response, "window_before_days")
    response = client.post(BASE + "visits/new/", visit_data(offset_months=6))
    assert "at this month already" in field_error(response, "offset_months")
    assert setup_world.trial.visit_definitions.count() == 1


@pytest.mark.parametrize(
    "overrides",
    [{"offset_months": 7}, {"window_before_days": 7}, {"window_after_days": 60}, {"code": "m06"}],
)
def test_visit_timing_is_locked_once_recruiting(
    setup_world: World, overrides: dict[str, Any]
) -> None:
    recruiting(setup_world)
    visit = setup_world.trial.visit_definitions.get()
    data = {**visit_data(code="m6", label="6 months", offset_months=6), **overrides}
    response = setup_world.client("coordinator").post(BASE + f"visits/{visit.pk}/", data)
    (field,) = overrides
    assert field_error(response, field) == (
        "The trial is recruiting: changing the schedule would move visits participants "
        "already have."
    )
    assert not events("visitdefinition.changed")


def test_visit_label_and_a_later_visit_allowed_once_recruiting(setup_world: World) -> None:
    recruiting(setup_world)
    visit = setup_world.trial.visit_definitions.get()
    client = setup_world.client("coordinator")
    data = visit_data(code="m6", label="Six months", offset_months=6)
    assert client.post(BASE + f"visits/{visit.pk}/", data).status_code == 302
    assert client.post(BASE + "visits/new/", visit_data()).status_code == 302
    assert setup_world.trial.visit_definitions.count() == 2


def test_earlier_visit_and_removal_refused_once_recruiting(setup_world: World) -> None:
    recruiting(setup_world)
    client = setup_world.client("coordinator")
    response = client.post(BASE + "visits/new/", visit_data(code="m3", offset_months=3))
    assert "must come after the last one (month 6)" in field_error(response, "offset_months")
    visit = setup_world.trial.visit_definitions.get()
    response = client.post(BASE + f"visits/{visit.pk}/remove/", follow=True)
    assert messages_of(response) == [
        "The trial is recruiting: removing a visit would orphan visits participants already have."
    ]
    assert setup_world.trial.visit_definitions.count() == 1


def test_lock_messages_name_the_status(world: World) -> None:
    Trial.objects.filter(pk=world.trial.pk).update(status=Trial.Status.FOLLOW_UP)
    world.trial.refresh_from_db()
    arm = world.trial.arms.get(code="A")
    with pytest.raises(TrialError) as caught:
        services.remove_arm(arm, actor=world.users["coordinator"])
    assert caught.value.message.startswith("The trial is in follow-up: ")


def test_lock_notes_are_in_the_reader_s_language(setup_world: World) -> None:
    """The notes on an edit page after set-up are translated when the page is shown (they were
    once translated when the module was imported, so always in English)."""
    recruiting(setup_world)
    client = setup_world.client("coordinator")
    client.post("/i18n/setlang/", {"language": "nb", "next": BASE})
    ids = _ids(setup_world)
    for page, note in (
        (f"arms/{ids['arm']}/", "Studien er ute av oppsett: bare navn og beskrivelse kan endres"),
        (f"covariates/{ids['covariate']}/", "Studien er ute av oppsett: nøkkel og type"),
        (f"visits/{ids['visit']}/", "Studien er ute av oppsett: bare etiketten kan endres."),
    ):
        assert note in client.get(BASE + page).content.decode(), page
