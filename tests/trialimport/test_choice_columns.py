"""assessments.csv giving a multiple choice in its choice columns, one 0/1 column per choice
named ``<variable>___<code>`` as the data sets and REDCap name them: the same answers as the
one ``|``-joined column, all 0 kept apart from blank, the header's and the cells' errors, the
re-import's comparison, and a data set's columns read back. Runs on the embedded default and
on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import translation

from instruments.models import Assessment
from instruments.services import record_assessment
from instruments.setup.services import attach_instrument, create_instrument
from reports import extract
from tests.conftest import World
from tests.trialimport.importing import answers, import_participants, run, where
from trial.models import Visit, VisitDefinition
from trialimport import items

DEFINITION = {
    "items": [
        {
            "name": "working",
            "type": "yesno",
            "label": {"en": "Working", "nb": "I arbeid"},
            "required": True,
        },
        {
            "name": "support",
            "type": "multi",
            "label": {"en": "Support received", "nb": "Støtte mottatt"},
            # Codes whose columns are normalised: support___1, support___emp_1, support____1.
            "choices": [
                {"code": "1", "label": {"en": "NAV office", "nb": "NAV-kontor"}},
                {"code": "Emp-1", "label": {"en": "Employer", "nb": "Arbeidsgiver"}},
                {"code": "-1", "label": {"en": "Other", "nb": "Annet"}},
            ],
        },
        {
            "name": "barriers",
            "type": "multi",
            "label": {"en": "Barriers to work", "nb": "Hindringer for arbeid"},
            "required": True,
            "show_if": "[working] = '0'",
            "choices": [
                {"code": "health", "label": {"en": "Health", "nb": "Helse"}},
                {"code": "care", "label": {"en": "Care duties", "nb": "Omsorgsoppgaver"}},
            ],
        },
    ],
    "scales": [],
    "missing_codes": [
        {"code": "refused", "label": {"en": "Refused to answer", "nb": "Vil ikke svare"}},
    ],
}
SUPPORT = "support___1,support___emp_1,support____1"
BARRIERS = "barriers___health,barriers___care"
JOINED = "study_id,visit,assessed_on,working,support,barriers\n"
CHOICES = f"study_id,visit,assessed_on,working,{SUPPORT},{BARRIERS}\n"


@pytest.fixture
def trial_with_choices(world: World) -> World:
    """The world's trial asking the instrument "help" at m6 and m12 (m3 asks the built-in
    default), with three participants imported with their allocations."""
    visits = [
        VisitDefinition.objects.create(
            trial=world.trial, code=code, label=code, offset_months=months
        )
        for code, months in (("m3", 3), ("m6", 6), ("m12", 12))
    ]
    coordinator = world.users["coordinator"]
    instrument = create_instrument(
        world.trial,
        code="help",
        name_en="Help received",
        name_nb="Hjelp mottatt",
        definition=DEFINITION,
        actor=coordinator,
    )
    attach_instrument(instrument, visits[1:], actor=coordinator)
    return import_participants(world)


def at(study_id: str, visit: str) -> Assessment:
    return Assessment.objects.get(
        visit__participant__study_id=study_id, visit__definition__code=visit
    )


def test_choice_columns_import_the_same_answers_as_one_joined_column(
    trial_with_choices: World,
) -> None:
    joined = (
        JOINED
        + "P-1,m6,2024-07-10,yes,1|Emp-1,\n"
        + "P-2,m6,2024-07-11,no,,health\n"
        + "P-3,m6,2024-07-12,no,Other,care|health\n"
    )
    columns = (
        CHOICES
        + "P-1,m12,2025-01-10,yes,1,1,0,,\n"
        + "P-2,m12,2025-01-11,no,,,,1,0\n"
        + "P-3,m12,2025-01-12,no,0,0,1,1,1\n"
    )
    report = run(trial_with_choices, {"assessments.csv": joined})
    assert report.written, [str(e) for e in report.errors]
    report = run(trial_with_choices, {"assessments.csv": columns})
    assert report.written, [str(e) for e in report.errors]
    assert report.files["assessments.csv"].created == 3

    for study_id in ("P-1", "P-2", "P-3"):
        assert at(study_id, "m12").values == at(study_id, "m6").values
        assert at(study_id, "m12").missing == {}
    assert at("P-1", "m12").values == {"working": True, "support": [1, "Emp-1"]}
    assert at("P-2", "m12").values == {"working": False, "barriers": ["health"]}
    assert at("P-3", "m12").values == {
        "working": False,
        "support": [-1],  # an integer code, stored as an integer
        "barriers": ["health", "care"],  # in the order of the choices
    }
    again = run(trial_with_choices, {"assessments.csv": columns})
    assert again.ok and again.files["assessments.csv"].unchanged == 3


def test_all_zero_is_none_ticked_apart_from_blank_and_zeros_of_a_hidden_item_are_not_asked(
    trial_with_choices: World,
) -> None:
    files = {
        "assessments.csv": CHOICES
        # REDCap writes 0 in every column of an item its branching hides.
        + "P-1,m6,2024-07-10,yes,0,0,0,0,0\n"
        + "P-2,m6,2024-07-11,no,,,,0,1\n"
    }
    report = run(trial_with_choices, files)

    assert report.written, [str(e) for e in report.errors]
    assert answers("P-1", "help").values == {"working": True, "support": []}
    assert answers("P-2", "help").values == {"working": False, "barriers": ["care"]}

    # On a re-import, none ticked and not answered are different answers.
    files["assessments.csv"] = (
        CHOICES + "P-1,m6,2024-07-10,yes,,,,0,0\nP-2,m6,2024-07-11,no,0,0,0,0,1\n"
    )
    report = run(trial_with_choices, files)
    assert [str(e) for e in report.errors] == [
        "assessments.csv:2: support: P-1 m6 exists already with a different value (stored: []).",
        "assessments.csv:3: support: P-2 m6 exists already with a different value (stored: –).",
    ]


def test_header_errors_name_the_column_and_the_rows_are_still_read(
    trial_with_choices: World,
) -> None:
    files = {
        "assessments.csv": (
            f"study_id,visit,assessed_on,working,support,{SUPPORT},support___bus,working___1,"
            "barriers___health\n"
            "P-1,m6,2024-07-10,yes,1,1,0,0,,,\n"
            "P-2,m6,2024-07-11,yes,maybe,,,,,,\n"
        )
    }
    report = run(trial_with_choices, files)

    assert not report.written
    assert where(report) == {
        ("assessments.csv", 1, "support"): (
            "support is given both in this column and in its choice columns "
            "(support___1, support___emp_1, support____1): keep one or the other."
        ),
        ("assessments.csv", 1, "support___bus"): (
            "support___bus names no choice of support: its choice columns are "
            "support___1, support___emp_1, support____1."
        ),
        ("assessments.csv", 1, "working___1"): (
            "working is not a multiple choice: give its answer in one column."
        ),
        ("assessments.csv", 1, "barriers___care"): (
            "This column is missing: barriers is given in its choice columns, one for each choice."
        ),
        # The rows are read on with the one joined column.
        ("assessments.csv", 3, "support"): "Choose one of: 1, Emp-1, -1.",
    }


def test_a_cell_other_than_1_0_or_blank_is_an_error_on_its_column(
    trial_with_choices: World,
) -> None:
    files = {
        "assessments.csv": CHOICES
        + "P-1,m6,2024-07-10,yes,2,0,0,,\n"
        + "P-2,m6,2024-07-11,no,refused,Vil ikke svare,0,0,0\n"
        + "P-3,m6,2024-07-12,no,1,,0,1,0\n"
    }
    report = run(trial_with_choices, files)

    assert not report.written
    code = (
        "A missing-data code cannot be given in a choice column: give support in one column "
        "to record it."
    )
    assert where(report) == {
        ("assessments.csv", 2, "support___1"): (
            "Write 1 (ticked) or 0 (not ticked), or leave every choice column of support "
            "empty (not answered)."
        ),
        ("assessments.csv", 3, "support___1"): code,
        ("assessments.csv", 3, "support___emp_1"): code,
        # A required item shown, all 0: no choice ticked is no answer to it.
        ("assessments.csv", 3, "barriers"): (
            "This item is required: answer it or choose a missing-data code."
        ),
        ("assessments.csv", 4, "support___emp_1"): (
            "Give every choice column of support a 1 or a 0, or leave them all empty "
            "(not answered)."
        ),
    }

    with translation.override("nb"):
        report = run(trial_with_choices, files)
    assert where(report)[("assessments.csv", 2, "support___1")] == (
        "Skriv 1 (krysset av) eller 0 (ikke krysset av), eller la alle valgkolonnene til "
        "support stå tomme (ikke besvart)."
    )


def test_choice_columns_of_an_instrument_not_asked_at_the_visit(
    trial_with_choices: World,
) -> None:
    files = {
        "assessments.csv": (
            f"study_id,visit,assessed_on,in_paid_work,on_benefits,{SUPPORT}\n"
            "P-1,m3,2024-04-10,yes,no,0,1,0\n"
            "P-2,m3,2024-04-11,yes,no,,,\n"
        )
    }
    report = run(trial_with_choices, files)
    assert where(report) == {
        ("assessments.csv", 2, "support"): "support is not asked at visit m3: leave it empty."
    }


def test_the_choice_columns_of_a_data_set_read_back_to_the_same_answers(
    trial_with_choices: World,
) -> None:
    """Answers recorded by data entry, exported by the reports' data set (one 0/1 column per
    choice), then read by the import: the same answers, except a missing-data code, which the
    choice columns cannot give (the data set has it in ``support_missing``)."""
    trial = trial_with_choices.trial
    coordinator = trial_with_choices.users["coordinator"]
    instrument = trial.instruments.get(code="help")
    given = {
        "P-1": ({"working": True, "support": ["1", "Emp-1"]}, {}),
        "P-2": ({"working": False, "support": [], "barriers": ["care"]}, {}),
        "P-3": ({"working": False, "barriers": ["health", "care"]}, {"support": "refused"}),
    }
    for study_id, (values, missing) in given.items():
        visit = Visit.objects.get(participant__study_id=study_id, definition__code="m6")
        record_assessment(
            visit,
            values={"assessed_on": "2024-07-10", **values},
            missing=missing,
            instrument=instrument,
            actor=coordinator,
        )
    data = extract.answers(trial, dt.date(2025, 1, 1))
    indicators = [c for c in data.columns if "___" in c]
    assert indicators == [
        "support___1",
        "support___emp_1",
        "support____1",
        "barriers___health",
        "barriers___care",
    ]
    text = io.StringIO()
    data[["study_id", "visit", "assessed_on", "working", *indicators]].to_csv(text, index=False)

    found = items.catalogue(trial, new_visits=False)
    lines = text.getvalue().splitlines()
    header = lines[0].split(",")
    for line in lines[1:]:
        cells = dict(zip(header, line.split(","), strict=True))
        read, errors = items.read_answers(found, "m6", cells, header[3:])
        assert errors == {}
        stored = at(cells["study_id"], "m6")
        assert [a.answers.values for a in read] == [stored.values]

    # The whole import compares them as unchanged; only the code the columns lose differs.
    report = run(trial_with_choices, {"assessments.csv": text.getvalue()})
    assert report.files["assessments.csv"].unchanged == 2
    assert [str(e) for e in report.errors] == [
        "assessments.csv:4: support: P-3 m6 exists already with a different value "
        "(stored: refused)."
    ]


def test_the_documented_example_imports(trial_with_choices: World) -> None:
    """The choice-column example under assessments.csv in docs/import-formats.md."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "import-formats.md").read_text()
    example = docs.split("Example: choice columns")[1]
    text = example.split("```\n")[1]
    for number in ("1", "2", "3"):
        text = text.replace(f"OSL1-000{number}", f"P-{number}")
    report = run(trial_with_choices, {"assessments.csv": text})
    assert report.written, [str(e) for e in report.errors]
    assert at("P-1", "m6").values == {"working": True, "support": [1, "Emp-1"]}
    assert at("P-2", "m6").values == {"working": False, "support": [], "barriers": ["care"]}
    assert at("P-3", "m6").values == {"working": False, "barriers": ["health", "care"]}
