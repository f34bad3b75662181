"""Least privilege in PostgreSQL: the application's role cannot rewrite the append-only tables.

``.ci/run`` runs the suite with the application connected as a restricted role and the test
databases created by the tables' owner (DATABASE_OWNER_URL). These tests check, as that role,
that what a hostile insider with the application's credentials would try is refused by the
database itself, and that the owner's grant gives exactly the privileges trial/dbroles.py says.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from tests.conftest import IN_CI, OWNER_URL, as_owner
from trial import dbroles

APPEND_ONLY = {
    "randomisation_allocation",
    "randomisation_allocationflag",
    "randomisation_unblinding",
    "trial_auditevent",
    "reports_analysisunblinding",
}


@pytest.fixture
def restricted(require_postgres: None) -> None:
    if not OWNER_URL:
        if IN_CI:
            pytest.fail("CI runs the application as its restricted role: set DATABASE_OWNER_URL")
        pytest.skip("DATABASE_OWNER_URL is not set: the tests connect as the owner")


def test_the_tests_run_as_a_restricted_role(restricted: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
            " FROM pg_roles WHERE rolname = current_user"
        )
        user, *powers = cursor.fetchone()
    assert user == connection.settings_dict["USER"] and not any(powers)


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE randomisation_allocation CASCADE",
        "TRUNCATE trial_auditevent",
        "DELETE FROM randomisation_allocation",
        "UPDATE randomisation_allocation SET reason = 'x'",
        "DELETE FROM trial_auditevent",
        "UPDATE reports_analysisunblinding SET reason = 'x'",
        "ALTER TABLE randomisation_allocation DISABLE TRIGGER ALL",
        "DROP TRIGGER randomisation_allocation_append_only ON randomisation_allocation",
        "SET session_replication_role = replica",
        "ALTER TABLE randomisation_allocation ADD COLUMN note text",
        "CREATE TABLE sneaky (id int)",
    ],
)
def test_the_application_role_cannot_tamper(restricted: None, statement: str) -> None:
    with (
        pytest.raises(DatabaseError, match=r"permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def test_the_grant_reads_the_append_only_tables_from_their_triggers(restricted: None) -> None:
    privileges = dbroles.table_privileges()
    assert {t for t, p in privileges.items() if p == "SELECT, INSERT"} >= APPEND_ONLY
    assert privileges["randomisation_blockslot"] == "SELECT, INSERT, UPDATE"
    assert privileges["trial_participant"] == "SELECT, INSERT, UPDATE, DELETE"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)"
            " FROM information_schema.role_table_grants WHERE grantee = current_user"
            " GROUP BY table_name"
        )
        held = dict(cursor.fetchall())
    assert held["randomisation_allocation"] == "INSERT,SELECT"
    assert held["trial_participant"] == "DELETE,INSERT,SELECT,UPDATE"
    assert not [t for t, p in held.items() if "TRUNCATE" in p or "TRIGGER" in p]


@pytest.mark.django_db(transaction=True)
def test_the_owner_grants_again_after_a_migration(require_postgres: None) -> None:
    if not OWNER_URL:
        pytest.skip("DATABASE_OWNER_URL is not set")
    role = connection.settings_dict["USER"]
    out = io.StringIO()
    with as_owner():
        call_command("grant_app_role", role, stdout=out)
    assert "randomisation_allocation" in out.getvalue() and "append-only" in out.getvalue()
