"""Importing a trial from CSV files: a complete new trial, idempotent re-import, row-level
errors with nothing written, the command line, and the browser page with its permissions."""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation
from kombu.exceptions import OperationalError

from instruments.models import Assessment, Instrument, InstrumentVersion
from randomisation.allocation import verification
from randomisation.models import Allocation
from tests import factories
from tests.conftest import World
from tests.workers import worker_for
from trial import jobs, personal_numbers
from trial.forms import EnrolmentForm
from trial.models import (
    Arm,
    AuditEvent,
    CovariateDefinition,
    Membership,
    Participant,
    Site,
    Trial,
    Visit,
    VisitDefinition,
    Withdrawal,
)
from trialimport import jobs as import_jobs
from trialimport import services as importing
from trialimport import storage
from trialimport.models import TrialImport
from trialimport.report import ImportReport
from trialimport.tasks import run_import

TABLES = (
    Trial,
    Arm,
    Site,
    CovariateDefinition,
    VisitDefinition,
    Membership,
    Participant,
    Allocation,
    Visit,
    Instrument,
    InstrumentVersion,
    Assessment,
    Withdrawal,
    AuditEvent,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def legacy_files(numbers: list[str]) -> dict[str, str]:
    """A small completed trial: two arms, two sites, three covariates, two visits, three
    participants (one pseudonymised), their allocations, three assessments, one withdrawal."""
    return {
        "trial.csv": (
            "code,title,design,status,target_size,registry_id\n"
            "legacy,Legacy IPS trial,individual,closed,60,NCT01234567\n"
        ),
        "arms.csv": "code,name,allocation_weight,is_control\nA,IPS,1,no\nB,Usual services,1,yes\n",
        "sites.csv": (
            "code,name,municipality_number,region\n"
            "OSL1,NAV Oslo,0301,Oslo\n"
            "BGO1,NAV Bergen,4601,Vestland\n"
        ),
        "covariates.csv": (
            "key,label,kind,choices,min_value,max_value,required\n"
            "age,Age,integer,,18,67,yes\n"
            "sex,Sex,choice,f=Female|m=Male,,,yes\n"
            "prior_work,Worked before,boolean,,,,no\n"
        ),
        "visits.csv": "code,label,offset_months\nm6,6 months,6\nm12,12 months,12\n",
        "participants.csv": (
            "study_id,site,personal_number,enrolled_on,consent_version,consent_date,age,sex,"
            "prior_work\n"
            f"L-001,OSL1,{numbers[0]},2024-01-10,v2,2024-01-10,34,f,yes\n"
            "L-002,OSL1,,2024-01-15,v2,2024-01-14,45,m,no\n"
            f"L-003,BGO1,{numbers[1]},2024-02-01,v2,2024-02-01,29,f,\n"
        ),
        "allocations.csv": (
            "study_id,arm,randomised_on,reference\n"
            "L-001,A,2024-01-12,ENV-1\n"
            "L-002,B,2024-01-16,\n"
            "L-003,A,2024-02-02,ENV-3\n"
        ),
        "assessments.csv": (
            "study_id,visit,assessed_on,in_paid_work,hours_per_week,monthly_earnings,"
            "occupation_code,on_benefits,benefit_type,self_rated_health\n"
            "L-001,m6,2024-07-12,yes,30,25000,5223,no,,4\n"
            "L-002,m6,2024-07-20,no,,,,yes,work_assessment_allowance,3\n"
            "L-001,m12,2025-01-12,yes,37.5,32000,5223,no,,4\n"
        ),
        "withdrawals.csv": "study_id,withdrawn_on,scope,reason\nL-003,2024-05-01,no_data,Moved\n",
    }


def as_bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode() for name, text in files.items()}


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def importer(db: None) -> User:
    user = factories.make_user("importer")
    user.user_permissions.add(Permission.objects.get(codename="add_trial"))
    return user


@pytest.fixture
def numbers() -> list[str]:
    return [factories.personal_number() for _ in range(4)]


def where(report: ImportReport) -> set[tuple[str, int, str]]:
    return {(e.file, e.line, e.column) for e in report.errors}


# --- the service ---------------------------------------------------------------------------


def test_complete_directory_imports_a_new_trial(importer: User, numbers: list[str]) -> None:
    files = as_bytes(legacy_files(numbers))
    report = importing.import_trial(files, actor=importer)

    assert report.ok and report.written, [str(e) for e in report.errors]
    assert {name: (c.created, c.unchanged) for name, c in report.files.items()} == {
        "trial.csv": (1, 0),
        "arms.csv": (2, 0),
        "sites.csv": (2, 0),
        "covariates.csv": (3, 0),
        "visits.csv": (2, 0),
        "participants.csv": (3, 0),
        "allocations.csv": (3, 0),
        "assessments.csv": (3, 0),
        "withdrawals.csv": (1, 0),
    }
    trial = Trial.objects.get(code="legacy")
    assert trial.status == Trial.Status.CLOSED and trial.registry_id == "NCT01234567"
    assert trial.memberships.get().user == importer  # the importer coordinates the new trial
    first = Participant.objects.get(trial=trial, study_id="L-001")
    assert first.baseline == {"age": 34, "sex": "f", "prior_work": True}
    assert personal_numbers.decrypt(first.personal_number_encrypted) == numbers[0]
    pseudonymised = Participant.objects.get(trial=trial, study_id="L-002")
    assert pseudonymised.personal_number_hash is None
    assert pseudonymised.personal_number_encrypted == ""
    # Allocations made elsewhere join the hash chain, marked as imported.
    allocations = Allocation.objects.filter(trial=trial).order_by("sequence")
    assert [(a.participant.study_id, a.arm.code, a.source) for a in allocations] == [  # type: ignore[union-attr]  # each has one
        ("L-001", "A", "imported"),
        ("L-002", "B", "imported"),
        ("L-003", "A", "imported"),
    ]
    assert allocations[0].reference == "ENV-1"
    assert verification.verify(trial).ok
    first.refresh_from_db()
    assert first.randomised_on == dt.date(2024, 1, 12)
    # Visits come from the schedule; the assessed ones are completed.
    assert Visit.objects.filter(participant__trial=trial).count() == 6
    m12 = Visit.objects.get(participant=first, definition__code="m12")
    assert m12.completed_on == dt.date(2025, 1, 12)
    imported = Assessment.objects.get(visit=m12)
    assert imported.values["hours_per_week"] == pytest.approx(37.5)
    # Recorded under the trial's default instrument, marked as imported.
    assert (imported.instrument.builtin, imported.source) == ("employment", "import")
    assert Assessment.objects.filter(visit__participant__trial=trial).count() == 3
    withdrawn = Participant.objects.get(trial=trial, study_id="L-003")
    assert withdrawn.status == Participant.Status.WITHDRAWN
    assert withdrawn.withdrawal.withdrawn_on == dt.date(2024, 5, 1)
    # One summary event with counts and each file's SHA-256, beside the services' events.
    event = AuditEvent.objects.get(trial=trial, action="trial.imported")
    assert event.actor == importer
    assert event.data["files"]["participants.csv"]["created"] == 3
    assert event.data["files"]["allocations.csv"]["sha256"] == report.digests["allocations.csv"]
    assert AuditEvent.objects.filter(trial=trial, action="participant.created").count() == 3
    # The personal numbers never reach the audit trail.
    assert not any(number in str(e.data) for e in AuditEvent.objects.all() for number in numbers)


def test_reimporting_the_same_files_changes_nothing(importer: User, numbers: list[str]) -> None:
    files = as_bytes(legacy_files(numbers))
    assert importing.import_trial(files, actor=importer).written
    before = counts()

    again = importing.import_trial(files, actor=importer)

    assert again.ok and not again.written
    assert again.created == 0 and again.unchanged == 20
    assert counts() == before  # every table, the audit trail included


def test_a_zero_in_hours_or_earnings_when_not_in_paid_work_reads_as_empty(
    importer: User, numbers: list[str]
) -> None:
    """The documented format allows it; the instrument does not ask either item then."""
    files = legacy_files(numbers)
    files["assessments.csv"] = files["assessments.csv"].replace(
        "L-002,m6,2024-07-20,no,,,,yes", "L-002,m6,2024-07-20,no,0,0,,yes"
    )
    report = importing.import_trial(as_bytes(files), actor=importer)
    assert report.ok and report.written, [str(e) for e in report.errors]
    stored = Assessment.objects.get(visit__participant__study_id="L-002").values
    assert stored == {
        "in_paid_work": False,
        "on_benefits": True,
        "benefit_type": "work_assessment_allowance",
        "self_rated_health": 3,
    }
    again = importing.import_trial(as_bytes(files), actor=importer)
    assert again.ok and again.created == 0 and again.files["assessments.csv"].unchanged == 3


def test_a_file_with_a_bom_and_crlf_line_ends_is_read(importer: User, numbers: list[str]) -> None:
    files = legacy_files(numbers)
    data = {name: ("\ufeff" + text).replace("\n", "\r\n").encode() for name, text in files.items()}
    report = importing.import_trial(data, actor=importer)
    assert report.ok and report.written, [str(e) for e in report.errors]


def test_a_broken_file_reports_every_error_and_writes_nothing(
    importer: User, numbers: list[str]
) -> None:
    files = legacy_files(numbers)
    future = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    bad_number = numbers[2][:-1] + str((int(numbers[2][-1]) + 1) % 10)
    files["participants.csv"] = (
        "study_id,site,personal_number,enrolled_on,consent_version,consent_date,age,sex,"
        "nickname\n"
        f"L-001,OSL1,{numbers[0]},2024-01-10,v2,2024-01-10,34,f,Kari\n"
        f"L-002,OSL1,{bad_number},2024-01-15,v2,2024-01-14,45,m,Ola\n"
        f"L-003,BGO1,{numbers[1]},2024-02-01,v2,2024-02-01,29,f,\n"
        f"L-004,TRD1,{numbers[3]},2024-02-03,v2,2024-02-03,30,m,\n"
        f"L-005,BGO1,,{future},v2,2024-02-03,31,m,\n"
        f"L-006,BGO1,,2024-02-05,v2,2024-02-05,17,x,\n"
    )
    files["allocations.csv"] += "L-999,C,2024-03-01,\n"
    before = counts()

    report = importing.import_trial(as_bytes(files), actor=importer)

    assert not report.ok and not report.written
    assert where(report) == {
        ("participants.csv", 1, "nickname"),
        ("participants.csv", 3, "personal_number"),
        ("participants.csv", 5, "site"),
        ("participants.csv", 6, "enrolled_on"),
        ("participants.csv", 7, "age"),
        ("participants.csv", 7, "sex"),
        ("allocations.csv", 5, "study_id"),
        ("allocations.csv", 5, "arm"),
    }
    messages = {(e.line, e.column): e.message for e in report.errors}
    assert messages[(1, "nickname")] == "Unknown column."
    assert "check digits" in messages[(3, "personal_number")]
    assert "TRD1" in messages[(5, "site")]
    assert "future" in messages[(6, "enrolled_on")]
    assert "at least 18" in messages[(7, "age")]
    assert report.files["participants.csv"].errors == 6
    assert counts() == before  # nothing written, not even the trial


def test_a_nul_in_any_file_is_an_error_on_its_line_and_nothing_is_written(
    importer: User, numbers: list[str]
) -> None:
    files = legacy_files(numbers)
    files["arms.csv"] = files["arms.csv"].replace("Usual services", "Usual\x00services")
    files["participants.csv"] = files["participants.csv"].replace("L-002,", "L-002\x00,")
    files["allocations.csv"] = files["allocations.csv"].replace("ENV-3", "ENV\x003")
    files["withdrawals.csv"] = files["withdrawals.csv"].replace("Moved", "Mo\x00ved")
    files["visits.csv"] = files["visits.csv"].replace("offset_months", "offset\x00months")
    before = counts()

    report = importing.import_trial(as_bytes(files), actor=importer)

    assert not report.ok and not report.written
    nul = "Contains a character that is not allowed: NUL (U+0000)."
    messages = {(e.file, e.line, e.column): e.message for e in report.errors}
    assert messages[("arms.csv", 3, "name")] == nul
    assert messages[("participants.csv", 3, "study_id")] == nul
    assert messages[("allocations.csv", 4, "reference")] == nul
    assert messages[("withdrawals.csv", 2, "reason")] == nul
    assert messages[("visits.csv", 1, "offset\ufffdmonths")] == nul
    assert counts() == before


def test_a_nul_in_the_trial_code_is_a_row_error(importer: User, numbers: list[str]) -> None:
    files = legacy_files(numbers)
    files["trial.csv"] = files["trial.csv"].replace("legacy,", "leg\x00acy,")
    report = importing.import_trial(as_bytes(files), actor=importer)
    assert not report.ok
    assert ("trial.csv", 2, "code") in where(report)


def test_service_rules_become_row_errors(importer: User, numbers: list[str]) -> None:
    """Allocation before enrolment, an assessment after withdrawal, out-of-range answers."""
    files = legacy_files(numbers)
    files["allocations.csv"] = files["allocations.csv"].replace(
        "L-002,B,2024-01-16", "L-002,B,2024-01-01"
    )
    files["assessments.csv"] += (
        "L-003,m6,2024-08-02,no,,,,no,,4\n"
        "L-001,m99,2024-08-02,no,,,,no,,\n"
        "L-002,m12,2025-01-20,yes,90,10000,5223,no,,4\n"
    )
    before = counts()

    report = importing.import_trial(as_bytes(files), actor=importer)

    assert where(report) == {
        ("allocations.csv", 3, "randomised_on"),
        ("assessments.csv", 5, "assessed_on"),
        ("assessments.csv", 6, "visit"),
        ("assessments.csv", 7, "hours_per_week"),
    }
    text = [str(e) for e in report.errors]
    assert "allocations.csv:3: randomised_on: The date cannot be before enrolment." in text
    assert any("withdrew on 2024-05-01" in line for line in text)
    assert counts() == before


def test_existing_participant_with_different_data_is_an_error_naming_the_columns(
    importer: User, numbers: list[str]
) -> None:
    files = legacy_files(numbers)
    importing.import_trial(as_bytes(files), actor=importer)
    before = counts()
    files["participants.csv"] = files["participants.csv"].replace(
        f"L-001,OSL1,{numbers[0]},2024-01-10,v2,2024-01-10,34",
        f"L-001,OSL1,{numbers[0]},2024-01-10,v2,2024-01-09,35",
    )

    report = importing.import_trial(as_bytes(files), actor=importer)

    assert where(report) == {
        ("participants.csv", 2, "consent_date"),
        ("participants.csv", 2, "age"),
    }
    assert "stored: 2024-01-10" in report.errors[0].message + report.errors[1].message
    assert counts() == before


def test_a_person_enrolled_under_another_study_id_is_refused(
    importer: User, numbers: list[str]
) -> None:
    files = legacy_files(numbers)
    importing.import_trial(as_bytes(files), actor=importer)
    files["participants.csv"] = (
        "study_id,site,personal_number,enrolled_on,consent_version,consent_date,age,sex\n"
        f"L-010,OSL1,{numbers[0]},2024-03-01,v2,2024-03-01,40,m\n"
    )
    report = importing.import_trial(as_bytes(files), actor=importer)
    assert [str(e) for e in report.errors] == [
        "participants.csv:2: personal_number: "
        "This person is already enrolled in the trial as L-001."
    ]


def test_a_directory_without_trial_csv_needs_an_existing_trial(importer: User) -> None:
    report = importing.import_trial(
        {
            "participants.csv": b"study_id,site,enrolled_on,consent_version,consent_date\n",
            "notes.csv": b"x\n",
        },
        actor=importer,
    )
    assert {(e.file, e.line) for e in report.errors} == {("trial.csv", 0), ("notes.csv", 0)}


def test_enrolment_form_still_requires_a_personal_number(world: World) -> None:
    form = EnrolmentForm(
        {
            "site": world.sites[0].pk,
            "enrolled_on": "2025-01-02",
            "consent_version": "v1",
            "consent_date": "2025-01-02",
        },
        trial=world.trial,
        sites=world.trial.sites.all(),
    )
    assert not form.is_valid() and "personal_number" in form.errors


# --- the command ---------------------------------------------------------------------------


def test_command_imports_and_exits_zero(importer: User, numbers: list[str], tmp_path: Path) -> None:
    directory = write(tmp_path / "legacy", legacy_files(numbers))
    out = io.StringIO()
    call_command("import_trial", str(directory), "--user", "importer", "--dry-run", stdout=out)
    assert "valid (dry run): nothing written" in out.getvalue()
    assert not Trial.objects.filter(code="legacy").exists()

    out = io.StringIO()
    call_command("import_trial", str(directory), "--user", "importer", stdout=out)
    assert "legacy: imported: 20 created, 0 unchanged" in out.getvalue()
    assert Participant.objects.filter(trial__code="legacy").count() == 3

    out = io.StringIO()
    call_command("import_trial", str(directory), "--user", "importer", stdout=out)
    assert "nothing to import: all 20 rows are unchanged" in out.getvalue()


def test_command_lists_errors_and_exits_one(
    importer: User, numbers: list[str], tmp_path: Path
) -> None:
    files = legacy_files(numbers)
    files["participants.csv"] = files["participants.csv"].replace(numbers[1], "01019012345")
    directory = write(tmp_path / "broken", files)
    before = counts()
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_trial", str(directory), "--user", "importer", stdout=out)
    assert failure.value.returncode == 1
    assert "1 error(s): nothing written" in str(failure.value)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("participants.csv:4: personal_number: ") for line in lines)
    assert counts() == before


def test_command_exit_status_from_the_shell(
    importer: User, numbers: list[str], tmp_path: Path
) -> None:
    from django.core.management import execute_from_command_line

    files = {"trial.csv": "code,title\nlegacy,Legacy\n", "arms.csv": "code,name,colour\n"}
    directory = write(tmp_path / "bad", files)
    with pytest.raises(SystemExit) as exit_status:
        execute_from_command_line(
            ["manage.py", "import_trial", str(directory), "--user", "importer"]
        )
    assert exit_status.value.code == 1


def test_command_checks_the_users_rights(world: World, tmp_path: Path) -> None:
    directory = write(tmp_path / "more", {"participants.csv": "study_id\n"})
    with pytest.raises(CommandError, match="may not import"):
        call_command("import_trial", str(directory), "--user", "caseworker", "--trial", "ips")
    with pytest.raises(CommandError, match="may not create trials"):
        legacy = write(tmp_path / "new", {"trial.csv": "code,title\nnew-one,New\n"})
        call_command("import_trial", str(legacy), "--user", "datamanager")


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture
def schedule(world: World) -> World:
    VisitDefinition.objects.create(trial=world.trial, code="m6", label="6 months", offset_months=6)
    return world


def upload(files: dict[str, str]) -> dict[str, SimpleUploadedFile]:
    return {
        name.removesuffix(".csv"): SimpleUploadedFile(name, text.encode(), "text/csv")
        for name, text in files.items()
    }


def browser_files(number: str) -> dict[str, str]:
    return {
        "participants.csv": (
            "study_id,site,personal_number,enrolled_on,consent_version,consent_date\n"
            f"OSLA-OLD1,OSLA,{number},2025-01-06,v1,2025-01-06\n"
        ),
        "allocations.csv": "study_id,arm,randomised_on\nOSLA-OLD1,A,2025-01-07\n",
        "assessments.csv": (
            "study_id,visit,assessed_on,in_paid_work,on_benefits\nOSLA-OLD1,m6,2025-07-07,no,no\n"
        ),
    }


def test_data_manager_checks_then_imports_in_the_browser(
    schedule: World, numbers: list[str]
) -> None:
    url = reverse("trialimport:import", args=["ips"])
    client = schedule.client("datamanager")
    assert client.get(url).status_code == 200
    before = counts()

    checked = client.post(url, upload(browser_files(numbers[0])))

    trial_import = TrialImport.objects.get()
    detail = reverse("trialimport:import_detail", args=["ips", trial_import.pk])
    assert checked.status_code == 302 and checked["Location"] == detail
    assert trial_import.status == "checked" and trial_import.importable
    assert trial_import.report["created"] == 3 and trial_import.report["ok"]
    assert trial_import.file_names == ["allocations.csv", "assessments.csv", "participants.csv"]
    # Checking writes nothing but the upload's audit event.
    assert counts() == {**before, "AuditEvent": before["AuditEvent"] + 1}
    uploaded = AuditEvent.objects.get(action="trialimport.uploaded")
    assert set(uploaded.data["files"]) == set(trial_import.file_names)
    # The files wait on disk, encrypted: no personal number in clear.
    kept = storage.files_path(trial_import.pk).read_bytes()
    assert numbers[0].encode() not in kept and b"OSLA-OLD1" not in kept
    page = client.get(detail)
    body = page.content.decode()
    assert "3 rows will be created when you import" in body and numbers[0] not in body
    assert "hx-trigger" not in body  # nothing running: no polling

    done = client.post(reverse("trialimport:import_confirm", args=["ips", trial_import.pk]))

    assert done.status_code == 302 and done["Location"] == detail
    trial_import.refresh_from_db()
    assert trial_import.status == "done" and trial_import.imported_at
    assert trial_import.imported_by == schedule.users["datamanager"]
    assert not storage.files_path(trial_import.pk).exists()
    participant = Participant.objects.get(trial=schedule.trial, study_id="OSLA-OLD1")
    assert participant.allocation.source == Allocation.Source.IMPORTED
    assert Visit.objects.get(participant=participant).completed_on == dt.date(2025, 7, 7)
    assert AuditEvent.objects.filter(action="trial.imported", actor=schedule.users["datamanager"])
    assert "Imported: 3 rows created, 0 unchanged." in client.get(detail).content.decode()
    # A second confirmation imports nothing.
    again = client.post(
        reverse("trialimport:import_confirm", args=["ips", trial_import.pk]), follow=True
    )
    assert "not waiting to be imported" in again.content.decode()
    assert Participant.objects.filter(study_id="OSLA-OLD1").count() == 1
    listed = client.get(url).content.decode()
    assert detail in listed and "Imported" in listed


def test_browser_check_shows_row_errors(schedule: World, numbers: list[str]) -> None:
    files = browser_files(numbers[0])
    files["participants.csv"] += "OSLA-OLD2,NOPE,,2025-01-06,v1,2025-01-06\n"
    client = schedule.client("datamanager")
    before = counts()

    checked = client.post(reverse("trialimport:import", args=["ips"]), upload(files), follow=True)

    trial_import = TrialImport.objects.get()
    assert trial_import.report["errors"] == [
        {"file": "participants.csv", "line": 3, "column": "site", "message": "Unknown site NOPE."}
    ]
    assert not trial_import.importable
    assert not storage.files_path(trial_import.pk).exists()  # nothing to import: dropped
    page = checked.content.decode()
    assert "Unknown site NOPE." in page and "1 error: nothing has been written" in page
    assert 'action="/trials/ips/import/' not in page.split("Unknown site NOPE.")[1]
    assert counts() == {**before, "AuditEvent": before["AuditEvent"] + 1}
    confirm = reverse("trialimport:import_confirm", args=["ips", trial_import.pk])
    refused = client.post(confirm, follow=True)
    assert "not waiting to be imported" in refused.content.decode()
    assert counts()["Participant"] == before["Participant"]


def test_a_personal_number_in_an_error_is_not_kept(schedule: World, numbers: list[str]) -> None:
    """Assessments keyed by personal number instead of study id: the errors kept with the
    import mask the numbers."""
    files = {
        "assessments.csv": (
            "study_id,visit,assessed_on,in_paid_work,on_benefits\n"
            f"{numbers[0]},m6,2025-07-07,no,no\n"
        )
    }
    trial_import = import_jobs.start_check(
        schedule.trial, as_bytes(files), actor=schedule.users["datamanager"]
    )
    [error] = trial_import.report["errors"]
    assert error["line"] == 2 and error["column"] == "study_id"
    assert numbers[0] not in str(trial_import.report) and "•" * 11 in error["message"]


def test_browser_import_needs_a_file(schedule: World) -> None:
    response = schedule.client("datamanager").post(reverse("trialimport:import", args=["ips"]))
    assert response.status_code == 200 and response.context["form"].errors
    assert not TrialImport.objects.exists()


def test_the_check_reports_progress_as_it_goes(schedule: World, numbers: list[str]) -> None:
    seen: list[tuple[int, int]] = []
    importing.import_trial(
        as_bytes(browser_files(numbers[0])),
        actor=schedule.users["datamanager"],
        trial=schedule.trial,
        dry_run=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every upload counts as large: processed on a worker."""
    monkeypatch.setattr(import_jobs, "INLINE_BYTES", 0)


def test_large_files_wait_for_a_worker_and_the_page_polls(
    schedule: World,
    numbers: list[str],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    large(monkeypatch)
    queued: list[int] = []
    monkeypatch.setattr(run_import, "delay", queued.append)
    client = schedule.client("datamanager")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("trialimport:import", args=["ips"]), upload(browser_files(numbers[0]))
        )
    trial_import = TrialImport.objects.get()
    assert queued == [trial_import.pk] and trial_import.status == "check_queued"
    fragment = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "Waiting to be checked" in fragment
    assert "<html" not in fragment
    cache.set(storage.progress_key(trial_import.pk), (2, 3))
    assert "2 of about 3 rows" in client.get(response["Location"]).content.decode()

    assert run_import(trial_import.pk) == "checked"
    assert run_import(trial_import.pk) == "skipped"  # a second delivery does nothing
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("trialimport:import_confirm", args=["ips", trial_import.pk]))
    assert queued == [trial_import.pk, trial_import.pk]
    assert TrialImport.objects.get().status == "import_queued"
    assert not Participant.objects.filter(study_id="OSLA-OLD1").exists()
    assert run_import(trial_import.pk) == "done"
    assert Participant.objects.filter(study_id="OSLA-OLD1").exists()
    assert "hx-trigger" not in client.get(response["Location"]).content.decode()
    assert run_import(trial_import.pk + 1000) == "missing"


def test_the_worker_writes_the_report_in_the_users_language(
    schedule: World,
    numbers: list[str],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    large(monkeypatch)
    monkeypatch.setattr(run_import, "delay", lambda pk: None)
    files = browser_files(numbers[0])
    files["participants.csv"] += "OSLA-OLD2,NOPE,,2025-01-06,v1,2025-01-06\n"
    with translation.override("nb"), django_capture_on_commit_callbacks(execute=True):
        trial_import = import_jobs.start_check(
            schedule.trial, as_bytes(files), actor=schedule.users["datamanager"]
        )
    assert trial_import.language == "nb"
    assert run_import(trial_import.pk) == "checked"  # on a worker, in the default language
    trial_import.refresh_from_db()
    [error] = trial_import.report["errors"]
    with translation.override("nb"):
        expected = (
            importing.import_trial(
                as_bytes(files),
                actor=schedule.users["datamanager"],
                trial=schedule.trial,
                dry_run=True,
            )
            .errors[0]
            .message
        )
    assert error["message"] == expected and "Unknown site" not in expected


def test_an_unreachable_broker_fails_the_import_instead_of_the_page(
    schedule: World,
    numbers: list[str],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    large(monkeypatch)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(run_import, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = schedule.client("datamanager").post(
            reverse("trialimport:import", args=["ips"]), upload(browser_files(numbers[0]))
        )
    trial_import = TrialImport.objects.get()
    assert trial_import.status == "failed" and "task queue" in trial_import.error
    assert not storage.files_path(trial_import.pk).exists()
    page = schedule.client("datamanager").get(response["Location"]).content.decode()
    assert "task queue could not be reached" in page and "hx-trigger" not in page


def test_a_nul_in_an_uploaded_file_is_a_row_error_on_the_page(
    schedule: World, numbers: list[str]
) -> None:
    files = browser_files(numbers[0])
    files["participants.csv"] = files["participants.csv"].replace("OSLA-OLD1,", "OSLA\x00OLD1,")
    response = schedule.client("datamanager").post(
        reverse("trialimport:import", args=["ips"]), upload(files)
    )
    trial_import = TrialImport.objects.get()
    assert trial_import.status == "checked", trial_import.error
    page = schedule.client("datamanager").get(response["Location"]).content.decode()
    assert "Contains a character that is not allowed: NUL (U+0000)." in page


def test_an_unexpected_failure_is_told_in_words_not_by_an_exception_name(
    schedule: World, numbers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    large(monkeypatch)
    actor = schedule.users["datamanager"]
    trial_import = import_jobs.start_check(
        schedule.trial, as_bytes(browser_files(numbers[0])), actor=actor
    )
    storage.files_path(trial_import.pk).write_bytes(b"not encrypted")  # unreadable
    assert import_jobs.execute(trial_import.pk) == "failed"
    trial_import.refresh_from_db()
    assert trial_import.error == (
        "Processing the files failed: an unexpected error, which has been logged; tell the "
        "administrator if it happens again"
    )


def test_the_sweep_resumes_or_fails_stale_steps_and_expires_unimported_files(
    schedule: World,
    numbers: list[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(run_import, "delay", sent.append)
    actor = schedule.users["datamanager"]
    waiting = import_jobs.start_check(
        schedule.trial, as_bytes(browser_files(numbers[0])), actor=actor
    )
    assert waiting.status == "checked" and storage.files_path(waiting.pk).exists()
    lost, forgotten, resumed = (
        TrialImport.objects.create(
            trial=schedule.trial,
            status=status,
            attempts=attempts,
            heartbeat_at=timezone.now(),
            uploaded_by=actor,
            uploaded_by_name="datamanager",
            language="nb",
        )
        for status, attempts in (
            (TrialImport.Status.IMPORTING, settings.JOB_MAX_ATTEMPTS),
            (TrialImport.Status.CHECK_QUEUED, 0),
            (TrialImport.Status.CHECKING, 1),
        )
    )
    assert jobs.sweep() == 0  # nothing old yet
    later = timezone.now() + dt.timedelta(hours=25)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep(later) == 4
    for trial_import in (waiting, lost, forgotten, resumed):
        trial_import.refresh_from_db()
    assert waiting.status == "expired" and not storage.files_path(waiting.pk).exists()
    # In the language of the user who checked the files.
    assert lost.status == "failed" and "stoppet" in lost.error
    assert forgotten.status == "failed" and "tok fatt i filene" in forgotten.error
    assert resumed.status == "check_queued" and sent == [resumed.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep() == 0  # safe to repeat
    assert sent == [resumed.pk]


def test_the_sweep_removes_files_an_ended_import_left_behind(
    schedule: World, numbers: list[str]
) -> None:
    """A worker that stops after committing the outcome and before removing the files leaves
    them on disk; the sweep removes them, and only those of ended imports."""
    actor = schedule.users["datamanager"]
    files = as_bytes(browser_files(numbers[0]))
    waiting, done, failed = (
        import_jobs.start_check(schedule.trial, files, actor=actor) for _ in range(3)
    )
    TrialImport.objects.filter(pk=done.pk).update(status=TrialImport.Status.DONE)
    TrialImport.objects.filter(pk=failed.pk).update(status=TrialImport.Status.FAILED)
    storage.files_path(999_999).write_bytes(b"no import of this number")
    assert all(storage.files_path(pk).exists() for pk in (waiting.pk, done.pk, failed.pk))
    assert jobs.sweep() == 0  # no import changed
    assert storage.files_path(waiting.pk).exists()  # still waiting for a decision
    assert not storage.files_path(done.pk).exists()
    assert not storage.files_path(failed.pk).exists()
    assert storage.files_path(999_999).exists()  # not an import's: left alone


@pytest.mark.usefixtures("require_postgres")  # a second connection takes row locks
@pytest.mark.django_db(transaction=True)
def test_a_check_does_not_hold_the_trial_against_randomisation(
    schedule: World, numbers: list[str]
) -> None:
    """While assessments are checked or imported, and while participants are checked, another
    connection can take the trial's lock (the one randomise() takes); from the first
    allocation on, and while participants are imported, it cannot."""
    actor = schedule.users["datamanager"]
    setup = browser_files(numbers[0])
    assessments = {"assessments.csv": setup.pop("assessments.csv")}
    settings = connection.settings_dict
    free: list[bool] = []

    def probe(done: int, total: int) -> None:
        # Called inside the import's transaction, after a row is dealt with.
        with psycopg.connect(
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            user=settings["USER"],
            password=settings["PASSWORD"] or None,
            dbname=settings["NAME"],
            autocommit=False,
        ) as other:
            try:
                other.execute(
                    "SELECT id FROM trial_trial WHERE id = %s FOR UPDATE NOWAIT",
                    [schedule.trial.pk],
                ).fetchall()
                free.append(True)
            except psycopg.errors.LockNotAvailable:
                free.append(False)

    def run(files: dict[str, str], **options: bool) -> list[bool]:
        free.clear()
        report = importing.import_trial(
            as_bytes(files), actor=actor, trial=schedule.trial, progress=probe, **options
        )
        assert report.ok, report.errors
        return list(free)

    # Checking: free while participants are checked; an allocation takes the lock as
    # randomise() does, until the check is rolled back.
    assert run(setup, dry_run=True) == [True, False]
    assert run(setup) == [False, False]  # importing participants and allocations: held
    assert run(assessments, dry_run=True) == [True]
    assert run(assessments) == [True]
    assert Visit.objects.get(participant__study_id="OSLA-OLD1").completed_on


@pytest.mark.django_db(transaction=True)
def test_a_large_import_runs_on_a_real_worker_on_redis(
    require_redis: str,
    schedule: World,
    numbers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    large(monkeypatch)

    def wait_while(*statuses: str) -> TrialImport:
        deadline = time.monotonic() + 60
        while (current := TrialImport.objects.get()).status in statuses:
            assert time.monotonic() < deadline, "the worker did not finish"
            time.sleep(0.1)
        return current

    client = schedule.client("datamanager")
    with worker_for(monkeypatch, run_import):
        client.post(reverse("trialimport:import", args=["ips"]), upload(browser_files(numbers[0])))
        checked = wait_while("check_queued", "checking")
        assert checked.status == "checked" and checked.importable, checked.error
        client.post(reverse("trialimport:import_confirm", args=["ips", checked.pk]))
        done = wait_while("import_queued", "importing")
    assert done.status == "done", done.error
    assert Participant.objects.filter(trial=schedule.trial, study_id="OSLA-OLD1").exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("caseworker", 403), ("statistician", 403), ("outsider", 404)]
)
def test_import_page_access(world: World, persona: str, status: int) -> None:
    client = world.client(persona)
    url = reverse("trialimport:import", args=["ips"])
    assert client.get(url).status_code == status
    trial_import = TrialImport.objects.create(
        trial=world.trial, status=TrialImport.Status.CHECKED, uploaded_by_name="someone"
    )
    detail = reverse("trialimport:import_detail", args=["ips", trial_import.pk])
    assert client.get(detail).status_code == status
    confirm = reverse("trialimport:import_confirm", args=["ips", trial_import.pk])
    assert client.post(confirm).status_code == status
