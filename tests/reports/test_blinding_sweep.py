"""The blinding sweep over every file a blinded statistician can reach.

The authorisation matrix (tests/security/) scans every page and API answer for arm names, with a
locked analysis plan, for users without ``VIEW_ARM_NAMES``. This module covers what the matrix
cannot: real report files. The arms get distinctive names; the blinded statistician orders every
report kind, downloads every file they may (the PDF's text, every member of the ZIP in every
export format: Stata and SPSS variable and value labels, Parquet metadata, the R script; SVG
figures) and the CONSORT diagram, and none of it may name an arm,
before and after the plan is locked. Reports ordered by someone who may see the names stay out
of reach. After the coordinator's analysis-unblinding step the same requests show the names.
New report kinds are covered automatically (``pipeline.KINDS``).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import zipfile
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from rest_framework.test import APIClient

from reports import exports, pipeline, services
from reports.models import ReportRequest
from tests.conftest import IN_CI
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan
from trial.models import Arm, AuditEvent

NAMES = {"A": "Zephyrine Placement", "B": "Quokka Usual Care"}
# Single words too: a PDF may break a name across lines.
WORDS = ("Zephyrine", "Quokka")


def pdf_text(content: bytes) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        if IN_CI:
            pytest.fail("pdftotext (poppler-utils) is required under CI=true", pytrace=False)
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(
        [tool, "-layout", "-", "-"], input=content, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8", errors="replace")


def stata_text(content: bytes) -> str:
    with pd.io.stata.StataReader(io.BytesIO(content)) as reader:
        frame = reader.read(convert_categoricals=False)
        parts = [repr(reader.variable_labels()), repr(reader.value_labels()), reader.data_label]
    return "\n".join([*parts, frame.to_csv()])


def spss_text(content: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".sav") as handle:
        handle.write(content)
        handle.flush()
        frame, meta = pyreadstat.read_sav(handle.name, user_missing=True)
    parts = [
        repr(meta.column_names_to_labels),
        repr(meta.variable_value_labels),
        str(meta.file_label),
    ]
    return "\n".join([*parts, frame.to_csv()])


def parquet_text(content: bytes) -> str:
    schema = pq.read_schema(io.BytesIO(content))
    frame = pd.read_parquet(io.BytesIO(content))
    return "\n".join([str(schema), repr(schema.metadata), repr(frame.attrs), frame.to_csv()])


def texts(name: str, content: bytes) -> dict[str, str]:
    """Every readable text in a downloaded file, by member name."""
    if name.endswith(".pdf"):
        return {name: pdf_text(content)}
    if name.endswith(".zip"):
        found: dict[str, str] = {}
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for member in archive.namelist():
                found.update(texts(f"{name}/{member}", archive.read(member)))
        return found
    if name.endswith(".dta"):
        return {name: stata_text(content)}
    if name.endswith(".sav"):
        return {name: spss_text(content)}
    if name.endswith(".parquet"):
        return {name: parquet_text(content)}
    return {name: content.decode("utf-8", errors="replace")}


def naming(found: dict[str, str]) -> list[str]:
    return sorted(
        f"{where}: {word}"
        for where, text in found.items()
        for word in WORDS
        if word.lower() in text.replace("\u00a0", " ").lower()
    )


def body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def downloads(client: Any, report: ReportRequest) -> dict[str, str]:
    """Every file of the report the client is given, as texts; refused files are left out."""
    found: dict[str, str] = {}
    for which in ("pdf", "zip"):
        response = client.get(f"/trials/ips/reports/{report.pk}/download/{which}/")
        if response.status_code == 200:
            name = response["Content-Disposition"].split('filename="')[-1].rstrip('"')
            found.update(texts(name, body(response)))
    return found


def build(rw: ReportWorld, persona: str, kind: str) -> ReportRequest:
    user = rw.world.users[persona]
    user.__dict__.pop("_trial_memberships", None)  # as a new request would load them
    report = services.request_report(
        rw.trial, kind=kind, cut_off=CUT_OFF, export={"formats": list(exports.FORMATS)}, actor=user
    )
    assert services.execute_report(report.pk) == "done", ReportRequest.objects.get(pk=report.pk)
    return ReportRequest.objects.get(pk=report.pk)


def consort(rw: ReportWorld, persona: str) -> dict[str, str]:
    user = rw.world.users[persona]
    user.__dict__.pop("_trial_memberships", None)  # as a new request would load them
    api = APIClient()
    api.force_authenticate(user)
    return {
        "page consort.svg": rw.world.client(persona)
        .get("/trials/ips/reports/consort.svg")
        .content.decode(),
        "API consort.svg": api.get("/api/v1/trials/ips/consort.svg").content.decode(),
        "API arms": api.get("/api/v1/trials/ips/arms/").content.decode(),
    }


@pytest.fixture
def named(rworld: ReportWorld, monkeypatch: pytest.MonkeyPatch) -> ReportWorld:
    for code, name in NAMES.items():
        Arm.objects.filter(trial=rworld.trial, code=code).update(name=name)
    monkeypatch.setattr(services, "enqueue", lambda report_id: None)  # built in the test
    return rworld


def test_blinded_statistician_never_gets_an_arm_name_until_the_analysis_is_unblinded(
    named: ReportWorld,
) -> None:
    statistician = named.world.client("statistician")
    lock_plan(named)  # the demo ships with a locked plan: locking must not unblind
    coordinators = {kind: build(named, "coordinator", kind) for kind in pipeline.KINDS}
    assert not any(report.blinded for report in coordinators.values())
    # The coordinator's files name the arms (the scan can fail) ...
    assert naming(downloads(named.world.client("coordinator"), coordinators["full"]))
    found: dict[str, str] = consort(named, "statistician")
    for kind in pipeline.KINDS:
        report = build(named, "statistician", kind)
        assert report.blinded, kind
        got = downloads(statistician, report)
        assert got, f"{kind}: the statistician could download nothing"
        found.update(got)
        # ... and stay out of the blinded statistician's reach, whoever ordered them.
        for which in ("pdf", "zip"):
            url = f"/trials/ips/reports/{coordinators[kind].pk}/download/{which}/"
            assert statistician.get(url).status_code == 403, url
    assert len(found) > 20, sorted(found)  # PDFs, ZIP members, CSV, Stata, SVG, JSON
    for extension in (".sav", ".parquet", ".R", ".dta"):
        assert any(where.endswith(extension) for where in found), extension
    assert naming(found) == []

    # The one audited step that ends blinding for the analysis.
    coordinator_api = APIClient()
    coordinator_api.force_authenticate(named.world.users["coordinator"])
    answer = coordinator_api.post(
        "/api/v1/trials/ips/analysis-unblinding/",
        {"cut_off": CUT_OFF.isoformat(), "reason": "Data locked; primary analysis."},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    event = AuditEvent.objects.get(action="analysis.unblinded")
    assert event.actor_name == "coordinator" and event.data["cut_off"] == CUT_OFF.isoformat()

    after = consort(named, "statistician")
    for kind in ("effect", "full", "data"):
        report = build(named, "statistician", kind)
        assert not report.blinded
        after.update(downloads(statistician, report))
    assert {"page consort.svg", "API consort.svg", "API arms"} <= {
        hit.split(":")[0] for hit in naming(after)
    }
    assert any(".pdf" in hit for hit in naming(after))
    assert any(".dta" in hit for hit in naming(after))
    assert any(".sav" in hit for hit in naming(after))
    assert any(".parquet" in hit for hit in naming(after))
    assert (
        statistician.get(f"/trials/ips/reports/{coordinators['full'].pk}/download/pdf/").status_code
        == 200
    )
