"""The report data read from the instruments' answer store: the old columns, their kinds, and
missing-data codes beside blanks."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from instruments.models import Assessment as Answers
from reports import extract, pipeline
from tests.reports.conftest import CUT_OFF, ReportWorld


def test_the_analysis_data_keep_the_old_columns_and_kinds(rworld: ReportWorld) -> None:
    data = extract.effect_data(rworld.trial, CUT_OFF)
    assert list(data.outcomes.columns) == extract.OUTCOME_COLUMNS
    assert data.kinds["in_paid_work"] == "binary"
    assert data.kinds["self_rated_health"] == "ordinal"
    assert data.kinds["monthly_earnings"] == "continuous"  # money: not a count
    assert pipeline.effect_data_hash(data) == pipeline.effect_data_hash(
        extract.effect_data(rworld.trial, CUT_OFF)
    )


def test_an_answer_given_as_a_missing_code_is_blank_with_its_code_beside_it(
    rworld: ReportWorld,
) -> None:
    answer = Answers.objects.filter(visit__participant__study_id="R03").first()
    assert answer is not None
    answer.values.pop("self_rated_health")
    answer.missing = {"self_rated_health": "refused"}
    answer.save()
    frame = extract.outcomes(rworld.trial, CUT_OFF)
    row = frame[frame["self_rated_health_missing"] != ""]
    assert row["study_id"].tolist() == ["R03"] and row["self_rated_health"].isna().all()
    assert row["self_rated_health_missing"].tolist() == ["refused"]
    assert frame["self_rated_health"].dtype == "float64"  # blank now, so no longer integers
    assert list(frame.columns)[-1] == "self_rated_health_missing"


def test_a_trial_that_does_not_ask_about_paid_work_has_no_time_to_work_from_answers() -> None:
    """A trial measuring only its own instruments (no built-in employment items): the answers
    give no time to work, and nothing fails on the missing column."""
    people = pd.DataFrame({"study_id": ["A1"], "randomised_on": [dt.date(2025, 1, 6)]})
    answers = pd.DataFrame(
        {"study_id": ["A1"], "visit": ["m6"], "assessed_on": [dt.date(2025, 7, 1)], "who5": [12]}
    )
    found = extract.time_to_work(people, answers)
    assert found.empty and list(found.columns) == ["study_id", "months", "event"]
