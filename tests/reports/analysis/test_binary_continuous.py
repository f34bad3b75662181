"""Binary and continuous ITT estimates against hand computations and published results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from reports.analysis.estimates import (
    ancova_hc3,
    binary_itt,
    logistic_adjusted,
    proportions_by_arm,
    two_by_two,
    welch_difference,
)


def test_two_by_two_matches_hand_computed_wald_intervals() -> None:
    # Textbook 2x2: 30/100 in work with the intervention, 20/100 without. Hand computed
    # (z = 1.959964): RD 0.10, SE sqrt(.3*.7/100 + .2*.8/100) = 0.060828, CI -0.019220..0.219220,
    # p = 0.100178; RR 1.5, SE(log) sqrt(1/30 - 1/100 + 1/20 - 1/100) = 0.251661,
    # CI 0.915961..2.456437; OR 30*80/(70*20) = 1.714286, SE(log) sqrt(1/30+1/70+1/20+1/80)
    # = 0.331842, CI 0.894579..3.285092. Tolerance 1e-6 absolute.
    rd, rr, odds = two_by_two(30, 100, 20, 100)
    assert rd.estimate == pytest.approx(0.10, abs=1e-9)
    assert (rd.ci_low, rd.ci_high) == pytest.approx((-0.019220, 0.219220), abs=1e-6)
    assert rd.p_value == pytest.approx(0.100178, abs=1e-6)
    assert rr.estimate == pytest.approx(1.5)
    assert (rr.ci_low, rr.ci_high) == pytest.approx((0.915961, 2.456437), abs=1e-6)
    assert odds.estimate == pytest.approx(1.714286, abs=1e-6)
    assert (odds.ci_low, odds.ci_high) == pytest.approx((0.894579, 3.285092), abs=1e-6)
    assert (rd.n_treated, rd.n_control) == (100, 100)


def test_two_by_two_with_a_zero_cell_gives_no_ratio_and_says_why() -> None:
    rd, rr, odds = two_by_two(0, 50, 5, 50)
    assert rd.estimate == pytest.approx(-0.1)
    assert rr.estimate is None and odds.estimate is None
    assert "zero" in (rr.note or "")


def test_binary_itt_counts_from_a_frame() -> None:
    frame = pd.DataFrame(
        {
            "y": [1] * 30 + [0] * 70 + [1] * 20 + [0] * 80 + [None] * 5,
            "treat": [1] * 100 + [0] * 100 + [1] * 5,
        }
    )
    rd = binary_itt(frame, "y")[0]
    assert (rd.n_treated, rd.n_control, rd.estimate) == (100, 100, pytest.approx(0.1))  # type: ignore[comparison-overlap]  # pytest.approx equals a float


def test_wilson_interval_matches_newcombe_1998() -> None:
    # Newcombe RG, Stat Med 1998;17:857-872, Table I: 81/263, Wilson score 0.2553 to 0.3662.
    frame = pd.DataFrame({"arm": ["A"] * 263, "y": [1.0] * 81 + [0.0] * 182})
    row = proportions_by_arm(frame, "y").iloc[0]
    assert row["proportion"] == pytest.approx(81 / 263)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def test_adjusted_logistic_odds_ratio_matches_stata_on_spector_data() -> None:
    # Spector & Mazzeo (1980) teaching-method trial: GRADE ~ PSI + GPA + TUCE. Stata 11 logit,
    # stored in statsmodels/discrete/tests/results/results_discrete.py (class Spector):
    # coef(PSI) = 2.37868772835, SE = 1.06456430165. Tolerance: estimate 1e-5 relative, interval
    # limits 1e-4 relative (IRLS stops at a deviance tolerance; statsmodels' own tests compare
    # these standard errors to 4 decimals).
    data = sm.datasets.spector.load_pandas().data.rename(columns={"PSI": "treat"})
    result = logistic_adjusted(data, "GRADE", ["GPA", "TUCE"])
    z = stats.norm.ppf(0.975)
    assert result.estimate == pytest.approx(np.exp(2.37868772835), rel=1e-5)
    assert result.ci_low == pytest.approx(np.exp(2.37868772835 - z * 1.06456430165), rel=1e-4)
    assert result.ci_high == pytest.approx(np.exp(2.37868772835 + z * 1.06456430165), rel=1e-4)
    assert (result.n_treated, result.n_control) == (14, 18)


def test_separation_in_logistic_regression_gives_none_with_a_reason() -> None:
    frame = pd.DataFrame(
        {"y": [1] * 10 + [0] * 10, "treat": [1] * 10 + [0] * 10, "age": np.arange(20.0)}
    )
    result = logistic_adjusted(frame, "y", ["age"])
    assert result.estimate is None and "Separation" in (result.note or "")


def test_welch_difference_matches_scipy() -> None:
    # Independent check: scipy.stats.ttest_ind(equal_var=False); real data: statsmodels' "fair"
    # data set (Fair 1978), affairs by whether the couple has children. Tolerance 1e-10.
    data = sm.datasets.fair.load_pandas().data
    a = data.loc[data["children"] > 0, "affairs"]
    b = data.loc[data["children"] == 0, "affairs"]
    result = welch_difference(a, b)
    reference = stats.ttest_ind(a, b, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert result.estimate == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_ancova_hc3_matches_the_sandwich_computed_by_hand() -> None:
    # HC3 = (X'X)^-1 X' diag(e_i^2 / (1 - h_ii)^2) X (X'X)^-1 (MacKinnon & White 1985),
    # computed here with numpy; t(n - p) reference. Tolerance 1e-8 relative.
    data = sm.datasets.fair.load_pandas().data
    data = data.assign(treat=(data["religious"] >= 3).astype(int))
    result = ancova_hc3(data, "affairs", ["age", "yrs_married"])
    x = np.column_stack([np.ones(len(data)), data[["treat", "age", "yrs_married"]].to_numpy()])
    y = data["affairs"].to_numpy()
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    e = y - x @ beta
    h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    cov = xtx_inv @ (x.T * (e**2 / (1 - h) ** 2)) @ x @ xtx_inv
    se = np.sqrt(cov[1, 1])
    q = stats.t.ppf(0.975, len(y) - 4)
    assert result.estimate == pytest.approx(beta[1], rel=1e-8)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (beta[1] - q * se, beta[1] + q * se), rel=1e-8
    )
