"""The report data read from the instruments' answer store give what the old fixed assessment
columns gave: the same frame, column for column, type for type."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from instruments.definition import clean_answers
from instruments.models import Assessment as Answers
from instruments.setup.services import default_instrument
from reports import extract, pipeline
from tests.reports.conftest import CUT_OFF, ReportWorld
from trial.models import Assessment

FIELDS = [
    "in_paid_work",
    "hours_per_week",
    "monthly_earnings",
    "occupation_code",
    "on_benefits",
    "benefit_type",
    "self_rated_health",
]


def move_to_the_answer_store(rworld: ReportWorld) -> None:
    """Copy the old assessments into the answer store (as the migration does), then spoil
    the old rows' values, so that only the answer store can give the right numbers."""
    instrument = default_instrument(rworld.trial)
    version = instrument.current_version()
    rows = []
    for old in Assessment.objects.filter(visit__participant__trial=rworld.trial):
        values = {
            name: float(value) if isinstance(value, Decimal) else value
            for name in FIELDS
            if (value := getattr(old, name)) not in (None, "")
        }
        clean = clean_answers(version.parsed, values)
        rows.append(
            Answers(
                visit_id=old.visit_id,
                instrument=instrument,
                version=version,
                assessed_on=old.assessed_on,
                values=clean.values,
                missing=clean.missing,
            )
        )
    Answers.objects.bulk_create(rows)
    Assessment.objects.filter(visit__participant__trial=rworld.trial).update(
        in_paid_work=True, hours_per_week=Decimal("79.9"), self_rated_health=5
    )


def test_outcomes_from_the_answer_store_equal_the_old_columns(rworld: ReportWorld) -> None:
    before = extract.effect_data(rworld.trial, CUT_OFF)
    move_to_the_answer_store(rworld)
    after = extract.effect_data(rworld.trial, CUT_OFF)
    pd.testing.assert_frame_equal(before.outcomes, after.outcomes, check_exact=True)
    pd.testing.assert_frame_equal(before.missed, after.missed, check_exact=True)
    pd.testing.assert_frame_equal(before.time_to_work, after.time_to_work, check_exact=True)
    assert pipeline.effect_data_hash(before) == pipeline.effect_data_hash(after)
    assert list(after.outcomes.columns) == extract.OUTCOME_COLUMNS
    assert after.kinds["in_paid_work"] == "binary"
    assert after.kinds["self_rated_health"] == "ordinal"
    assert after.kinds["monthly_earnings"] == "count"


def test_an_answer_given_as_a_missing_code_is_blank_with_its_code_beside_it(
    rworld: ReportWorld,
) -> None:
    move_to_the_answer_store(rworld)
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
