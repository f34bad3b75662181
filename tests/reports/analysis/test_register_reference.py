"""Register endpoints and their models against reference numbers computed by R.

tests/reports/reference/ holds the data (register_people.csv and register_spells.csv, made by
make_register_data.py), the R script (reference_register.R, which derives every endpoint from
the spells on its own, then fits t.test, lm with sandwich::vcovHC(type = "HC3") and
clubSandwich::vcovCR(type = "CR2"), survival::coxph with and without cluster = site, survdiff
and survfit) and its output (register_endpoints_r.csv, reference_register_r.csv; R 4.2.2,
survival 3.5-3, sandwich 3.0-2, clubSandwich 0.5.8).

Tolerances: the endpoints exactly (months as counts; times to 1e-12 months); 1e-9 relative for
the least-squares estimates, their limits and p-values (closed forms); 1e-7 relative for the
Cox models (Newton iterations stop at slightly different points) and 1e-9 for the log-rank
statistic and Kaplan–Meier medians.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import registers
from reports.analysis import survival
from reports.analysis.clustered import cluster_difference
from reports.analysis.estimates import Estimate, ancova_hc3, binary_itt, welch_difference

REFERENCE = Path(__file__).parents[1] / "reference"
CUT_OFF = dt.date(2025, 3, 31)
NAMES = ["months_in_work_0_12", "months_in_work_12_24", "in_work_at_12", "time_to_first_work"]
LEAST_SQUARES = 1e-9
COX = 1e-7


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "reference_register_r.csv", skipinitialspace=True).set_index(
        "model"
    )


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """The participants with the endpoints as reports.registers computes them."""
    people = pd.read_csv(REFERENCE / "register_people.csv")
    spells = pd.read_csv(REFERENCE / "register_spells.csv", keep_default_na=False)
    ids = {sid: i for i, sid in enumerate(people["study_id"])}
    frame = pd.DataFrame(
        {
            "participant_id": people["study_id"].map(ids),
            "study_id": people["study_id"],
            "anchor": pd.to_datetime(people["randomised_on"]).dt.date,
        }
    )
    spell_frame = pd.DataFrame(
        {
            "participant_id": spells["study_id"].map(ids),
            "rank": 0,
            "state": "work",
            "starts_on": pd.to_datetime(spells["starts_on"]).dt.date,
            "ends_on": [None if v == "" else dt.date.fromisoformat(v) for v in spells["ends_on"]],
        }
    )
    wanted = [e for e in map(registers.parse, NAMES) if e is not None]
    values, times = registers.compute(
        frame, spell_frame, ["work"], wanted, months=24, rule="priority", until=CUT_OFF
    )
    out = people.merge(values, on="study_id").merge(times["time_to_first_work"], on="study_id")
    return out.assign(treat=out["treat"].astype(int))


def matches(estimate: Estimate, row: pd.Series, tolerance: float) -> None:
    assert estimate.estimate == pytest.approx(row["estimate"], rel=tolerance)
    assert estimate.ci_low == pytest.approx(row["ci_low"], rel=tolerance)
    assert estimate.ci_high == pytest.approx(row["ci_high"], rel=tolerance)
    assert estimate.p_value == pytest.approx(row["p_value"], rel=tolerance)


def test_endpoints_match_r(data: pd.DataFrame) -> None:
    r = pd.read_csv(REFERENCE / "register_endpoints_r.csv").set_index("study_id")
    mine = data.set_index("study_id").loc[r.index]
    for column in ("months_in_work_0_12", "months_in_work_12_24", "in_work_at_12"):
        assert mine[column].isna().tolist() == r[column].isna().tolist(), column
        assert np.array_equal(mine[column].dropna(), r[column].dropna()), column
    assert mine["event"].astype(int).tolist() == r["event"].tolist()
    np.testing.assert_allclose(mine["months"], r["months"], rtol=0, atol=1e-12)
    # The data exercise what they should: missing second years, events and censoring.
    assert mine["months_in_work_12_24"].isna().any() and mine["months_in_work_12_24"].notna().any()
    assert 0 < mine["event"].mean() < 1 and (mine["months"] == 0).any()


def test_months_in_work_individual(data: pd.DataFrame, expected: pd.DataFrame) -> None:
    y = data.loc[data["months_in_work_0_12"].notna()]
    treated, control = y.loc[y["treat"] == 1], y.loc[y["treat"] == 0]
    welch = welch_difference(treated["months_in_work_0_12"], control["months_in_work_0_12"])
    matches(welch, expected.loc["welch"], LEAST_SQUARES)
    ancova = ancova_hc3(y, "months_in_work_0_12", ["age", "female"])
    matches(ancova, expected.loc["ancova_hc3"], LEAST_SQUARES)
    assert ancova.se_type == "HC3" and ancova.reference == "t, 236 df"


def test_months_in_work_cluster_cr2(data: pd.DataFrame, expected: pd.DataFrame) -> None:
    for covariates, model in (([], "cr2_months"), (["age", "female"], "cr2_months_adjusted")):
        estimate = cluster_difference(
            data, "months_in_work_0_12", "site", "m", "ls", covariates=covariates
        )
        matches(estimate, expected.loc[model], LEAST_SQUARES)
        assert estimate.reference == "t, 10 df"


def test_in_work_at_12_risk_difference(data: pd.DataFrame, expected: pd.DataFrame) -> None:
    b = data.loc[data["in_work_at_12"].notna()]
    matches(binary_itt(b, "in_work_at_12")[0], expected.loc["risk_difference"], LEAST_SQUARES)


def test_time_to_first_work(data: pd.DataFrame, expected: pd.DataFrame) -> None:
    frame = data.assign(event=data["event"].astype(bool))
    matches(survival.cox_hazard_ratio(frame, []), expected.loc["cox"], COX)
    matches(survival.cox_hazard_ratio(frame, ["age", "female"]), expected.loc["cox_adjusted"], COX)
    robust = survival.cox_hazard_ratio(frame, [], cluster="site")
    matches(robust, expected.loc["cox_cluster"], COX)
    assert robust.reference == "t, 10 df"
    statistic, p = survival.logrank(frame["months"], frame["event"], frame["treat"])
    assert statistic == pytest.approx(expected.loc["logrank", "statistic"], rel=1e-9)
    assert p == pytest.approx(expected.loc["logrank", "p_value"], rel=1e-9)
    for treat, model in ((0, "km_median_control"), (1, "km_median_treated")):
        arm = frame.loc[frame["treat"] == treat]
        curve = survival.kaplan_meier(arm["months"], arm["event"])
        assert curve.median == pytest.approx(expected.loc[model, "estimate"], rel=1e-9)
