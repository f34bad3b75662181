"""Backup and restore as docs/backup.md describes them: ``pg_dump -Fc`` of a database with a
randomised trial, restored with ``pg_restore`` into an empty database, where
``verify_allocations`` (run as a separate process against the restored database) finds the
hash chain and the sealed lists intact and every table holds what the original held; the
report files are archived and restored beside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from randomisation.allocation import services as randomisation
from reports import services as reports
from reports.models import ReportRequest
from tests.conftest import OWNER_URL
from tests.faults.conftest import Ready, app_environment

TABLES = [
    "randomisation_allocation",
    "randomisation_blockslot",
    "randomisation_scheme",
    "trial_participant",
    "trial_auditevent",
    "reports_reportrequest",
]


def operator() -> str:
    """Backups and restores are the operator's: the tables' owner, not the application's role."""
    return (
        dj_database_url.parse(OWNER_URL)["USER"] if OWNER_URL else connection.settings_dict["USER"]
    )


def server_args() -> list[str]:
    db = connection.settings_dict
    return ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", operator()]


def back_up(dump: Path) -> None:
    """``pg_dump -Fc`` of the test database, as docs/backup.md does it."""
    command = [tool("pg_dump"), *server_args(), "-Fc", "-f", str(dump)]
    subprocess.run([*command, connection.settings_dict["NAME"]], check=True)


def restore(dump: Path, database: str) -> None:
    command = [tool("pg_restore"), *server_args(), "--no-owner", "--exit-on-error"]
    subprocess.run([*command, "-d", database, str(dump)], check=True)


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} (PostgreSQL client tools) is not installed"
    return path


def admin() -> psycopg.Connection[Any]:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=operator(),
        dbname="postgres",
        autocommit=True,
    )


def counts(dbname: str) -> dict[str, int]:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=operator(), dbname=dbname
    ) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def restored_url(database: str) -> str:
    """The restored database as the operator checks it (``verify_allocations``)."""
    db = connection.settings_dict
    return f"postgres://{operator()}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}"


@pytest.fixture
def empty_database(require_postgres: None) -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_an_empty_database_verifies_and_holds_everything(
    empty_database: str, ready: Ready, tmp_path: Path, settings: Any
) -> None:
    settings.FILES_ROOT = tmp_path / "files"
    for person in ready.waiting[:3]:
        randomisation.randomise(person, actor=ready.world.users["coordinator"])
    assert ready.randomised[0].randomised_on is not None
    with mock.patch.object(reports, "enqueue"):
        report = reports.request_report(
            ready.trial,
            kind="data",
            cut_off=ready.randomised[0].randomised_on,
            actor=ready.world.users["statistician"],
        )
    assert reports.execute_report(report.pk) == "done"
    original = counts(connection.settings_dict["NAME"])
    assert original["randomisation_allocation"] == 7

    # Back up: the database, and the report files.
    dump = tmp_path / "worktrials.dump"
    back_up(dump)
    archive = tmp_path / "files.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(settings.FILES_ROOT, arcname="files")

    # Restore into the empty database and a fresh folder.
    restore(dump, empty_database)
    restored_files = tmp_path / "restored"
    with tarfile.open(archive) as tar:
        # The "data" filter (refuses links and paths outside the folder) exists from Python
        # 3.11.4 and 3.12; on older patch releases our own archive is extracted as it is.
        if hasattr(tarfile, "data_filter"):
            tar.extractall(restored_files, filter="data")
        else:
            tar.extractall(restored_files)  # noqa: S202 - the archive was made by this test

    assert counts(empty_database) == original
    url = restored_url(empty_database)
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_allocations", ready.trial.code],
        env=app_environment(DATABASE_URL=url, FILES_ROOT=str(restored_files / "files")),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert (
        "7 allocations verified; chain, MACs, anchors, witness, commitments and sealed lists intact"
        in verified.stdout
    )
    done = ReportRequest.objects.get(pk=report.pk)
    restored_zip = restored_files / "files" / "reports" / ready.trial.code / done.zip_file
    original_zip = reports.report_folder(ready.trial) / done.zip_file
    assert restored_zip.read_bytes() == original_zip.read_bytes()


@pytest.mark.django_db(transaction=True)
def test_verification_of_a_restored_database_fails_when_a_record_was_altered(
    empty_database: str, ready: Ready, tmp_path: Path
) -> None:
    """The check after a restore is a real check: an allocation changed in the dump's
    database is reported, and the command exits non-zero."""
    dump = tmp_path / "worktrials.dump"
    back_up(dump)
    restore(dump, empty_database)
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=operator(),
        dbname=empty_database,
        autocommit=True,
    ) as conn:
        # The append-only trigger refuses UPDATE; the tables' owner can turn it off.
        conn.execute("ALTER TABLE randomisation_allocation DISABLE TRIGGER USER")
        conn.execute("UPDATE randomisation_allocation SET stratum = 'forged' WHERE sequence = 2")
        conn.execute("ALTER TABLE randomisation_allocation ENABLE TRIGGER USER")
    url = restored_url(empty_database)
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_allocations", ready.trial.code],
        env=app_environment(DATABASE_URL=url),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode != 0
    assert "#2" in verified.stderr
