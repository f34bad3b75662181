"""Kaplan–Meier, log-rank and Cox against SAS and R results stored in statsmodels' tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from scipy import stats

from reports.analysis.survival import cox_hazard_ratio, kaplan_meier, logrank, numbers_at_risk

RESULTS = Path(statsmodels.__file__).parent / "duration" / "tests" / "results"


@pytest.fixture
def bmt() -> pd.DataFrame:
    # Klein & Moeschberger bone marrow transplant data, statsmodels/duration/tests/results/bmt.csv
    return pd.read_csv(RESULTS / "bmt.csv")


def test_kaplan_meier_matches_sas_lifetest(bmt: pd.DataFrame) -> None:
    # SAS PROC LIFETEST for group ALL, statsmodels/duration/tests/results/bmt_results.csv
    # (columns t, s, se). Tolerance 1e-4 absolute, as in statsmodels' test_bmt.
    reference = pd.read_csv(RESULTS / "bmt_results.csv")
    group = bmt.loc[bmt["Group"] == "ALL"]
    curve = kaplan_meier(group["T"], group["Status"])
    np.testing.assert_allclose(curve.times, reference["t"])
    np.testing.assert_allclose(curve.survival, reference["s"], atol=1e-4)
    # Median: first time the SAS survival estimate is 0.5 or below.
    expected_median = reference.loc[reference["s"] <= 0.5, "t"].iloc[0]
    assert curve.median == expected_median
    assert (curve.n, curve.events) == (len(group), int(group["Status"].sum()))


def test_median_follows_the_textbook_definition_and_is_none_when_not_reached() -> None:
    # Hand computed: times 1..6 all events -> S = 5/6, 4/6, 3/6 at t=3, so the median is 3.
    curve = kaplan_meier(pd.Series([1, 2, 3, 4, 5, 6]), pd.Series([1] * 6))
    assert curve.median == 3
    assert curve.at(2.5) == pytest.approx(4 / 6)
    few = kaplan_meier(pd.Series([1, 2, 3, 4]), pd.Series([1, 0, 0, 0]))
    assert few.median is None


def test_numbers_at_risk_by_hand() -> None:
    assert numbers_at_risk(pd.Series([0.5, 2, 3, 3, 7]), [0, 3, 6]) == [5, 3, 1]


def test_logrank_matches_r_survdiff(bmt: pd.DataFrame) -> None:
    # R survival::survdiff on AML-Low vs AML-High: chi-square 13.44556, from statsmodels'
    # test_survfunc.py (test_survdiff). Tolerance 1e-4 relative.
    data = bmt.loc[bmt["Group"] != "ALL"]
    statistic, p = logrank(data["T"], data["Status"], data["Group"])
    assert statistic == pytest.approx(13.44556, rel=1e-4)
    assert p == pytest.approx(stats.chi2.sf(13.44556, 1), rel=1e-3)


def test_logrank_small_example_matches_r() -> None:
    # R survdiff example printed in statsmodels' test_survfunc.py: chi-square 2.14673, p 0.14287.
    ti = [3, 1, 2, 3, 2, 1, 5, 3, 1, 1, 2, 3, 7, 1, 5, 3, 9]
    st = [0, 1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1]
    group = [0] * 8 + [1] * 9
    statistic, p = logrank(pd.Series(ti), pd.Series(st), pd.Series(group))
    expected = (pytest.approx(2.14673, rel=1e-4), pytest.approx(0.14287, rel=1e-3))
    assert (statistic, p) == expected  # type: ignore[comparison-overlap]  # pytest.approx equals a float


def test_cox_hazard_ratio_matches_r_coxph() -> None:
    # R survival::coxph(Surv(time, status) ~ exog, ties="efron") on
    # statsmodels/duration/tests/results/survival_data_50_2.csv; results in
    # survival_r_results.py: coef = (-0.6107485, 0.5309737), se = (0.2177713, 0.2440535).
    # Tolerance 1e-4 relative (R printed 7 significant digits).
    data = pd.read_csv(RESULTS / "survival_data_50_2.csv", sep=" ", header=None)
    data.columns = ["months", "event", "entry", "x1", "x2"]
    result = cox_hazard_ratio(data, ["x2"], treat="x1")
    z = stats.norm.ppf(0.975)
    assert result.estimate is not None and result.ci_low is not None and result.ci_high is not None
    assert np.log(result.estimate) == pytest.approx(-0.6107485, rel=1e-4)
    assert np.log(result.ci_high / result.ci_low) / (2 * z) == pytest.approx(0.2177713, rel=1e-4)


def test_cox_without_events_says_why() -> None:
    frame = pd.DataFrame({"months": [1.0, 2, 3, 4], "event": [0, 0, 0, 0], "treat": [1, 1, 0, 0]})
    result = cox_hazard_ratio(frame, [])
    assert result.estimate is None and "No events" in (result.note or "")


def test_cox_leaves_out_a_constant_or_empty_covariate_and_names_it() -> None:
    # A constant column has nothing to estimate in a model without intercept: kept in, it made
    # the fit fail ("Singular matrix") here, and on other data gave an interval of zero width
    # with p = 0; an empty column dropped every row ("No events were observed").
    data = pd.read_csv(RESULTS / "survival_data_50_2.csv", sep=" ", header=None)
    data.columns = ["months", "event", "entry", "x1", "x2"]
    data = data.assign(employed=0.0, benefit=np.nan)
    unadjusted = cox_hazard_ratio(data, [], treat="x1")
    labels = {"employed": "In work", "benefit": "Benefit type"}
    result = cox_hazard_ratio(data, ["employed", "benefit"], treat="x1", label=labels.__getitem__)
    assert (result.estimate, result.ci_low, result.ci_high, result.p_value) == (
        unadjusted.estimate,
        unadjusted.ci_low,
        unadjusted.ci_high,
        unadjusted.p_value,
    )
    assert result.note == (
        "Covariate In work is constant and was left out. "
        "Covariate Benefit type has no values and was left out."
    )
