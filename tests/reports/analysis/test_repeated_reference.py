"""The repeated-measures GEE (reports.analysis.repeated) against reference numbers from R.

tests/reports/reference/ holds the data (repeated.csv, made by make_repeated_data.py), the R
script (reference_repeated.R) and its output (reference_repeated_r.csv; R 4.2.2, geepack 1.3.9).

Tolerances: against the GEE written out in R with the report's moment estimators of the working
correlation (exchangeable; AR(1) over the visits' order) — 1e-6 relative for the per-visit and
overall effects, their limits, p-values and the estimated correlation (the two iterate to
convergence separately; they agree to about 1e-9); the same with the sites as clusters and the
Mancl–DeRouen bias-reduced sandwich with t(K − 2). Against geepack::geeglm, whose estimators
of the working correlation differ (exchangeable α 0.7954 against 0.7961; AR(1) 0.846 against
0.816; with the yes/no outcome AR(1) 0.508), 3% relative for the effects and 1% for their
standard errors — that difference comes
from the correlation parameter alone, as the exact agreement above shows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reports.analysis.repeated import AR1, EXCHANGEABLE, fit_repeated

REFERENCE = Path(__file__).parents[1] / "reference"
VISITS = ["m6", "m12", "m18"]
EXACT = 1e-6


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "reference_repeated_r.csv", skipinitialspace=True)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "repeated.csv")


def rows(expected: pd.DataFrame, model: str) -> pd.DataFrame:
    return expected.loc[expected["model"] == model].set_index("visit")


@pytest.mark.parametrize(
    ("correlation", "cluster", "model"),
    [
        (EXCHANGEABLE, None, "gee_exchangeable"),
        (AR1, None, "gee_ar1"),
        (EXCHANGEABLE, "site", "gee_cluster_md"),
    ],
)
def test_gee_matches_r(
    data: pd.DataFrame,
    expected: pd.DataFrame,
    correlation: str,
    cluster: str | None,
    model: str,
) -> None:
    fit = fit_repeated(data, "y", VISITS, False, correlation, cluster=cluster)
    assert fit.problem is None
    want = rows(expected, model)
    assert fit.alpha == pytest.approx(want["alpha"].iloc[0], rel=EXACT)
    for visit, estimate in fit.rows:
        row = want.loc[visit or "overall"]
        assert estimate.estimate == pytest.approx(row["estimate"], rel=EXACT)
        assert estimate.ci_low == pytest.approx(row["ci_low"], rel=EXACT)
        assert estimate.ci_high == pytest.approx(row["ci_high"], rel=EXACT)
        assert estimate.p_value == pytest.approx(row["p_value"], rel=EXACT)
        assert estimate.reference == ("t, 10 df" if cluster else "normal")


@pytest.mark.parametrize(
    ("outcome", "binary", "correlation", "model"),
    [
        ("y", False, EXCHANGEABLE, "geepack_exchangeable"),
        ("y", False, AR1, "geepack_ar1"),
        ("y_bin", True, EXCHANGEABLE, "geepack_binary_exchangeable"),
        ("y_bin", True, AR1, "geepack_binary_ar1"),
    ],
)
def test_gee_is_close_to_geepack(
    data: pd.DataFrame,
    expected: pd.DataFrame,
    outcome: str,
    binary: bool,
    correlation: str,
    model: str,
) -> None:
    fit = fit_repeated(data, outcome, VISITS, binary, correlation)
    want = rows(expected, model)
    for visit, estimate in fit.rows:
        row = want.loc[visit or "overall"]
        assert estimate.estimate == pytest.approx(row["estimate"], rel=0.03)
        assert estimate.ci_high is not None and estimate.estimate is not None
        if binary:  # the CI on the log scale: its half-width is 1.96 SE
            import math

            half = math.log(estimate.ci_high) - math.log(estimate.estimate)
        else:
            half = estimate.ci_high - estimate.estimate
        assert half / 1.959963984540054 == pytest.approx(row["se"], rel=0.01)


def test_too_few_visits_is_said(data: pd.DataFrame) -> None:
    fit = fit_repeated(data.loc[data["visit"] == "m6"], "y", VISITS, False, EXCHANGEABLE)
    assert fit.problem == "Fewer than two visits have values." and not fit.rows


@pytest.mark.parametrize("design", ["individual", "cluster"])
def test_effect_report_has_a_repeated_measures_table(
    data: pd.DataFrame, expected: pd.DataFrame, design: str
) -> None:
    """The effect report's section states the working correlation in the table and prints
    the R-checked effects."""
    from reports.analysis.effect import effect_sections
    from reports.analysis.results import AnalysisPlan, EffectData

    people = data.drop_duplicates("study_id")
    participants = pd.DataFrame(
        {
            "study_id": people["study_id"],
            "arm": ["A" if t else "B" for t in people["treat"]],
            "arm_label": ["Intervention" if t else "Usual services" for t in people["treat"]],
            "is_control": people["treat"] == 0,
            "site": people["site"],
            "randomised_on": pd.Timestamp("2024-01-10").date(),
            "stratum": None,
            "withdrawn": False,
        }
    )
    outcomes = data.assign(
        offset_months=data["wave"] * 6, assessed_on=pd.Timestamp("2024-07-01").date()
    )[["study_id", "visit", "offset_months", "assessed_on", "y"]]
    effect_data = EffectData(
        participants=participants,
        outcomes=outcomes,
        missed=pd.DataFrame(columns=["study_id", "visit", "reason"]),
        exposure=pd.DataFrame(columns=["study_id", "exposed", "first_exposed_on", "contacted"]),
        time_to_work=pd.DataFrame(columns=["study_id", "months", "event"]),
        design=design,
        kinds={"y": "continuous"},
    )
    plan = AnalysisPlan("y", "m18", [], [], "complete_case", [])
    section = next(s for s in effect_sections(effect_data, plan, 1, False) if s.key == "repeated")
    assert not section.problems, section.problems
    table = section.tables[0]
    frame = table.frame
    models = ["gee_cluster_md"] if design == "cluster" else ["gee_exchangeable", "gee_ar1"]
    assert len(frame) == 4 * len(models)
    for index, model in enumerate(models):
        want = rows(expected, model)
        block = frame.iloc[4 * index : 4 * index + 4]
        assert block["Estimate"].tolist() == pytest.approx(want["estimate"].tolist(), rel=EXACT)
        method = block["Method"].iloc[0]
        assert method.startswith("exchangeable" if "ar1" not in model else "AR(1)")
        assert "estimated correlation" in method
    assert block["Measure"].iloc[-1].endswith("overall (average over visits)")
    assert any("working correlation" in note for note in table.notes)
