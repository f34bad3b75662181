"""Agreement figures against hand-computed values, statsmodels and Shrout & Fleiss (1979)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from fidelity.reviews import agreement

LEVELS = [1, 2, 3, 4, 5]


def test_weighted_kappa_matches_hand_computation() -> None:
    # Levels 1-3; A = 1,1,2,3 and B = 1,2,2,3. Marginals A (.5,.25,.25), B (.25,.5,.25).
    # Linear: observed disagreement .25, expected .875 -> 1 - .25/.875 = 5/7.
    # Quadratic: observed .25, expected 1.25 -> 1 - .25/1.25 = 0.8.
    first, second = [1, 1, 2, 3], [1, 2, 2, 3]
    linear = agreement.weighted_kappa(first, second, [1, 2, 3], "linear")
    quadratic = agreement.weighted_kappa(first, second, [1, 2, 3], "quadratic")
    assert linear.value == pytest.approx(5 / 7, abs=1e-12)
    assert quadratic.value == pytest.approx(0.8, abs=1e-12)
    assert linear.observed_agreement == pytest.approx(0.75)


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_weighted_kappa_matches_statsmodels(weights: str) -> None:
    rng = random.Random(11)  # noqa: S311 - test data
    for _ in range(20):
        first = [rng.randint(1, 5) for _ in range(25)]
        second = [min(5, max(1, s + rng.choice([-1, 0, 0, 1]))) for s in first]
        table = np.zeros((5, 5))
        for a, b in zip(first, second, strict=True):
            table[a - 1, b - 1] += 1
        expected = cohens_kappa(table, wt=weights).kappa
        ours = agreement.weighted_kappa(first, second, LEVELS, weights).value
        assert ours == pytest.approx(expected, abs=1e-10)


def test_kappa_is_undefined_when_every_score_is_the_same() -> None:
    result = agreement.weighted_kappa([4] * 25, [4] * 25, LEVELS)
    assert result.value is None
    assert "undefined" in result.reason
    assert result.observed_agreement == 1.0


def test_kappa_is_zero_when_raters_are_constant_but_different() -> None:
    # All mass at (5, 4): observed = expected disagreement, so kappa = 0 exactly.
    assert agreement.weighted_kappa([5] * 10, [4] * 10, LEVELS).value == pytest.approx(0.0)


def test_kappa_refuses_scores_outside_the_levels() -> None:
    with pytest.raises(ValueError, match="not one of the levels"):
        agreement.weighted_kappa([1, 6], [1, 2], LEVELS)


# Shrout & Fleiss (1979), Table 2: six targets rated by four judges. Published values
# (two decimals): ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71, ICC(1,4)=.44, ICC(2,4)=.62,
# ICC(3,4)=.91. Tolerance 0.005, the rounding of the published figures.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def test_icc_reproduces_shrout_and_fleiss() -> None:
    result = agreement.icc(SHROUT_FLEISS)
    assert (result.n, result.k) == (6, 4)
    assert result.icc1 == pytest.approx(0.17, abs=0.005)
    assert result.icc2 == pytest.approx(0.29, abs=0.005)
    assert result.icc3 == pytest.approx(0.71, abs=0.005)
    assert result.icc1k == pytest.approx(0.44, abs=0.005)
    assert result.icc2k == pytest.approx(0.62, abs=0.005)
    assert result.icc3k == pytest.approx(0.91, abs=0.005)


def test_icc_matches_hand_computation() -> None:
    # The second rater is always 2 higher. BMS = 16/2 = 8, JMS = 6, EMS = 0, WMS = 6/3 = 2.
    # ICC(1,1) = (8-2)/(8+2) = .6; ICC(2,1) = 8/(8 + 2*6/3) = 2/3; ICC(3,1) = 8/8 = 1.
    result = agreement.icc([[2, 4], [4, 6], [6, 8]])
    assert result.icc1 == pytest.approx(0.6, abs=1e-12)
    assert result.icc2 == pytest.approx(2 / 3, abs=1e-12)
    assert result.icc3 == pytest.approx(1.0, abs=1e-12)


def test_icc_is_undefined_without_variation_or_targets() -> None:
    flat = agreement.icc([[3, 3], [3, 3], [3, 3]])
    assert flat.icc2 is None and flat.icc3 is None
    assert "undefined" in flat.reason
    single = agreement.icc([[3, 4]])
    assert single.icc2 is None
    assert "at least two" in single.reason


def test_review_agreement_per_item_and_overall() -> None:
    first = {1: 5, 2: 4, 3: 3, 4: 2}
    second = {1: 5, 2: 3, 3: 3, 4: 4}
    result = agreement.review_agreement([first, second], LEVELS)
    assert [(a.number, a.scores, a.spread) for a in result.items] == [
        (1, [5, 5], 0),
        (2, [4, 3], 1),
        (3, [3, 3], 0),
        (4, [2, 4], 2),
    ]
    assert result.exact == pytest.approx(0.5)
    assert result.within_one == pytest.approx(0.75)
    expected = agreement.weighted_kappa([5, 4, 3, 2], [5, 3, 3, 4], LEVELS, "linear").value
    assert result.kappa_linear is not None and result.kappa_linear.value == expected
    assert result.pairs == 1
    assert result.icc is not None and result.icc.n == 4 and result.icc.k == 2


def test_three_reviewers_average_kappa_over_pairs() -> None:
    a, b, c = {1: 1, 2: 2, 3: 3}, {1: 1, 2: 3, 3: 3}, {1: 2, 2: 2, 3: 3}
    result = agreement.review_agreement([a, b, c], [1, 2, 3])
    pairs = [([1, 2, 3], [1, 3, 3]), ([1, 2, 3], [2, 2, 3]), ([1, 3, 3], [2, 2, 3])]
    mean = sum(agreement.weighted_kappa(x, y, [1, 2, 3]).value for x, y in pairs) / 3  # type: ignore[misc]
    assert result.pairs == 3
    assert result.kappa_linear is not None
    assert result.kappa_linear.value == pytest.approx(mean)
