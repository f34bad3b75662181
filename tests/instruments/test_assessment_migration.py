"""The old fixed-column assessments move into the generic store and back without loss
(``trial/0009``, ``instruments/0002``, ``trial/0010``).

The database is migrated back to before the move, old-style assessments are written with the
historical models (every kind of value, blanks, a zero in hours while not in paid work, benefit
types, contamination answers, who entered them, when, and their audit events), then migrated
forward, checked, migrated back, checked again, and left at the latest state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from instruments import builtin
from instruments import services as instruments
from instruments.models import Assessment, Instrument, VisitInstrument
from privacy.services import collect_participant_data
from tests import factories
from tests.conftest import as_owner
from trial import dbroles
from trial.models import AuditEvent, Participant, Visit, VisitDefinition

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("trial", "0008_trial_analysis_unblinded_at"), ("instruments", "0001_initial")]
OLD_COLUMNS = [
    "id",
    "visit_id",
    "assessed_on",
    "in_paid_work",
    "hours_per_week",
    "monthly_earnings",
    "occupation_code",
    "on_benefits",
    "benefit_type",
    "self_rated_health",
    "contamination_reported",
    "recorded_by_id",
    "created_at",
]
WHEN = dt.datetime(2024, 3, 4, 10, 30, 15, 123456, tzinfo=dt.UTC)


def migrate(targets: list[tuple[str, str]] | None = None) -> Apps:
    """Migrate to ``targets`` (the latest state when None); the models as they were there."""
    executor = MigrationExecutor(connection)
    nodes = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(nodes)
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def at_latest() -> Iterator[None]:
    """The test runs as the tables' owner: migrating is a DBA's work, and the restricted role
    the other tests use may not alter tables. Whatever happens in the test, the database ends
    at the latest state, with the application role's privileges on the tables made again."""
    app = connection.settings_dict.get("APP_CREDENTIALS")
    with as_owner():
        try:
            yield
        finally:
            migrate()
            if app:
                dbroles.grant_app_role(app["USER"])


def visit_of(participant: Participant, code: str) -> Visit:
    return Visit.objects.get(participant=participant, definition__code=code)


def scene() -> dict[str, Any]:
    """Two trials with a schedule and participants, a third with none of it; made with today's
    models before migrating back (these tables do not change, apart from the visit's new
    column, which the migration back drops)."""
    first = factories.make_trial(code="old-one", contamination_question="Helped?")
    second = factories.make_trial(code="old-two")
    empty = factories.make_trial(code="no-answers")
    people: dict[str, Participant] = {}
    for trial in (first, second, empty):
        site = factories.make_site(trial)
        for code, months in (("m6", 6), ("m12", 12)):
            VisitDefinition.objects.create(
                trial=trial, code=code, label=f"{months} months", offset_months=months
            )
        for n in range(3):
            person = factories.make_participant(
                trial, site, study_id=f"{trial.code}-{n}", randomised_on=dt.date(2024, 1, 10)
            )
            people[person.study_id] = person
            for definition in trial.visit_definitions.all():
                due = dt.date(2024, 1, 10) + dt.timedelta(days=30 * definition.offset_months)
                Visit.objects.create(
                    participant=person,
                    definition=definition,
                    due_on=due,
                    window_start=due - dt.timedelta(days=14),
                    window_end=due + dt.timedelta(days=30),
                )
    return {
        "trials": (first, second, empty),
        "people": people,
        "ann": factories.make_user("ann"),
        "bob": factories.make_user("bob"),
    }


# (study id, visit, old columns): every kind of answer the old table held.
OLD_ROWS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "old-one-0",
        "m6",
        {
            "in_paid_work": True,
            "hours_per_week": Decimal("37.5"),
            "monthly_earnings": 32000,
            "occupation_code": "5223",
            "on_benefits": False,
            "benefit_type": "",
            "self_rated_health": 4,
            "contamination_reported": True,
        },
    ),
    (
        "old-one-0",
        "m12",
        {
            # A zero in hours next to "not in paid work": the old table allowed it.
            "in_paid_work": False,
            "hours_per_week": Decimal("0.0"),
            "monthly_earnings": None,
            "occupation_code": "",
            "on_benefits": True,
            "benefit_type": "work_assessment_allowance",
            "self_rated_health": None,
            "contamination_reported": False,
        },
    ),
    (
        "old-one-1",
        "m6",
        {
            "in_paid_work": False,
            "hours_per_week": None,
            "monthly_earnings": None,
            "occupation_code": "",
            "on_benefits": True,
            "benefit_type": "disability_benefit",
            "self_rated_health": 1,
            "contamination_reported": None,
        },
    ),
    (
        "old-one-2",
        "m12",
        {
            "in_paid_work": True,
            "hours_per_week": Decimal("7.5"),
            "monthly_earnings": 0,
            "occupation_code": "",
            "on_benefits": True,
            "benefit_type": "other",
            "self_rated_health": 5,
            "contamination_reported": None,
        },
    ),
    (
        "old-two-0",
        "m6",
        {
            "in_paid_work": False,
            "hours_per_week": None,
            "monthly_earnings": None,
            "occupation_code": "",
            "on_benefits": False,
            "benefit_type": "",
            "self_rated_health": 3,
            "contamination_reported": None,
        },
    ),
    (
        "old-two-1",
        "m12",
        {
            "in_paid_work": True,
            "hours_per_week": Decimal("20.0"),
            "monthly_earnings": 500000,
            "occupation_code": "2223",
            "on_benefits": True,
            "benefit_type": "sickness_benefit",
            "self_rated_health": 2,
            "contamination_reported": True,
        },
    ),
]
# What the generic store holds for each row above: only what was answered.
EXPECTED_VALUES: list[dict[str, Any]] = [
    {
        "in_paid_work": True,
        "hours_per_week": 37.5,
        "monthly_earnings": 32000,
        "occupation_code": "5223",
        "on_benefits": False,
        "self_rated_health": 4,
    },
    {
        "in_paid_work": False,
        "hours_per_week": 0.0,
        "on_benefits": True,
        "benefit_type": "work_assessment_allowance",
    },
    {
        "in_paid_work": False,
        "on_benefits": True,
        "benefit_type": "disability_benefit",
        "self_rated_health": 1,
    },
    {
        "in_paid_work": True,
        "hours_per_week": 7.5,
        "monthly_earnings": 0,
        "on_benefits": True,
        "benefit_type": "other",
        "self_rated_health": 5,
    },
    {"in_paid_work": False, "on_benefits": False, "self_rated_health": 3},
    {
        "in_paid_work": True,
        "hours_per_week": 20.0,
        "monthly_earnings": 500000,
        "occupation_code": "2223",
        "on_benefits": True,
        "benefit_type": "sickness_benefit",
        "self_rated_health": 2,
    },
]


def write_old(apps: Apps, world: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The old rows with their audit events, as the old service wrote them; one more row is
    erased (deleted) afterwards, its events kept. Returns the rows and the erased id."""
    Old = apps.get_model("trial", "Assessment")  # type: ignore[misc]  # a model of the old state only
    OldEvent = apps.get_model("trial", "AuditEvent")
    OldVisit = apps.get_model("trial", "Visit")
    users = [world["ann"].pk, None, world["bob"].pk]
    for n, (study_id, code, columns) in enumerate(OLD_ROWS):
        visit = OldVisit.objects.get(participant__study_id=study_id, definition__code=code)
        row = Old.objects.create(
            visit=visit,
            assessed_on=visit.due_on + dt.timedelta(days=n),
            recorded_by_id=users[n % 3],
            **columns,
        )
        Old.objects.filter(pk=row.pk).update(created_at=WHEN + dt.timedelta(days=n))
        OldVisit.objects.filter(pk=visit.pk).update(completed_on=row.assessed_on)
        OldEvent.objects.create(
            trial_id=visit.participant.trial_id,
            actor_id=users[n % 3],
            actor_name="ann" if users[n % 3] else "system",
            action="assessment.created",
            target_type="trial.assessment",
            target_id=str(row.pk),
            target_repr=f"{study_id} {code}",
            data={"after": {"in_paid_work": columns["in_paid_work"]}, "in_window": True},
        )
    # Erased later (privacy.erase_participant deletes the row; its events stay).
    visit = OldVisit.objects.get(participant__study_id="old-two-2", definition__code="m6")
    erased = Old.objects.create(
        visit=visit, assessed_on=visit.due_on, in_paid_work=False, on_benefits=False
    )
    OldEvent.objects.create(
        trial_id=visit.participant.trial_id,
        actor_name="system",
        action="assessment.created",
        target_type="trial.assessment",
        target_id=str(erased.pk),
        target_repr="old-two-2 m6",
    )
    erased_id = erased.pk
    erased.delete()
    rows = list(Old.objects.order_by("id").values(*OLD_COLUMNS))
    assert len(rows) == len(OLD_ROWS)
    return rows, erased_id


def events() -> list[tuple[Any, ...]]:
    return list(
        AuditEvent.objects.order_by("id").values_list(
            "id", "trial_id", "actor_id", "actor_name", "action", "target_type", "target_id",
            "target_repr", "data", "created_at",
        )
    )  # fmt: skip


def test_old_assessments_move_into_the_generic_store_and_back_without_loss(
    at_latest: None,
) -> None:
    world = scene()
    first, second, empty = world["trials"]
    old_apps = migrate(BEFORE)
    old_rows, erased_id = write_old(old_apps, world)
    events_before = events()

    migrate()

    # Every value, its visit, who entered it and when.
    moved = list(Assessment.objects.order_by("id").select_related("instrument", "version"))
    assert [a.pk for a in moved] == [row["id"] for row in old_rows]
    for assessment, row, values in zip(moved, old_rows, EXPECTED_VALUES, strict=True):
        assert assessment.values == values
        assert assessment.visit_id == row["visit_id"]
        assert assessment.assessed_on == row["assessed_on"]
        assert assessment.recorded_by_id == row["recorded_by_id"]
        assert assessment.created_at == row["created_at"]
        assert assessment.updated_at == row["created_at"]
        assert (assessment.missing, assessment.scores, assessment.source) == ({}, {}, "staff")
        assert (
            assessment.instrument.trial_id
            == Visit.objects.get(pk=row["visit_id"]).participant.trial_id
        )
        # Booleans stay booleans and codes strings, as the instrument stores them.
        assert all(
            type(assessment.values[name]) is type(values[name]) for name in values
        )  # fmt: skip
        # The contamination answer now belongs to the visit.
        visit = Visit.objects.get(pk=row["visit_id"])
        assert visit.contamination_reported is row["contamination_reported"]
        # Its history: the old events name the old type and the same id.
        history = list(assessment.audit_events().values_list("action", "target_type"))
        assert history == [("assessment.created", "trial.assessment")]
    # One built-in instrument per trial with answers, asked at every visit of its schedule.
    for trial in (first, second):
        instrument = Instrument.objects.get(trial=trial)
        assert (instrument.code, instrument.builtin) == ("employment", "employment")
        version = instrument.current_version()
        assert version.number == 1
        assert version.definition == builtin.employment_definition()
        assert set(
            VisitInstrument.objects.filter(instrument=instrument).values_list(
                "visit_definition__code", flat=True
            )
        ) == {"m6", "m12"}
        assert {a.version_id for a in moved if a.instrument_id == instrument.pk} == {version.pk}
    assert not Instrument.objects.filter(trial=empty).exists()
    # The audit trail is untouched; one event per trial says how the instrument came about.
    after = events()
    assert after[: len(events_before)] == events_before
    added = AuditEvent.objects.filter(pk__gt=events_before[-1][0])
    assert sorted(added.values_list("action", "trial_id", "data__assessments")) == sorted(
        [("instrument.created", first.pk, 4), ("instrument.created", second.pk, 2)]
    )
    # The privacy export finds the old events.
    person = Participant.objects.get(study_id="old-one-0")
    exported = collect_participant_data(person)
    assert len(exported["assessments"]) == 2
    assert {
        e["target_id"] for e in exported["audit_events"] if e["target_type"] == "trial.assessment"
    } == {str(row["id"]) for row in old_rows[:2]}

    # Back: the old table holds exactly what it held.
    back_apps = migrate(BEFORE)
    Old = back_apps.get_model("trial", "Assessment")  # type: ignore[misc]  # as above
    assert list(Old.objects.order_by("id").values(*OLD_COLUMNS)) == old_rows
    assert not back_apps.get_model("instruments", "Assessment").objects.exists()
    assert not back_apps.get_model("instruments", "Instrument").objects.exists()
    assert events()[: len(after)] == after  # never rewritten

    # Forward again: the same rows; a new answer never takes an id the old table gave.
    migrate()
    again = list(Assessment.objects.order_by("id").values_list("id", "values", "created_at"))
    assert again == [(a.pk, a.values, a.created_at) for a in moved]
    visit = visit_of(Participant.objects.get(study_id="old-two-2"), "m12")
    new = instruments.record_assessment(
        visit,
        values={"assessed_on": visit.due_on, "in_paid_work": False, "on_benefits": False},
        actor=None,
    )
    assert new.pk > erased_id
    assert not new.audit_events().filter(target_type="trial.assessment").exists()
