"""assessments.csv with the trial's own instrument items: codes and labels in both languages,
missing-data codes kept apart from blanks, the data-entry check on every value (row errors
naming file, row, column and reason), unknown and score columns, branching, and the built-in
instrument's columns at visits without instruments of their own. Runs on the embedded default
and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from instruments.models import Assessment, Instrument
from instruments.setup.services import attach_instrument, create_instrument
from tests.conftest import World
from tests.trialimport.importing import answers, import_participants, run, where
from trial.models import AuditEvent, Participant, Visit, VisitDefinition

ITEMS = {
    "items": [
        {
            "name": "employed",
            "type": "yesno",
            "label": {"en": "Employed", "nb": "I arbeid"},
            "required": True,
        },
        {
            "name": "days_worked",
            "type": "integer",
            "label": {"en": "Days worked", "nb": "Dager i arbeid"},
            "min": "0",
            "max": "31",
            "show_if": "[employed] = '1'",
        },
        {
            "name": "mood",
            "type": "choice",
            "label": {"en": "Mood", "nb": "Humør"},
            "choices": [
                {"code": "1", "label": {"en": "Poor", "nb": "Dårlig"}},
                {"code": "2", "label": {"en": "Fair", "nb": "Middels"}},
                {"code": "3", "label": {"en": "Good", "nb": "God"}},
            ],
        },
        {
            "name": "supports",
            "type": "multi",
            "label": {"en": "Support received", "nb": "Støtte mottatt"},
            "choices": [
                {"code": "nav", "label": {"en": "NAV office", "nb": "NAV-kontor"}},
                {"code": "gp", "label": {"en": "Doctor", "nb": "Lege"}},
            ],
        },
        {
            "name": "sleep_hours",
            "type": "decimal",
            "label": {"en": "Hours of sleep", "nb": "Timer søvn"},
            "min": "0",
            "max": "24",
            "decimals": 1,
        },
    ],
    "scales": [
        {"name": "mood_score", "label": {"en": "Mood score", "nb": "Humørskår"}, "items": ["mood"]}
    ],
    "missing_codes": [
        {"code": "refused", "label": {"en": "Refused to answer", "nb": "Vil ikke svare"}},
        {"code": "dont_know", "label": {"en": "Don't know", "nb": "Vet ikke"}},
    ],
}
HEADER = "study_id,visit,assessed_on,employed,days_worked,mood,supports,sleep_hours\n"


@pytest.fixture
def trial_with_items(world: World) -> World:
    """The world's trial with visits m6 (asking the "work" instrument) and m12 (none attached:
    the built-in "Employment and benefits"), and three participants imported with their
    allocations."""
    m6 = VisitDefinition.objects.create(
        trial=world.trial, code="m6", label="6 months", offset_months=6
    )
    VisitDefinition.objects.create(
        trial=world.trial, code="m12", label="12 months", offset_months=12
    )
    coordinator = world.users["coordinator"]
    instrument = create_instrument(
        world.trial,
        code="work",
        name_en="Work and wellbeing",
        name_nb="Arbeid og velvære",
        definition=ITEMS,
        actor=coordinator,
    )
    attach_instrument(instrument, [m6], actor=coordinator)
    return import_participants(world)


def test_codes_labels_in_both_languages_and_missing_codes(trial_with_items: World) -> None:
    files = {
        "assessments.csv": HEADER
        + "P-1,m6,2024-07-10,yes,20,3,nav|gp,7.5\n"
        + "P-2,m6,2024-07-11,nei,,Middels,NAV office,refused\n"
        + "P-3,m6,2024-07-12,1,,Poor,Lege;nav,Vet ikke\n"
    }
    report = run(trial_with_items, files)

    assert report.ok and report.written, [str(e) for e in report.errors]
    assert report.files["assessments.csv"].created == 3
    first = answers("P-1")
    assert first.values == {
        "employed": True,
        "days_worked": 20,
        "mood": 3,
        "supports": ["nav", "gp"],
        "sleep_hours": 7.5,
    }
    assert first.missing == {} and first.source == "import"
    assert first.scores == {"mood_score": 3.0}  # derived, never read from the file
    second = answers("P-2")
    assert second.values == {"employed": False, "mood": 2, "supports": ["nav"]}
    # A missing-data code is kept apart from a blank (days_worked: not asked, blank).
    assert second.missing == {"sleep_hours": "refused"}
    third = answers("P-3")
    assert third.values == {"employed": True, "mood": 1, "supports": ["nav", "gp"]}
    assert third.missing == {"sleep_hours": "dont_know"}
    visit = Visit.objects.get(participant__study_id="P-1", definition__code="m6")
    assert visit.completed_on is not None
    # The completion audited as data entry audits it (record_changed: the one field changed).
    completed = AuditEvent.objects.get(action="visit.changed", target_id=str(visit.pk))
    assert completed.data == {"changes": {"completed_on": [None, "2024-07-10"]}}
    created = AuditEvent.objects.filter(action="assessment.created", target_id=str(first.pk))
    assert created.get().data["after"]["values"]["mood"] == 3

    again = run(trial_with_items, files)
    assert again.ok and not again.written and again.files["assessments.csv"].unchanged == 3


def test_every_value_is_checked_as_data_entry_checks_it(trial_with_items: World) -> None:
    files = {
        "assessments.csv": HEADER
        + "P-1,m6,2024-07-10,perhaps,,,,\n"
        + "P-2,m6,2024-07-11,yes,40,4,nav|bus,7.55\n"
        + "P-3,m6,2024-07-12,,,1,,\n"
    }
    before = Assessment.objects.count()

    report = run(trial_with_items, files)

    assert not report.ok and not report.written
    errors = where(report)
    assert errors == {
        ("assessments.csv", 2, "employed"): "Answer yes or no.",
        ("assessments.csv", 3, "days_worked"): "Must be at most 31.",
        ("assessments.csv", 3, "mood"): "Choose one of: 1, 2, 3.",
        ("assessments.csv", 3, "supports"): "Choose one of: nav, gp.",
        ("assessments.csv", 3, "sleep_hours"): "Use at most 1 decimals.",
        ("assessments.csv", 4, "employed"): (
            "This item is required: answer it or choose a missing-data code."
        ),
    }
    assert "assessments.csv:3: days_worked: Must be at most 31." in [str(e) for e in report.errors]
    assert Assessment.objects.count() == before


def test_an_item_its_condition_hides_is_refused_as_in_data_entry(trial_with_items: World) -> None:
    files = {"assessments.csv": HEADER + "P-1,m6,2024-07-10,no,12,2,,\n"}
    report = run(trial_with_items, files)
    assert where(report) == {
        ("assessments.csv", 2, "days_worked"): "This item is not asked here: leave it empty."
    }
    assert not report.written


def test_unknown_and_score_columns_are_refused_by_name(trial_with_items: World) -> None:
    files = {
        "assessments.csv": (
            "study_id,visit,assessed_on,employed,mood_score,shoe_size\nP-1,m6,2024-07-10,yes,3,44\n"
        )
    }
    report = run(trial_with_items, files)
    assert where(report) == {
        ("assessments.csv", 1, "mood_score"): (
            "mood_score is a score: it is computed from the items, not imported."
        ),
        ("assessments.csv", 1, "shoe_size"): "Unknown column.",
    }


def test_a_missing_code_unknown_to_the_instrument_is_a_row_error(trial_with_items: World) -> None:
    files = {"assessments.csv": HEADER + "P-1,m6,2024-07-10,yes,not_asked,,,\n"}
    report = run(trial_with_items, files)
    assert where(report) == {("assessments.csv", 2, "days_worked"): "Enter a number."}


def test_builtin_columns_at_a_visit_without_instruments_and_items_not_asked_there(
    trial_with_items: World,
) -> None:
    files = {
        "assessments.csv": (
            "study_id,visit,assessed_on,in_paid_work,hours_per_week,on_benefits,benefit_type,"
            "employed,mood\n"
            "P-1,m12,2025-01-15,yes,37.5,no,,,\n"
            "P-2,m12,2025-01-16,no,,yes,Sosialhjelp,,\n"
            "P-3,m12,2025-01-17,no,,no,,yes,3\n"
        )
    }
    report = run(trial_with_items, files)
    assert where(report) == {
        ("assessments.csv", 4, "employed"): "employed is not asked at visit m12: leave it empty.",
        ("assessments.csv", 4, "mood"): "mood is not asked at visit m12: leave it empty.",
    }
    files["assessments.csv"] = files["assessments.csv"].replace(",yes,3\n", ",,\n")
    report = run(trial_with_items, files)
    assert report.written, [str(e) for e in report.errors]
    employment = Instrument.objects.get(trial=trial_with_items.trial, builtin="employment")
    second = Assessment.objects.get(visit__participant__study_id="P-2", instrument=employment)
    assert second.values == {
        "in_paid_work": False,
        "on_benefits": True,
        "benefit_type": "social_assistance",  # by its bokmål label
    }


def test_a_row_without_any_answer_is_an_error(trial_with_items: World) -> None:
    files = {"assessments.csv": "study_id,visit,assessed_on,mood\nP-1,m6,2024-07-10,\n"}
    report = run(trial_with_items, files)
    assert where(report) == {
        ("assessments.csv", 2, "employed"): (
            "This item is required: answer it or choose a missing-data code."
        )
    }


def test_a_changed_answer_on_a_reimport_names_the_column(trial_with_items: World) -> None:
    files = {"assessments.csv": HEADER + "P-1,m6,2024-07-10,yes,20,3,nav,refused\n"}
    assert run(trial_with_items, files).written
    files["assessments.csv"] = HEADER + "P-1,m6,2024-07-10,yes,20,2,nav,8\n"
    report = run(trial_with_items, files)
    assert [str(e) for e in report.errors] == [
        "assessments.csv:2: mood: P-1 m6 exists already with a different value (stored: 3).",
        "assessments.csv:2: sleep_hours: P-1 m6 exists already with a different value "
        "(stored: refused).",
    ]


def test_a_dry_run_writes_nothing(trial_with_items: World) -> None:
    files = {"assessments.csv": HEADER + "P-1,m6,2024-07-10,yes,20,3,nav,7\n"}
    report = run(trial_with_items, files, dry_run=True)
    assert report.ok and report.created == 1 and not report.written
    assert not Assessment.objects.filter(visit__participant__trial=trial_with_items.trial).exists()
    assert Participant.objects.get(study_id="P-1").randomised_on is not None


def test_the_documented_example_imports(trial_with_items: World) -> None:
    """The example under assessments.csv in docs/import-formats.md, for this trial's ids."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "import-formats.md").read_text()
    example = docs.split("Example: a trial asking its own instrument `work`")[1]
    text = example.split("```\n")[1]
    text = text.replace("OSL1-0001", "P-1").replace("OSL1-0002", "P-2")
    report = run(trial_with_items, {"assessments.csv": text})
    assert report.written, [str(e) for e in report.errors]
    assert answers("P-1").values == {
        "employed": True,
        "days_worked": 18,
        "mood": 3,
        "sleep_hours": 7.5,
    }
    assert answers("P-2").missing == {"sleep_hours": "refused"}
    assert answers("P-1", "employment").values["hours_per_week"] == 20
