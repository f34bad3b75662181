"""The current CONSORT diagram as an SVG download, in the browser and the API: who may take it,
arm codes for blinded users, and the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reports import services
from tests.reports.conftest import ReportWorld, lock_plan
from trial.models import AuditEvent

PAGE = "/trials/ips/reports/consort.svg"
API = "/api/v1/trials/ips/consort.svg"


def text_of(response: object) -> str:
    return response.content.decode().replace("\u00a0", " ")  # type: ignore[attr-defined]


def api_for(rworld: ReportWorld, persona: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(rworld.world.users[persona])
    return client


@pytest.mark.parametrize("persona", ["coordinator", "unblinded"])
def test_those_who_order_reports_download_the_diagram_with_arm_names(
    rworld: ReportWorld, persona: str
) -> None:
    for response in (
        rworld.world.client(persona).get(PAGE),
        api_for(rworld, persona).get(API),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("image/svg+xml")
        assert response["Content-Disposition"].startswith("attachment; filename=")
        svg = text_of(response)
        assert svg.lstrip().startswith(("<?xml", "<svg"))
        assert "Randomised (n = 12)" in svg
        assert "Allocated to A: Intervention (n = 6)" in svg
    events = AuditEvent.objects.filter(action="report.consort_downloaded")
    first = events.first()
    assert events.count() == 2 and first is not None and first.data["blinded"] is False


def test_blinded_statistician_gets_arm_codes_until_the_analysis_is_unblinded(
    rworld: ReportWorld,
) -> None:
    for response in (
        rworld.world.client("statistician").get(PAGE),
        api_for(rworld, "statistician").get(API),
    ):
        svg = text_of(response)
        assert response.status_code == 200
        assert "Allocated to A (n = 6)" in svg and "Allocated to B (n = 6)" in svg
        assert "Intervention (n" not in svg and "Usual services" not in svg
    event = AuditEvent.objects.filter(action="report.consort_downloaded").first()
    assert event is not None and event.data["blinded"]
    lock_plan(rworld)
    svg = text_of(api_for(rworld, "statistician").get(API))
    assert "Allocated to B (n = 6)" in svg and "Usual services" not in svg
    services.unblind_analysis(
        rworld.trial,
        cut_off=dt.date(2025, 6, 1),
        reason="Primary analysis",
        actor=rworld.world.users["coordinator"],
    )
    rworld.world.users["statistician"].__dict__.pop("_trial_memberships", None)
    svg = text_of(api_for(rworld, "statistician").get(API))
    assert "Allocated to B: Usual services (n = 6)" in svg


@pytest.mark.parametrize(("persona", "status"), [("caseworker", 403), ("monitor", 403)])
def test_members_who_may_not_order_reports_are_refused(
    rworld: ReportWorld, persona: str, status: int
) -> None:
    assert rworld.world.client(persona).get(PAGE).status_code == status
    assert api_for(rworld, persona).get(API).status_code == status
    assert not AuditEvent.objects.filter(action="report.consort_downloaded").exists()


def test_other_trials_diagram_is_not_found(rworld: ReportWorld) -> None:
    # The outsider coordinates another trial: this trial does not exist for them.
    assert rworld.world.client("outsider").get(PAGE).status_code == 404
    assert api_for(rworld, "outsider").get(API).status_code == 404
    assert api_for(rworld, "outsider").get("/api/v1/trials/other/consort.svg").status_code == 200
    assert api_for(rworld, "coordinator").get("/api/v1/trials/other/consort.svg").status_code == 404


def test_cut_off_counts_only_what_happened_by_then_and_refuses_the_future(
    rworld: ReportWorld,
) -> None:
    client = rworld.world.client("coordinator")
    before = text_of(client.get(PAGE, {"cut_off": "2024-01-01"}))  # before randomisation
    assert "Randomised (n = 0)" in before
    future = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    assert client.get(PAGE, {"cut_off": future}).status_code == 400
    assert client.get(PAGE, {"cut_off": "not a date"}).status_code == 400
    bad = api_for(rworld, "coordinator").get(API, {"cut_off": future})
    assert bad.status_code == 400 and "cut_off" in str(bad.json())


def test_report_list_links_to_the_diagram(rworld: ReportWorld) -> None:
    page = rworld.world.client("coordinator").get("/trials/ips/reports/").content.decode()
    assert PAGE in page
