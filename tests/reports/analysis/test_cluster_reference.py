"""The cluster-aware estimates against reference numbers computed by R.

tests/reports/reference/ holds the data (cluster.csv and stepped_wedge.csv, made by
make_cluster_data.py), the R script (reference_cluster.R: clubSandwich::vcovCR(type = "CR2")
for lm and AER::ivreg, survival::coxph(..., cluster = site) for the Cox model and its robust
score test) and its output (reference_cluster_r.csv; R 4.2.2, survival 3.5-3, clubSandwich
0.5.8, AER 1.2-10). Every interval and p-value refers to t(K − 2) or F(1, K − 2), as the report
does.

Tolerances: 1e-9 relative for the least-squares estimates, their limits and p-values (closed
forms: they agree to about 1e-14); 1e-7 relative for the Cox models and the robust score test
(statsmodels and R stop their Newton iterations at slightly different points: they agree to
about 1e-10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.analysis.clustered import (
    cluster_difference,
    cluster_mean,
    cluster_wald_test,
    linear_cr2,
)
from reports.analysis.estimates import Estimate
from reports.analysis.subgroups import subgroup_effects
from reports.analysis.survival import cox_hazard_ratio, robust_logrank

REFERENCE = Path(__file__).parents[1] / "reference"
LEAST_SQUARES = 1e-9
COX = 1e-7


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "reference_cluster_r.csv").set_index("model")


@pytest.fixture(scope="module")
def cluster() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "cluster.csv")


@pytest.fixture(scope="module")
def stepped_wedge() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "stepped_wedge.csv")


def matches(estimate: Estimate, row: pd.Series, tolerance: float) -> None:
    assert estimate.estimate == pytest.approx(row["estimate"], rel=tolerance)
    assert estimate.ci_low == pytest.approx(row["ci_low"], rel=tolerance)
    assert estimate.ci_high == pytest.approx(row["ci_high"], rel=tolerance)
    assert estimate.p_value == pytest.approx(row["p_value"], rel=tolerance)
    assert estimate.reference == f"t, {int(row['df'])} df"


@pytest.mark.parametrize(
    ("model", "outcome", "options"),
    [
        ("cr2_itt_binary", "y_bin", {}),
        ("cr2_itt", "y", {}),
        ("cr2_itt_adjusted", "y", {"covariates": ["age", "female"]}),
        ("cr2_cace", "y", {"treat": "received", "instrument": "treat"}),
        ("cr2_as_treated", "y", {"treat": "received"}),
    ],
)
def test_cr2_least_squares_and_2sls_match_clubsandwich(
    expected: pd.DataFrame, cluster: pd.DataFrame, model: str, outcome: str, options: dict
) -> None:
    estimate = cluster_difference(cluster, outcome, "site", "m", "x", **options)
    matches(estimate, expected.loc[model], LEAST_SQUARES)
    assert estimate.se_type == "CR2 bias-reduced, cluster-robust"
    assert estimate.covariates == tuple(options.get("covariates", ()))


def test_cr2_per_protocol_matches_clubsandwich(
    expected: pd.DataFrame, cluster: pd.DataFrame
) -> None:
    protocol = cluster.loc[~((cluster["treat"] == 0) & (cluster["exposed"] == 1))]
    estimate = cluster_difference(protocol, "y", "site", "m", "x")
    matches(estimate, expected.loc["cr2_per_protocol"], LEAST_SQUARES)


def test_cluster_mean_of_an_arm_matches_an_intercept_only_cr2(
    expected: pd.DataFrame, cluster: pd.DataFrame
) -> None:
    arm = cluster.loc[cluster["treat"] == 1]
    result = cluster_mean(arm["y_bin"], arm["site"])
    row = expected.loc["cr2_mean_arm1"]
    assert result.mean == pytest.approx(row["estimate"], rel=LEAST_SQUARES)
    assert result.ci_low == pytest.approx(row["ci_low"], rel=LEAST_SQUARES)
    assert result.ci_high == pytest.approx(row["ci_high"], rel=LEAST_SQUARES)
    assert result.df == row["df"] == 6


def test_cluster_subgroups_and_interaction_match_clubsandwich(
    expected: pd.DataFrame, cluster: pd.DataFrame
) -> None:
    result = subgroup_effects(cluster, "y", "female", binary=False, cluster="site")
    levels = dict(result.estimates)
    matches(levels["0"], expected.loc["cr2_subgroup_female_0"], LEAST_SQUARES)
    matches(levels["1"], expected.loc["cr2_subgroup_female_1"], LEAST_SQUARES)
    interaction = expected.loc["cr2_interaction"]
    assert result.interaction_p == pytest.approx(interaction["p_value"], rel=LEAST_SQUARES)
    fit = linear_cr2(cluster, "y", ["treat", "female", "treat:female"], "site", coefficient="treat")
    statistic, p, q = cluster_wald_test(fit, ["treat:female"])
    assert (statistic, p, q) == (  # type: ignore[comparison-overlap]  # approx compares by value
        pytest.approx(interaction["statistic"], rel=LEAST_SQUARES),
        pytest.approx(interaction["p_value"], rel=LEAST_SQUARES),
        1,
    )


@pytest.mark.parametrize(
    ("model", "covariates", "time"),
    [("cox_robust", [], "months"), ("cox_robust_adjusted", ["age"], "months")],
)
def test_cluster_robust_cox_matches_coxph_with_cluster(
    expected: pd.DataFrame, cluster: pd.DataFrame, model: str, covariates: list, time: str
) -> None:
    # Tied event times (whole months): Efron's likelihood and its score residuals.
    estimate = cox_hazard_ratio(cluster, covariates, time=time, cluster="site")
    matches(estimate, expected.loc[model], COX)
    assert estimate.se_type == "Lin–Wei cluster-robust"


def test_cluster_robust_cox_without_ties_matches_coxph(
    expected: pd.DataFrame, cluster: pd.DataFrame
) -> None:
    # No tied times: the report fits Breslow's likelihood (equal to Efron's then).
    untied = cluster.assign(exact=cluster["months"] - np.arange(1, len(cluster) + 1) / 1000)
    estimate = cox_hazard_ratio(untied, [], time="exact", cluster="site")
    matches(estimate, expected.loc["cox_robust_untied"], COX)


def test_stratified_cluster_robust_cox_matches_coxph(
    expected: pd.DataFrame, stepped_wedge: pd.DataFrame
) -> None:
    estimate = cox_hazard_ratio(stepped_wedge, [], cluster="site", strata="period")
    matches(estimate, expected.loc["cox_robust_stepped_wedge"], COX)


@pytest.mark.parametrize(
    ("model", "strata"),
    [("robust_logrank", None), ("robust_logrank_stepped_wedge", "period")],
)
def test_cluster_adjusted_logrank_matches_the_robust_score_test_of_coxph(
    expected: pd.DataFrame,
    cluster: pd.DataFrame,
    stepped_wedge: pd.DataFrame,
    model: str,
    strata: str | None,
) -> None:
    data = stepped_wedge if strata else cluster
    statistic, p, df, why = robust_logrank(data, "site", strata=strata)
    row = expected.loc[model]
    assert why is None
    assert statistic == pytest.approx(row["statistic"], rel=COX)
    assert p == pytest.approx(row["p_value"], rel=COX)
    assert df == row["df"]
