import datetime as dt
from contextlib import nullcontext

import pytest
from django.db import DatabaseError, connection, transaction

from tests import factories
from tests.conftest import World, as_owner
from trial import audit, services
from trial.models import AuditEvent, Participant


def test_enrolment_is_audited_without_the_personal_number(world: World) -> None:
    number = factories.personal_number()
    participant = services.enrol_participant(
        world.trial,
        site=world.sites[0],
        personal_number=number,
        enrolled_on=dt.date(2025, 5, 1),
        consent_version="1.0",
        consent_date=dt.date(2025, 1, 2),
        actor=world.users["coordinator"],
    )
    event = AuditEvent.objects.get(action="participant.created", target_id=str(participant.pk))
    assert event.actor_name == "coordinator"
    assert event.trial == world.trial
    assert event.data["after"]["study_id"] == participant.study_id
    assert number not in str(event.data)
    assert "personal_number_encrypted" not in event.data["after"]


def test_admin_edit_records_before_and_after(world: World) -> None:
    coordinator = world.users["coordinator"]
    coordinator.is_staff = True
    coordinator.save()
    site = world.sites[0]
    response = world.client("coordinator").post(
        f"/admin/trial/site/{site.pk}/change/",
        {
            "trial": world.trial.pk,
            "code": site.code,
            "name": "NAV Sagene",
            "region": "Oslo",
            "municipality_number": "0301",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="site.changed", target_id=str(site.pk))
    assert event.data["changes"]["name"] == [site.name, "NAV Sagene"]
    assert event.data["changes"]["municipality_number"] == ["", "0301"]
    assert event.actor_name == "coordinator"


def test_admin_edit_with_invalid_value_shows_field_error_and_writes_nothing(world: World) -> None:
    coordinator = world.users["coordinator"]
    coordinator.is_staff = True
    coordinator.save()
    site = world.sites[0]
    response = world.client("coordinator").post(
        f"/admin/trial/site/{site.pk}/change/",
        {"trial": world.trial.pk, "code": site.code, "name": "X", "municipality_number": "30"},
    )
    assert response.status_code == 200
    assert "A municipality number has four digits." in response.content.decode()
    assert not AuditEvent.objects.filter(action="site.changed").exists()


def test_events_outlive_their_objects(world: World) -> None:
    membership = world.trial.memberships.first()
    assert membership is not None
    audit.record_deleted(membership, actor=world.users["coordinator"])
    pk = membership.pk
    membership.delete()
    event = AuditEvent.objects.get(action="membership.deleted", target_id=str(pk))
    assert event.data["before"]["role"] == membership.role


def test_unchanged_edit_writes_no_event(world: World) -> None:
    site = world.sites[0]
    before = audit.snapshot(site)
    assert audit.record_changed(site, before, actor=None) is None


def test_audit_page_shows_changes_to_monitor(world: World) -> None:
    site = world.sites[0]
    before = audit.snapshot(site)
    site.name = "NAV Gamle Oslo"
    site.save()
    audit.record_changed(site, before, actor=world.users["coordinator"])
    page = world.client("monitor").get("/trials/ips/audit/?action=site").content.decode()
    assert "NAV Gamle Oslo" in page
    assert "site.changed" in page
    fragment = world.client("monitor").get(
        "/trials/ips/audit/?actor=nobody", HTTP_HX_REQUEST="true"
    )
    assert "<html" not in fragment.content.decode()
    assert "No events match." in fragment.content.decode()


@pytest.mark.django_db(transaction=True)
def test_database_refuses_to_change_or_delete_audit_events(require_postgres: None) -> None:
    trial = factories.make_trial()
    event = audit.record("trial.note", trial, actor=None, data={"note": "x"})
    for sql in (
        "UPDATE trial_auditevent SET action = 'forged' WHERE id = %s",
        "DELETE FROM trial_auditevent WHERE id = %s",
    ):
        # The application's role may not (under .ci/run); the tables' owner is stopped by the
        # trigger.
        for refused in ("permission denied|append-only", "append-only"):
            with (
                as_owner() if refused == "append-only" else nullcontext(),
                pytest.raises(DatabaseError, match=refused),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.action == "trial.note"
    # Leave the table empty for the next test: TRUNCATE does not fire row triggers.
    with as_owner(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE trial_auditevent")
    assert Participant.objects.count() == 0
