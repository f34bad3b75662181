"""State sequences described: the state distribution and its entropy, transition rates,
substitution costs, spells, within-sequence entropy and turbulence, time in each state."""

from __future__ import annotations

import math
from typing import Literal, cast

import numpy as np
import pandas as pd
from scipy import stats

CostMethod = Literal["TRATE", "CONSTANT"]


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


def case_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n, np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any():
        raise ValueError("weights must be one non-negative number per sequence")
    return w


def state_distribution(
    sequences: np.ndarray, n_states: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Share of (observed) participants in each state per month: T × S (TraMineR seqstatd)."""
    seqs, _lengths = as_sequences(sequences, n_states)
    w = case_weights(weights, seqs.shape[0])
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
    w = case_weights(weights, seqs.shape[0])
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
    # Deferred: clustered loads statsmodels, which the sequence analysis needs only here, so
    # the sequence kernels and their benchmark import without it. Not an import cycle.
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
