"""Importing a JEM: the service (atomic, audited), the command, the page, and who may do it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from occupations import services
from occupations.models import JEMEntry, JobExposureMatrix
from tests.conftest import World
from tests.occupations.helpers import import_matrix
from trial.models import AuditEvent

GOOD = "code,level,measure,score\n5,1,mechanical,2\n52,2,mechanical,3\n5223,4,psychosocial,1.5\n"
BAD = "code,level,measure,score\n5,1,mechanical,2\n9999,4,mechanical,1\n52,3,mechanical,x\n"


def test_import_stores_entries_hash_and_audit(world: World) -> None:
    matrix = import_matrix(world, GOOD, source="Hand-built", licence="CC0")
    assert matrix.active and matrix.uploaded_by == world.users["coordinator"]
    assert len(matrix.file_hash) == 64
    assert sorted(matrix.entries.values_list("code", "level", "measure", "score")) == [
        ("5", 1, "mechanical", 2.0),
        ("52", 2, "mechanical", 3.0),
        ("5223", 4, "psychosocial", 1.5),
    ]
    assert matrix.measures == {"mechanical": "Mechanical", "psychosocial": "Psychosocial"}
    assert (
        AuditEvent.objects.filter(action="jobexposurematrix.imported", trial=world.trial).count()
        == 1
    )


def test_a_bad_file_writes_nothing_and_lists_every_error(world: World) -> None:
    with pytest.raises(services.JEMImportError) as raised:
        import_matrix(world, BAD)
    assert [(e.line, e.column) for e in raised.value.errors] == [
        (3, "code"),
        (4, "level"),
        (4, "score"),
    ]
    assert "Unknown STYRK-08 code '9999'" in raised.value.errors[0].message
    assert not JobExposureMatrix.objects.exists() and not JEMEntry.objects.exists()


def test_name_and_version_must_be_new_and_one_matrix_is_active(world: World) -> None:
    first = import_matrix(world, GOOD)
    with pytest.raises(services.JEMImportError, match="already"):
        import_matrix(world, GOOD)
    second = import_matrix(world, GOOD, version="2")
    first.refresh_from_db()
    assert second.active and not first.active
    services.activate_jem(first, actor=world.users["coordinator"])
    second.refresh_from_db()
    assert [m.version for m in JobExposureMatrix.objects.filter(active=True)] == ["1"]
    assert not second.active


def test_import_jem_command(world: World, tmp_path: Path) -> None:
    good = tmp_path / "jem.csv"
    good.write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    call_command(
        "import_jem",
        str(good),
        trial="ips",
        name="Cmd JEM",
        matrix_version="v1",
        activate=True,
        user="datamanager",
        stdout=out,
    )
    assert "Imported Cmd JEM v1: 3 scores (in use)" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 error"):
        call_command(
            "import_jem", str(bad), trial="ips", name="Bad", matrix_version="v1", stderr=err
        )
    assert "bad.csv:3 [code]: Unknown STYRK-08 code '9999'" in err.getvalue()
    assert not JobExposureMatrix.objects.filter(name="Bad").exists()
    with pytest.raises(CommandError, match="may not import"):
        call_command(
            "import_jem", str(good), trial="ips", name="X", matrix_version="1", user="statistician"
        )


def upload(text: str, **fields: str) -> dict[str, object]:
    data: dict[str, object] = {
        "file": SimpleUploadedFile("jem.csv", text.encode(), content_type="text/csv"),
        "name": "Page JEM",
        "version": "1",
        "source": "",
        "licence": "",
        "activate": "on",
    }
    data.update(fields)
    return data


def test_import_page_shows_row_errors_then_imports(world: World) -> None:
    client = world.client("datamanager")
    url = "/trials/ips/job-strain/matrices/"
    assert client.get(url).status_code == 200
    bad = client.post(url, upload(BAD))
    assert bad.status_code == 200
    page = bad.content.decode()
    assert "Unknown STYRK-08 code &#x27;9999&#x27;" in page
    assert "3 errors: nothing has been written" in page
    assert not JobExposureMatrix.objects.exists()
    good = client.post(url, upload(GOOD))
    assert good.status_code == 302
    matrix = JobExposureMatrix.objects.get()
    assert matrix.active and matrix.entries.count() == 3
    duplicate = client.post(url, upload(GOOD))
    assert "already" in duplicate.content.decode()
    other = import_matrix(world, GOOD, version="9", activate=False)
    assert client.post(f"{url}{other.pk}/activate/").status_code == 302
    other.refresh_from_db()
    assert other.active


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("coordinator", 200),
        ("datamanager", 200),
        ("statistician", 403),
        ("caseworker", 403),
        ("monitor", 403),
        ("outsider", 404),
    ],
)
def test_who_may_import(world: World, persona: str, status: int) -> None:
    client = world.client(persona)
    assert client.get("/trials/ips/job-strain/matrices/").status_code == status
    matrix = import_matrix(world, GOOD, activate=False)
    response = client.post(f"/trials/ips/job-strain/matrices/{matrix.pk}/activate/")
    assert response.status_code == (302 if status == 200 else status)
