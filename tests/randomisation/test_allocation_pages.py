"""Randomising in the browser and through the API, with the permission layer and blinding."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from randomisation.allocation import services as allocation_services
from randomisation.allocation import verification
from randomisation.models import Allocation, AllocationFlag, Scheme, Unblinding
from randomisation.schemes import services as scheme_services
from tests.conftest import World, api_token
from trial.models import AuditEvent, Participant, Trial


@pytest.fixture
def ready(world: World) -> World:
    """The world's trial recruiting, with a locked block scheme and consented participants."""
    trial = world.trial
    trial.status = Trial.Status.RECRUITING
    trial.save()
    Participant.objects.filter(trial=trial).update(
        consent_version="v1", consent_date=dt.date(2025, 3, 1)
    )
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[2, 4], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=world.users["coordinator"])
    world.users["coordinator"].email = "coord@example.org"
    world.users["coordinator"].save()
    return world


def url(name: str, world: World, participant: Participant) -> str:
    return reverse(f"randomisation:{name}", args=[world.trial.code, participant.study_id])


def test_coordinator_randomises_in_the_browser(ready: World) -> None:
    participant = ready.participants["OSLA"][0]
    client = ready.client("coordinator")
    page = client.get(url("randomise", ready, participant))
    assert page.status_code == 200 and b"Randomise now" in page.content
    token = page.context["form"]["token"].value()
    missing = client.post(url("randomise", ready, participant), {"token": token})
    assert missing.status_code == 200 and "confirm" in missing.context["form"].errors
    assert not Allocation.objects.exists()
    done = client.post(url("randomise", ready, participant), {"token": token, "confirm": "on"})
    assert done.status_code == 302
    allocation = Allocation.objects.get(participant=participant)
    # A double submission of the same form gives the same allocation, not a second one.
    again = client.post(url("randomise", ready, participant), {"token": token, "confirm": "on"})
    assert again.status_code == 302 and Allocation.objects.count() == 1
    shown = client.get(participant.get_absolute_url())
    assert allocation.arm.name in shown.content.decode()
    assert "Randomised to" in shown.content.decode()  # the timeline entry
    assert "Not randomised yet" not in shown.content.decode()  # the panel
    assert f"#{allocation.sequence}" in shown.content.decode()
    assert AuditEvent.objects.filter(action="participant.randomised").count() == 1


def test_the_page_explains_why_a_participant_cannot_be_randomised(ready: World) -> None:
    participant = ready.participants["OSLA"][0]
    Participant.objects.filter(pk=participant.pk).update(consent_date=None)
    page = ready.client("coordinator").get(url("randomise", ready, participant))
    assert "no recorded consent" in page.content.decode()
    assert b"Randomise now" not in page.content


@pytest.mark.parametrize(
    ("persona", "status"), [("caseworker", 403), ("statistician", 403), ("outsider", 404)]
)
def test_only_randomisers_may_randomise(ready: World, persona: str, status: int) -> None:
    participant = ready.participants["OSLA"][0]
    response = ready.client(persona).post(
        url("randomise", ready, participant), {"token": "t", "confirm": "on"}
    )
    assert response.status_code == status
    assert not Allocation.objects.exists()


def test_blinded_statistician_sees_the_arm_code_only(ready: World) -> None:
    participant = ready.participants["OSLA"][0]
    allocation = allocation_services.randomise(
        participant, actor=ready.users["coordinator"]
    ).allocation
    page = ready.client("statistician").get(participant.get_absolute_url())
    text = page.content.decode()
    assert f"Randomised to {allocation.arm.code}" in text
    assert allocation.arm.name not in text


def test_manual_allocation_and_in_error_flag(ready: World) -> None:
    participant = ready.participants["OSLB"][0]
    client = ready.client("coordinator")
    arm = ready.trial.arms.get(code="B")
    bad = client.post(
        url("manual", ready, participant),
        {"arm": arm.pk, "on": "2999-01-01", "reference": "ENV-17", "reason": "Network down"},
    )
    assert bad.status_code == 200 and "on" in bad.context["form"].errors
    ok = client.post(
        url("manual", ready, participant),
        {"arm": arm.pk, "on": "2025-03-02", "reference": "ENV-17", "reason": "Network down"},
    )
    assert ok.status_code == 302
    allocation = Allocation.objects.get(participant=participant)
    assert (allocation.source, allocation.reference, allocation.arm) == ("manual", "ENV-17", arm)
    flag_url = reverse("randomisation:in_error", args=[ready.trial.code, allocation.sequence])
    client.post(flag_url, {"reason": "Was not eligible after all"})
    assert AllocationFlag.objects.get(allocation=allocation).reason == "Was not eligible after all"
    assert Allocation.objects.get(pk=allocation.pk).arm == arm  # the allocation stands
    assert verification.verify(ready.trial).ok


def test_caseworker_cannot_learn_of_allocations_at_other_sites(ready: World) -> None:
    other = ready.participants["BGO"][0]
    allocation = allocation_services.randomise(other, actor=ready.users["coordinator"]).allocation
    flag_url = reverse("randomisation:in_error", args=[ready.trial.code, allocation.sequence])
    assert ready.client("caseworker").get(flag_url).status_code == 403
    response = APIClient()
    response.force_authenticate(ready.users["caseworker"])
    listed = response.get(f"/api/v1/trials/{ready.trial.code}/allocations/")
    assert listed.status_code == 200 and listed.json()["count"] == 0


def test_emergency_unblinding_is_logged_and_notifies_coordinators(ready: World) -> None:
    participant = ready.participants["OSLA"][1]
    allocation = allocation_services.randomise(
        participant, actor=ready.users["coordinator"]
    ).allocation
    client = ready.client("coordinator")
    empty = client.post(url("unblind", ready, participant), {"reason": ""})
    assert empty.status_code == 200 and not Unblinding.objects.exists()
    done = client.post(url("unblind", ready, participant), {"reason": "Clinical emergency"})
    assert allocation.arm.name in done.content.decode()
    record = Unblinding.objects.get()
    assert record.reason == "Clinical emergency" and record.unblinded_by_name == "coordinator"
    assert AuditEvent.objects.filter(action="allocation.unblinded").exists()


@pytest.mark.django_db(transaction=True)
def test_unblinding_mail_goes_out_after_commit(ready: World) -> None:
    participant = ready.participants["OSLA"][1]
    allocation_services.randomise(participant, actor=ready.users["coordinator"])
    ready.client("coordinator").post(url("unblind", ready, participant), {"reason": "Emergency"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["coord@example.org"]
    assert participant.study_id in mail.outbox[0].body


def test_api_randomise_is_idempotent_and_reports_refusals(ready: World) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(ready.users['coordinator'])}")
    participant = ready.participants["OSLA"][0]
    path = f"/api/v1/trials/{ready.trial.code}/participants/{participant.study_id}/randomisation/"
    first = client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["study_id"] == participant.study_id and body["arm_name"]
    again = client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert again.status_code == 200 and again.json()["sequence"] == body["sequence"]
    refused = client.post(path, {}, format="json")
    assert refused.status_code == 400
    assert "already randomised" in refused.json()["errors"]["non_field_errors"][0]
    unconsented = ready.participants["OSLB"][0]
    Participant.objects.filter(pk=unconsented.pk).update(consent_version="")
    refused = client.post(path.replace(participant.study_id, unconsented.study_id), {})
    assert (
        refused.status_code == 400 and "consent" in refused.json()["errors"]["non_field_errors"][0]
    )
    assert Allocation.objects.count() == 1


def test_api_allocation_list_hides_arm_names_from_blinded_roles(ready: World) -> None:
    for participant in ready.participants["OSLA"]:
        allocation_services.randomise(participant, actor=ready.users["coordinator"])
    client = APIClient()
    client.force_authenticate(ready.users["statistician"])
    rows = client.get(f"/api/v1/trials/{ready.trial.code}/allocations/").json()["results"]
    assert len(rows) == 2 and all(row["arm_name"] is None for row in rows)
    client.force_authenticate(ready.users["monitor"])
    rows = client.get(f"/api/v1/trials/{ready.trial.code}/allocations/?site=OSLA").json()
    assert rows["count"] == 2 and all(row["arm_name"] for row in rows["results"])
    client.force_authenticate(ready.users["outsider"])
    assert client.get(f"/api/v1/trials/{ready.trial.code}/allocations/").status_code == 404
