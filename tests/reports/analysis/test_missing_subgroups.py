"""Missing-outcome counts, multiple imputation and subgroup analyses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.analysis.estimates import ancova_hc3, two_by_two
from reports.analysis.missing import missing_outcomes_table, multiple_imputation
from reports.analysis.subgroups import subgroup_effects


def test_missing_outcomes_are_counted_by_arm_and_reason() -> None:
    participants = pd.DataFrame(
        {"study_id": ["a", "b", "c", "d", "e"], "arm": ["A", "A", "A", "B", "B"]}
    )
    outcomes = pd.DataFrame(
        {"study_id": ["a", "d", "e"], "visit": ["m12"] * 3, "y": [1.0, None, 0.0]}
    )
    missed = pd.DataFrame(
        {"study_id": ["b", "c"], "visit": ["m12", "m12"], "reason": ["missed", "withdrawn"]}
    )
    table = missing_outcomes_table(participants, outcomes, missed, "y", "m12").set_index("arm")
    assert table.loc[
        "A", ["randomised", "observed", "missed", "withdrawn", "missing"]
    ].tolist() == [3, 1, 1, 1, 2]
    assert table.loc["B", ["observed", "value missing", "no record", "missing"]].tolist() == [
        1,
        1,
        0,
        1,
    ]


def _trial(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treat = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = 2 + 1.0 * treat + 1.5 * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "treat": treat, "x": x})


def test_multiple_imputation_is_reproducible_and_recovers_the_effect_under_mar() -> None:
    # Outcomes missing at random given x (more missing when x is high): complete-case ANCOVA and
    # MI are both unbiased for the adjusted effect (true value 1.0); MI must land within 0.15
    # of the full-data estimate, and the same seed must give the same number.
    full = _trial(2000, seed=5)
    full_estimate = ancova_hc3(full, "y", ["x"]).estimate
    rng = np.random.default_rng(6)
    drop = rng.random(len(full)) < 1 / (1 + np.exp(-(full["x"] - 0.5)))
    observed = full.assign(y=full["y"].where(~drop))
    first = multiple_imputation(observed, "y", ["x"], seed=11, imputations=20)
    second = multiple_imputation(observed, "y", ["x"], seed=11, imputations=20)
    assert first.estimate == second.estimate
    assert first.estimate == pytest.approx(full_estimate, abs=0.15)
    assert first.ci_low is not None and first.ci_high is not None and full_estimate is not None
    assert first.ci_low < full_estimate < first.ci_high
    assert (first.n_treated + first.n_control) == len(full)


def test_multiple_imputation_with_all_outcomes_missing_says_why() -> None:
    frame = _trial(50, seed=1).assign(y=np.nan)
    result = multiple_imputation(frame, "y", ["x"], seed=1)
    assert result.estimate is None and result.note


def test_subgroup_estimates_match_2x2_by_hand_and_interaction_is_detected() -> None:
    # Women: 30/50 vs 10/50 (RD 0.4); men: 10/50 vs 30/50 (RD -0.4): an obvious interaction.
    def block(women: bool, treat: int, events: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"y": [1.0] * events + [0.0] * (50 - events), "treat": treat, "women": women}
        )

    frame = pd.concat(
        [block(True, 1, 30), block(True, 0, 10), block(False, 1, 10), block(False, 0, 30)]
    )
    result = subgroup_effects(frame, "y", "women", binary=True)
    levels = dict(result.estimates)
    expected = two_by_two(30, 50, 10, 50)[0]
    assert levels["yes"].estimate == pytest.approx(0.4)
    assert (levels["yes"].ci_low, levels["yes"].ci_high) == pytest.approx(
        (expected.ci_low, expected.ci_high)
    )
    assert levels["no"].estimate == pytest.approx(-0.4)
    assert result.interaction_p is not None and result.interaction_p < 0.001

    same = pd.concat(
        [block(True, 1, 30), block(True, 0, 10), block(False, 1, 30), block(False, 0, 10)]
    )
    # Identical effects in both subgroups: the likelihood-ratio statistic is exactly 0, p = 1.
    assert subgroup_effects(same, "y", "women", binary=True).interaction_p == pytest.approx(1.0)
