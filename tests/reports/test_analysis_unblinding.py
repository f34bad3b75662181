"""The one audited step that ends blinding for the analysis: its rules, page and API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from reports import services
from reports.models import AnalysisUnblinding
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan
from trial import permissions
from trial.models import AuditEvent, Trial
from trial.permissions import Perm

URL = "/api/v1/trials/ips/analysis-unblinding/"
PAGE = "/trials/ips/analysis-plan/unblind/"


def api(rw: ReportWorld, persona: str) -> APIClient:
    user = rw.world.users[persona]
    user.__dict__.pop("_trial_memberships", None)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_needs_a_locked_plan_a_reason_and_a_past_cut_off(rworld: ReportWorld) -> None:
    client = api(rworld, "coordinator")
    payload = {"cut_off": CUT_OFF.isoformat(), "reason": "Primary analysis"}
    answer = client.post(URL, payload, format="json")
    assert answer.status_code == 400
    assert "Lock the statistical analysis plan" in answer.json()["errors"]["non_field_errors"][0]
    lock_plan(rworld)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    answer = client.post(URL, {**payload, "cut_off": tomorrow}, format="json")
    assert answer.status_code == 400 and "cut_off" in answer.json()["errors"]
    answer = client.post(URL, {**payload, "reason": "  "}, format="json")
    assert answer.status_code == 400 and "reason" in answer.json()["errors"]
    assert client.get(URL).json() == {"unblinded": False, "unblinding": None}
    assert not AnalysisUnblinding.objects.exists()

    answer = client.post(URL, payload, format="json")
    assert answer.status_code == 201, answer.content
    record = AnalysisUnblinding.objects.get()
    assert record.plan.version == 1 and len(record.snapshot_hash) == 64
    assert Trial.objects.get(code="ips").analysis_unblinded_at == record.created_at
    event = AuditEvent.objects.get(action="analysis.unblinded")
    assert event.actor_name == "coordinator" and event.data["reason"] == "Primary analysis"
    assert event.data["snapshot_hash"] == record.snapshot_hash
    status = api(rworld, "statistician").get(URL).json()
    assert status["unblinded"] and status["unblinding"]["cut_off"] == CUT_OFF.isoformat()
    # Once only.
    again = client.post(URL, payload, format="json")
    assert again.status_code == 400 and "already" in again.json()["errors"]["non_field_errors"][0]


def test_the_snapshot_hash_is_the_one_a_report_on_that_cut_off_records(
    rworld: ReportWorld,
) -> None:
    from reports import pipeline

    lock_plan(rworld)
    record = services.unblind_analysis(
        rworld.trial, cut_off=CUT_OFF, reason="x", actor=rworld.world.users["coordinator"]
    )
    assert record.snapshot_hash == pipeline.data_snapshot(rworld.trial, CUT_OFF)


@pytest.mark.parametrize("persona", ["statistician", "unblinded", "monitor", "caseworker"])
def test_only_coordinators_may_unblind(rworld: ReportWorld, persona: str) -> None:
    lock_plan(rworld)
    answer = api(rworld, persona).post(
        URL, {"cut_off": CUT_OFF.isoformat(), "reason": "x"}, format="json"
    )
    assert answer.status_code == 403
    assert rworld.world.client(persona).get(PAGE).status_code == 403
    assert not AnalysisUnblinding.objects.exists()


def test_the_statistician_sees_arm_names_only_after_the_step(rworld: ReportWorld) -> None:
    statistician = rworld.world.users["statistician"]
    lock_plan(rworld)
    assert not permissions.has_perm(statistician, rworld.trial, Perm.VIEW_ARM_NAMES)
    arms = api(rworld, "statistician").get("/api/v1/trials/ips/arms/").json()
    assert {arm["name"] for arm in arms} == {None}
    services.unblind_analysis(
        rworld.trial, cut_off=CUT_OFF, reason="x", actor=rworld.world.users["coordinator"]
    )
    arms = api(rworld, "statistician").get("/api/v1/trials/ips/arms/").json()
    assert {arm["name"] for arm in arms} == {"Intervention", "Usual services"}
    page = rworld.world.client("statistician").get("/trials/ips/statistics/").content.decode()
    assert "Usual services" in page


def test_the_page_asks_for_confirmation_and_shows_field_errors(rworld: ReportWorld) -> None:
    client = rworld.world.client("coordinator")
    # No locked plan: back to the plan page with a message.
    assert client.get(PAGE).status_code == 302
    lock_plan(rworld)
    assert "Unblind the analysis" in client.get("/trials/ips/analysis-plan/").content.decode()
    form = client.get(PAGE)
    assert form.status_code == 200 and 'name="confirm"' in form.content.decode()
    refused = client.post(PAGE, {"cut_off": CUT_OFF.isoformat(), "reason": ""})
    text = refused.content.decode()
    assert refused.status_code == 200 and "This field is required." in text
    assert not AnalysisUnblinding.objects.exists()
    done = client.post(
        PAGE, {"cut_off": CUT_OFF.isoformat(), "reason": "Data locked", "confirm": "on"}
    )
    assert done.status_code == 302
    overview = client.get("/trials/ips/analysis-plan/").content.decode()
    assert "The analysis was unblinded" in overview and "Data locked" in overview


def test_the_record_cannot_be_changed_in_postgresql(
    rworld: ReportWorld, require_postgres: None
) -> None:
    lock_plan(rworld)
    services.unblind_analysis(
        rworld.trial, cut_off=CUT_OFF, reason="x", actor=rworld.world.users["coordinator"]
    )
    for statement in (
        "UPDATE reports_analysisunblinding SET reason = 'y'",
        "DELETE FROM reports_analysisunblinding",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AnalysisUnblinding.objects.get().reason == "x"
