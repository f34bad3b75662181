"""Optimal-matching (and related) distances between sequences, computed over the distinct
sequences by the numba kernels (:mod:`reports.analysis.sequences_kernels`)."""

from __future__ import annotations

from typing import Literal, cast

import numpy as np

from reports.analysis import sequences_kernels as kernels
from reports.analysis.sequences.states import as_sequences

DistanceMethod = Literal["OM", "HAM", "LCS", "LCP"]


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
