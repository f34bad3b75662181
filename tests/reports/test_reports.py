"""Ordering, building (with a real Celery worker), following and downloading reports; the
failure paths; permissions and blinding; the API."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from reports import pipeline, render, services
from reports.models import ReportRequest
from reports.tasks import build_report
from tests.reports.conftest import CUT_OFF, PLAN, ReportWorld, lock_plan
from tests.workers import worker_for
from trial import jobs
from trial.models import AuditEvent

BASE = "/trials/ips/reports/"


def order(rw: ReportWorld, persona: str = "statistician", kind: str = "effect") -> ReportRequest:
    return services.request_report(
        rw.trial, kind=kind, cut_off=CUT_OFF, actor=rw.world.users[persona]
    )


def members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- end to end with a real worker ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_report_is_built_by_a_real_worker_and_downloaded(
    require_redis: str, rworld: ReportWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock_plan(rworld)
    client = rworld.world.client("statistician")
    with worker_for(monkeypatch, build_report):
        response = client.post(BASE, {"kind": "effect", "cut_off": CUT_OFF.isoformat()})
        assert response.status_code == 302
        report = ReportRequest.objects.get()
        assert response["Location"] == f"{BASE}{report.pk}/"
        seen_running = False
        deadline = time.monotonic() + 120
        while ReportRequest.objects.get().active:
            assert time.monotonic() < deadline, "the worker did not finish the report"
            fragment = client.get(response["Location"], headers={"HX-Request": "true"})
            if b'hx-trigger="every 1s"' in fragment.content:
                seen_running = True
            time.sleep(0.2)
    report.refresh_from_db()
    assert report.status == "done", report.error
    assert seen_running
    assert len(report.snapshot_hash) == 64 and report.versions["weasyprint"]
    assert set(report.timings) >= {"extract", "analyse", "render", "pdf", "zip", "total"}
    fragment = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in fragment and "Download the PDF" in fragment

    pdf = client.get(f"{BASE}{report.pk}/download/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert body(pdf).startswith(b"%PDF")
    zipped = members(body(client.get(f"{BASE}{report.pk}/download/zip/")))
    assert AuditEvent.objects.filter(action="report.downloaded").count() == 2

    # The command gives the same numbers as the task.
    call_command(
        "build_report",
        "ips",
        "--kind",
        "effect",
        "--out",
        str(tmp_path),
        "--cut-off",
        CUT_OFF.isoformat(),
        "--blinded",  # as the statistician's own report
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    with zipfile.ZipFile(next(tmp_path.glob("*.zip"))) as archive:
        cli = {name: archive.read(name) for name in archive.namelist()}
    tables = [name for name in zipped if name.startswith("tables/")]
    assert len(tables) > 3 and all(cli[name] == zipped[name] for name in tables)

    listing = client.get(BASE).content.decode()
    assert f"{BASE}{report.pk}/download/pdf/" in listing and "statistician" in listing


# --- running the build: twice, failing, a dead worker --------------------------------------


def test_a_second_delivery_of_the_same_job_does_nothing(
    rworld: ReportWorld, no_queue: list[int]
) -> None:
    lock_plan(rworld)
    report = order(rworld, kind="data")
    assert services.execute_report(report.pk) == "done"
    first = ReportRequest.objects.get(pk=report.pk)
    assert services.execute_report(report.pk) == "skipped"
    assert ReportRequest.objects.get(pk=report.pk).finished_at == first.finished_at
    assert services.execute_report(999999) == "missing"


def test_a_failed_build_leaves_an_error_and_no_file(
    rworld: ReportWorld, no_queue: list[int], monkeypatch: pytest.MonkeyPatch, report_files: Path
) -> None:
    lock_plan(rworld)
    report = order(rworld)

    def broken_zip(path: Path, **kwargs: Any) -> int:
        def half(handle: Any) -> None:
            handle.write(b"PK half a zip")
            raise OSError("disk full")

        return render.write_atomic(path, half)

    monkeypatch.setattr(render, "write_zip", broken_zip)
    assert services.execute_report(report.pk) == "failed"
    report.refresh_from_db()
    assert report.status == "failed" and "OSError: disk full" in report.error
    assert report.pdf_file == "" and report.zip_file == ""
    # No report file, whole or half (the allocation log's witness lives beside the reports).
    reports = Path(report_files) / "reports"
    assert [p for p in reports.rglob("*") if p.is_file()] == []
    page = rworld.world.client("statistician").get(f"{BASE}{report.pk}/").content.decode()
    assert "disk full" in page and "Download" not in page
    assert (
        rworld.world.client("statistician").get(f"{BASE}{report.pk}/download/pdf/").status_code
        == 404
    )


def test_a_build_whose_worker_died_is_taken_over_after_the_lease(
    rworld: ReportWorld, no_queue: list[int], settings: Any
) -> None:
    report = order(rworld, kind="data")
    # A worker claimed it and was killed mid-build: running, with a partial file beside it.
    ReportRequest.objects.filter(pk=report.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now()
    )
    folder = services.report_folder(rworld.trial)
    folder.mkdir(parents=True)
    spec = pipeline.BuildSpec(rworld.trial, "data", CUT_OFF, 1, False, None, request_id=report.pk)
    _pdf, zip_path = pipeline.output_paths(folder, spec)
    leftover = folder / f".{zip_path.name}.abc.part"
    leftover.write_bytes(b"half")
    assert services.execute_report(report.pk) == "busy"  # the lease is still fresh
    ReportRequest.objects.filter(pk=report.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    )
    assert services.execute_report(report.pk) == "done"
    report.refresh_from_db()
    assert report.attempts == 2 and not leftover.exists() and zip_path.is_file()


def test_the_sweep_queues_a_silent_build_again_and_leaves_a_live_one(
    rworld: ReportWorld,
    no_queue: list[int],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(build_report, "delay", sent.append)
    report = order(rworld, kind="data")
    silent = timezone.now() - dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    ReportRequest.objects.filter(pk=report.pk).update(
        status="running", attempts=1, heartbeat_at=silent
    )
    fresh = order(rworld, kind="data")
    ReportRequest.objects.filter(pk=fresh.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep() == 1
    report.refresh_from_db()
    assert report.status == "queued" and report.attempts == 1 and sent == [report.pk]
    assert ReportRequest.objects.get(pk=fresh.pk).status == "running"
    assert services.execute_report(report.pk) == "done"
    assert ReportRequest.objects.get(pk=report.pk).attempts == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep() == 0  # safe to repeat
    assert sent == [report.pk]


def test_the_sweep_fails_a_silent_build_whose_attempts_are_used_up(
    rworld: ReportWorld,
    no_queue: list[int],
    settings: Any,
    report_files: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    report = order(rworld, kind="data")
    ReportRequest.objects.filter(pk=report.pk).update(
        status="running",
        attempts=settings.JOB_MAX_ATTEMPTS,
        heartbeat_at=timezone.now() - dt.timedelta(hours=2),
    )
    folder = services.report_folder(rworld.trial)
    folder.mkdir(parents=True)
    spec = pipeline.BuildSpec(rworld.trial, "data", CUT_OFF, 1, False, None, request_id=report.pk)
    _pdf, zip_path = pipeline.output_paths(folder, spec)
    leftover = folder / f".{zip_path.name}.abc.part"
    leftover.write_bytes(b"half")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep() == 1
    report.refresh_from_db()
    assert report.status == "failed" and "Order the report again" in report.error
    assert report.finished_at is not None and not leftover.exists()


def test_the_sweep_fails_an_order_no_worker_took(
    rworld: ReportWorld, no_queue: list[int], settings: Any
) -> None:
    report = order(rworld, kind="data")
    assert report.status == "queued" and report.heartbeat_at is not None
    assert jobs.sweep() == 0
    later = timezone.now() + dt.timedelta(hours=settings.JOB_QUEUED_HOURS, seconds=1)
    assert jobs.sweep(later) == 1
    report.refresh_from_db()
    assert report.status == "failed" and "No worker started this report" in report.error
    assert jobs.sweep(later) == 0


def test_too_many_attempts_fail_the_report(
    rworld: ReportWorld, no_queue: list[int], settings: Any
) -> None:
    report = order(rworld, kind="data")
    ReportRequest.objects.filter(pk=report.pk).update(
        status="running",
        attempts=settings.JOB_MAX_ATTEMPTS,
        heartbeat_at=timezone.now() - dt.timedelta(hours=1),
    )
    assert services.execute_report(report.pk) == "skipped"
    assert ReportRequest.objects.get(pk=report.pk).status == "failed"


def test_unreachable_broker_fails_the_request(
    rworld: ReportWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(build_report, "delay", refuse)
    report = order(rworld, kind="data")
    services.enqueue(report.pk)
    report.refresh_from_db()
    assert report.status == "failed" and "task queue could not be reached" in report.error


# --- the progress fragment -----------------------------------------------------------------


def test_progress_fragment_polls_while_running_and_stops_when_done(
    rworld: ReportWorld, no_queue: list[int]
) -> None:
    report = order(rworld, kind="data")
    client = rworld.world.client("statistician")
    url = f"{BASE}{report.pk}/"
    ReportRequest.objects.filter(pk=report.pk).update(status="running", stage="extract", percent=2)
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="report-status"')
    assert 'hx-trigger="every 1s"' in fragment and "<html" not in fragment
    assert 'value="2"' in fragment and "Extracting the data …" in fragment
    ReportRequest.objects.filter(pk=report.pk).update(status="queued", stage="queued")
    assert services.execute_report(report.pk) == "done"
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in fragment and 'value="100"' in fragment
    assert "Download the data sets (ZIP)" in fragment and "Download the PDF" not in fragment
    page = client.get(url).content.decode()
    assert "<html" in page and "Packing the data sets ✓" in page


# --- permissions and blinding --------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"), [("outsider", 404), ("caseworker", 403), ("monitor", 403)]
)
def test_who_may_not_see_reports(
    rworld: ReportWorld, no_queue: list[int], persona: str, status: int
) -> None:
    report = order(rworld, kind="data")
    services.execute_report(report.pk)
    client = rworld.world.client(persona)
    for url in (BASE, f"{BASE}{report.pk}/", f"{BASE}{report.pk}/download/zip/"):
        assert client.get(url).status_code == status, url
    assert client.post(BASE, {"kind": "data", "cut_off": CUT_OFF.isoformat()}).status_code == status
    assert not ReportRequest.objects.exclude(pk=report.pk).exists()


def test_order_form_shows_field_errors(
    rworld: ReportWorld, no_queue: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    client = rworld.world.client("coordinator")
    future = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    page = client.post(BASE, {"kind": "data", "cut_off": future}).content.decode()
    assert "The data cut-off cannot be in the future." in page
    page = client.post(BASE, {"kind": "effect", "cut_off": CUT_OFF.isoformat()}).content.decode()
    assert "write the plan first" in page
    page = client.post(BASE, {"kind": "nonsense", "cut_off": CUT_OFF.isoformat()}).content.decode()
    assert "Select a valid choice" in page
    assert not ReportRequest.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BASE, {"kind": "data", "cut_off": CUT_OFF.isoformat()})
    assert response.status_code == 302
    assert no_queue == [ReportRequest.objects.get().pk]  # queued once committed
    event = AuditEvent.objects.get(action="report.requested")
    assert event.actor_name == "coordinator" and event.data["kind"] == "data"


def test_blinded_statistician_gets_coded_reports_until_the_analysis_is_unblinded(
    rworld: ReportWorld, no_queue: list[int]
) -> None:
    users = rworld.world.users
    services.save_plan_draft(rworld.trial, values=dict(PLAN), actor=users["statistician"])
    before = order(rworld, "statistician")
    unblinded = order(rworld, "unblinded")
    coordinator = order(rworld, "coordinator")
    assert before.blinded and not unblinded.blinded and not coordinator.blinded
    for report in (before, coordinator):
        ReportRequest.objects.filter(pk=report.pk).update(status="queued")
        assert services.execute_report(report.pk) == "done"
    client = rworld.world.client("statistician")
    # The coordinator's report names the arms: not for a blinded statistician.
    assert client.get(f"{BASE}{coordinator.pk}/download/pdf/").status_code == 403
    assert "Not while you are blinded" in client.get(BASE).content.decode()
    assert client.get(f"{BASE}{before.pk}/download/pdf/").status_code == 200
    # Locking the plan does not unblind ...
    draft = services.draft_plan(rworld.trial)
    assert draft is not None
    services.lock_plan(draft, actor=users["statistician"])
    assert order(rworld, "statistician").blinded
    assert client.get(f"{BASE}{coordinator.pk}/download/pdf/").status_code == 403
    # ... only the coordinator's analysis-unblinding step does.
    services.unblind_analysis(
        rworld.trial, cut_off=CUT_OFF, reason="Primary analysis", actor=users["coordinator"]
    )
    users["statistician"].__dict__.pop("_trial_memberships", None)  # a new request
    after = order(rworld, "statistician")
    assert not after.blinded and after.plan is not None and after.plan.status == "locked"
    assert client.get(f"{BASE}{coordinator.pk}/download/pdf/").status_code == 200


# --- the API -------------------------------------------------------------------------------


def test_api_orders_and_reads_reports_and_plans(rworld: ReportWorld, no_queue: list[int]) -> None:
    lock_plan(rworld)
    api = APIClient()
    api.force_authenticate(rworld.world.users["statistician"])
    created = api.post(
        "/api/v1/trials/ips/reports/",
        {"kind": "data", "cut_off": CUT_OFF.isoformat(), "seed": 7},
        format="json",
    )
    assert created.status_code == 201 and created.json()["seed"] == 7
    report_id = created.json()["id"]
    services.execute_report(report_id)
    detail = api.get(f"/api/v1/trials/ips/reports/{report_id}/").json()
    assert detail["status"] == "done" and detail["files"] == {
        "zip": f"{BASE}{report_id}/download/zip/"
    }
    bad = api.post(
        "/api/v1/trials/ips/reports/", {"kind": "data", "cut_off": "2999-01-01"}, format="json"
    )
    assert bad.status_code == 400 and "cut_off" in bad.json()["errors"]
    plans = api.get("/api/v1/trials/ips/analysis-plans/").json()["results"]
    assert (
        plans[0]["version"] == 1
        and plans[0]["status"] == "locked"
        and len(plans[0]["content_hash"]) == 64
    )
    outsider = APIClient()
    outsider.force_authenticate(rworld.world.users["outsider"])
    assert outsider.get("/api/v1/trials/ips/reports/").status_code == 404
    caseworker = APIClient()
    caseworker.force_authenticate(rworld.world.users["caseworker"])
    assert caseworker.get("/api/v1/trials/ips/analysis-plans/").status_code == 403
