"""Tests of the scheme simulation (randomisation/simulation.py) against known properties.

Seeds are fixed, so the tests are deterministic. Where a figure has a known distribution the test
is a hypothesis test at ALPHA = 0.001; the seeds were not chosen by trying several.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from fractions import Fraction

import pytest
from scipy import stats

from randomisation.engine import Measure, SchemeSpec, minimise
from randomisation.simulation.engine import (
    SimulationResult,
    _joint_profiles,
    _MinimisationPreference,
    scheme_factors,
    simulate,
)

ALPHA = 0.001
SEED = bytes.fromhex("a3c1e5f70912b4d6f8e0a2c4e6f80a1c3e5f7091b2d4f6081a3c5e7f90b2d4f6")
OTHER_SEED = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0")
ONE_TO_ONE = (("A", 1), ("B", 1))
ONE_SITE = {"site": {"OSLA": 1.0}}
MIX = {
    "site": {"OSLA": 0.4, "BGO": 0.35, "TRD": 0.25},
    "sex": {"f": 0.55, "m": 0.45},
    "age": {"<30": 0.5, "30+": 0.5},
}
THREE_FACTORS = (("site", 1.0), ("sex", 1.0), ("age", 1.0))


def blocks_of(size: int) -> SchemeSpec:
    return SchemeSpec("blocks", ONE_TO_ONE, block_sizes=(size,))


def total_correct(result: SimulationResult) -> int:
    """Correct guesses summed over all virtual trials (each trial's rate times its size)."""
    return round(result.predictability.mean * result.n_trials * result.trial_size)


def test_simulation_is_reproducible_for_a_seed() -> None:
    spec = SchemeSpec("minimisation", ONE_TO_ONE, minimisation_factors=THREE_FACTORS)

    def run(seed: bytes) -> dict[str, object]:
        return simulate(spec, n_trials=20, trial_size=60, strata_mix=MIX, seed=seed).as_dict()

    first = run(SEED)
    assert first == run(SEED)
    assert first != run(OTHER_SEED)
    assert json.loads(json.dumps(first)) == first


def test_blocks_of_four_never_leave_the_arms_more_than_two_apart() -> None:
    """198 participants: 49 whole blocks and half of the 50th, which may be AA or BB."""

    def run(spec: SchemeSpec) -> SimulationResult:
        return simulate(spec, n_trials=100, trial_size=198, strata_mix=ONE_SITE, seed=SEED)

    by_blocks, by_chance = run(blocks_of(4)), run(SchemeSpec("simple", ONE_TO_ONE))

    assert by_blocks.overall_range.max == 2  # |n_A - n_B| <= 2 in every trial, and reached
    assert by_blocks.overall_imbalance.max == 1  # |n_A - 99| <= 1
    assert set(by_blocks.share_above.values()) == {0.0}
    # Simple randomisation: n_A - n_B has sd sqrt(198) = 14; most trials exceed 2.
    assert by_chance.overall_range.p50 > 2
    assert by_chance.overall_imbalance.mean > 3 * by_blocks.overall_imbalance.mean
    shares = list(by_chance.share_above.values())
    assert shares == sorted(shares, reverse=True)
    assert shares[0] > 0


def test_stratified_blocks_keep_every_stratum_within_one() -> None:
    spec = SchemeSpec(
        "blocks", ONE_TO_ONE, block_sizes=(2, 4), strata_factors=("site", "sex", "age")
    )
    result = simulate(spec, n_trials=100, trial_size=150, strata_mix=MIX, seed=SEED)
    assert result.stratum_imbalance_max is not None
    assert result.stratum_imbalance_max.max == 1
    assert result.stratum_imbalance_mean is not None
    assert 0 < result.stratum_imbalance_mean.mean < 1
    # Balance within 12 strata does not reach the margins exactly: a site pools 4 strata.
    assert result.marginal_imbalance_max["site"].max <= 4


def test_minimisation_reports_the_imbalance_within_each_level() -> None:
    """p_best = 1 on site alone keeps every site within one (|n_A - n_site / 2| <= 1/2), but
    not sex, which it ignores."""
    spec = SchemeSpec("minimisation", ONE_TO_ONE, minimisation_factors=(("site", 1.0),), p_best=1.0)
    result = simulate(spec, n_trials=50, trial_size=101, strata_mix=MIX, seed=SEED)
    assert result.marginal_imbalance_max["site"].max == 0.5
    assert result.marginal_imbalance_max["sex"].max > 1
    assert result.overall_imbalance.max <= 1.5  # three sites, each at most half a person off
    assert result.stratum_imbalance_max is None


def test_imbalance_is_measured_against_the_allocation_ratio() -> None:
    """2:1 in blocks of 3: 300 participants are always 200 v 100, i.e. no imbalance."""
    spec = SchemeSpec("blocks", (("A", 2), ("B", 1)), block_sizes=(3,))
    result = simulate(spec, n_trials=20, trial_size=300, strata_mix=ONE_SITE, seed=SEED)
    assert result.overall_imbalance.max == 0
    assert result.overall_range.max == 0  # 200 / 2 == 100 / 1
    assert result.chance_rate == pytest.approx(2 / 3)


def test_predictability_of_blocks_of_two_is_three_quarters() -> None:
    """In each block the first guess is a coin toss and the second is certain, so the correct
    guesses are exactly N/2 + Binomial(N/2, 1/2): expected rate 3/4."""
    result = simulate(blocks_of(2), n_trials=100, trial_size=200, strata_mix=ONE_SITE, seed=SEED)
    guesses = result.n_trials * result.trial_size
    coin_tosses = guesses // 2
    lucky = total_correct(result) - coin_tosses
    assert 0 <= lucky <= coin_tosses
    assert stats.binomtest(lucky, coin_tosses, 0.5).pvalue > ALPHA
    assert result.predictability.mean == pytest.approx(0.75, abs=0.01)
    assert result.predictability.min >= 0.5
    assert result.excess_predictability == pytest.approx(0.25, abs=0.01)


def correct_guesses_in_a_block(size: int) -> tuple[Fraction, Fraction]:
    """Exact mean and variance of the convergence guesser's correct guesses in one 1:1 block.

    Every order of the block is equally likely. Where the arms are level the guesser tosses a
    coin (right with probability 1/2, independently); elsewhere it names the arm behind and is
    right exactly when that arm comes next.
    """
    orders = set(itertools.permutations("A" * (size // 2) + "B" * (size // 2)))
    means, second_moments = [], []
    for order in orders:
        certain, tosses, a, b = 0, 0, 0, 0
        for arm in order:
            if a == b:
                tosses += 1
            elif (arm == "A") == (a < b):
                certain += 1
            a, b = a + (arm == "A"), b + (arm == "B")
        mean = certain + Fraction(tosses, 2)
        means.append(mean)
        second_moments.append(mean**2 + Fraction(tosses, 4))
    mean = sum(means, Fraction(0)) / len(orders)
    return mean, sum(second_moments, Fraction(0)) / len(orders) - mean**2


def test_exact_block_predictability_matches_blackwell_hodges() -> None:
    """Blackwell & Hodges (Ann. Math. Statist. 1957;28:449-460); Matts & Lachin (Control. Clin.
    Trials 1988;9:327-344): in a 1:1 block of 2m the convergence guesser expects
    m + 2^(2m-1) / C(2m, m) - 1/2 correct guesses. Derivation: the walk n_A - n_B leaves zero as
    often as it returns to it, so exactly m guesses made away from zero are right, plus a coin
    toss at each of the E[ties] = 4^m / C(2m, m) - 1 visits to zero before the last step."""
    for m in (1, 2, 3):
        expected = m + Fraction(2 ** (2 * m - 1), math.comb(2 * m, m)) - Fraction(1, 2)
        assert correct_guesses_in_a_block(2 * m)[0] == expected
    assert correct_guesses_in_a_block(4)[0] / 4 == Fraction(17, 24)


def test_predictability_of_blocks_of_four_is_seventeen_24ths() -> None:
    mean, variance = correct_guesses_in_a_block(4)
    result = simulate(blocks_of(4), n_trials=200, trial_size=200, strata_mix=ONE_SITE, seed=SEED)
    n_blocks = result.n_trials * result.trial_size // 4
    z = (total_correct(result) - n_blocks * mean) / math.sqrt(n_blocks * variance)
    assert abs(z) < stats.norm.ppf(1 - ALPHA / 2)
    assert result.predictability.mean == pytest.approx(17 / 24, abs=0.01)


def test_deterministic_minimisation_on_one_level_is_as_predictable_as_blocks_of_two() -> None:
    """With one level and p_best = 1, minimisation alternates: a fair draw when level, then
    forced. The minimisation guesser must therefore score exactly N/2 + Binomial(N/2, 1/2)."""
    spec = SchemeSpec("minimisation", ONE_TO_ONE, minimisation_factors=(("site", 1.0),), p_best=1.0)
    result = simulate(spec, n_trials=50, trial_size=200, strata_mix=ONE_SITE, seed=SEED)
    coin_tosses = result.n_trials * result.trial_size // 2
    lucky = total_correct(result) - coin_tosses
    assert 0 <= lucky <= coin_tosses
    assert stats.binomtest(lucky, coin_tosses, 0.5).pvalue > ALPHA


def test_minimisation_with_p_best_one_is_more_predictable_than_with_0_7() -> None:
    results = {
        p_best: simulate(
            SchemeSpec(
                "minimisation", ONE_TO_ONE, minimisation_factors=THREE_FACTORS, p_best=p_best
            ),
            n_trials=50,
            trial_size=150,
            strata_mix=MIX,
            seed=SEED,
        )
        for p_best in (1.0, 0.7)
    }
    deterministic, random_element = results[1.0], results[0.7]
    assert deterministic.predictability.p5 > random_element.predictability.p95
    assert random_element.predictability.mean > 0.55  # still above chance
    assert deterministic.overall_imbalance.mean < random_element.overall_imbalance.mean


def test_simple_randomisation_is_unpredictable() -> None:
    """Each allocation is independent of the history the guess is made from, so the number of
    correct guesses is exactly Binomial(N, 1/2)."""
    result = simulate(
        SchemeSpec("simple", ONE_TO_ONE), n_trials=100, trial_size=200, strata_mix=MIX, seed=SEED
    )
    guesses = result.n_trials * result.trial_size
    assert stats.binomtest(total_correct(result), guesses, 0.5).pvalue > ALPHA
    assert result.predictability.mean == pytest.approx(0.5, abs=0.01)
    assert result.excess_predictability == pytest.approx(0.0, abs=0.01)
    assert result.stratum_imbalance_max is None


@pytest.mark.parametrize(
    ("arms", "measure"),
    [
        (ONE_TO_ONE, "range"),
        ((("A", 2), ("B", 1)), "range"),
        ((("A", 2), ("B", 1), ("C", 1)), "variance"),
    ],
)
def test_minimisation_guesser_prefers_what_the_engine_prefers(
    arms: tuple[tuple[str, int], ...], measure: Measure
) -> None:
    factors = (("site", 1.0), ("sex", 0.5), ("age", 2.0))
    spec = SchemeSpec(
        "minimisation",
        arms,
        minimisation_factors=factors,
        measure=measure,
    )
    guesser = _MinimisationPreference(spec)
    picks = random.Random(7)  # noqa: S311 -- test data, not security
    codes = [code for code, _ in arms]
    for sequence in range(500):
        counts = [[picks.randrange(6) for _ in arms] for _ in factors]
        engine = minimise(
            SEED,
            sequence,
            arms,
            {
                f: dict(zip(codes, c, strict=True))
                for (f, _), c in zip(factors, counts, strict=True)
            },
            dict(factors),
            p_best=0.8,
            measure=measure,
        )
        assert [codes[arm] for arm in guesser(counts)] == engine.preferred


def test_progress_is_reported_about_every_percent() -> None:
    calls: list[tuple[int, int]] = []
    simulate(
        blocks_of(2),
        n_trials=250,
        trial_size=4,
        strata_mix=ONE_SITE,
        seed=SEED,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (250, 250)
    assert len(calls) == 125
    assert [done for done, _ in calls] == list(range(2, 251, 2))


def test_participants_are_drawn_from_the_whole_mix() -> None:
    profiles, cumulative = _joint_profiles(
        SchemeSpec("blocks", ONE_TO_ONE, block_sizes=(2,), strata_factors=("site",)),
        {"site": {"OSLA": 0.5, "BGO": 0.5, "TRD": 0.0}, "sex": {"f": 0.6, "m": 0.4}},
    )
    assert [p.levels for p in profiles] == [
        {"site": "OSLA", "sex": "f"},
        {"site": "OSLA", "sex": "m"},
        {"site": "BGO", "sex": "f"},
        {"site": "BGO", "sex": "m"},
    ]
    assert cumulative == pytest.approx([0.3, 0.5, 0.8, 1.0])
    assert [p.stratum for p in profiles] == [0, 0, 1, 1]


def test_the_mix_must_cover_the_scheme_and_be_a_distribution() -> None:
    spec = SchemeSpec(
        "minimisation", ONE_TO_ONE, strata_factors=("site",), minimisation_factors=THREE_FACTORS
    )
    assert scheme_factors(spec) == ["site", "sex", "age"]
    with pytest.raises(ValueError, match="no levels for sex, age"):
        simulate(spec, n_trials=1, trial_size=1, strata_mix=ONE_SITE, seed=SEED)
    with pytest.raises(ValueError, match="add up to 1"):
        bad = {**MIX, "sex": {"f": 0.5, "m": 0.4}}
        simulate(spec, n_trials=1, trial_size=1, strata_mix=bad, seed=SEED)
    with pytest.raises(ValueError, match="non-negative"):
        bad = {**MIX, "sex": {"f": 1.5, "m": -0.5}}
        simulate(spec, n_trials=1, trial_size=1, strata_mix=bad, seed=SEED)
    with pytest.raises(ValueError, match="positive"):
        simulate(spec, n_trials=0, trial_size=1, strata_mix=MIX, seed=SEED)
    with pytest.raises(ValueError, match="128 bits"):
        simulate(spec, n_trials=1, trial_size=1, strata_mix=MIX, seed=b"short")
