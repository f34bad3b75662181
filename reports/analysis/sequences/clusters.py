"""Typologies of sequences: Ward clustering and PAM/CLARA on the distances, medoids, silhouette
widths and the distribution of types by group."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
import pandas as pd
from scipy import stats

from reports.analysis import sequences_kernels as kernels
from reports.analysis.sequences.distances import cross_distances, distances
from reports.analysis.sequences.states import as_sequences, case_weights, unique_sequences
from reports.analysis.text import _, number

CLARA_THRESHOLD = 5000


ClusterMethod = Literal["ward.D", "ward.D2", "pam"]


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
    w = case_weights(weights, n)
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
    w = case_weights(weights, n)
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
    return cast(np.ndarray, kernels.pam_build(d, case_weights(weights, n), k))


def medoids(
    condensed: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per cluster, the item with the smallest weighted distance sum to its cluster (the first
    such item on ties). Reads the condensed matrix in place: no square copy."""
    lab = np.ascontiguousarray(labels, dtype=np.int64)
    w = case_weights(weights, lab.shape[0])
    d = np.ascontiguousarray(condensed, dtype=np.float64)
    return cast(np.ndarray, kernels.cluster_medoids(d, lab, w, int(lab.max()) + 1))


def silhouette(
    condensed: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Per-item silhouette widths and the weighted average silhouette width (ASW)."""
    d = np.ascontiguousarray(condensed, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    w = case_weights(weights, lab.shape[0])
    widths = kernels.silhouette(d, lab, w, int(lab.max()) + 1)
    ok = ~np.isnan(widths)
    return widths, float((w[ok] * widths[ok]).sum() / w.sum())


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
    if unique.shape[0] <= clara_threshold:
        return _pam_typology(unique, inverse, weights, n_states, k_values, sm, indel, method)
    return _clara_typology(
        unique,
        inverse,
        weights,
        n_states,
        k_values,
        sm,
        indel,
        seed=seed,
        clara_samples=clara_samples,
        clara_sample_size=clara_sample_size,
    )


def _pam_typology(
    unique: np.ndarray,
    inverse: np.ndarray,
    weights: np.ndarray,
    n_states: int,
    k_values: list[int],
    sm: np.ndarray,
    indel: float,
    method: ClusterMethod,
) -> Typology:
    """The typology of all the distinct sequences at once (see :func:`typology`)."""
    labels: dict[int, np.ndarray] = {}
    medoid_rows: dict[int, np.ndarray] = {}
    asw: dict[int, float] = {}
    notes: list[str] = []
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
    return Typology(list(k_values), labels, medoid_rows, asw, method, unique.shape[0], False, notes)


def _clara_typology(
    unique: np.ndarray,
    inverse: np.ndarray,
    weights: np.ndarray,
    n_states: int,
    k_values: list[int],
    sm: np.ndarray,
    indel: float,
    *,
    seed: int,
    clara_samples: int,
    clara_sample_size: int,
) -> Typology:
    """The typology by PAM on random samples of the distinct sequences (CLARA; see
    :func:`typology`)."""
    labels: dict[int, np.ndarray] = {}
    medoid_rows: dict[int, np.ndarray] = {}
    asw: dict[int, float] = {}
    notes: list[str] = []
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
