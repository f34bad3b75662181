"""The follow-up API: screening, enrolment, withdrawal, visits and missed visits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from instruments import services as instruments
from instruments.models import Assessment
from tests import factories
from tests.conftest import World, totp_code, totp_device
from trial import services
from trial.models import (
    AuditEvent,
    CovariateDefinition,
    ExclusionReason,
    Participant,
    ScreeningRecord,
    Visit,
    VisitDefinition,
    Withdrawal,
)

TODAY = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)


def post(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data or {}, content_type="application/json")


def schedule(world: World, *months: int) -> None:
    for n in months or (3, 6, 12):
        VisitDefinition.objects.create(
            trial=world.trial, code=f"m{n}", label=f"{n} months", offset_months=n
        )


def visit_of(participant: Participant, code: str = "m3") -> Visit:
    return Visit.objects.get(participant=participant, definition__code=code)


def enrolment(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "site": "OSLA",
        "personal_number": factories.personal_number(),
        "enrolled_on": "2025-02-01",
        "consent_version": "2.0",
        "consent_date": "2025-02-01",
    }
    values.update(overrides)
    return values


def outcome(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "assessed_on": "2025-06-01",
        "in_paid_work": True,
        "hours_per_week": "20.0",
        "monthly_earnings": 18000,
        "occupation_code": "5223",
        "on_benefits": False,
        "self_rated_health": 4,
    }
    values.update(overrides)
    return values


# Screening


def test_screening_is_logged_and_listed_with_filters(world: World) -> None:
    ExclusionReason.objects.create(trial=world.trial, code="age", label="Too old")
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/screening/"
    eligible = post(client, url, {"site": "OSLA", "screened_on": "2025-01-03", "eligible": True})
    assert eligible.status_code == 201, eligible.json()
    assert eligible.json()["exclusion_reason"] is None
    assert eligible.json()["study_id"] is None
    ineligible = post(
        client,
        url,
        {"site": "BGO", "screened_on": "2025-02-10", "eligible": False, "exclusion_reason": "age"},
    )
    assert ineligible.status_code == 201, ineligible.json()
    record = ScreeningRecord.objects.get(pk=ineligible.json()["id"])
    assert record.exclusion_reason is not None
    assert (record.site.code, record.exclusion_reason.code) == ("BGO", "age")
    assert record.screened_by == world.users["coordinator"]
    assert AuditEvent.objects.filter(
        action="screeningrecord.created", target_id=str(record.pk)
    ).exists()

    def ids(query: str) -> list[int]:
        response = client.get(url + query)
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [ineligible.json()["id"], eligible.json()["id"]]  # newest first
    assert ids("?site=BGO") == [ineligible.json()["id"]]
    assert ids("?eligible=true") == [eligible.json()["id"]]
    assert ids("?eligible=false") == [ineligible.json()["id"]]
    assert ids("?screened_from=2025-02-10") == [ineligible.json()["id"]]
    assert ids("?screened_to=2025-02-09") == [eligible.json()["id"]]
    bad = client.get(url + "?screened_from=yesterday")
    assert bad.status_code == 400
    assert "screened_from" in bad.json()["errors"]


def test_screening_refusals_are_field_errors_and_save_nothing(world: World) -> None:
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/screening/"
    events = AuditEvent.objects.count()
    no_reason = post(client, url, {"site": "OSLA", "screened_on": "2025-01-03", "eligible": False})
    assert no_reason.status_code == 400
    assert no_reason.json()["errors"] == {
        "exclusion_reason": ["Give the reason the person was not eligible."]
    }
    future = post(client, url, {"site": "OSLA", "screened_on": "2999-01-01", "eligible": True})
    assert future.status_code == 400
    assert future.json()["errors"] == {
        "screened_on": ["The screening date cannot be in the future."]
    }
    foreign_site = post(client, url, {"site": "TRD", "screened_on": "2025-01-03", "eligible": True})
    assert foreign_site.status_code == 400
    assert list(foreign_site.json()["errors"]) == ["site"]
    assert ScreeningRecord.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_caseworker_sees_only_own_sites_screening_and_cannot_log(world: World) -> None:
    for site in world.sites:
        services.record_screening(
            world.trial,
            site=site,
            screened_on=dt.date(2025, 1, 3),
            eligible=True,
            actor=world.users["coordinator"],
        )
    url = "/api/v1/trials/ips/screening/"
    caseworker = world.client("caseworker")
    rows = caseworker.get(url).json()["results"]
    assert [row["site"] for row in rows] == ["OSLA"]
    assert caseworker.get(url + "?site=BGO").json()["results"] == []
    assert world.client("statistician").get(url).json()["count"] == 3
    body = {"site": "OSLA", "screened_on": "2025-01-03", "eligible": True}
    assert post(caseworker, url, body).status_code == 403
    assert post(world.client("monitor"), url, body).status_code == 403
    assert world.client("reviewer").get(url).status_code == 403
    assert world.client("outsider").get(url).status_code == 404
    assert post(world.client("outsider"), url, body).status_code == 404
    assert ScreeningRecord.objects.count() == 3


# Enrolment and withdrawal


def test_enrolment_with_a_token_never_returns_the_personal_number(world: World) -> None:
    CovariateDefinition.objects.create(
        trial=world.trial, key="age", label="Age", kind="integer", min_value=16, max_value=67
    )
    screening = services.record_screening(
        world.trial,
        site=world.sites[0],
        screened_on=dt.date(2025, 1, 30),
        eligible=True,
        actor=None,
    )
    # The coordinator may download data, so a token needs a two-factor code as well.
    device = totp_device(world.users["coordinator"])
    token = Client().post(
        "/api/v1/auth/token/",
        {
            "username": "coordinator",
            "password": "correct horse battery",
            "otp_token": totp_code(device.key),
        },
    )
    assert token.status_code == 200
    client = Client(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    number = factories.personal_number()
    body = enrolment(personal_number=number, baseline={"age": "34"}, screening=screening.pk)
    response = post(client, "/api/v1/trials/ips/participants/", body)
    assert response.status_code == 201, response.json()
    data = response.json()
    participant = Participant.objects.get(study_id=data["study_id"])
    assert data == {
        "study_id": participant.study_id,
        "site": "OSLA",
        "enrolled_on": "2025-02-01",
        "status": "active",
        "baseline": {"age": 34},
        "consent_version": "2.0",
        "consent_date": "2025-02-01",
        "randomised_on": None,
    }
    assert participant.study_id.startswith("OSLA-")
    assert response["Location"] == f"/api/v1/trials/ips/participants/{participant.study_id}/"
    screening.refresh_from_db()
    assert screening.participant == participant
    assert number not in response.content.decode()
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert number not in detail.content.decode()
    events = AuditEvent.objects.filter(target_id=str(participant.pk))
    assert events.filter(action="participant.created").exists()
    assert all(number not in str(event.data) for event in events)


def test_enrolment_refusals_are_field_errors_and_save_nothing(world: World) -> None:
    CovariateDefinition.objects.create(
        trial=world.trial, key="age", label="Age", kind="integer", min_value=16, max_value=67
    )
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/participants/"
    participants, events = Participant.objects.count(), AuditEvent.objects.count()

    def refused(**overrides: Any) -> dict[str, Any]:
        response = post(client, url, enrolment(**{"baseline": {"age": 30}, **overrides}))
        assert response.status_code == 400
        return response.json()["errors"]

    wrong_digit = refused(personal_number="01010100132")
    assert list(wrong_digit) == ["personal_number"]
    assert "check digits" in wrong_digit["personal_number"][0]
    assert refused(enrolled_on="2999-01-01") == {
        "enrolled_on": ["The enrolment date cannot be in the future."]
    }
    assert refused(consent_date="2025-02-02") == {
        "consent_date": ["Consent must be given on or before the enrolment date."]
    }
    assert refused(baseline={"age": 15, "shoe_size": 44}) == {
        "baseline": {"age": ["Must be at least 16."], "shoe_size": ["Unknown covariate."]}
    }
    assert list(refused(site="TRD")) == ["site"]
    assert list(refused(enrolled_on="1st of May")) == ["enrolled_on"]
    assert Participant.objects.count() == participants
    assert AuditEvent.objects.count() == events


def test_duplicate_enrolment_names_the_existing_study_id(world: World) -> None:
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/participants/"
    body = enrolment()
    first = post(client, url, body)
    assert first.status_code == 201
    again = post(client, url, {**body, "site": "BGO"})
    assert again.status_code == 400
    study_id = first.json()["study_id"]
    assert again.json()["errors"] == {
        "personal_number": [f"This person is already enrolled in the trial as {study_id}."]
    }
    assert Participant.objects.filter(trial=world.trial, site__code="BGO").count() == 2


def test_enrolment_needs_the_enrol_capability(world: World) -> None:
    url = "/api/v1/trials/ips/participants/"
    before = Participant.objects.count()
    for persona in ("monitor", "caseworker", "statistician"):
        assert post(world.client(persona), url, enrolment()).status_code == 403
    assert post(world.client("outsider"), url, enrolment()).status_code == 404
    assert Participant.objects.count() == before


def test_withdrawal_through_the_api(world: World) -> None:
    participant = world.participants["OSLA"][0]
    url = f"/api/v1/trials/ips/participants/{participant.study_id}/withdrawal/"
    body = {"withdrawn_on": "2025-04-01", "scope": "no_data", "reason": "Moved abroad"}
    assert post(world.client("caseworker"), url, body).status_code == 403
    assert post(world.client("monitor"), url, body).status_code == 403
    assert post(world.client("outsider"), url, body).status_code == 404
    client = world.client("coordinator")
    future = post(client, url, {**body, "withdrawn_on": "2999-01-01"})
    assert future.status_code == 400
    assert future.json()["errors"] == {
        "withdrawn_on": ["The withdrawal date cannot be in the future."]
    }
    bad_scope = post(client, url, {**body, "scope": "everything"})
    assert bad_scope.status_code == 400
    assert list(bad_scope.json()["errors"]) == ["scope"]
    assert not Withdrawal.objects.exists()
    response = post(client, url, body)
    assert response.status_code == 201, response.json()
    assert response.json()["study_id"] == participant.study_id
    assert response.json()["scope"] == "no_data"
    participant.refresh_from_db()
    assert participant.status == Participant.Status.WITHDRAWN
    again = post(client, url, body)
    assert again.status_code == 400
    assert again.json()["errors"] == {
        "non_field_errors": ["The participant has already withdrawn."]
    }
    assert Withdrawal.objects.count() == 1
    unknown = post(client, "/api/v1/trials/ips/participants/OSLA-NOPE/withdrawal/", body)
    assert unknown.status_code == 404


# Visits


def visits_in_every_status(world: World) -> dict[str, Visit]:
    """On TODAY: m3 of OSLA[0] is due, of OSLA[1] overdue, of OSLB[0] completed, of
    OSLB[1] missed; every m6 and m12 is not yet due; BGO's m3 is overdue."""
    schedule(world)
    randomised = {
        "OSLA": [dt.date(2025, 3, 1), dt.date(2025, 1, 15)],
        "OSLB": [dt.date(2025, 2, 20), dt.date(2025, 1, 20)],
        "BGO": [dt.date(2025, 1, 10), dt.date(2025, 1, 10)],
    }
    for code, dates in randomised.items():
        for participant, day in zip(world.participants[code], dates, strict=True):
            services.generate_visits(participant, randomised_on=day)
    completed = visit_of(world.participants["OSLB"][0])
    instruments.record_assessment(
        completed,
        values={"assessed_on": dt.date(2025, 5, 25), "in_paid_work": False, "on_benefits": True},
        actor=None,
    )
    missed = services.mark_visit_missed(visit_of(world.participants["OSLB"][1]), actor=None)
    return {
        "due": visit_of(world.participants["OSLA"][0]),
        "overdue": visit_of(world.participants["OSLA"][1]),
        "completed": completed,
        "missed": missed,
    }


@time_machine.travel(TODAY, tick=False)
def test_visit_list_status_filter_matches_status_on(world: World) -> None:
    examples = visits_in_every_status(world)
    client = world.client("statistician")
    url = "/api/v1/trials/ips/visits/"
    everything = client.get(url).json()
    assert everything["count"] == 18
    today = dt.date(2025, 6, 2)
    expected = {v.pk: v.status_on(today) for v in Visit.objects.all()}
    assert {row["id"]: row["status"] for row in everything["results"]} == expected
    seen: set[int] = set()
    for status in Visit.Status.values:
        rows = client.get(url, {"status": status}).json()["results"]
        assert {row["id"] for row in rows} == {pk for pk, s in expected.items() if s == status}
        seen |= {row["id"] for row in rows}
    assert seen == set(expected)
    for status, visit in examples.items():
        ids = [row["id"] for row in client.get(url, {"status": status}).json()["results"]]
        assert visit.pk in ids
    row = next(r for r in everything["results"] if r["id"] == examples["completed"].pk)
    assert row["completed_on"] == "2025-05-25"
    assert row["in_window"] is True
    assert row["visit"] == "m3"
    assert "arm" not in row


@time_machine.travel(TODAY, tick=False)
def test_visit_list_filters_by_site_participant_key_and_due_dates(world: World) -> None:
    visits_in_every_status(world)
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/visits/"

    def rows(**params: str) -> list[dict[str, Any]]:
        response = client.get(url, params)
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    assert {r["site"] for r in rows(site="BGO")} == {"BGO"}
    assert len(rows(site="BGO")) == 6
    study_id = world.participants["OSLA"][0].study_id
    assert [r["visit"] for r in rows(participant=study_id)] == ["m3", "m6", "m12"]
    assert {r["visit"] for r in rows(visit="m12")} == {"m12"}
    window = rows(due_after="2025-06-01", due_before="2025-06-30")
    assert [(r["study_id"], r["due_on"]) for r in window] == [(study_id, "2025-06-01")]
    assert [r["status"] for r in rows(site="OSLA", status="overdue")] == ["overdue"]
    assert client.get(url, {"status": "late"}).status_code == 400
    assert list(client.get(url, {"due_before": "soon"}).json()["errors"]) == ["due_before"]


@time_machine.travel(TODAY, tick=False)
def test_caseworker_sees_only_own_sites_visits(world: World) -> None:
    visits_in_every_status(world)
    url = "/api/v1/trials/ips/visits/"
    rows = world.client("caseworker").get(url).json()["results"]
    assert len(rows) == 6
    assert {r["site"] for r in rows} == {"OSLA"}
    assert world.client("caseworker").get(url, {"site": "BGO"}).json()["count"] == 0
    assert world.client("reviewer").get(url).status_code == 403
    assert world.client("outsider").get(url).status_code == 404


@time_machine.travel(TODAY, tick=False)
def test_visit_list_query_count_does_not_grow_with_rows(world: World) -> None:
    schedule(world, 1, 2, 3, 4, 5)
    client = world.client("caseworker")
    participants = world.participants["OSLA"]

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/trials/ips/visits/")
        assert response.status_code == 200
        return response.json()["count"], len(queries)

    services.generate_visits(participants[0], randomised_on=dt.date(2025, 1, 1))
    few_rows, few_queries = count()
    participants.extend(factories.make_participant(world.trial, world.sites[0]) for _ in range(4))
    for participant in participants[1:]:
        services.generate_visits(participant, randomised_on=dt.date(2025, 2, 1))
    many_rows, many_queries = count()
    assert (few_rows, many_rows) == (5, 30)
    assert many_queries == few_queries


# Assessments and missed visits


@time_machine.travel(TODAY, tick=False)
def test_missed_needs_the_capability_and_scope(world: World) -> None:
    examples = visits_in_every_status(world)
    other_site = visit_of(world.participants["BGO"][0])
    own = f"/api/v1/trials/ips/visits/{examples['due'].pk}/missed/"
    foreign = f"/api/v1/trials/ips/visits/{other_site.pk}/missed/"
    assert post(world.client("monitor"), own).status_code == 403
    assert post(world.client("statistician"), own).status_code == 403
    assert post(world.client("outsider"), own).status_code == 404
    assert post(world.client("caseworker"), foreign).status_code == 404
    assert (
        post(world.client("caseworker"), "/api/v1/trials/ips/visits/0/missed/").status_code == 404
    )
    assert not Visit.objects.filter(pk__in=[examples["due"].pk, other_site.pk], missed=True)


@time_machine.travel(TODAY, tick=False)
def test_mark_visit_missed_through_the_api(world: World) -> None:
    examples = visits_in_every_status(world)
    visit = examples["overdue"]
    client = world.client("caseworker")
    url = f"/api/v1/trials/ips/visits/{visit.pk}/missed/"
    response = post(client, url)
    assert response.status_code == 200, response.json()
    assert (response.json()["id"], response.json()["status"]) == (visit.pk, "missed")
    visit.refresh_from_db()
    assert visit.missed
    assert AuditEvent.objects.filter(
        action="visit.changed", target_id=str(visit.pk), actor_id=world.users["caseworker"].pk
    ).exists()
    again = post(client, url)
    assert again.status_code == 400
    assert again.json()["errors"] == {"non_field_errors": ["This visit is closed already."]}
    with pytest.raises(services.TrialError, match="closed already"):
        instruments.record_assessment(
            visit, values={**outcome(), "assessed_on": dt.date(2025, 6, 1)}, actor=None
        )
    assert not Assessment.objects.filter(visit=visit).exists()
