"""Screening, enrolment, withdrawal and worklist pages."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from instruments import services as instruments
from tests import factories
from tests.conftest import World
from trial import services
from trial.models import (
    CovariateDefinition,
    ExclusionReason,
    Participant,
    ScreeningRecord,
    Visit,
    VisitDefinition,
)


def test_enrolment_page_happy_path_and_field_errors(world: World) -> None:
    CovariateDefinition.objects.create(
        trial=world.trial, key="age", label="Age", kind="integer", min_value=16, max_value=67
    )
    client = world.client("coordinator")
    assert client.get("/trials/ips/enrol/").status_code == 200
    form = {
        "site": world.sites[0].pk,
        "personal_number": "01010100132",  # wrong check digit
        "enrolled_on": "2025-02-01",
        "consent_version": "2.0",
        "consent_date": "2025-02-01",
        "baseline_age": "15",
    }
    response = client.post("/trials/ips/enrol/", form)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The check digits do not match" in page
    assert 'id="id_personal_number_error"' in page
    assert Participant.objects.filter(trial=world.trial).count() == 6
    form["personal_number"] = "01010100131"
    response = client.post("/trials/ips/enrol/", form)
    assert "Ensure this value is greater than or equal to 16" in response.content.decode()
    form["baseline_age"] = "22"
    response = client.post("/trials/ips/enrol/", form)
    assert response.status_code == 302
    participant = Participant.objects.get(trial=world.trial, baseline={"age": 22})
    assert response["Location"] == participant.get_absolute_url()
    duplicate = client.post("/trials/ips/enrol/", form)
    assert f"already enrolled in the trial as {participant.study_id}" in duplicate.content.decode()


def test_enrol_and_screening_pages_need_the_capability(world: World) -> None:
    for url in ("/trials/ips/enrol/", "/trials/ips/screening/"):
        assert world.client("caseworker").get(url).status_code == 403
        assert world.client("outsider").get(url).status_code == 404


def test_screening_page_records_and_counts(world: World) -> None:
    reason = ExclusionReason.objects.create(trial=world.trial, code="age", label="Too old")
    client = world.client("coordinator")
    bad = client.post(
        "/trials/ips/screening/",
        {"site": world.sites[0].pk, "screened_on": "2025-01-03", "eligible": "no"},
    )
    assert bad.status_code == 200
    assert "Give the reason the person was not eligible." in bad.content.decode()
    good = client.post(
        "/trials/ips/screening/",
        {
            "site": world.sites[0].pk,
            "screened_on": "2025-01-03",
            "eligible": "no",
            "exclusion_reason": reason.pk,
        },
    )
    assert good.status_code == 302
    assert ScreeningRecord.objects.filter(trial=world.trial, exclusion_reason=reason).count() == 1
    assert "Too old" in client.get("/trials/ips/screening/").content.decode()


def test_withdrawal_page_blocks_later_assessment(world: World) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    participant = world.participants["OSLA"][0]
    visit = services.generate_visits(participant, randomised_on=dt.date(2025, 3, 1))[0]
    client = world.client("coordinator")
    response = client.post(
        f"/trials/ips/participants/{participant.study_id}/withdraw/",
        {"withdrawn_on": "2025-04-01", "scope": "no_data", "reason": "Moved"},
    )
    assert response.status_code == 302
    with pytest.raises(services.TrialError, match="withdrew from the trial on 2025-04-01"):
        instruments.record_assessment(
            visit,
            values={"assessed_on": "2025-06-01", "in_paid_work": True, "on_benefits": False},
            actor=world.users["caseworker"],
        )
    visit.refresh_from_db()
    assert visit.completed_on is None


@time_machine.travel(dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC), tick=False)
def test_caseworker_worklist_and_assessment(world: World) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    own = world.participants["OSLA"][0]
    other = world.participants["BGO"][0]
    for p in (own, other):
        services.generate_visits(p, randomised_on=dt.date(2025, 3, 1))
    client = world.client("caseworker")
    page = client.get("/trials/ips/worklist/").content.decode()
    assert own.study_id in page
    assert other.study_id not in page
    visit = Visit.objects.get(participant=own)
    instruments.record_assessment(
        visit,
        values={
            "assessed_on": "2025-06-01",
            "in_paid_work": True,
            "hours_per_week": "20",
            "on_benefits": False,
            "self_rated_health": "4",
        },
        actor=world.users["caseworker"],
    )
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 6, 1)
    assert own.study_id not in client.get("/trials/ips/worklist/").content.decode()


@time_machine.travel(dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC), tick=False)
def test_worklist_query_count_does_not_grow_with_rows(world: World) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    client = world.client("coordinator")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/trials/ips/worklist/").status_code == 200
        return len(queries)

    for p in Participant.objects.filter(trial=world.trial):
        services.generate_visits(p, randomised_on=dt.date(2025, 3, 1))
    few = count()
    for _ in range(10):
        p = factories.make_participant(world.trial, world.sites[1])
        services.generate_visits(p, randomised_on=dt.date(2025, 3, 1))
    assert count() == few
