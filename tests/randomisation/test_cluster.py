"""Cluster randomisation (randomisation/cluster/designs.py and constrained.py): hand-computed
cvcrand balance scores, the constrained space and its validity diagnostics, balance within
strata, pairs and steps, determinism by seed, and the allocation probabilities over many seeds.

The statistical tests run each design over a fixed list of 2,000 seeds, so they are
deterministic: they pass or fail the same way on every run. Each uses alpha = 0.001 per
hypothesis, the chance that a correct implementation would have failed for a seed list chosen
at random; a biased rule (for example a leftover site always sent to the same arm) shifts a
probability by several standard errors and fails them.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import Counter
from itertools import combinations

import pytest
from scipy import stats

from randomisation.cluster import designs
from randomisation.cluster.constrained import ConstrainedResult, balance_score, constrained

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
SEEDS = [hashlib.sha256(f"cluster-test-{i}".encode()).digest() for i in range(2000)]
ALPHA = 0.001
ONE_TO_ONE = [("A", 1), ("B", 1)]

# Four sites with one covariate: mean 2.5, sample variance 5/3, so ω² = 1/var = 3/5.
FOUR = {"S1": {"size": 1.0}, "S2": {"size": 2.0}, "S3": {"size": 3.0}, "S4": {"size": 4.0}}

# Six sites, two covariates. size: mean 35, deviations ±5, ±15, ±25, Σd² = 1750, var = 350.
# unemployment: mean 4, deviations -2, 0, -1, 1, 0, 2, Σd² = 10, var = 2.
SIX = {
    "S1": {"size": 10.0, "unemployment": 2.0},
    "S2": {"size": 20.0, "unemployment": 4.0},
    "S3": {"size": 30.0, "unemployment": 3.0},
    "S4": {"size": 40.0, "unemployment": 5.0},
    "S5": {"size": 50.0, "unemployment": 4.0},
    "S6": {"size": 60.0, "unemployment": 6.0},
}


def scores_by_candidate(result: ConstrainedResult) -> dict[frozenset[str], float]:
    return {frozenset(result.candidate(i)): score for i, score in enumerate(result.scores)}


def brute_force_l2(
    covariates: dict[str, dict[str, float]], first_arm: set[str], weights: dict[str, float]
) -> float:
    """cvcrand's l2 score written out with the statistics module, independent of numpy."""
    n = len(covariates)
    n_t = len(first_arm)
    n_c = n - n_t
    total = 0.0
    for name in next(iter(covariates.values())):
        column = {code: values[name] for code, values in covariates.items()}
        sd = statistics.stdev(column.values())
        mean_t = statistics.fmean(column[c] for c in first_arm)
        mean_c = statistics.fmean(column[c] for c in column if c not in first_arm)
        total += weights.get(name, 1.0) ** 2 * ((mean_t - mean_c) / sd) ** 2
    return (n_t * n_c / n) ** 2 * total


# --- balance scores, enumeration and the cutoff --------------------------------------------------


def test_four_sites_enumeration_has_exactly_the_hand_computed_l2_scores() -> None:
    # n_T = n_C = 2 so (n_T·n_C/n)² = 1 and B = (3/5)·(mean difference)².
    # {S1,S2}: 1.5 vs 3.5, diff 2 → 2.4;  {S1,S3}: 2 vs 3 → 0.6;  {S1,S4}: 2.5 vs 2.5 → 0.
    # Each allocation's mirror image (arms swapped) has the same score.
    result = constrained(SEED, FOUR, ONE_TO_ONE, quantile=1.0)

    expected = {
        frozenset({"S1", "S2"}): 2.4,
        frozenset({"S1", "S3"}): 0.6,
        frozenset({"S1", "S4"}): 0.0,
        frozenset({"S2", "S3"}): 0.0,
        frozenset({"S2", "S4"}): 0.6,
        frozenset({"S3", "S4"}): 2.4,
    }
    got = scores_by_candidate(result)
    assert got.keys() == expected.keys()
    for allocation, score in expected.items():
        assert got[allocation] == pytest.approx(score, abs=1e-12)
    assert result.method == "enumerated"
    assert result.n_possible == result.n_candidates == 6


def test_four_sites_l1_scores() -> None:
    # l1: B = (n_T·n_C/n)·|diff|/SD = |diff|·sqrt(3/5).
    result = constrained(SEED, FOUR, ONE_TO_ONE, metric="l1", quantile=1.0)
    got = scores_by_candidate(result)
    assert got[frozenset({"S1", "S2"})] == pytest.approx(2 * math.sqrt(0.6))
    assert got[frozenset({"S1", "S3"})] == pytest.approx(math.sqrt(0.6))
    assert got[frozenset({"S1", "S4"})] == pytest.approx(0.0, abs=1e-12)


def test_six_sites_two_covariates_hand_computed_scores() -> None:
    # (n_T·n_C/n)² = (9/6)² = 2.25.
    # {S1,S2,S3}: size 20 vs 50 → 900/350 = 18/7; unemployment 3 vs 5 → 4/2 = 2;
    #             B = 2.25·(18/7 + 2) = 72/7.
    # {S1,S4,S5}: size 100/3 vs 110/3 → (100/9)/350 = 2/63; unemployment 11/3 vs 13/3 →
    #             (4/9)/2 = 2/9; B = 2.25·16/63 = 4/7.
    # {S1,S2,S6}: size 30 vs 40 → 100/350 = 2/7; unemployment 4 vs 4 → 0; B = 2.25·2/7 = 9/14.
    result = constrained(SEED, SIX, ONE_TO_ONE, quantile=1.0)
    got = scores_by_candidate(result)

    assert len(got) == math.comb(6, 3) == 20
    assert got[frozenset({"S1", "S2", "S3"})] == pytest.approx(72 / 7)
    assert got[frozenset({"S4", "S5", "S6"})] == pytest.approx(72 / 7)
    assert got[frozenset({"S1", "S4", "S5"})] == pytest.approx(4 / 7)
    assert got[frozenset({"S1", "S2", "S6"})] == pytest.approx(9 / 14)
    # Every one of the 20 allocations, against the formula written out independently.
    for first_arm in combinations(sorted(SIX), 3):
        assert got[frozenset(first_arm)] == pytest.approx(brute_force_l2(SIX, set(first_arm), {}))


def test_a_weight_enters_the_l2_score_squared_as_in_cvcrand() -> None:
    # Weight 2 on unemployment: {S1,S2,S3} → 2.25·(18/7 + 2²·2) = 2.25·74/7 = 333/14.
    weights = {"unemployment": 2.0}
    result = constrained(SEED, SIX, ONE_TO_ONE, weights=weights, quantile=1.0)
    got = scores_by_candidate(result)
    assert got[frozenset({"S1", "S2", "S3"})] == pytest.approx(333 / 14)
    for first_arm in combinations(sorted(SIX), 3):
        assert got[frozenset(first_arm)] == pytest.approx(
            brute_force_l2(SIX, set(first_arm), weights)
        )
    allocation = {code: "A" if code in {"S1", "S2", "S3"} else "B" for code in SIX}
    assert balance_score(SIX, allocation, ONE_TO_ONE, weights=weights) == pytest.approx(333 / 14)


def test_candidates_are_enumerated_in_lexicographic_order() -> None:
    result = constrained(SEED, SIX, ONE_TO_ONE)
    assert [result.candidate(i) for i in range(result.n_candidates)] == list(
        combinations(sorted(SIX), 3)
    )


def test_quantile_cutoff_keeps_the_best_and_every_tie() -> None:
    # Sorted scores 0, 0, 0.6, 0.6, 2.4, 2.4. quantile 0.34 → m = round(2.04) = 2 → cutoff 0.
    tight = constrained(SEED, FOUR, ONE_TO_ONE, quantile=0.34)
    assert tight.cutoff == pytest.approx(0.0, abs=1e-12)
    assert {frozenset(tight.candidate(i)) for i in tight.kept} == {
        frozenset({"S1", "S4"}),
        frozenset({"S2", "S3"}),
    }
    # quantile 0.5 → m = 3 → cutoff 0.6; cvcrand would keep 3, the tie at 0.6 brings in the 4th.
    half = constrained(SEED, FOUR, ONE_TO_ONE, quantile=0.5)
    assert half.cutoff == pytest.approx(0.6)
    assert half.n_kept == 4
    assert half.score <= half.cutoff + 1e-12
    assert half.chosen in half.kept


def test_kept_set_is_exactly_the_candidates_at_or_below_the_cutoff() -> None:
    result = constrained(SEED, SIX, ONE_TO_ONE, quantile=0.1)
    m = round(0.1 * 20)
    assert result.cutoff == pytest.approx(sorted(result.scores)[m - 1])
    kept = set(result.kept)
    for index, score in enumerate(result.scores):
        assert (index in kept) == (score <= result.cutoff + 1e-9)
    assert result.n_kept == len(kept) >= m
    assert result.quantile == 0.1


def test_absolute_threshold_replaces_the_quantile() -> None:
    result = constrained(SEED, FOUR, ONE_TO_ONE, max_score=0.6)
    assert result.quantile is None
    assert result.cutoff == 0.6
    assert result.n_kept == 4
    with pytest.raises(ValueError, match="no candidate allocation"):
        constrained(SEED, SIX, ONE_TO_ONE, max_score=0.1)


def test_validity_diagnostics_flag_pairs_forced_together_or_apart() -> None:
    # The kept space {S1,S4} | {S2,S3} and its mirror: S1–S4 and S2–S3 always together,
    # every other pair always apart. Such a space cannot support a randomisation test.
    result = constrained(SEED, FOUR, ONE_TO_ONE, quantile=0.34)
    assert result.always_together == [("S1", "S4"), ("S2", "S3")]
    assert result.never_together == [("S1", "S2"), ("S1", "S3"), ("S2", "S4"), ("S3", "S4")]
    assert result.same_arm_min == 0.0
    assert result.same_arm_max == 1.0
    assert result.has_fixed_pairs


def test_same_arm_proportions_match_a_count_over_the_kept_space() -> None:
    result = constrained(SEED, SIX, ONE_TO_ONE, quantile=0.5)
    kept_sets = [set(result.candidate(i)) for i in result.kept]
    for (a, b), share in result.same_arm.items():
        together = sum((a in s) == (b in s) for s in kept_sets)
        assert share == pytest.approx(together / len(kept_sets))
    assert result.same_arm_min == min(result.same_arm.values())
    assert result.same_arm_max == max(result.same_arm.values())
    assert result.often_together == [p for p, s in result.same_arm.items() if s >= 0.75]
    assert result.rarely_together == [p for p, s in result.same_arm.items() if s <= 0.25]
    assert not result.has_fixed_pairs


def test_chosen_allocation_reports_its_score_means_and_standardised_differences() -> None:
    result = constrained(SEED, SIX, ONE_TO_ONE)
    first = {code for code, arm in result.allocation.items() if arm == "A"}
    assert len(first) == 3
    assert set(result.candidate(result.chosen)) == first
    assert result.score == pytest.approx(brute_force_l2(SIX, first, {}))
    for name in ("size", "unemployment"):
        column = {code: values[name] for code, values in SIX.items()}
        mean_a = statistics.fmean(column[c] for c in first)
        mean_b = statistics.fmean(column[c] for c in column if c not in first)
        assert result.arm_means["A"][name] == pytest.approx(mean_a)
        assert result.smd[name] == pytest.approx(
            (mean_b - mean_a) / statistics.stdev(column.values())
        )


def test_constrained_is_deterministic_by_seed_and_independent_of_input_order() -> None:
    covariates = {f"S{i:02d}": {"x": float(i * i % 7), "y": float(i)} for i in range(10)}
    first = constrained(SEED, covariates, ONE_TO_ONE, quantile=0.5)
    reordered = dict(reversed(list(covariates.items())))
    again = constrained(SEED, reordered, ONE_TO_ONE, quantile=0.5)
    assert first.allocation == again.allocation
    assert first.chosen == again.chosen
    others = {constrained(seed, covariates, ONE_TO_ONE, quantile=0.5).chosen for seed in SEEDS[:20]}
    assert len(others) > 1


def test_large_spaces_are_sampled_as_distinct_candidates() -> None:
    covariates = {f"S{i:02d}": {"x": float(i), "y": float(i % 3)} for i in range(12)}
    result = constrained(SEED, covariates, ONE_TO_ONE, limit=200)
    assert result.method == "sampled"
    assert result.n_possible == math.comb(12, 6) == 924
    assert result.n_candidates == 200
    rows = {tuple(row) for row in result.indicator.tolist()}
    assert len(rows) == 200
    assert all(sum(row) == 6 for row in rows)
    again = constrained(SEED, covariates, ONE_TO_ONE, limit=200)
    assert again.allocation == result.allocation
    assert again.indicator.tolist() == result.indicator.tolist()
    other = constrained(OTHER_SEED, covariates, ONE_TO_ONE, limit=200)
    assert other.indicator.tolist() != result.indicator.tolist()


def test_spaces_too_large_for_64_bit_ranks_are_still_sampled_correctly() -> None:
    # C(70, 35) ≈ 1.1e20 > 2^62: the candidates are decoded with Python integers.
    covariates = {f"S{i:02d}": {"x": float(i)} for i in range(70)}
    result = constrained(SEED, covariates, ONE_TO_ONE, limit=300)
    assert result.n_possible == math.comb(70, 35)
    rows = {tuple(row) for row in result.indicator.tolist()}
    assert len(rows) == 300
    assert all(sum(row) == 35 for row in rows)
    assert Counter(result.allocation.values()) == {"A": 35, "B": 35}


def test_arm_sizes_follow_the_ratio_or_must_be_given() -> None:
    two_to_one = constrained(SEED, SIX, [("A", 2), ("B", 1)])
    assert two_to_one.arm_sizes == {"A": 4, "B": 2}
    assert two_to_one.n_possible == math.comb(6, 4)
    assert Counter(two_to_one.allocation.values()) == {"A": 4, "B": 2}

    seven = {**SIX, "S7": {"size": 70.0, "unemployment": 1.0}}
    with pytest.raises(ValueError, match="give the arm sizes"):
        constrained(SEED, seven, ONE_TO_ONE)
    given = constrained(SEED, seven, ONE_TO_ONE, arm_sizes={"A": 3, "B": 4})
    assert Counter(given.allocation.values()) == {"A": 3, "B": 4}
    assert given.n_possible == 35


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arms": [("A", 1), ("B", 1), ("C", 1)]}, "exactly two arms"),
        ({"arms": [("A", 1), ("A", 1)]}, "distinct"),
        ({"arms": [("A", 0), ("B", 1)]}, "whole number"),
        ({"quantile": 0.0}, "quantile"),
        ({"metric": "l3"}, "metric"),
        ({"weights": {"income": 1.0}}, "unknown covariates"),
        ({"weights": {"size": 0.0, "unemployment": 0.0}}, "positive"),
        ({"limit": 0}, "limit"),
    ],
)
def test_constrained_rejects_bad_options(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"arms": ONE_TO_ONE, **kwargs}
    with pytest.raises(ValueError, match=message):
        constrained(SEED, SIX, **options)  # type: ignore[arg-type]


def test_constrained_rejects_bad_covariates() -> None:
    with pytest.raises(ValueError, match="same value at every site"):
        constrained(SEED, {f"S{i}": {"x": 1.0} for i in range(4)}, ONE_TO_ONE)
    with pytest.raises(ValueError, match="expected"):
        constrained(SEED, {**FOUR, "S5": {"rate": 1.0}}, ONE_TO_ONE)
    with pytest.raises(ValueError, match="finite"):
        constrained(SEED, {**FOUR, "S4": {"size": math.nan}}, ONE_TO_ONE)


def test_chosen_allocation_is_uniform_over_the_kept_space() -> None:
    covariates = {
        f"S{i}": {"size": float(size), "unemployment": rate}
        for i, (size, rate) in enumerate(
            [(12, 2.1), (30, 3.4), (18, 4.0), (45, 2.8), (25, 3.9), (60, 3.1), (22, 2.5), (38, 4.4)]
        )
    }
    # C(8, 4) = 70 candidates; quantile 0.1 → m = 7, an odd number, so keeping exactly m (as
    # cvcrand does) would keep an allocation without its mirror image.
    results = [constrained(seed, covariates, ONE_TO_ONE, quantile=0.1) for seed in SEEDS]
    kept = results[0].kept
    assert all(r.kept == kept for r in results)  # enumerated: the space does not depend on seed
    assert len(kept) >= 8
    counts = Counter(r.chosen for r in results)
    assert set(counts) <= set(kept)
    observed = [counts[i] for i in kept]
    assert stats.chisquare(observed).pvalue > ALPHA

    # Mirror images are kept together, so each site is in arm A in exactly half the space …
    for i, code in enumerate(results[0].sites):
        assert sum(results[0].indicator[k][i] for k in kept) * 2 == len(kept), code
    # … and is allocated to A with probability ½ over seeds.
    for code in covariates:
        in_a = sum(r.allocation[code] == "A" for r in results)
        assert stats.binomtest(in_a, len(SEEDS), 0.5).pvalue > ALPHA, code


# --- stratified ------------------------------------------------------------------------------


STRATA = {
    **{f"N{i}": "north" for i in range(4)},
    **{f"M{i}": "middle" for i in range(6)},
    **{f"S{i}": "south" for i in range(5)},
}


def test_every_stratum_is_balanced() -> None:
    result = designs.stratified(SEED, STRATA, ONE_TO_ONE)
    assert result.counts["north"] == {"A": 2, "B": 2}
    assert result.counts["middle"] == {"A": 3, "B": 3}
    assert sorted(result.counts["south"].values()) == [2, 3]
    assert result.leftover == {"north": 0, "middle": 0, "south": 1}
    for label, counts in result.counts.items():
        members = [code for code, stratum in STRATA.items() if stratum == label]
        assert Counter(result.allocation[code] for code in members) == counts


def test_stratified_honours_an_unequal_ratio_as_far_as_the_size_allows() -> None:
    strata = {f"X{i}": "x" for i in range(7)}  # 2:1 → 6 in exact ratio (4 A, 2 B) + 1 leftover
    for seed in SEEDS[:50]:
        counts = designs.stratified(seed, strata, [("A", 2), ("B", 1)]).counts["x"]
        assert counts in ({"A": 5, "B": 2}, {"A": 4, "B": 3})


def test_stratified_is_deterministic_and_independent_of_input_order() -> None:
    first = designs.stratified(SEED, STRATA, ONE_TO_ONE)
    reordered = dict(reversed(list(STRATA.items())))
    assert designs.stratified(SEED, reordered, ONE_TO_ONE).allocation == first.allocation
    assert designs.stratified(OTHER_SEED, STRATA, ONE_TO_ONE).allocation != first.allocation


def test_stratified_rejects_bad_arms() -> None:
    with pytest.raises(ValueError, match="at least two arms"):
        designs.stratified(SEED, STRATA, [("A", 1)])
    with pytest.raises(ValueError, match="whole number"):
        designs.stratified(SEED, STRATA, [("A", 1), ("B", -1)])


def test_stratified_gives_each_site_its_nominal_probability() -> None:
    # 2:1 with strata of 3, 4 and 5 sites: the 4- and 5-site strata have leftovers, so a rule
    # that sent leftovers to A would give their sites 3/4 or 4/5 instead of 2/3.
    strata = {
        **{f"P{i}": "p" for i in range(3)},
        **{f"Q{i}": "q" for i in range(4)},
        **{f"R{i}": "r" for i in range(5)},
    }
    arms = [("A", 2), ("B", 1)]
    results = [designs.stratified(seed, strata, arms) for seed in SEEDS]
    for code in strata:
        in_a = sum(r.allocation[code] == "A" for r in results)
        assert stats.binomtest(in_a, len(SEEDS), 2 / 3).pvalue > ALPHA, code


# --- pair-matched ----------------------------------------------------------------------------


def test_pair_members_are_in_opposite_arms_and_the_leftover_is_reported() -> None:
    pairs = [("K2", "K1"), ("K3", "K4"), ("K6", "K5")]
    result = designs.pair_matched(SEED, pairs, ONE_TO_ONE, leftover="K7")
    assert result.pairs == [("K1", "K2"), ("K3", "K4"), ("K5", "K6")]
    for a, b in result.pairs:
        assert {result.allocation[a], result.allocation[b]} == {"A", "B"}
    assert result.leftover == "K7"
    assert result.leftover_arm == result.allocation["K7"]
    assert len(result.allocation) == 7


def test_pair_matched_is_deterministic_by_seed() -> None:
    pairs = [(f"K{i}", f"L{i}") for i in range(10)]
    first = designs.pair_matched(SEED, pairs, ONE_TO_ONE)
    assert designs.pair_matched(SEED, list(reversed(pairs)), ONE_TO_ONE) == first
    assert designs.pair_matched(OTHER_SEED, pairs, ONE_TO_ONE).allocation != first.allocation
    assert first.leftover is None


@pytest.mark.parametrize(
    ("pairs", "arms", "leftover", "message"),
    [
        ([("K1", "K2")], [("A", 2), ("B", 1)], None, "1:1"),
        ([("K1", "K2")], [("A", 1), ("B", 1), ("C", 1)], None, "exactly two arms"),
        ([("K1", "K1")], ONE_TO_ONE, None, "itself"),
        ([("K1", "K2"), ("K2", "K3")], ONE_TO_ONE, None, "more than once"),
        ([("K1", "K2")], ONE_TO_ONE, "K1", "more than once"),
    ],
)
def test_pair_matched_rejects_bad_input(
    pairs: list[tuple[str, str]], arms: list[tuple[str, int]], leftover: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        designs.pair_matched(SEED, pairs, arms, leftover=leftover)


def test_pair_matched_gives_each_site_probability_one_half() -> None:
    pairs = [("K1", "K2"), ("K3", "K4")]
    results = [designs.pair_matched(seed, pairs, ONE_TO_ONE, leftover="K5") for seed in SEEDS]
    for code in ("K1", "K2", "K3", "K4", "K5"):
        in_a = sum(r.allocation[code] == "A" for r in results)
        assert stats.binomtest(in_a, len(SEEDS), 0.5).pvalue > ALPHA, code


def test_match_pairs_takes_the_closest_pairs_first_and_leaves_the_odd_one() -> None:
    # x = 1, 2, 10, 11, 20: sample variance 59.7. S1–S2 and S3–S4 are 1 apart (1/√59.7 in SDs).
    covariates = {"S1": {"x": 1}, "S2": {"x": 2}, "S3": {"x": 10}, "S4": {"x": 11}, "S5": {"x": 20}}
    pairing = designs.match_pairs(covariates)
    assert pairing.pairs == [("S1", "S2"), ("S3", "S4")]
    assert pairing.distances == pytest.approx([1 / math.sqrt(59.7)] * 2)
    assert pairing.leftover == "S5"


def test_match_pairs_weights_choose_what_similarity_means() -> None:
    # By size S1–S2 and S3–S4 are alike; by unemployment S1–S3 and S2–S4.
    covariates = {
        "S1": {"size": 10.0, "unemployment": 1.0},
        "S2": {"size": 11.0, "unemployment": 9.0},
        "S3": {"size": 50.0, "unemployment": 1.5},
        "S4": {"size": 52.0, "unemployment": 9.5},
    }
    by_size = designs.match_pairs(covariates, weights={"unemployment": 0})
    by_rate = designs.match_pairs(covariates, weights={"size": 0})
    assert sorted(by_size.pairs) == [("S1", "S2"), ("S3", "S4")]
    assert sorted(by_rate.pairs) == [("S1", "S3"), ("S2", "S4")]
    assert by_size.leftover is None


# --- stepped wedge ---------------------------------------------------------------------------


def test_stepped_wedge_counts_per_step_differ_by_at_most_one() -> None:
    sites = [f"W{i:02d}" for i in range(10)]
    result = designs.stepped_wedge(SEED, sites, 4)
    assert sorted(result.counts.values()) == [2, 2, 3, 3]
    assert set(result.step) == set(sites)
    assert set(result.step.values()) == {1, 2, 3, 4}
    assert Counter(result.step.values()) == result.counts


def test_stratified_stepped_wedge_spreads_each_stratum_over_the_steps() -> None:
    strata = {
        **{f"U{i}": "urban" for i in range(5)},
        **{f"R{i}": "rural" for i in range(6)},
        **{f"C{i}": "coast" for i in range(3)},
    }
    for seed in SEEDS[:100]:
        result = designs.stepped_wedge(seed, list(strata), 4, strata=strata)
        assert max(result.counts.values()) - min(result.counts.values()) <= 1
        for label, counts in result.stratum_counts.items():
            assert max(counts.values()) - min(counts.values()) <= 1, label
            members = [code for code, stratum in strata.items() if stratum == label]
            assert sum(counts.values()) == len(members)
            assert Counter(result.step[code] for code in members) == {
                step: count for step, count in counts.items() if count
            }


def test_stepped_wedge_is_deterministic_and_independent_of_input_order() -> None:
    sites = [f"W{i:02d}" for i in range(12)]
    first = designs.stepped_wedge(SEED, sites, 3)
    assert designs.stepped_wedge(SEED, list(reversed(sites)), 3) == first
    assert designs.stepped_wedge(OTHER_SEED, sites, 3).step != first.step


def test_stepped_wedge_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot fill"):
        designs.stepped_wedge(SEED, ["W1", "W2"], 3)
    with pytest.raises(ValueError, match="at least one step"):
        designs.stepped_wedge(SEED, ["W1", "W2"], 0)
    with pytest.raises(ValueError, match="must have a stratum"):
        designs.stepped_wedge(SEED, ["W1", "W2"], 2, strata={"W1": "x"})
    with pytest.raises(ValueError, match="more than once"):
        designs.stepped_wedge(SEED, ["W1", "W1"], 1)


def test_each_site_is_equally_likely_to_cross_over_at_any_step() -> None:
    # 11 sites over 4 steps (3 steps get 3, one gets 2) in strata of 5, 4 and 2; a rule that
    # always put the extra sites at early steps would make early steps likelier.
    strata = {
        **{f"U{i}": "urban" for i in range(5)},
        **{f"R{i}": "rural" for i in range(4)},
        **{f"C{i}": "coast" for i in range(2)},
    }
    results = [designs.stepped_wedge(seed, list(strata), 4, strata=strata) for seed in SEEDS]
    for code in strata:
        tally = Counter(r.step[code] for r in results)
        assert stats.chisquare([tally[s] for s in (1, 2, 3, 4)]).pvalue > ALPHA, code
