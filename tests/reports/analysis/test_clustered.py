"""ICC, design effect and GEE against published and independently computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from scipy import stats

from reports.analysis.clustered import design_effect, gee_effect, icc_anova

RESULTS = Path(statsmodels.__file__).parent / "genmod" / "tests" / "results"

# Shrout & Fleiss (1979), Psychol Bull 86:420-428, Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def test_icc_matches_shrout_and_fleiss() -> None:
    # Published: BMS = 11.24, WMS = 6.26 (Table 3), ICC(1,1) = .17 (Table 4). With targets as
    # clusters the one-way ANOVA estimator is ICC(1,1). Tolerances: mean squares 0.005 (printed
    # to 2 decimals), ICC 0.005 against .17 and 1e-3 against (11.24-6.26)/(11.24+3*6.26).
    values = [v for row in SHROUT_FLEISS for v in row]
    clusters = [i for i, row in enumerate(SHROUT_FLEISS) for _ in row]
    result = icc_anova(pd.Series(values), pd.Series(clusters))
    assert result.msb == pytest.approx(11.24, abs=0.005)
    assert result.msw == pytest.approx(6.26, abs=0.005)
    assert result.icc == pytest.approx(0.17, abs=0.005)
    assert result.icc == pytest.approx((11.24 - 6.26) / (11.24 + 3 * 6.26), abs=1e-3)
    assert (result.clusters, result.n, result.n0) == (6, 24, pytest.approx(4.0))  # type: ignore[comparison-overlap]  # pytest.approx equals a float


def test_design_effect_by_hand() -> None:
    # 1 + (m - 1) ICC = 1 + 19 * 0.05 = 1.95; Eldridge et al. 2006 with CV 0.5:
    # 1 + ((0.25 + 1) * 20 - 1) * 0.05 = 2.2; negative ICC counts as 0.
    assert design_effect(20, 0.05) == pytest.approx(1.95)
    assert design_effect(20, 0.05, cv=0.5) == pytest.approx(2.2)
    assert design_effect(20, -0.01) == pytest.approx(1.0)
    assert design_effect(20, None) is None


def _gee_logistic_data() -> pd.DataFrame:
    data = pd.read_csv(RESULTS / "gee_logistic_1.csv", header=None)
    data.columns = ["Id", "Y", "X1", "X2", "X3"]
    return data


def test_gee_exchangeable_logistic_matches_r_gee() -> None:
    # R gee 4.13, gee(Y ~ X1 + X2 + X3, id=Id, family=binomial, corstr="exchangeable") on
    # statsmodels/genmod/tests/results/gee_logistic_1.csv, from statsmodels' test_gee.py
    # (test_logistic): coef(X1) = 1.13118798191788, robust SE = 0.165470678232842.
    # Tolerance 1e-6 relative (statsmodels' own test uses 6 decimals).
    data = _gee_logistic_data()
    result = gee_effect(data, "Y", "Id", ["X2", "X3"], binary=True, treat="X1", cov_type="robust")
    k = data["Id"].nunique()
    q = stats.t.ppf(0.975, k - 2)
    assert result.estimate is not None and result.ci_low is not None and result.ci_high is not None
    assert np.log(result.estimate) == pytest.approx(1.13118798191788, rel=1e-6)
    se = np.log(result.ci_high / result.ci_low) / (2 * q)
    assert se == pytest.approx(0.165470678232842, rel=1e-5)


def test_gee_bias_reduced_matches_mancl_derouen_by_hand() -> None:
    # Linear model, independence working correlation: the Mancl & DeRouen (2001) covariance is
    # (X'X)^-1 [sum_i X_i' (I - H_ii)^-1 e_i e_i' (I - H_ii)^-T X_i] (X'X)^-1 with
    # H_ii = X_i (X'X)^-1 X_i'. Computed with numpy on 8 clusters; tolerance 1e-6 relative.
    rng = np.random.default_rng(3)
    cluster = np.repeat(np.arange(8), 6)
    treat = (cluster % 2).astype(float)
    x2 = rng.normal(size=48)
    y = 1 + 0.5 * treat + 0.3 * x2 + rng.normal(size=8)[cluster] + rng.normal(size=48)
    frame = pd.DataFrame({"y": y, "treat": treat, "x2": x2, "c": cluster})
    result = gee_effect(frame, "y", "c", ["x2"], binary=False, correlation="independence")
    x = np.column_stack([np.ones(48), treat, x2])
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    e = y - x @ beta
    meat = np.zeros((3, 3))
    for c in range(8):
        rows = cluster == c
        xi = x[rows]
        adjust = np.linalg.inv(np.eye(rows.sum()) - xi @ xtx_inv @ xi.T)
        u = xi.T @ adjust @ e[rows]
        meat += np.outer(u, u)
    se = np.sqrt((xtx_inv @ meat @ xtx_inv)[1, 1])
    q = stats.t.ppf(0.975, 6)
    assert result.estimate == pytest.approx(beta[1], rel=1e-8)
    assert result.ci_low is not None and result.ci_high is not None
    assert (result.ci_high - result.ci_low) / (2 * q) == pytest.approx(se, rel=1e-6)


def test_single_cluster_per_arm_is_reported_not_estimated() -> None:
    frame = pd.DataFrame(
        {"y": [0, 1, 1, 0, 1, 1, 0, 0], "treat": [1] * 4 + [0] * 4, "site": ["a"] * 4 + ["b"] * 4}
    )
    result = gee_effect(frame, "y", "site", [], binary=True)
    assert result.estimate is None and "only one cluster" in (result.note or "")
