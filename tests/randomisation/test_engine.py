"""Unit and statistical tests of the allocation engine (randomisation/engine.py).

The statistical tests use fixed seeds, so every run draws the same numbers and the tests are
deterministic: a test either always passes or always fails. Each one checks a hypothesis test at
ALPHA = 0.001, so a correct engine would fail a given test for one seed in a thousand; the seeds
below were not chosen by trying several.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from scipy import stats

from randomisation.engine import (
    Allocator,
    SchemeSpec,
    Stream,
    block,
    blocks,
    check_block_sizes,
    minimise,
    ratio_unit,
    simple,
    stratum_key,
)

ALPHA = 0.001
SEED = bytes.fromhex("6f2b1c0e9a7d4e5f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071")
OTHER_SEED = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
ONE_TO_ONE = (("A", 1), ("B", 1))
TWO_TO_ONE = (("A", 2), ("B", 1))


def chi_square_p(counts: Mapping[Any, int], categories: Sequence[Any]) -> float:
    """p-value of the chi-square goodness-of-fit test against equal frequencies."""
    return float(stats.chisquare([counts[category] for category in categories]).pvalue)


# Stream


@pytest.mark.parametrize("n", [3, 5, 6, 7, 10, 170])
def test_randbelow_is_uniform_when_n_is_not_a_power_of_two(n: int) -> None:
    stream = Stream(SEED, f"uniform {n}")
    counts = Counter(stream.randbelow(n) for _ in range(200 * n))
    assert set(counts) == set(range(n))
    assert chi_square_p(counts, list(range(n))) > ALPHA


def test_the_uniformity_test_would_catch_modulo_bias() -> None:
    """Reducing a random byte modulo 170 makes 0..85 twice as likely as 86..169: the same test
    rejects that, so passing it above means something."""
    stream = Stream(SEED, "modulo bias")
    counts = Counter(stream.randbelow(256) % 170 for _ in range(200 * 170))
    assert chi_square_p(counts, list(range(170))) < ALPHA


def test_randbelow_handles_one_and_large_n() -> None:
    stream = Stream(SEED, "edges")
    assert {stream.randbelow(1) for _ in range(50)} == {0}
    n = 2**70 + 3
    values = [stream.randbelow(n) for _ in range(200)]
    assert all(0 <= value < n for value in values)
    assert any(value >= 2**69 for value in values)
    with pytest.raises(ValueError):
        stream.randbelow(0)


def test_random_is_uniform_on_the_unit_interval() -> None:
    stream = Stream(SEED, "floats")
    values = [stream.random() for _ in range(20_000)]
    assert all(0.0 <= value < 1.0 for value in values)
    assert stats.kstest(values, "uniform").pvalue > ALPHA


def test_shuffle_makes_every_order_equally_likely() -> None:
    stream = Stream(SEED, "shuffle")
    orders = list(itertools.permutations("ABCD"))
    counts: Counter[object] = Counter()
    for _ in range(200 * len(orders)):
        items = list("ABCD")
        stream.shuffle(items)
        counts[tuple(items)] += 1
    assert chi_square_p(counts, list(orders)) > ALPHA


def test_stream_depends_only_on_seed_and_label() -> None:
    def first(seed: bytes, label: str) -> list[int]:
        stream = Stream(seed, label)
        return [stream.randbelow(1000) for _ in range(20)]

    assert first(SEED, "x") == first(SEED, "x")
    assert first(SEED, "x") != first(SEED, "y")
    assert first(SEED, "x") != first(OTHER_SEED, "x")
    with pytest.raises(ValueError, match="128 bits"):
        Stream(b"short", "x")


# Permuted blocks


@pytest.mark.parametrize(
    ("arms", "sizes", "per_unit"),
    [
        (ONE_TO_ONE, (2, 4, 6), {"A": 1, "B": 1}),
        (TWO_TO_ONE, (3, 6), {"A": 2, "B": 1}),
        ((("A", 2), ("B", 1), ("C", 1)), (4, 8), {"A": 2, "B": 1, "C": 1}),
    ],
)
def test_every_block_contains_exactly_the_ratio(
    arms: tuple[tuple[str, int], ...], sizes: tuple[int, ...], per_unit: dict[str, int]
) -> None:
    unit = sum(per_unit.values())
    for generated in blocks(SEED, "all", arms, sizes, count=500):
        assert generated.size in sizes
        assert len(generated.arms) == generated.size
        repeats = generated.size // unit
        assert Counter(generated.arms) == {arm: n * repeats for arm, n in per_unit.items()}


@pytest.mark.parametrize(("arms", "sizes"), [(TWO_TO_ONE, (3, 6)), (ONE_TO_ONE, (2, 4, 6))])
def test_block_sizes_are_drawn_equally_often(
    arms: tuple[tuple[str, int], ...], sizes: tuple[int, ...]
) -> None:
    counts = Counter(b.size for b in blocks(SEED, "site=OSLA", arms, sizes, count=3000))
    assert chi_square_p(counts, list(sizes)) > ALPHA


def test_orders_within_a_block_are_equally_likely() -> None:
    counts = Counter(b.arms for b in blocks(SEED, "all", TWO_TO_ONE, (3,), count=3000))
    orders: list[object] = [("A", "A", "B"), ("A", "B", "A"), ("B", "A", "A")]
    assert set(counts) == set(orders)
    assert chi_square_p(counts, orders) > ALPHA


def test_blocks_made_later_are_the_tail_of_the_full_list() -> None:
    full = blocks(SEED, "site=OSLA|sex=f", ONE_TO_ONE, (2, 4, 6), start=1, count=15)
    later = blocks(SEED, "site=OSLA|sex=f", ONE_TO_ONE, (2, 4, 6), start=11, count=5)
    assert later == full[10:]
    assert [b.number for b in later] == [11, 12, 13, 14, 15]


def test_each_stratum_has_its_own_list() -> None:
    oslo = blocks(SEED, "site=OSLA", ONE_TO_ONE, (4, 6), count=10)
    bergen = blocks(SEED, "site=BGO", ONE_TO_ONE, (4, 6), count=10)
    assert [b.arms for b in oslo] != [b.arms for b in bergen]


def test_block_sizes_must_be_multiples_of_the_ratio_unit() -> None:
    assert ratio_unit(TWO_TO_ONE) == 3
    assert ratio_unit((("A", 2), ("B", 4))) == 3
    assert check_block_sizes(TWO_TO_ONE, [3, 4, 6, 0]) == [4, 0]
    assert check_block_sizes(ONE_TO_ONE, [2, 4]) == []
    with pytest.raises(ValueError, match="not a multiple of 3"):
        block(Stream(SEED, "x"), TWO_TO_ONE, 4)


def test_stratum_key_names_the_levels_in_factor_order() -> None:
    levels = {"sex": "f", "site": "OSLA"}
    assert stratum_key(("site", "sex"), levels) == "site=OSLA|sex=f"
    assert stratum_key((), levels) == "all"


# Simple randomisation


def test_simple_randomisation_follows_a_two_to_one_ratio() -> None:
    allocations = [simple(SEED, sequence, TWO_TO_ONE) for sequence in range(1, 10_001)]
    to_a = allocations.count("A")
    assert to_a + allocations.count("B") == 10_000
    assert stats.binomtest(to_a, 10_000, 2 / 3).pvalue > ALPHA


def test_simple_allocation_depends_only_on_seed_and_sequence() -> None:
    first = [simple(SEED, sequence, ONE_TO_ONE) for sequence in range(1, 41)]
    assert first == [simple(SEED, sequence, ONE_TO_ONE) for sequence in range(1, 41)]
    assert first != [simple(OTHER_SEED, sequence, ONE_TO_ONE) for sequence in range(1, 41)]


# Minimisation: hand-worked scores (Pocock & Simon, Biometrics 1975;31:103-115)

# A new participant is a woman (sex=f) aged over 50 (age=old). Earlier participants sharing her
# levels: women A 10, B 8; over-50s A 5, B 7. Factor weights: sex 1, age 2.
HAND_COUNTS = {"sex": {"A": 10, "B": 8}, "age": {"A": 5, "B": 7}}
HAND_WEIGHTS = {"sex": 1.0, "age": 2.0}


def test_range_scores_match_the_hand_worked_example() -> None:
    # Put her in A: women 11 v 8 -> range 3; over-50s 6 v 7 -> range 1; 1*3 + 2*1 = 5.
    # Put her in B: women 10 v 9 -> range 1; over-50s 5 v 8 -> range 3; 1*1 + 2*3 = 7.
    result = minimise(SEED, 1, ONE_TO_ONE, HAND_COUNTS, HAND_WEIGHTS, p_best=0.8)
    assert result.scores == {"A": 5.0, "B": 7.0}
    assert result.preferred == ["A"]


def test_variance_scores_match_the_hand_worked_example() -> None:
    # Sample variance of two numbers is (a - b)^2 / 2.
    # A: women (11 - 8)^2 / 2 = 4.5; over-50s (6 - 7)^2 / 2 = 0.5; 4.5 + 2 * 0.5 = 5.5.
    # B: women (10 - 9)^2 / 2 = 0.5; over-50s (5 - 8)^2 / 2 = 4.5; 0.5 + 2 * 4.5 = 9.5.
    result = minimise(
        SEED, 1, ONE_TO_ONE, HAND_COUNTS, HAND_WEIGHTS, p_best=0.8, measure="variance"
    )
    assert result.scores == {"A": 5.5, "B": 9.5}
    assert result.preferred == ["A"]


def test_scores_with_an_unequal_ratio_use_counts_divided_by_weight() -> None:
    # Arms A:B:C = 2:1:1; at her site A has 4, B 1, C 2 (per unit of weight: 2, 1, 2).
    # A: 5/2, 1, 2 -> range 1.5; variance: mean 11/6, squares 4/9 + 25/36 + 1/36 = 7/6, /2 = 7/12.
    # B: 2, 2, 2   -> range 0;   variance 0.
    # C: 2, 1, 3   -> range 2;   variance (0 + 1 + 1) / 2 = 1.
    arms = (("A", 2), ("B", 1), ("C", 1))
    counts = {"site": {"A": 4, "B": 1, "C": 2}}
    by_range = minimise(SEED, 1, arms, counts, {"site": 1.0}, p_best=0.8)
    assert by_range.scores == {"A": 1.5, "B": 0.0, "C": 2.0}
    assert by_range.preferred == ["B"]
    by_variance = minimise(SEED, 1, arms, counts, {"site": 1.0}, p_best=0.8, measure="variance")
    assert by_variance.scores == pytest.approx({"A": 7 / 12, "B": 0.0, "C": 1.0}, abs=1e-12)
    assert by_variance.preferred == ["B"]


# Minimisation: the random element


def test_the_preferred_arm_is_chosen_with_probability_p_best() -> None:
    draws = [
        minimise(SEED, sequence, ONE_TO_ONE, HAND_COUNTS, HAND_WEIGHTS, p_best=0.8)
        for sequence in range(1, 10_001)
    ]
    to_preferred = sum(result.arm == "A" for result in draws)
    assert stats.binomtest(to_preferred, len(draws), 0.8).pvalue > ALPHA
    assert all(result.random_element_used == (result.arm != "A") for result in draws)
    assert all((result.draw < 0.8) == (result.arm == "A") for result in draws)


def test_the_other_arms_share_the_rest_equally() -> None:
    arms = (("A", 1), ("B", 1), ("C", 1))
    counts = {"site": {"A": 0, "B": 1, "C": 1}}  # A alone evens the site out
    draws = [
        minimise(SEED, sequence, arms, counts, {"site": 1.0}, p_best=0.5).arm
        for sequence in range(1, 6001)
    ]
    others = Counter(arm for arm in draws if arm != "A")
    assert stats.binomtest(draws.count("A"), len(draws), 0.5).pvalue > ALPHA
    assert stats.binomtest(others["B"], others["B"] + others["C"], 0.5).pvalue > ALPHA


def test_when_every_arm_ties_the_arm_is_drawn_by_the_ratio() -> None:
    draws = [
        minimise(SEED, sequence, TWO_TO_ONE, {}, {}, p_best=0.9) for sequence in range(1, 6001)
    ]
    assert all(result.preferred == ["A", "B"] for result in draws)
    assert not any(result.random_element_used for result in draws)
    to_a = sum(result.arm == "A" for result in draws)
    assert stats.binomtest(to_a, len(draws), 2 / 3).pvalue > ALPHA


def test_p_best_outside_half_to_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="p_best"):
        minimise(SEED, 1, ONE_TO_ONE, {}, {"site": 1.0}, p_best=0.4)
    with pytest.raises(ValueError, match="p_best"):
        minimise(SEED, 1, ONE_TO_ONE, {}, {"site": 1.0}, p_best=1.01)


def test_deterministic_minimisation_keeps_each_level_within_one() -> None:
    """With p_best = 1, one factor and 1:1, no site is ever more than one apart."""
    spec = SchemeSpec("minimisation", ONE_TO_ONE, minimisation_factors=(("site", 1.0),), p_best=1.0)
    allocator = Allocator(spec, SEED)
    arrivals = Stream(SEED, "arrivals")
    counts = {site: Counter[str]() for site in ("OSLA", "BGO", "TRD")}
    largest = 0
    for _ in range(600):
        site = arrivals.choice(["OSLA", "BGO", "TRD"])
        counts[site][allocator.allocate({"site": site})] += 1
        largest = max(largest, abs(counts[site]["A"] - counts[site]["B"]))
        assert largest <= 1
    assert largest == 1


def test_deterministic_minimisation_over_two_factors_can_leave_a_level_two_apart() -> None:
    """The within-one bound holds for one factor only. Here women lean to A and over-50s to B:
    both arms score 2, so the tie is drawn and one of her two levels ends two apart."""
    counts = {"sex": {"A": 1, "B": 0}, "age": {"A": 0, "B": 1}}
    result = minimise(SEED, 1, ONE_TO_ONE, counts, {"sex": 1.0, "age": 1.0}, p_best=1.0)
    assert result.scores == {"A": 2.0, "B": 2.0}
    assert result.preferred == ["A", "B"]


# Allocator


LEVEL_CHOICES = {"site": ["OSLA", "BGO"], "sex": ["f", "m"]}


def participants(n: int) -> list[dict[str, str]]:
    stream = Stream(SEED, "participants")
    return [{f: stream.choice(levels) for f, levels in LEVEL_CHOICES.items()} for _ in range(n)]


@pytest.mark.parametrize(
    "spec",
    [
        SchemeSpec("simple", TWO_TO_ONE),
        SchemeSpec("blocks", ONE_TO_ONE, block_sizes=(2, 4), strata_factors=("site", "sex")),
        SchemeSpec(
            "minimisation",
            ONE_TO_ONE,
            minimisation_factors=(("site", 1.0), ("sex", 1.0)),
            p_best=0.8,
        ),
    ],
    ids=["simple", "blocks", "minimisation"],
)
def test_allocator_reproduces_the_sequence_for_the_same_seed(spec: SchemeSpec) -> None:
    people = participants(200)

    def run(seed: bytes) -> list[str]:
        allocator = Allocator(spec, seed)
        return [allocator.allocate(levels) for levels in people]

    first = run(SEED)
    assert first == run(SEED)
    assert first != run(OTHER_SEED)
    assert set(first) == {"A", "B"}


def test_allocator_follows_each_stratums_block_list() -> None:
    spec = SchemeSpec("blocks", ONE_TO_ONE, block_sizes=(2, 4, 6), strata_factors=("site",))
    allocator = Allocator(spec, SEED)
    by_stratum: dict[str, list[str]] = {}
    for levels in participants(300):
        key = stratum_key(spec.strata_factors, levels)
        by_stratum.setdefault(key, []).append(allocator.allocate(levels))
    for key, allocated in by_stratum.items():
        listed = [
            arm for b in blocks(SEED, key, ONE_TO_ONE, (2, 4, 6), count=200) for arm in b.arms
        ]
        assert allocated == listed[: len(allocated)]
