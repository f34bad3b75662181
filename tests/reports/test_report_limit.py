"""A user may have at most REPORT_ACTIVE_PER_USER report builds queued or running at a time
(in all trials together); the page shows why an order was refused, the API answers 429."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from reports import services
from reports.models import ReportRequest
from tests.conftest import verified_login
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan

BASE = "/trials/ips/reports/"
LIMIT_MESSAGE = "You have 2 reports waiting or being built"


@pytest.fixture
def two_at_a_time(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.REPORT_ACTIVE_PER_USER = 2
    monkeypatch.setattr(services, "enqueue", lambda report_id: None)  # stay queued


def order(rw: ReportWorld, persona: str = "statistician") -> ReportRequest:
    user = rw.world.users[persona]
    return services.request_report(rw.trial, kind="data", cut_off=CUT_OFF, actor=user)


def test_the_default_limit_is_five(settings: Any) -> None:
    assert settings.REPORT_ACTIVE_PER_USER == 5


def test_a_user_with_builds_waiting_is_refused_another(
    rworld: ReportWorld, two_at_a_time: None
) -> None:
    lock_plan(rworld)
    first, _second = order(rworld), order(rworld)
    with pytest.raises(services.TooManyReports) as refused:
        order(rworld)
    assert LIMIT_MESSAGE in refused.value.message
    statistician = rworld.world.users["statistician"]
    assert ReportRequest.objects.filter(requested_by=statistician).count() == 2
    # Others are not held up by one user's orders.
    assert order(rworld, "coordinator").status == ReportRequest.Status.QUEUED
    # A running build still counts; a finished or failed one does not.
    first.status = ReportRequest.Status.RUNNING
    first.save(update_fields=["status"])
    with pytest.raises(services.TooManyReports):
        order(rworld)
    first.status = ReportRequest.Status.FAILED
    first.save(update_fields=["status"])
    assert order(rworld).status == ReportRequest.Status.QUEUED


def test_the_order_page_says_why(rworld: ReportWorld, two_at_a_time: None) -> None:
    lock_plan(rworld)
    order(rworld), order(rworld)
    client = verified_login(Client(), rworld.world.users["statistician"])
    page = client.post(BASE, {"kind": "data", "cut_off": CUT_OFF.isoformat()})
    assert page.status_code == 200
    assert LIMIT_MESSAGE in page.content.decode()
    assert ReportRequest.objects.count() == 2


def test_the_api_answers_429_with_the_reason(rworld: ReportWorld, two_at_a_time: None) -> None:
    lock_plan(rworld)
    api = APIClient()
    api.force_authenticate(rworld.world.users["statistician"])
    body = {"kind": "data", "cut_off": CUT_OFF.isoformat()}
    url = "/api/v1/trials/ips/reports/"
    assert [api.post(url, body, format="json").status_code for _ in range(2)] == [201, 201]
    refused = api.post(url, body, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_reports"
    assert LIMIT_MESSAGE in refused.json()["detail"]
    assert ReportRequest.objects.count() == 2


def test_the_limit_is_in_norwegian_too(rworld: ReportWorld, two_at_a_time: None) -> None:
    lock_plan(rworld)
    order(rworld), order(rworld)
    client = verified_login(Client(), rworld.world.users["statistician"])
    page = client.post(
        BASE, {"kind": "data", "cut_off": CUT_OFF.isoformat()}, HTTP_ACCEPT_LANGUAGE="nb"
    )
    assert "Du har 2 rapporter" in page.content.decode()
