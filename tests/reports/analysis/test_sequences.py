"""Sequence analysis (reports/analysis/sequences.py): hand-computed cases and sequenzo references.

Reference values come from sequenzo 0.1.42 (mirrors TraMineR), computed by
scripts/sequence_reference/compute.py in its own environment and stored in
data/sequenzo_reference.npz (see data/sequenzo_reference.md). Tolerances: distances and
silhouettes 1e-9 absolute, integer distances exact, rates and indicators 1e-12.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import squareform

from reports.analysis import sequences as sq

DATA = Path(__file__).parent / "data" / "sequenzo_reference.npz"
A, B, C = 0, 1, 2
K_VALUES = [2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(DATA) as stored:
        return {key: stored[key] for key in stored.files}


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True if the two labelings split the items the same way (labels may differ)."""
    pairs = np.unique(np.stack([np.asarray(a), np.asarray(b)]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


def om_by_hand(x: list[int], y: list[int], sm: np.ndarray, indel: float) -> float:
    """Textbook Needleman–Wunsch table, for random cross-checks."""
    table = np.zeros((len(x) + 1, len(y) + 1))
    table[:, 0] = np.arange(len(x) + 1) * indel
    table[0, :] = np.arange(len(y) + 1) * indel
    for a, b in itertools.product(range(1, len(x) + 1), range(1, len(y) + 1)):
        sub = 0.0 if x[a - 1] == y[b - 1] else sm[x[a - 1], y[b - 1]]
        table[a, b] = min(
            table[a - 1, b] + indel, table[a, b - 1] + indel, table[a - 1, b - 1] + sub
        )
    return float(table[-1, -1])


# --- hand-computed cases ------------------------------------------------------------------


def test_om_distances_of_small_cases_match_hand_computation() -> None:
    seqs = np.array([[A, A, B], [A, B, B], [B, C, A], [C, A, B]])
    constant = squareform(sq.distances(seqs, 3, "OM"))  # substitution 2, indel 1
    # AAB→ABB: one substitution (2) or a deletion and an insertion (2).
    assert constant[0, 1] == 2.0
    # BCA→CAB: LCS "CA" → 3 + 3 − 2·2 = 2 indels.
    assert constant[2, 3] == 2.0
    # AAB→BCA: LCS of length 1 → 4 indels.
    assert constant[0, 2] == 4.0

    cheap = np.full((3, 3), 0.5)
    np.fill_diagonal(cheap, 0)
    general = squareform(sq.distances(seqs, 3, "OM", sm=cheap, indel=1.0))
    assert general[0, 1] == 0.5  # substitute the middle A by B
    assert general[2, 3] == 1.5  # three substitutions beat two indels (2)
    assert general[0, 2] == 1.5


def test_om_handles_sequences_of_different_length_and_empty_ones() -> None:
    seqs = np.array([[A, B, -1, -1], [A, B, C, C], [-1, -1, -1, -1]])
    sm = np.array([[0, 1.5, 1.5], [1.5, 0, 1.5], [1.5, 1.5, 0]])
    d = squareform(sq.distances(seqs, 3, "OM", sm=sm, indel=1.0))
    assert d[0, 1] == 2.0  # insert C, C
    assert d[0, 2] == 2.0
    assert d[1, 2] == 4.0
    assert d[2, 2] == 0.0


def test_om_kernel_matches_textbook_dynamic_programme_on_random_pairs() -> None:
    rng = np.random.default_rng(7)
    seqs = rng.integers(0, 4, size=(40, 50))
    lengths = rng.integers(0, 51, size=40)
    for i, length in enumerate(lengths):
        seqs[i, length:] = -1
    sm, indel = sq.substitution_costs(seqs, 4, "TRATE")
    d = squareform(sq.distances(seqs, 4, "OM", sm=sm, indel=indel))
    for i, j in [(0, 1), (2, 39), (5, 17), (20, 33), (11, 12)]:
        x = [s for s in seqs[i] if s >= 0]
        y = [s for s in seqs[j] if s >= 0]
        assert d[i, j] == pytest.approx(om_by_hand(x, y, sm, indel), abs=1e-12)
    cross = sq.cross_distances(seqs, seqs[:3], 4, sm=sm, indel=indel)
    np.testing.assert_allclose(cross, d[:, :3], atol=1e-12)


def test_transition_rates_and_trate_costs_by_hand() -> None:
    seqs = np.array([[A, A, B], [A, B, B]])
    rates = sq.transition_rates(seqs, 3)
    # From A (3 months followed by another): A→A once, A→B twice; B→B once; C never seen.
    np.testing.assert_allclose(rates, np.array([[1 / 3, 2 / 3, 0], [0, 1, 0], [0, 0, 0]]))
    sm, indel = sq.substitution_costs(seqs, 3, "TRATE")
    assert sm[A, B] == pytest.approx(2 - 2 / 3)
    assert sm[A, C] == 2.0
    assert indel == 1.0  # max(SC)/2 = 2/2


def test_entropy_turbulence_and_revolving_door_by_hand() -> None:
    alphabet = ["work", "benefit", "none"]
    work, benefit, none = 0, 1, 2
    seqs = np.array(
        [
            [work, work, benefit, benefit, benefit, work, -1, -1],
            [work, work, benefit, none, work, benefit, benefit, work],
            [work, none, benefit, benefit, none, none, none, none],
        ]
    )
    table = sq.sequence_indicators(seqs, alphabet, work_states={work}, benefit_states={benefit})
    # Row 0: spells W2 B3 W1; entropy of (1/2, 1/2, 0) over log 3.
    assert table.loc[0, "entropy"] == pytest.approx(math.log(2) / math.log(3), abs=1e-12)
    # Turbulence: DSS "WBW" has 7 distinct subsequences ("", W, B, WB, BW, WW, WBW);
    # durations 2, 3, 1: mean 2, variance 2/3, maximum (3 − 1)(1 − 2)² = 2.
    assert table.loc[0, "turbulence"] == pytest.approx(math.log2(7 * 3 / (5 / 3)), abs=1e-12)
    assert table.loc[0, "length"] == 6
    assert table.loc[0, "spells"] == 3
    assert table.loc[1, "transitions"] == 5
    assert table.loc[1, "returns_to_benefit"] == 2
    assert table.loc[1, "work_to_benefit"] == 2
    assert table.loc[2, "returns_to_benefit"] == 1  # work → none → benefit counts
    assert table.loc[2, "work_to_benefit"] == 0
    assert table.loc[1, "work_spells"] == 3
    assert table.loc[0, "longest_work_spell"] == 2
    assert list(table["months_benefit"]) == [3, 3, 2]
    # Complexity: sqrt(transitions / (length − 1) · entropy).
    assert table.loc[0, "complexity"] == pytest.approx(math.sqrt(2 / 5 * math.log(2) / math.log(3)))


def test_state_distribution_ignores_void_months() -> None:
    seqs = np.array([[A, A, B], [B, -1, -1], [A, C, -1]])
    dist = sq.state_distribution(seqs, 3)
    np.testing.assert_allclose(dist[0], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(dist[1], [1 / 2, 0, 1 / 2])
    np.testing.assert_allclose(dist[2], [0, 1, 0])
    entropy = sq.cross_sectional_entropy(dist)
    assert entropy[2] == 0.0
    assert entropy[1] == pytest.approx(math.log(2) / math.log(3))


def test_mean_time_in_state_with_t_interval_by_hand() -> None:
    seqs = np.array([[A, A, B], [A, B, B], [B, B, B], [A, A, A]])
    groups = pd.Series(["x", "x", "x", "y"])
    table = sq.mean_time_in_state(seqs, ["A", "B", "C"], groups).set_index(["group", "state"])
    row = table.loc[("x", "A")]
    # Months in A: 2, 1, 0 → mean 1, sd 1, half-width t(0.975, 2) · 1/√3 = 4.302653/√3.
    assert row["mean"] == 1.0
    assert row["sd"] == 1.0
    assert row["ci_high"] - row["mean"] == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert table.loc[("y", "A"), "n"] == 1
    assert math.isnan(table.loc[("y", "A"), "ci_low"])


def test_invalid_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the alphabet"):
        sq.as_sequences(np.array([[0, 3]]), 3)
    with pytest.raises(ValueError, match="void months"):
        sq.as_sequences(np.array([[0, -1, 1]]), 3)


def test_pam_finds_the_optimal_medoids_of_a_small_set() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(12, 2))
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(axis=2))
    condensed = squareform(d, checks=False)
    weights = rng.integers(1, 4, size=12).astype(float)
    for k in (2, 3):
        best = min(
            (weights * d[:, list(combo)].min(axis=1)).sum()
            for combo in itertools.combinations(range(12), k)
        )
        result = sq.pam(condensed, k, weights)
        assert result.cost == pytest.approx(best, rel=1e-12)


def test_type_distribution_chi_square_by_hand() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    groups = np.array(["a"] * 8 + ["b"] * 2 + ["a"] * 3 + ["b"] * 7)
    table, test = sq.type_distribution(labels, groups)
    assert table.to_numpy().tolist() == [[8, 2], [3, 7]]
    # Expected counts 5.5/4.5 in every row: Σ (O − E)² / E.
    expected = np.array([[5.5, 4.5], [5.5, 4.5]])
    chi2 = (((table.to_numpy() - expected) ** 2) / expected).sum()
    assert test["chi2"] == pytest.approx(chi2)
    assert test["dof"] == 1
    assert test["min_expected"] == 4.5


# --- dedupe, expansion, silhouettes -------------------------------------------------------


def test_silhouette_of_distinct_rows_with_counts_equals_expanded_data(ref: dict) -> None:
    seqs = ref["hand_sequences"].astype(np.int64)
    unique, inverse, counts = sq.unique_sequences(seqs)
    assert len(unique) == len(seqs) - 1  # rows 0 and 1 are the same
    d_unique = sq.distances(unique, 3, "OM")
    full = sq.expand(d_unique, inverse)
    np.testing.assert_array_equal(full, squareform(sq.distances(seqs, 3, "OM")))
    labels = np.array([0, 1, 0, 1, 2, 2, 0])
    _, asw_unique = sq.silhouette(d_unique, labels, counts.astype(float))
    widths, asw_full = sq.silhouette(squareform(full, checks=False), labels[inverse])
    assert asw_unique == pytest.approx(asw_full, abs=1e-12)
    assert asw_full == pytest.approx(widths.mean(), abs=1e-12)


# --- sequenzo references ------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "n_states"), [("mvad", 6), ("hand", 3)])
def test_descriptives_and_costs_match_sequenzo(ref: dict, prefix: str, n_states: int) -> None:
    seqs = ref[f"{prefix}_sequences"].astype(np.int64)
    weights = ref.get(f"{prefix}_weights")
    np.testing.assert_allclose(
        sq.transition_rates(seqs, n_states, weights), ref[f"{prefix}_trate_w"], atol=1e-12
    )
    np.testing.assert_allclose(
        sq.transition_rates(seqs, n_states), ref[f"{prefix}_trate_u"], atol=1e-12
    )
    sm, indel = sq.substitution_costs(seqs, n_states, "TRATE", weights=weights)
    np.testing.assert_allclose(sm, ref[f"{prefix}_sm_trate"], atol=1e-12)
    assert indel == pytest.approx(float(ref[f"{prefix}_indel_trate"]), abs=1e-12)
    np.testing.assert_allclose(
        sq.within_entropy(seqs, n_states), ref[f"{prefix}_entropy"], atol=1e-12
    )
    np.testing.assert_allclose(
        sq.turbulence(seqs, n_states), ref[f"{prefix}_turbulence"], atol=1e-12
    )


@pytest.mark.parametrize(("prefix", "n_states"), [("mvad", 6), ("hand", 3)])
def test_distances_match_sequenzo(ref: dict, prefix: str, n_states: int) -> None:
    seqs = ref[f"{prefix}_sequences"].astype(np.int64)
    weights = ref.get(f"{prefix}_weights")
    sm, indel = sq.substitution_costs(seqs, n_states, "TRATE", weights=weights)
    distinct = seqs[ref[f"{prefix}_distinct_rows"]]
    om = sq.distances(distinct, n_states, "OM", sm=sm, indel=indel)
    np.testing.assert_allclose(om, ref[f"{prefix}_om_trate"], rtol=0, atol=1e-9)

    unique, inverse, _ = sq.unique_sequences(seqs)
    upper = np.triu_indices(len(seqs), k=1)
    constant = sq.expand(sq.distances(unique, n_states, "OM"), inverse)[upper]
    np.testing.assert_array_equal(constant, ref[f"{prefix}_om_constant"])
    for method in ("HAM", "LCS", "LCP"):
        ours = sq.expand(sq.distances(unique, n_states, method), inverse)[upper]
        np.testing.assert_array_equal(ours, ref[f"{prefix}_{method.lower()}"])


@pytest.mark.parametrize(("prefix", "n_states"), [("mvad", 6), ("hand", 3)])
def test_ward_pam_and_asw_match_sequenzo(ref: dict, prefix: str, n_states: int) -> None:
    seqs = ref[f"{prefix}_sequences"].astype(np.int64)
    weights = ref.get(f"{prefix}_weights")
    sm, indel = sq.substitution_costs(seqs, n_states, "TRATE", weights=weights)
    unique, inverse, counts = sq.unique_sequences(seqs)
    counts = counts.astype(float)
    d = sq.distances(unique, n_states, "OM", sm=sm, indel=indel)
    full = sq.distances(seqs, n_states, "OM", sm=sm, indel=indel)
    for variant, key in (("ward.D", "ward_d"), ("ward.D2", "ward_d2")):
        tree = sq.ward(d, counts, variant)
        # scipy's "ward" is ward.D2 on the expanded data; ward.D is ward.D2 on √d.
        scipy_tree = linkage(np.sqrt(full) if variant == "ward.D" else full, "ward")
        for k in K_VALUES:
            labels = sq.cut(tree, k)
            assert same_partition(labels[inverse], ref[f"{prefix}_{key}_k{k}"]), (variant, k)
            assert same_partition(labels[inverse], cut_tree(scipy_tree, n_clusters=k).ravel())
            _, asw = sq.silhouette(d, labels, counts)
            assert asw == pytest.approx(float(ref[f"{prefix}_{key}_asw_k{k}"]), abs=1e-9)
    for k in K_VALUES:
        result = sq.pam(d, k, counts)
        assert result.cost == pytest.approx(float(ref[f"{prefix}_pam_cost_k{k}"]), rel=1e-12)
        assert same_partition(result.labels[inverse], ref[f"{prefix}_pam_k{k}"])
        # sequenzo's medoids (1-based rows) are the same sequences as ours.
        theirs = {tuple(seqs[m - 1]) for m in np.unique(ref[f"{prefix}_pam_k{k}"])}
        assert theirs == {tuple(unique[m]) for m in result.medoids}
        _, asw = sq.silhouette(d, result.labels, counts)
        assert asw == pytest.approx(float(ref[f"{prefix}_pam_asw_k{k}"]), abs=1e-9)


# --- typology -----------------------------------------------------------------------------


def test_typology_labels_every_participant_and_reports_asw(ref: dict) -> None:
    seqs = ref["mvad_sequences"].astype(np.int64)
    sm, indel = sq.substitution_costs(seqs, 6, "TRATE")
    result = sq.typology(seqs, 6, [3, 4], sm=sm, indel=indel, method="pam")
    unique, inverse, counts = sq.unique_sequences(seqs)
    d = sq.distances(unique, 6, "OM", sm=sm, indel=indel)
    assert result.n_distinct == len(unique)
    assert not result.sampled
    for k in (3, 4):
        assert result.labels[k].shape == (712,)
        assert sorted(np.unique(result.labels[k])) == list(range(k))
        assert result.medoids[k].shape == (k, 72)
        labels_unique = np.empty(len(unique), np.int64)
        labels_unique[inverse] = result.labels[k]
        assert result.asw[k] == pytest.approx(sq.silhouette(d, labels_unique, counts)[1])
        # PAM started from the Ward medoids is at least as good as Ward's own partition.
        ward_labels = sq.cut(sq.ward(d, counts.astype(float)), k)
        square = squareform(d)
        ward_cost = sum(
            (square[np.ix_(ward_labels == c, [m])].ravel() * counts[ward_labels == c]).sum()
            for c, m in enumerate(sq.medoids(d, ward_labels, counts.astype(float)))
        )
        medoid_rows = [
            int(np.flatnonzero((unique == row).all(axis=1))[0]) for row in result.medoids[k]
        ]
        pam_cost = (square[:, medoid_rows].min(axis=1) * counts).sum()
        assert pam_cost <= ward_cost + 1e-9


def test_typology_uses_clara_above_the_threshold(ref: dict) -> None:
    seqs = ref["mvad_sequences"].astype(np.int64)
    sm, indel = sq.substitution_costs(seqs, 6, "TRATE")
    unique, inverse, counts = sq.unique_sequences(seqs)
    d = sq.distances(unique, 6, "OM", sm=sm, indel=indel)
    # A "sample" of every distinct sequence makes CLARA plain PAM from BUILD.
    result = sq.typology(
        seqs,
        6,
        [4],
        sm=sm,
        indel=indel,
        clara_threshold=100,
        clara_samples=1,
        clara_sample_size=len(unique),
    )
    assert result.sampled
    assert result.notes
    full = sq.pam(d, 4, counts.astype(float))
    assert same_partition(result.labels[4], full.labels[inverse])
    # Smaller samples still give every participant its nearest medoid.
    small = sq.typology(
        seqs, 6, [4], sm=sm, indel=indel, clara_threshold=100, clara_sample_size=150, seed=5
    )
    to_medoids = sq.cross_distances(seqs, small.medoids[4], 6, sm=sm, indel=indel)
    np.testing.assert_array_equal(small.labels[4], to_medoids.argmin(axis=1))


def straightforward_clara(
    seqs: np.ndarray, sm: np.ndarray, indel: float, k_values: list[int], **clara: int
) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """CLARA without shortcuts: for every sample and every k, BUILD and SWAP from scratch and
    the OM distances of every distinct sequence to that k's medoids (kernel called directly,
    medoids in its lanes); the winner's distances are computed once more for the labels."""
    from reports.analysis import sequences_kernels as kernels

    unique, inverse, counts = sq.unique_sequences(seqs)
    weights = counts.astype(float)
    cost = sq._checked_costs(sm, 6)
    rows, lengths = sq.as_sequences(unique, 6)

    def to_medoids(centres: np.ndarray) -> np.ndarray:
        return kernels.om_cross(rows, lengths, rows[centres], lengths[centres], cost, indel)

    rng = np.random.default_rng(clara["seed"])
    best: dict[int, tuple[float, np.ndarray, float]] = {}
    for _ in range(clara["clara_samples"]):
        chosen = np.sort(
            rng.choice(
                len(unique),
                size=clara["clara_sample_size"],
                replace=False,
                p=weights / weights.sum(),
            )
        )
        d = sq.distances(unique[chosen], 6, "OM", sm=sm, indel=indel)
        for k in k_values:
            start = kernels.pam_build(d, weights[chosen], k)
            result = sq.pam(d, k, weights[chosen], initial_medoids=start)
            centres = chosen[result.medoids]
            total = float((to_medoids(centres).min(axis=1) * weights).sum())
            if k not in best or total < best[k][0]:
                best[k] = (total, centres, sq.silhouette(d, result.labels, weights[chosen])[1])
    return {
        k: (to_medoids(centres).argmin(axis=1)[inverse], unique[centres], sample_asw)
        for k, (_total, centres, sample_asw) in best.items()
    }


def test_clara_shortcuts_give_the_straightforward_labels_medoids_and_asw(ref: dict) -> None:
    # Void months at the end of some sequences exercise lanes of different lengths.
    seqs = ref["mvad_sequences"].astype(np.int64).copy()
    seqs[::7, 60:] = -1
    sm, indel = sq.substitution_costs(seqs, 6, "TRATE")
    clara: dict[str, Any] = {"clara_samples": 3, "clara_sample_size": 120, "seed": 7}
    k_values = [2, 3, 4, 5, 6]
    result = sq.typology(seqs, 6, k_values, sm=sm, indel=indel, clara_threshold=100, **clara)
    expected = straightforward_clara(seqs, sm, indel, k_values, **clara)
    assert result.sampled
    for k in k_values:
        labels, medoid_rows, sample_asw = expected[k]
        np.testing.assert_array_equal(result.labels[k], labels)
        np.testing.assert_array_equal(result.medoids[k], medoid_rows)
        assert result.asw[k] == sample_asw


def test_cross_distances_with_few_references_are_bitwise_those_of_the_kernel(ref: dict) -> None:
    from reports.analysis import sequences_kernels as kernels

    seqs = ref["mvad_sequences"].astype(np.int64)[:300].copy()
    seqs[::5, 50:] = -1
    sm, indel = sq.substitution_costs(seqs, 6, "TRATE")
    # Costs computed as 2 − p_ij − p_ji may be symmetric up to rounding only: make them so.
    for i, j in [(0, 1), (2, 4), (3, 5), (1, 4)]:
        sm[i, j] = np.nextafter(sm[i, j], 3.0)
    rows, lengths = sq.as_sequences(seqs, 6)
    refs = [3, 10, 11, 250]
    ours = sq.cross_distances(seqs, seqs[refs], 6, sm=sm, indel=indel)
    cost = sq._checked_costs(sm, 6)
    direct = kernels.om_cross(rows, lengths, rows[refs], lengths[refs], cost, indel)
    assert ours.flags.c_contiguous
    np.testing.assert_array_equal(ours, direct)
    for i, j in [(0, 0), (7, 1), (299, 3)]:
        assert ours[i, j] == pytest.approx(
            om_by_hand(
                list(rows[i][: lengths[i]]), list(rows[refs[j]][: lengths[refs[j]]]), sm, indel
            ),
            abs=1e-12,
        )


def test_build_medoids_for_the_largest_k_serve_every_smaller_k(ref: dict) -> None:
    from reports.analysis import sequences_kernels as kernels

    seqs = ref["mvad_sequences"].astype(np.int64)
    sm, indel = sq.substitution_costs(seqs, 6, "TRATE")
    unique, _inverse, counts = sq.unique_sequences(seqs)
    d = sq.distances(unique, 6, "OM", sm=sm, indel=indel)
    weights = counts.astype(float)
    largest = sq.build_medoids(d, 6, weights)
    for k in range(1, 7):
        np.testing.assert_array_equal(largest[:k], kernels.pam_build(d, weights, k))


def test_cluster_medoids_minimise_the_weighted_distance_sum(ref: dict) -> None:
    seqs = ref["mvad_sequences"].astype(np.int64)
    sm, indel = sq.substitution_costs(seqs, 6, "TRATE")
    unique, _inverse, counts = sq.unique_sequences(seqs)
    d = sq.distances(unique, 6, "OM", sm=sm, indel=indel)
    weights = counts.astype(float)
    labels = sq.cut(sq.ward(d, weights), 5)
    square = squareform(d)
    expected = []
    for c in range(5):
        members = np.flatnonzero(labels == c)
        totals = [sum(square[i, j] * weights[j] for j in members) for i in members]
        expected.append(members[int(np.argmin(totals))])
    np.testing.assert_array_equal(sq.medoids(d, labels, weights), expected)
