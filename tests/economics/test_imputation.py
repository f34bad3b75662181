"""Multiple imputation of missing costs and effects: Rubin's rules by hand, predictive mean
matching by arm on examples whose answer is known, and the evaluation with the plan's choice."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from economics import analysis, costs, evaluation, imputation
from reports.analysis import missing


def test_rubins_rules_by_hand() -> None:
    # m = 3: Q̄ = 2, W = 0.5, B = var(1, 2, 3) = 1, T = W + (1 + 1/3) B = 11/6,
    # λ = (4/3) / (11/6) = 8/11, df (infinite complete-data df) = (m − 1) / λ² = 2 · 121/64.
    pooled = imputation.rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], math.inf)
    assert pooled.estimate == 2.0
    assert pooled.variance == pytest.approx(11 / 6, rel=1e-12)
    assert pooled.fmi == pytest.approx(8 / 11, rel=1e-12)
    assert pooled.df == pytest.approx(242 / 64, rel=1e-12)
    low, high = pooled.interval
    assert high - 2.0 == pytest.approx(2.0 - low, rel=1e-12)


def test_rubins_rules_agree_with_the_effect_reports_pooling() -> None:
    estimates, variances = [0.3, 0.45, 0.41, 0.28], [0.02, 0.025, 0.021, 0.018]
    ours = imputation.rubin(estimates, variances, 57)
    theirs = missing.rubin(estimates, variances, 57)
    assert theirs is not None
    assert (ours.estimate, math.sqrt(ours.variance), ours.df, ours.fmi) == pytest.approx(
        theirs, rel=1e-12
    )


def test_imputed_values_are_observed_values_of_the_same_arm() -> None:
    rng = np.random.default_rng(5)
    treated = np.repeat([False, True], 40)
    cost = np.where(treated, 500.0, 100.0) + rng.integers(0, 3, 80)  # arms never overlap
    effect = rng.integers(0, 2, 80).astype(float)
    cost[[1, 7, 45, 60]] = np.nan
    effect[[2, 7, 50]] = np.nan
    completed = imputation.impute_by_arm(cost, effect, treated, seed=11, imputations=5)
    assert len(completed) == 5
    for c, e in completed:
        assert not np.isnan(c).any() and not np.isnan(e).any()
        for arm in (False, True):
            rows = treated == arm
            assert set(c[rows]) <= set(cost[rows & ~np.isnan(cost)])
            assert set(e[rows]) <= {0.0, 1.0}
        kept = ~np.isnan(cost)
        assert (c[kept] == cost[kept]).all()


def test_an_arm_whose_costs_are_all_equal_imputes_that_cost() -> None:
    treated = np.array([False] * 6 + [True] * 6)
    cost = np.array([100.0] * 5 + [np.nan] + [250.0, 300.0, np.nan, 250.0, 300.0, 350.0])
    effect = np.array([1.0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1])
    for c, _e in imputation.impute_by_arm(cost, effect, treated, seed=2, imputations=4):
        assert c[5] == 100.0
        assert c[8] in {250.0, 300.0, 350.0}


def test_in_a_cluster_design_a_missing_cost_is_drawn_from_its_own_cluster() -> None:
    """Two clusters per arm with costs far apart and the effect telling nothing: without the
    clusters a missing cost is drawn from either cluster; with them (indicators in the
    imputation model), from its own."""
    rng = np.random.default_rng(3)
    cluster = ["a"] * 20 + ["b"] * 20 + ["c"] * 20 + ["d"] * 20
    treated = np.repeat([False, True], 40)
    level = {"a": 100.0, "b": 10_000.0, "c": 200.0, "d": 20_000.0}
    cost = np.array([level[k] for k in cluster]) + rng.integers(0, 5, 80)
    effect = rng.integers(0, 2, 80).astype(float)
    gaps = [3, 25, 47, 70]
    cost[gaps] = np.nan
    within = imputation.impute_by_arm(
        cost, effect, treated, seed=4, imputations=10, cluster=cluster
    )
    for c, _e in within:
        for row in gaps:
            own = [i for i in range(80) if cluster[i] == cluster[row] and i not in gaps]
            assert c[row] in set(cost[own])
    across = imputation.impute_by_arm(cost, effect, treated, seed=4, imputations=10)
    drawn = {(row, c[row]) for c, _e in across for row in gaps}
    assert any(abs(value - level[cluster[row]]) > 1000 for row, value in drawn)


def test_an_arm_with_one_observed_value_cannot_be_imputed() -> None:
    with pytest.raises(ValueError, match="fewer than two"):
        imputation.impute_by_arm([1.0, np.nan, np.nan], [1.0, 0.0, 1.0], [True] * 3, seed=1)


def test_imputation_recovers_costs_missing_at_random() -> None:
    """Costs depend on the effect, and are missing more often when the effect is 1 (in the
    intervention arm): complete
    cases underestimate the difference, imputation from the effect does not (tolerance: two
    pooled standard errors of the full-data difference)."""
    rng = np.random.default_rng(42)
    n = 300
    treated = np.repeat([False, True], n)
    effect = (rng.random(2 * n) < np.where(treated, 0.6, 0.3)).astype(float)
    cost = 1000 + 5000 * effect + rng.normal(0, 500, 2 * n)
    full = cost[treated].mean() - cost[~treated].mean()
    lost = rng.random(2 * n) < np.where((effect == 1) & treated, 0.6, 0.05)
    observed = np.where(lost, np.nan, cost)
    keep = ~lost
    complete_case = observed[keep & treated].mean() - observed[keep & ~treated].mean()
    options = evaluation.Options(
        wtp_max=10_000, replicates=400, seed=3, missing=evaluation.MULTIPLE_IMPUTATION
    )
    result = evaluation.imputed_analysis(observed, effect, treated, None, 3, options)
    se = (result.ci_cost[1] - result.ci_cost[0]) / (2 * 1.96)
    assert abs(complete_case - full) > 3 * se  # complete cases are biased here
    assert abs(result.point.delta_cost - full) < 2 * se
    assert result.ci_cost[0] < full < result.ci_cost[1]
    assert result.imputations == imputation.IMPUTATIONS
    assert 0 < result.fmi[0] < 1
    assert result.fmi[1] == pytest.approx(0, abs=1e-12)  # the effect is never missing
    assert result.delta_cost.size == imputation.IMPUTATIONS * 200


def test_without_missing_values_imputation_gives_the_complete_case_estimates() -> None:
    rng = np.random.default_rng(8)
    treated = np.repeat([False, True], 30)
    cost = rng.gamma(2, 1000, 60)
    effect = rng.integers(0, 12, 60).astype(float)
    options = evaluation.Options(wtp_max=5000, replicates=200, seed=1, missing="x")
    imputed = evaluation.imputed_analysis(cost, effect, treated, None, 1, options)
    plain = analysis.analyse(cost, effect, treated, wtp=analysis.wtp_grid(5000), replicates=10)
    for name in ("cost_control", "cost_treated", "effect_control", "effect_treated"):
        assert getattr(imputed.point, name) == pytest.approx(getattr(plain.point, name), rel=1e-12)
    assert imputed.fmi == pytest.approx((0.0, 0.0), abs=1e-12)
    np.testing.assert_allclose(imputed.nmb, plain.nmb, rtol=1e-12)


def test_the_evaluation_imputes_when_the_plan_says_so() -> None:
    day = pd.Timestamp("2025-01-01").date()
    people = pd.DataFrame(
        {
            "participant_id": range(1, 41),
            "arm": ["A"] * 20 + ["B"] * 20,
            "control": [False] * 20 + [True] * 20,
            "site": "s1",
            "randomised_on": day,
        }
    )
    contacts = pd.DataFrame(
        {
            "participant_id": list(range(1, 41)),
            "contact_on": day,
            "minutes": [60 + 5 * (i % 7) for i in range(40)],
            "role": ["caseworker"] * 38 + ["", ""],  # two contacts by former members
            "partners": [[] for _i in range(40)],
            "contamination": False,
        }
    )
    months = pd.DataFrame(
        {
            "participant_id": np.repeat(range(1, 41), 12),
            "month": np.tile(range(1, 13), 40),
            "state": ["work" if (i // 12) % 3 == 0 else "aap" for i in range(480)],
        }
    )
    rates = pd.DataFrame(
        {
            "kind": ["staff_minute", "benefit", "benefit", "earnings"],
            "key": ["caseworker", "aap", "work", "work"],
            "arm": "",
            "amount": [10.0, 20000.0, 0.0, 30000.0],
            "price_year": 2025,
            "valid_from": day,
            "valid_to": None,
        }
    )
    settings = costs.CostSettings(horizon_months=12, price_year=2025, price_index={2025: 1.0})

    def run(missing: str) -> evaluation.Evaluation:
        return evaluation.evaluate(
            people,
            contacts,
            months,
            rates,
            settings,
            wtp_max=100_000,
            replicates=200,
            seed=4,
            earnings=True,
            missing=missing,
        )

    cc, mi = run("complete_case"), run("multiple_imputation")
    assert cc.comparisons[0].result.point.n_control == 18  # participants 39 and 40 left out
    assert mi.comparisons[0].result.point.n_control == 20  # … and imputed
    assert mi.comparisons[0].result.imputations == imputation.IMPUTATIONS
    societal = mi.comparisons[0].societal
    assert societal is not None
    earnings = mi.per_participant["earnings"]
    assert earnings[mi.per_participant["months_in_work"] == 12].eq(360_000).all()
    assert earnings[mi.per_participant["months_in_work"] == 0].eq(0).all()
    # Costs net of earnings: the earnings difference comes off the cost difference.
    frame = cc.per_participant[cc.per_participant["complete"]]
    arm_a = frame["arm"] == "A"
    d_earnings = frame.loc[arm_a, "earnings"].mean() - frame.loc[~arm_a, "earnings"].mean()
    d_cost = cc.comparisons[0].result.point.delta_cost
    assert cc.comparisons[0].societal is not None
    assert cc.comparisons[0].societal.point.delta_cost == pytest.approx(d_cost - d_earnings)
