"""Sequence analysis of monthly state sequences (pathways): descriptives, distances, typologies.

Input everywhere: ``sequences``, an integer array n × T of state codes 0..S−1 (S = the size of
the alphabet), one row per participant and one column per month; a negative code marks a void
month after the end of observation (right censoring), so sequences may differ in length.
Missing months inside a sequence are not allowed: the pathway builder codes gaps as a state.

The definitions follow TraMineR (Gabadinho et al. 2011, J Stat Softw 40(4)) and are checked
against the Python package sequenzo, which mirrors it (tests/reports/analysis/data/README.md):
``transition_rates`` = seqtrate, ``substitution_costs`` = seqsubm/seqcost (TRATE, CONSTANT),
``om_distances`` = seqdist(method="OM"), ``within_entropy`` = seqient, ``turbulence`` = seqST
(type 1), ``ward`` = hclust/fastcluster ``ward.D`` (default) or ``ward.D2`` with members,
``pam`` = WeightedCluster wcKMedoids (PAM), ``asw`` = WeightedCluster's weighted ASW.

Identical sequences are computed once: :func:`unique_sequences` gives the distinct rows, their
counts and each participant's row; clustering works on distinct rows weighted by counts, which
gives the same Ward hierarchy, PAM objective and silhouettes as the expanded data. Above
``CLARA_THRESHOLD`` distinct sequences :func:`typology` switches to CLARA-style sampling, so
memory stays O(sample²) and the full distance matrix is never built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
import pandas as pd
from scipy import stats

from reports.analysis import sequences_kernels as kernels
from reports.analysis.text import _, number

CLARA_THRESHOLD = 5000

CostMethod = Literal["TRATE", "CONSTANT"]
DistanceMethod = Literal["OM", "HAM", "LCS", "LCP"]
ClusterMethod = Literal["ward.D", "ward.D2", "pam"]


# --- input --------------------------------------------------------------------------------


def as_sequences(sequences: np.ndarray, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``sequences`` and return them as int32 (void = −1) with their lengths.

    Raises ValueError for codes ≥ ``n_states`` or a state after a void month.
    """
    seqs = np.asarray(sequences)
    if seqs.ndim != 2:
        raise ValueError("sequences must be a 2-D array (participants × months)")
    if not np.issubdtype(seqs.dtype, np.integer):
        raise ValueError("sequences must hold integer state codes")
    if seqs.size and seqs.max() >= n_states:
        raise ValueError(f"state code {int(seqs.max())} is outside the alphabet of {n_states}")
    void = seqs < 0
    lengths = (~void).sum(axis=1)
    if void.any():
        # Valid rows are states, then voids: month t is void exactly when t ≥ the length.
        positions = np.arange(seqs.shape[1])
        if ((positions[None, :] >= lengths[:, None]) != void).any():
            raise ValueError("void months must come after the last observed month")
    out = np.where(void, -1, seqs).astype(np.int32)
    return np.ascontiguousarray(out), lengths.astype(np.int64)


def unique_sequences(sequences: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows, each participant's row index into them, and the count of each row."""
    seqs = np.asarray(sequences)
    unique, inverse, counts = np.unique(seqs, axis=0, return_inverse=True, return_counts=True)
    return np.ascontiguousarray(unique), inverse.reshape(-1).astype(np.int64), counts


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n, np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any():
        raise ValueError("weights must be one non-negative number per sequence")
    return w


# --- descriptives -------------------------------------------------------------------------


def state_distribution(
    sequences: np.ndarray, n_states: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Share of (observed) participants in each state per month: T × S (TraMineR seqstatd)."""
    seqs, _lengths = as_sequences(sequences, n_states)
    w = _weights(weights, seqs.shape[0])
    out = np.zeros((seqs.shape[1], n_states))
    for s in range(n_states):
        out[:, s] = ((seqs == s) * w[:, None]).sum(axis=0)
    totals = out.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, out / totals, np.nan)


def cross_sectional_entropy(distribution: np.ndarray) -> np.ndarray:
    """Entropy of each month's state distribution, normalised by log(S)."""
    p = np.asarray(distribution, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return cast(np.ndarray, terms.sum(axis=1) / math.log(p.shape[1]))


def transition_counts(
    sequences: np.ndarray, n_states: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Weighted number of month-to-month moves from state i (row) to state j (column)."""
    seqs, _lengths = as_sequences(sequences, n_states)
    w = _weights(weights, seqs.shape[0])
    src = seqs[:, :-1]
    dst = seqs[:, 1:]
    ok = (src >= 0) & (dst >= 0)
    rows = np.broadcast_to(w[:, None], src.shape)[ok]
    counts = np.zeros((n_states, n_states))
    np.add.at(counts, (src[ok], dst[ok]), rows)
    return counts


def transition_rates(
    sequences: np.ndarray, n_states: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """p(j | i) = Σ_t n_{i→j}(t, t+1) / Σ_t n_i(t) over t = 1..T−1 (TraMineR seqtrate).

    A state never left (no month followed by another) gets a row of zeros, as in TraMineR.
    """
    counts = transition_counts(sequences, n_states, weights)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.0)


def substitution_costs(
    sequences: np.ndarray,
    n_states: int,
    method: CostMethod = "TRATE",
    *,
    cval: float = 2.0,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Substitution-cost matrix S × S and the default indel cost (TraMineR seqcost).

    TRATE: SC(i, j) = cval − p(i|j) − p(j|i) (cval 2), indel = max(SC)/2 (TraMineR's "auto").
    CONSTANT: SC(i, j) = cval, indel = cval/2 (1 for the usual cval = 2).
    """
    if method == "CONSTANT":
        sm = np.full((n_states, n_states), float(cval))
        np.fill_diagonal(sm, 0.0)
        return sm, cval / 2
    if method != "TRATE":
        raise ValueError(f"unknown substitution-cost method {method!r}")
    p = transition_rates(sequences, n_states, weights)
    sm = cval - p - p.T
    np.fill_diagonal(sm, 0.0)
    return sm, 0.5 * float(sm.max())


def spells(sequence: np.ndarray) -> list[tuple[int, int]]:
    """(state, duration) of each spell of one sequence, void months dropped."""
    observed = [int(s) for s in sequence if s >= 0]
    out: list[tuple[int, int]] = []
    for state in observed:
        if out and out[-1][0] == state:
            out[-1] = (state, out[-1][1] + 1)
        else:
            out.append((state, 1))
    return out


def _distinct_subsequences(dss: list[int]) -> float:
    """φ: the number of distinct subsequences (the empty one included) of a state list."""
    counts = [1.0]
    last: dict[int, int] = {}
    for position, state in enumerate(dss, start=1):
        value = 2 * counts[-1]
        if state in last:
            value -= counts[last[state] - 1]
        last[state] = position
        counts.append(value)
    return counts[-1]


def within_entropy(sequences: np.ndarray, n_states: int) -> np.ndarray:
    """Longitudinal (within-sequence) Shannon entropy of time spent in each state over log(S).

    TraMineR seqient(norm=TRUE): normalised by the alphabet size, not the states observed.
    """
    seqs, lengths = as_sequences(sequences, n_states)
    share = (
        np.stack([(seqs == s).sum(axis=1) for s in range(n_states)], axis=1)
        / np.maximum(lengths, 1)[:, None]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(share > 0, -share * np.log(share), 0.0)
    return cast(np.ndarray, terms.sum(axis=1) / math.log(n_states))


def turbulence(sequences: np.ndarray, n_states: int) -> np.ndarray:
    """Elzinga's turbulence, TraMineR seqST(type=1, norm=FALSE).

    T(x) = log2(φ(x) · (s²_max + 1) / (s² + 1)), φ = number of distinct subsequences of the
    distinct-state sequence, s² = variance of the spell durations (divided by the number of
    spells), s²_max = (number of spells − 1) · (1 − mean spell duration)².
    """
    seqs, _lengths = as_sequences(sequences, n_states)
    out = np.empty(seqs.shape[0])
    for i, row in enumerate(seqs):
        runs = spells(row)
        durations = np.array([d for _state, d in runs], dtype=np.float64)
        phi = _distinct_subsequences([s for s, _days in runs])
        mean = durations.mean()
        variance = float(np.mean((durations - mean) ** 2))
        variance_max = (len(durations) - 1) * (1 - mean) ** 2
        out[i] = math.log2(phi * (variance_max + 1) / (variance + 1))
    return out


def sequence_indicators(
    sequences: np.ndarray,
    alphabet: list[str],
    *,
    work_states: set[int] | frozenset[int] = frozenset(),
    benefit_states: set[int] | frozenset[int] = frozenset(),
) -> pd.DataFrame:
    """One row per participant: length, spells, transitions, entropy, turbulence, complexity,
    months in each state, and the "revolving door" counts.

    ``work_to_benefit`` counts direct moves from a work state into a benefit state;
    ``returns_to_benefit`` counts the work spells that are followed by a benefit spell before
    the next work spell (so work → none → benefit counts as a return); ``work_spells`` and
    ``longest_work_spell`` complete the picture.
    """
    n_states = len(alphabet)
    seqs, lengths = as_sequences(sequences, n_states)
    entropy = within_entropy(seqs, n_states)
    turb = turbulence(seqs, n_states)
    rows = []
    for i, row in enumerate(seqs):
        runs = spells(row)
        returns = 0
        awaiting = False
        direct = 0
        for index, (state, _days) in enumerate(runs):
            if state in work_states:
                awaiting = True
            elif state in benefit_states and awaiting:
                returns += 1
                awaiting = False
            if index and state in benefit_states and runs[index - 1][0] in work_states:
                direct += 1
        work = [d for s, d in runs if s in work_states]
        transitions = len(runs) - 1
        length = int(lengths[i])
        complexity = math.sqrt(transitions / (length - 1) * entropy[i]) if length > 1 else 0.0
        rows.append(
            {
                "length": length,
                "spells": len(runs),
                "transitions": transitions,
                "entropy": float(entropy[i]),
                "turbulence": float(turb[i]),
                "complexity": complexity,
                "work_spells": len(work),
                "longest_work_spell": max(work, default=0),
                "work_to_benefit": direct,
                "returns_to_benefit": returns,
            }
        )
    frame = pd.DataFrame(rows)
    for s, name in enumerate(alphabet):
        frame[f"months_{name}"] = (seqs == s).sum(axis=1)
    return frame


def mean_time_in_state(
    sequences: np.ndarray,
    alphabet: list[str],
    groups: pd.Series | np.ndarray,
    level: float = 0.95,
    clusters: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """Mean months in each state per group with a t-based confidence interval.

    Columns: group, state, n, mean, sd, ci_low, ci_high (TraMineR seqmtplot gives the means).
    Groups in sorted order (the arms' codes come first in their labels). With ``clusters``
    (a cluster trial's sites, one per sequence) the 95% interval is the CR2 cluster-robust one
    with a t(K − 1) reference over the group's K clusters
    (:func:`reports.analysis.clustered.cluster_mean`), none with fewer than two.
    """
    from reports.analysis.clustered import cluster_mean

    n_states = len(alphabet)
    seqs, _lengths = as_sequences(sequences, n_states)
    group_values = np.asarray(groups)
    cluster_values = None if clusters is None else np.asarray(clusters)
    rows = []
    for group in sorted(pd.unique(group_values)):
        members = seqs[group_values == group]
        n = members.shape[0]
        for s, name in enumerate(alphabet):
            months = (members == s).sum(axis=1).astype(np.float64)
            mean = float(months.mean())
            sd = float(months.std(ddof=1)) if n > 1 else math.nan
            half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
            low, high = mean - half, mean + half
            if cluster_values is not None:
                robust = cluster_mean(
                    pd.Series(months), pd.Series(cluster_values[group_values == group])
                )
                low = math.nan if robust.ci_low is None else robust.ci_low
                high = math.nan if robust.ci_high is None else robust.ci_high
            rows.append(
                {
                    "group": group,
                    "state": name,
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)


# --- distances ----------------------------------------------------------------------------


def _checked_costs(sm: np.ndarray, n_states: int) -> np.ndarray:
    cost = np.ascontiguousarray(np.asarray(sm, dtype=np.float64))
    if cost.shape != (n_states, n_states):
        raise ValueError(f"substitution costs must be {n_states} × {n_states}")
    if not np.allclose(cost, cost.T) or (cost < 0).any():
        raise ValueError("substitution costs must be symmetric and non-negative")
    cost = cost.copy()
    np.fill_diagonal(cost, 0.0)
    return cost


def _is_indel_only(sm: np.ndarray, indel: float) -> bool:
    """True if no substitution is cheaper than a deletion plus an insertion."""
    off = sm[~np.eye(sm.shape[0], dtype=bool)]
    return bool(off.size == 0 or (off >= 2 * indel).all())


def distances(
    sequences: np.ndarray,
    n_states: int,
    method: DistanceMethod = "OM",
    *,
    sm: np.ndarray | None = None,
    indel: float | None = None,
) -> np.ndarray:
    """Condensed distance matrix (scipy order) between the rows of ``sequences``.

    OM: optimal matching with substitution costs ``sm`` (default constant 2) and ``indel``
    (default max(sm)/2). When no substitution is cheaper than two indels (constant 2 / indel
    1) OM equals indel · (|x| + |y| − 2·LCS) and is computed bit-parallel. HAM: Hamming with
    ``sm`` (default constant 1), equal lengths only. LCS and LCP: TraMineR's distances
    |x| + |y| − 2·(length of the longest common subsequence / prefix).

    Pass distinct sequences (:func:`unique_sequences`) and expand with :func:`expand`.
    """
    seqs, lengths = as_sequences(sequences, n_states)
    if method in ("LCS", "OM"):
        if method == "OM":
            cost = _checked_costs(sm if sm is not None else _constant(n_states, 2.0), n_states)
            gap = 0.5 * float(cost.max()) if indel is None else float(indel)
            if gap <= 0:
                raise ValueError("indel cost must be positive")
            if not _is_indel_only(cost, gap):
                return cast(np.ndarray, kernels.om_condensed(seqs, lengths, cost, gap))
        else:
            gap = 1.0
        masks = kernels.lcs_masks(seqs, lengths, n_states)
        lcs = kernels.lcs_condensed(seqs, lengths, masks)
        i, j = _pair_lengths(lengths)
        return cast(np.ndarray, gap * (i + j - 2 * lcs).astype(np.float64))
    if method == "HAM":
        if (lengths != seqs.shape[1]).any():
            raise ValueError("Hamming distance needs sequences of equal length")
        cost = _checked_costs(sm if sm is not None else _constant(n_states, 1.0), n_states)
        return cast(np.ndarray, kernels.hamming_condensed(seqs, lengths, cost))
    if method == "LCP":
        return cast(np.ndarray, kernels.lcp_condensed(seqs, lengths))
    raise ValueError(f"unknown distance method {method!r}")


def cross_distances(
    sequences: np.ndarray,
    references: np.ndarray,
    n_states: int,
    *,
    sm: np.ndarray | None = None,
    indel: float | None = None,
) -> np.ndarray:
    """OM distances between every sequence and every reference sequence (n × r)."""
    seqs, lengths = as_sequences(sequences, n_states)
    refs, ref_lengths = as_sequences(references, n_states)
    cost = _checked_costs(sm if sm is not None else _constant(n_states, 2.0), n_states)
    gap = 0.5 * float(cost.max()) if indel is None else float(indel)
    if _is_indel_only(cost, gap):
        masks = kernels.lcs_masks(seqs, lengths, n_states)
        lcs = kernels.lcs_cross(masks, lengths, refs, ref_lengths)
        return cast(
            np.ndarray, gap * (lengths[:, None] + ref_lengths[None, :] - 2 * lcs).astype(np.float64)
        )
    if refs.shape[0] < seqs.shape[0]:
        # The kernel fills its LANES with the second argument: with a few references (medoids)
        # most lanes would idle, so the many sequences go there. OM(x, y; sm) = OM(y, x; smᵀ)
        # to the last bit: the transposed table adds the same numbers.
        flipped = kernels.om_cross(
            refs, ref_lengths, seqs, lengths, np.ascontiguousarray(cost.T), gap
        )
        return np.ascontiguousarray(flipped.T)
    return cast(np.ndarray, kernels.om_cross(seqs, lengths, refs, ref_lengths, cost, gap))


def _constant(n_states: int, value: float) -> np.ndarray:
    sm = np.full((n_states, n_states), value)
    np.fill_diagonal(sm, 0.0)
    return sm


def _pair_lengths(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = lengths.shape[0]
    i, j = np.triu_indices(n, k=1)
    return lengths[i], lengths[j]


def expand(condensed: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Square n × n matrix for all participants from the condensed matrix of distinct rows."""
    from scipy.spatial.distance import squareform

    square = squareform(condensed, checks=False)
    return cast(np.ndarray, square[np.ix_(inverse, inverse)])


# --- clustering ---------------------------------------------------------------------------


def ward(
    condensed: np.ndarray, weights: np.ndarray | None = None, method: str = "ward.D"
) -> np.ndarray:
    """Ward hierarchy as a scipy linkage matrix, items weighted by ``weights`` (counts).

    ``ward.D`` (the default, TraMineR users' ``hclust(method="ward.D")``) applies Ward's
    Lance–Williams update to the OM dissimilarities themselves; ``ward.D2`` applies it to
    their squares and reports square-rooted heights, like scipy's ``linkage(method="ward")``.
    With duplicate counts as weights the hierarchy equals that of the expanded data, where the
    duplicates merge first at height 0: like R's ``hclust(members=)`` the kernel first scales
    each dissimilarity by 2·w_a·w_b/(w_a + w_b), the Ward dissimilarity between two such
    clusters. Column 3 of the result counts distinct items.
    """
    d = np.array(condensed, dtype=np.float64)
    n = round((1 + math.sqrt(1 + 8 * d.size)) / 2)
    if n * (n - 1) // 2 != d.size or n < 2:
        raise ValueError("not a condensed distance matrix of at least 2 items")
    w = _weights(weights, n)
    if method == "ward.D2":
        d = d * d
    elif method != "ward.D":
        raise ValueError(f"unknown Ward variant {method!r}")
    merge_a, merge_b, height = kernels.ward_nn_chain(d, w)
    if method == "ward.D2":
        height = np.sqrt(height)
    # Sort by height; a stable sort keeps each child merge before its parent on ties.
    order = np.argsort(height, kind="stable")
    parent = np.arange(n)
    cluster_id = np.arange(n)
    leaves = np.ones(n, np.int64)

    def find(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    z = np.empty((n - 1, 4))
    for row, step in enumerate(order):
        ra, rb = find(merge_a[step]), find(merge_b[step])
        ids = sorted((cluster_id[ra], cluster_id[rb]))
        z[row] = (ids[0], ids[1], height[step], leaves[ra] + leaves[rb])
        parent[rb] = ra
        leaves[ra] += leaves[rb]
        cluster_id[ra] = n + row
    return z


def cut(linkage: np.ndarray, k: int) -> np.ndarray:
    """Cluster labels 0..k−1 after the first n−k merges, numbered by first appearance."""
    n = linkage.shape[0] + 1
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and {n}")
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    for row in range(n - k):
        a, b = int(linkage[row, 0]), int(linkage[row, 1])
        members[n + row] = members.pop(a) + members.pop(b)
    labels = np.empty(n, np.int64)
    for items in members.values():
        labels[items] = min(items)
    return _renumber(labels)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters 0..k−1 in order of their first item."""
    _values, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)


@dataclass
class PamResult:
    medoids: np.ndarray  # item indices, in cluster order
    labels: np.ndarray  # 0..k−1 per item; cluster c has medoid medoids[c]
    cost: float  # Σ weight · distance to the medoid
    iterations: int


def pam(
    condensed: np.ndarray,
    k: int,
    weights: np.ndarray | None = None,
    *,
    initial_medoids: np.ndarray | None = None,
    max_iter: int = 200,
) -> PamResult:
    """Weighted k-medoids by PAM: BUILD (or ``initial_medoids``, e.g. Ward medoids) then SWAP.

    Each SWAP step takes the single best exchange, as classic PAM and WeightedCluster's
    "PAMonce" do, so the result is PAM's local optimum for these starting medoids.
    """
    d = np.ascontiguousarray(condensed, dtype=np.float64)
    n = round((1 + math.sqrt(1 + 8 * d.size)) / 2)
    w = _weights(weights, n)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and {n - 1}")
    if initial_medoids is None:
        start = build_medoids(d, k, w)
    else:
        start = np.asarray(initial_medoids, dtype=np.int64)
    medoids, near, cost, iterations = kernels.pam_swap(d, w, start, max_iter)
    order = np.argsort(medoids)
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    return PamResult(medoids[order], rank[near], float(cost), int(iterations))


def build_medoids(condensed: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """PAM's BUILD medoids, in the order BUILD picks them.

    BUILD is greedy, so its first j medoids for k are its medoids for j: one call with the
    largest k serves every smaller k (``build_medoids(d, 6)[:k]``).
    """
    d = np.ascontiguousarray(condensed, dtype=np.float64)
    n = round((1 + math.sqrt(1 + 8 * d.size)) / 2)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and {n - 1}")
    return cast(np.ndarray, kernels.pam_build(d, _weights(weights, n), k))


def medoids(
    condensed: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per cluster, the item with the smallest weighted distance sum to its cluster (the first
    such item on ties). Reads the condensed matrix in place: no square copy."""
    lab = np.ascontiguousarray(labels, dtype=np.int64)
    w = _weights(weights, lab.shape[0])
    d = np.ascontiguousarray(condensed, dtype=np.float64)
    return cast(np.ndarray, kernels.cluster_medoids(d, lab, w, int(lab.max()) + 1))


def silhouette(
    condensed: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Per-item silhouette widths and the weighted average silhouette width (ASW)."""
    d = np.ascontiguousarray(condensed, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    w = _weights(weights, lab.shape[0])
    widths = kernels.silhouette(d, lab, w, int(lab.max()) + 1)
    ok = ~np.isnan(widths)
    return widths, float((w[ok] * widths[ok]).sum() / w.sum())


# --- typology -----------------------------------------------------------------------------


@dataclass
class Typology:
    """Pathway types for all participants, for each k tried."""

    k_values: list[int]
    labels: dict[int, np.ndarray]  # per k: 0..k−1 per participant
    medoids: dict[int, np.ndarray]  # per k: the medoid sequences (k × T)
    asw: dict[int, float]
    method: str
    n_distinct: int
    sampled: bool  # True when CLARA sampling was used (ASW then from the best sample)
    notes: list[str] = field(default_factory=list)


def typology(
    sequences: np.ndarray,
    n_states: int,
    k_values: list[int],
    *,
    sm: np.ndarray,
    indel: float,
    method: ClusterMethod = "pam",
    seed: int = 1,
    clara_threshold: int = CLARA_THRESHOLD,
    clara_samples: int = 5,
    clara_sample_size: int = 1500,
) -> Typology:
    """Cluster sequences into pathway types by OM for each k in ``k_values``.

    Distinct sequences are clustered with their counts as weights. ``pam`` starts SWAP from the
    Ward (ward.D) medoids, as TraMineR users do with ``wcKMedoids(initialclust=...)``; ``ward.D``
    and ``ward.D2`` cut the Ward tree. Above ``clara_threshold`` distinct sequences the method
    is PAM on ``clara_samples`` random samples (probability ∝ count) of ``clara_sample_size``
    distinct sequences; every sequence goes to its nearest medoid and the medoids with the
    lowest total cost over all participants win (CLARA, Kaufman & Rousseeuw 1990, ch. 3).
    Per sample, BUILD runs once for the largest k (its first k medoids are those for k) and
    the distances from every distinct sequence to the medoids of all k come from one pass,
    kept for the winner's labels. Memory: one sample's matrix plus distinct × medoids.
    """
    seqs, _lengths = as_sequences(sequences, n_states)
    unique, inverse, counts = unique_sequences(seqs)
    weights = counts.astype(np.float64)
    labels: dict[int, np.ndarray] = {}
    medoid_rows: dict[int, np.ndarray] = {}
    asw: dict[int, float] = {}
    notes: list[str] = []
    if unique.shape[0] <= clara_threshold:
        d = distances(unique, n_states, "OM", sm=sm, indel=indel)
        tree = ward(d, weights, "ward.D2" if method == "ward.D2" else "ward.D")
        for k in k_values:
            ward_labels = cut(tree, k)
            if method == "pam":
                start = medoids(d, ward_labels, weights)
                result = pam(d, k, weights, initial_medoids=start)
                unique_labels, centre = result.labels, result.medoids
            else:
                unique_labels = ward_labels
                centre = medoids(d, ward_labels, weights)
            labels[k] = unique_labels[inverse]
            medoid_rows[k] = unique[centre]
            asw[k] = silhouette(d, unique_labels, weights)[1]
        return Typology(
            list(k_values), labels, medoid_rows, asw, method, unique.shape[0], False, notes
        )

    rng = np.random.default_rng(seed)
    size = min(clara_sample_size, unique.shape[0])
    notes.append(
        _(
            "%(distinct)s distinct sequences: PAM on %(samples)s samples of %(size)s (CLARA); "
            "the average silhouette width is that of the best sample."
        )
        % {
            "distinct": number(int(unique.shape[0])),
            "samples": number(clara_samples),
            "size": number(int(size)),
        }
    )
    # Per k: (total cost over all participants, medoids, the sample's ASW, distinct rows' labels)
    best: dict[int, tuple[float, np.ndarray, float, np.ndarray]] = {}
    for _sample in range(clara_samples):
        chosen = np.sort(
            rng.choice(unique.shape[0], size=size, replace=False, p=weights / weights.sum())
        )
        d = distances(unique[chosen], n_states, "OM", sm=sm, indel=indel)
        start = build_medoids(d, max(k_values), weights[chosen])
        results = {k: pam(d, k, weights[chosen], initial_medoids=start[:k]) for k in k_values}
        # One pass from every distinct sequence to the medoids of all k together.
        centres = {k: chosen[result.medoids] for k, result in results.items()}
        union = np.unique(np.concatenate(list(centres.values())))
        to_union = cross_distances(unique, unique[union], n_states, sm=sm, indel=indel)
        for k, result in results.items():
            to_medoid = to_union[:, np.searchsorted(union, centres[k])]
            total = float((to_medoid.min(axis=1) * weights).sum())
            if k not in best or total < best[k][0]:
                sample_asw = silhouette(d, result.labels, weights[chosen])[1]
                best[k] = (total, centres[k], sample_asw, np.argmin(to_medoid, axis=1))
    for k in k_values:
        _total, centre, sample_asw, unique_labels = best[k]
        labels[k] = unique_labels[inverse]
        medoid_rows[k] = unique[centre]
        asw[k] = sample_asw
    return Typology(list(k_values), labels, medoid_rows, asw, "pam", unique.shape[0], True, notes)


def type_distribution(
    labels: np.ndarray, groups: pd.Series | np.ndarray
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Cross-table of pathway type by group and Pearson's chi-square test of independence.

    Returns the table (counts) and {"chi2", "dof", "p", "min_expected"}; with expected counts
    below 5 the chi-square approximation is doubtful (say so in the report).
    """
    table = pd.crosstab(
        pd.Series(np.asarray(labels) + 1, name="type"), pd.Series(np.asarray(groups), name="group")
    )
    chi2, p, dof, expected = stats.chi2_contingency(table.to_numpy(), correction=False)
    return table, {
        "chi2": float(chi2),
        "dof": int(dof),
        "p": float(p),
        "min_expected": float(expected.min()),
    }
