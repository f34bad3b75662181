"""Reports come out in the language of the person who ordered them; the data sets keep their
English names. A cluster trial's report, in Norwegian, prints no cluster-naive interval."""

from __future__ import annotations

import io
import json

import pandas as pd
from django.utils import translation
from rest_framework.test import APIClient

from reports import services
from reports.models import ReportRequest
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan
from tests.reports.outputs import pdf_text, zip_members
from trial.models import AuditEvent, Trial


def order(rworld: ReportWorld, kind: str = "effect", **options: object) -> ReportRequest:
    return services.request_report(
        rworld.trial,
        kind=kind,
        cut_off=CUT_OFF,
        actor=rworld.world.users["unblinded"],
        **options,  # type: ignore[arg-type]
    )


def built(report: ReportRequest) -> ReportRequest:
    """The report built as the worker builds it (whatever language the test runs in)."""
    assert services.execute_report(report.pk) == "done"
    report.refresh_from_db()
    return report


def test_the_language_of_the_order_is_kept_on_the_request(
    rworld: ReportWorld,
    no_queue: list[int],
) -> None:
    lock_plan(rworld)
    assert order(rworld).language == "en"
    with translation.override("nb"):
        norwegian = order(rworld)
    assert norwegian.language == "nb"
    assert order(rworld, language="nb").language == "nb"
    with translation.override("nb"):
        assert order(rworld, language="en").language == "en"
    event = AuditEvent.objects.filter(action="report.requested").order_by("-id")[2]
    assert event.data["language"] == "nb"


def test_the_api_orders_in_the_language_asked_or_of_the_request(
    rworld: ReportWorld,
    no_queue: list[int],
) -> None:
    lock_plan(rworld)
    api = APIClient()
    api.force_authenticate(rworld.world.users["unblinded"])
    url = "/api/v1/trials/ips/reports/"
    body = {"kind": "data", "cut_off": CUT_OFF.isoformat()}
    asked = api.post(url, {**body, "language": "nb"}, format="json")
    assert asked.status_code == 201 and asked.json()["language"] == "nb"
    header = api.post(url, body, format="json", HTTP_ACCEPT_LANGUAGE="nb")
    assert header.status_code == 201 and header.json()["language"] == "nb"
    bad = api.post(url, {**body, "language": "sv"}, format="json")
    assert bad.status_code == 400 and "language" in bad.json()["errors"]


def test_a_report_ordered_in_norwegian_is_in_norwegian(
    rworld: ReportWorld,
    no_queue: list[int],
) -> None:
    lock_plan(rworld)
    with translation.override("nb"):
        report = order(rworld)
    report = built(report)  # built outside the override, as a worker in English would
    folder = services.report_folder(rworld.trial)
    text = pdf_text(folder / report.pdf_file)
    for norwegian in ("Primært utfall", "Manglende utfall", "Konvensjoner", "Side"):
        assert norwegian in text, norwegian
    for english in ("Primary outcome", "Missing outcomes", "Conventions", "Contents"):
        assert english not in text, english
    members = zip_members(folder / report.zip_file)
    participants = pd.read_csv(io.BytesIO(members["participants.csv"]))
    outcomes = pd.read_csv(io.BytesIO(members["outcomes.csv"]))
    assert {"study_id", "arm", "randomised_on"} <= set(participants.columns)
    assert {"study_id", "visit", "in_paid_work"} <= set(outcomes.columns)
    assert json.loads(members["report.json"])["language"] == "nb"
    # An English order of the same report stays English.
    english = built(order(rworld))
    assert "Primary outcome" in pdf_text(folder / english.pdf_file)


def test_a_cluster_trials_norwegian_report_prints_no_cluster_naive_interval(
    rworld: ReportWorld,
    no_queue: list[int],
) -> None:
    Trial.objects.filter(pk=rworld.trial.pk).update(design=Trial.Design.CLUSTER)
    lock_plan(rworld)
    with translation.override("nb"):
        report = order(rworld)
    text = pdf_text(services.report_folder(rworld.trial) / built(report).pdf_file)
    # The naive versions' texts (Wilson intervals, the log-rank chi-square, the
    # Brookmeyer-Crowley interval of the median, "these analyses ignore clustering") are gone.
    for naive in ("Wilson", "Log-rank kjikvadrat", "cloglog", "Disse analysene ser bort"):
        assert naive not in text, naive
    assert "klyngerobust" in text and "frihetsgrader" in text
