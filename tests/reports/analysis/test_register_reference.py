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
from reports.analysis.effect import effect_sections
from reports.analysis.estimates import Estimate, ancova_hc3, binary_itt, welch_difference
from reports.analysis.results import AnalysisPlan, EffectData

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


def effect_data(data: pd.DataFrame, design: str) -> EffectData:
    participants = pd.DataFrame(
        {
            "study_id": data["study_id"],
            "arm": np.where(data["treat"] == 1, "A", "B"),
            "arm_label": np.where(data["treat"] == 1, "Intervention", "Usual services"),
            "is_control": data["treat"] == 0,
            "site": data["site"],
            "randomised_on": pd.to_datetime(data["randomised_on"]).dt.date,
            "stratum": None,
            "withdrawn": False,
            "age": data["age"],
            "female": data["female"],
        }
    )
    empty = pd.DataFrame(columns=["study_id", "visit", "offset_months", "assessed_on"])
    return EffectData(
        participants=participants,
        outcomes=empty,
        missed=pd.DataFrame(columns=["study_id", "visit", "reason"]),
        exposure=pd.DataFrame(columns=["study_id", "exposed", "first_exposed_on", "contacted"]),
        time_to_work=pd.DataFrame(columns=["study_id", "months", "event"]),
        design=design,
        kinds={"months_in_work_0_12": "register_months", "time_to_first_work": "time_to_event"},
        registers=data[["study_id", "months_in_work_0_12"]],
        register_times={"time_to_first_work": data[["study_id", "months", "event"]]},
    )


PLAN = AnalysisPlan(
    primary_outcome="months_in_work_0_12",
    time_point="m12",
    secondary_outcomes=["time_to_first_work"],
    covariates=["age", "female"],
    missing="complete_case",
    subgroups=[],
)


@pytest.mark.parametrize("design", ["individual", "cluster"])
def test_effect_report_sections_use_these_models(
    data: pd.DataFrame, expected: pd.DataFrame, design: str
) -> None:
    """The effect report's register sections print the numbers checked above: HC3 ANCOVA or CR2
    for months in work, Cox (cluster-robust in a cluster trial) and the KM from register
    dates."""
    sections = {s.key: s for s in effect_sections(effect_data(data, design), PLAN, 1, False)}
    primary = sections["primary"].tables[1].frame.set_index("Measure")
    models = (
        {
            "difference in mean months": "cr2_months",
            "adjusted difference in mean months": "cr2_months_adjusted",
        }
        if design == "cluster"
        else {"difference in means": "welch", "adjusted difference in means": "ancova_hc3"}
    )
    for measure, model in models.items():
        row = primary.loc[measure]
        assert row["Estimate"] == pytest.approx(expected.loc[model, "estimate"], rel=1e-9)
        assert row["95% CI lower"] == pytest.approx(expected.loc[model, "ci_low"], rel=1e-9)
    cox = sections["time_to_work"].tables[-1].frame.set_index("Measure").loc["hazard ratio"]
    model = "cox_cluster" if design == "cluster" else "cox"
    assert cox["Estimate"] == pytest.approx(expected.loc[model, "estimate"], rel=COX)
    assert cox["95% CI upper"] == pytest.approx(expected.loc[model, "ci_high"], rel=COX)
    km = sections["time_to_work"].tables[0].frame
    assert list(km["Median months"]) == pytest.approx(
        [
            expected.loc["km_median_treated", "estimate"],
            expected.loc["km_median_control", "estimate"],
        ]
    )
