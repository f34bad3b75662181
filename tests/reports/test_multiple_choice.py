"""A multiple-choice item in the statisticians' data sets: one 0/1 column per choice, named
``<variable>___<code>`` as REDCap names a checkbox's columns, described in the ZIP's data
dictionary and the dictionary download, and labelled in every file format.

Three participants answer a small instrument at baseline: two choices ticked, none ticked, and
the item left unanswered (the instrument itself answered).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from rest_framework.test import APIClient

from instruments.models import Assessment, Instrument
from instruments.services import record_assessment
from instruments.setup.services import attach_instrument, create_instrument, revise_instrument
from randomisation.allocation import services as randomisation
from randomisation.models import Allocation
from reports import extract, pipeline, services
from reports import variables as dictionary
from tests import factories
from tests.conftest import World
from trial.models import Trial, VisitDefinition

RANDOMISED_ON = dt.date(2024, 1, 10)
CUT_OFF = dt.date(2025, 6, 1)
COLUMNS = ["support___nav", "support___gp", "support___emp_1"]
# Each participant's answer to "support" (None: not answered) and the columns it gives.
ANSWERS: dict[str, tuple[list[str] | None, list[Any]]] = {
    "M1": (["gp", "nav"], [1, 1, 0]),
    "M2": ([], [0, 0, 0]),
    "M3": (None, [None, None, None]),
}


def choice(code: str, en: str, nb: str) -> dict[str, Any]:
    return {"code": code, "label": {"en": en, "nb": nb}}


def definition(*, with_employer: bool = True) -> dict[str, Any]:
    choices = [choice("nav", "NAV", "NAV"), choice("gp", "GP", "Fastlege")]
    if with_employer:
        choices.append(choice("Emp-1", "Employer", "Arbeidsgiver"))
    return {
        "items": [
            {"name": "working", "type": "yesno", "label": {"en": "Working", "nb": "I arbeid"}},
            {
                "name": "support",
                "type": "multi",
                "label": {"en": "Support received", "nb": "Støtte mottatt"},
                "choices": choices,
            },
        ],
        "scales": [],
        "missing_codes": [],
    }


@dataclass
class Answered:
    trial: Trial
    instrument: Instrument


@pytest.fixture
def answered(world: World) -> Answered:
    """The world's trial with the instrument at baseline and the three participants' answers."""
    coordinator = world.users["coordinator"]
    baseline = VisitDefinition.objects.create(
        trial=world.trial, code="m0", label="Baseline", offset_months=0
    )
    instrument = create_instrument(
        world.trial,
        code="help",
        name_en="Help received",
        name_nb="Hjelp mottatt",
        definition=definition(),
        actor=coordinator,
    )
    attach_instrument(instrument, [baseline], actor=coordinator)
    arm = world.trial.arms.get(code="A")
    for study_id, (answer, _columns) in ANSWERS.items():
        person = factories.make_participant(
            world.trial, world.sites[0], enrolled_on=dt.date(2024, 1, 2), study_id=study_id
        )
        randomisation.record_manual(
            person,
            arm=arm,
            on=RANDOMISED_ON,
            reference="",
            reason="",
            actor=coordinator,
            source=Allocation.Source.IMPORTED,
        )
        values: dict[str, Any] = {"assessed_on": RANDOMISED_ON, "working": False}
        if answer is not None:
            values["support"] = answer
        record_assessment(
            person.visits.get(definition=baseline),
            values=values,
            instrument=instrument,
            actor=coordinator,
        )
    return Answered(trial=world.trial, instrument=instrument)


def by_participant(frame: pd.DataFrame) -> dict[str, list[Any]]:
    rows = frame.set_index("study_id")
    return {
        study_id: [None if pd.isna(v) else int(v) for v in rows.loc[study_id, COLUMNS]]
        for study_id in ANSWERS
    }


EXPECTED = {study_id: columns for study_id, (_answer, columns) in ANSWERS.items()}


def test_stored_answers_keep_none_ticked_apart_from_unanswered(answered: Answered) -> None:
    stored = {
        a.visit.participant.study_id: a.values.get("support", "absent")
        for a in Assessment.objects.filter(instrument=answered.instrument).select_related(
            "visit__participant"
        )
    }
    assert stored == {"M1": ["nav", "gp"], "M2": [], "M3": "absent"}


def test_answers_have_one_integer_column_per_choice_in_the_items_place(
    answered: Answered,
) -> None:
    frame = extract.answers(answered.trial, CUT_OFF)
    columns = list(frame.columns)
    assert "support" not in columns
    start = columns.index("working") + 1
    assert columns[start : start + 3] == COLUMNS
    assert all(str(frame[c].dtype) == "Int64" for c in COLUMNS)
    assert by_participant(frame) == EXPECTED


def test_the_dictionary_describes_each_choice_column(answered: Answered) -> None:
    trial = answered.trial
    frames = pipeline.export_frames(extract.effect_data(trial, CUT_OFF), blinded=False)
    info = pipeline.export_columns(trial, dictionary.variables(trial), frames)["outcomes"]
    described = {
        column: (info[column].label, info[column].label_nb, info[column].values)
        for column in COLUMNS
    }
    chosen = {"0": "Not chosen", "1": "Chosen"}
    assert described == {
        "support___nav": ("Support received: NAV", "Støtte mottatt: NAV", chosen),
        "support___gp": ("Support received: GP", "Støtte mottatt: Fastlege", chosen),
        "support___emp_1": ("Support received: Employer", "Støtte mottatt: Arbeidsgiver", chosen),
    }
    assert {info[c].instrument for c in COLUMNS} == {"help: Help received"}
    assert {info[c].kind for c in COLUMNS} == {"binary"}


def test_a_choice_older_versions_had_keeps_its_column(answered: Answered) -> None:
    trial = answered.trial
    revise_instrument(
        answered.instrument,
        definition=definition(with_employer=False),
        actor=None,
        note="Employer left out",
    )
    found = {v.name: v for v in dictionary.variables(trial)}
    assert [i.column for i in found["support"].indicators] == COLUMNS
    assert by_participant(extract.answers(trial, CUT_OFF)) == EXPECTED


def read_sav(content: bytes) -> tuple[pd.DataFrame, Any]:
    with tempfile.NamedTemporaryFile(suffix=".sav") as handle:
        handle.write(content)
        handle.flush()
        return pyreadstat.read_sav(handle.name)


def test_the_report_zip_has_the_columns_in_every_format_and_its_dictionary(
    answered: Answered, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "enqueue", lambda report_id: None)  # built here, below
    api = APIClient()
    api.force_authenticate(world.users["statistician"])
    formats = ["csv", "stata", "spss", "parquet"]
    url = "/api/v1/trials/ips/reports/"
    ordered = api.post(
        url, {"kind": "data", "cut_off": CUT_OFF.isoformat(), "formats": formats}, "json"
    )
    assert ordered.status_code == 201, ordered.content
    report_id = ordered.json()["id"]
    assert services.execute_report(report_id) == "done"
    link = api.get(f"{url}{report_id}/").json()["files"]["zip"]
    response = world.client("statistician").get(link)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.getvalue())) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    data = pd.read_csv(io.BytesIO(members["outcomes.csv"]), dtype=str, keep_default_na=False)
    assert "support" not in data.columns
    assert {row["study_id"]: [row[c] for c in COLUMNS] for row in data.to_dict("records")} == {
        "M1": ["1", "1", "0"],
        "M2": ["0", "0", "0"],
        "M3": ["", "", ""],
    }

    rows = pd.read_csv(io.BytesIO(members["data_dictionary.csv"]), dtype=str).fillna("")
    rows = rows[rows["data_set"] == "outcomes"].set_index("column")
    assert "support" not in rows.index
    assert rows.loc[COLUMNS, "label"].tolist() == [
        "Support received: NAV",
        "Support received: GP",
        "Support received: Employer",
    ]
    assert rows.loc["support___gp", "label_nb"] == "Støtte mottatt: Fastlege"
    assert set(rows.loc[COLUMNS, "value_labels"]) == {"0 = Not chosen; 1 = Chosen"}
    assert set(rows.loc[COLUMNS, "type"]) == {"integer"}
    assert set(rows.loc[COLUMNS, "kind"]) == {"binary"}
    assert set(rows.loc[COLUMNS, "missing_codes"]) == {"blank = support not answered"}
    assert "<name>___<code>" in members["README.txt"].decode()

    stata = pd.read_stata(io.BytesIO(members["outcomes.dta"]), convert_categoricals=False)
    assert by_participant(stata) == EXPECTED
    with pd.io.stata.StataReader(io.BytesIO(members["outcomes.dta"])) as reader:
        labels = reader.variable_labels()
        values = reader.value_labels()
    assert labels["support___nav"] == "Support received: NAV"
    assert {label: dict(values[label]) for label in ("support___nav",)} == {
        "support___nav": {0: "Not chosen", 1: "Chosen"}
    }

    spss, meta = read_sav(members["outcomes.sav"])
    assert by_participant(spss) == EXPECTED
    assert meta.column_names_to_labels["support___emp_1"] == "Support received: Employer"
    assert meta.variable_value_labels["support___gp"] == {0: "Not chosen", 1: "Chosen"}

    parquet = pd.read_parquet(io.BytesIO(members["outcomes.parquet"]))
    assert by_participant(parquet) == EXPECTED
    field = pq.read_schema(io.BytesIO(members["outcomes.parquet"])).field("support___nav")
    assert field.metadata[b"label"].decode() == "Support received: NAV"
    assert json.loads(field.metadata[b"value_labels"]) == {"0": "Not chosen", "1": "Chosen"}


def test_the_dictionary_download_names_the_columns_of_each_choice(
    answered: Answered, world: World
) -> None:
    response = world.client("statistician").get("/trials/ips/dictionary/download/")
    assert response.status_code == 200
    rows = pd.read_csv(io.StringIO(response.content.decode()), dtype=str).fillna("")
    by_name = rows.set_index("variable")
    assert by_name.loc["support", "data_columns"] == (
        "nav, support___nav | gp, support___gp | Emp-1, support___emp_1"
    )
    assert by_name.loc["working", "data_columns"] == ""
