"""Covariate-constrained randomisation of sites into two arms, as cvcrand's ``cvrall()``: a
pure function like the other designs (``designs``), with its balance score and diagnostics.

Method (Raab & Butcher 2001; Li et al. 2016; Yu, Li, Gallis & Turner, R package cvcrand):

1. *Standardise.* Each site-level covariate x_k is centred on its mean over the n sites and
   divided by its sample SD (ω_k = 1/SD_k, n − 1 denominator as R's ``sd()``), then
   multiplied by the optional weight C_k (default 1). Categorical covariates go in as 0/1
   dummies; cvcrand stratifies by giving a dummy a weight of 1000.
2. *Score.* The balance score of an allocation with n_T sites in the first arm and n_C in
   the second is, as documented in the cvcrand vignette and computed in ``cvrall.R``:

   - ``"l2"`` (default): B = (n_T·n_C/n)² Σ_k C_k² ω_k² (x̄_Tk − x̄_Ck)²
   - ``"l1"``:           B = (n_T·n_C/n)  Σ_k C_k  ω_k  |x̄_Tk − x̄_Ck|

   So a weight enters the l2 score squared. For fixed arm sizes the factor (n_T·n_C/n)
   only rescales B and changes no ranking; it is kept so that scores (and cutoffs) equal
   cvcrand's for the same data.
3. *Candidates.* Arm sizes come from the ratio (or ``arm_sizes`` when n·ratio is not a
   whole number). When C(n, n_T) ≤ ``limit`` every allocation is enumerated; otherwise
   ``limit`` distinct allocations are drawn uniformly without replacement (Floyd's
   algorithm over lexicographic ranks). cvcrand instead draws ``size`` allocations with
   replacement and keeps the unique ones, so it may score fewer.
4. *Constrain.* With the quantile rule (cvcrand ``cutoff``, default 0.1), let
   m = max(1, round(quantile × candidates)) and the cutoff be the m-th smallest score;
   with ``max_score`` the cutoff is that value (it replaces the quantile rule). The
   constrained space is every candidate whose score is ≤ the cutoff. Unlike cvcrand,
   which keeps exactly m candidates in enumeration order, candidates tied with the cutoff
   (within a relative 1e-9) are all kept: in a 1:1 design each allocation and its mirror
   image (arms swapped) have the same score, and keeping both keeps every site's
   probability of either arm at exactly ½ when the space is enumerated (a sampled space
   need not contain mirror images, so there it holds only approximately). The quantile
   count uses Python's ``round`` (half to even), as R's ``round`` in cvcrand.
5. *Choose.* One kept candidate is drawn uniformly (Stream label
   ``cluster|constrained|choice``; sampling uses ``cluster|constrained|candidates``).

Diagnostics, as cvcrand's ``check_validity``: for each pair of sites the proportion of kept
allocations with both in the same arm; pairs always or never together make the
randomisation test invalid (Moulton LH. Covariate-based constrained randomization of
group-randomized trials. *Clin Trials* 2004;1:297–305; Bailey RA, Rowley CA. Valid
randomization. *Proc R Soc A* 1987;410:105–124), pairs at or above ``same_arm_high`` or at
or below ``same_arm_low`` are listed as cvcrand's ``samearmhi``/``samearmlo``.

References: Raab GM, Butcher I. Balance in cluster randomized trials. *Stat Med*
2001;20:351–365. Li F, Lokhnygina Y, Murray DM, Heagerty PJ, DeLong ER. An evaluation of
constrained randomization for the design and analysis of group-randomized trials. *Stat Med*
2016;35:1565–1579. Gallis JA, Li F, Yu H, Turner EL. cvcrand and cptest. *Stata J*
2018;18:357–378. Yu H, Li F, Gallis JA, Turner EL. cvcrand: efficient design and analysis of
cluster randomized trials (R package; ``R/cvrall.R`` and vignette read for this module).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from randomisation.cluster.designs import Covariates, FloatArray, check_two_arms, standardised
from randomisation.engine import ArmWeights, Stream

Metric = Literal["l1", "l2"]

DEFAULT_LIMIT = 50_000
"""Candidate allocations enumerated (or sampled, past this many), as cvcrand's ``size``."""

_TIE_TOLERANCE = 1e-9
"""Relative tolerance under which two balance scores count as equal (see :func:`constrained`)."""


def _arm_sizes(
    n: int, arms: Sequence[tuple[str, int]], arm_sizes: Mapping[str, int] | None
) -> tuple[int, int]:
    (first, w0), (second, w1) = arms
    if arm_sizes is not None:
        if set(arm_sizes) != {first, second}:
            raise ValueError(f"arm sizes must be given for exactly the arms {first} and {second}")
        n0, n1 = arm_sizes[first], arm_sizes[second]
        if n0 + n1 != n:
            raise ValueError(f"arm sizes {n0} + {n1} do not add up to the {n} sites")
    else:
        if (n * w0) % (w0 + w1):
            low = n * w0 // (w0 + w1)
            raise ValueError(
                f"{n} sites cannot be split {w0}:{w1} into whole numbers; give the arm sizes "
                f"explicitly (e.g. {low} and {n - low}, or {low + 1} and {n - low - 1})"
            )
        n0 = n * w0 // (w0 + w1)
        n1 = n - n0
    if n0 < 1 or n1 < 1:
        raise ValueError("each arm needs at least one site")
    return n0, n1


def _scores(indicator: npt.NDArray[np.int8], z: FloatArray, metric: Metric) -> FloatArray:
    """cvcrand's balance score for each row of a 0/1 matrix marking the first arm's sites.

    With ω_k = 1/SD_k, user weight C_k and arm sizes n_T, n_C out of n (Yu et al., vignette):
    l2: B = (n_T·n_C/n)² Σ_k C_k² ω_k² (x̄_Tk − x̄_Ck)²;
    l1: B = (n_T·n_C/n) Σ_k C_k ω_k |x̄_Tk − x̄_Ck|.
    ``z`` already holds C_k·ω_k·(x − x̄). cvcrand computes the same number as the squared (or
    absolute) sum of the first arm's z-scores, which equals (n_T·n_C/n)(z̄_T − z̄_C).
    """
    n = indicator.shape[1]
    n0 = int(indicator[0].sum())
    n1 = n - n0
    ind = indicator.astype(np.float64)
    difference = ind @ z / n0 - (1.0 - ind) @ z / n1
    factor = n0 * n1 / n
    if metric == "l2":
        return np.asarray(factor**2 * (difference**2).sum(axis=1), dtype=np.float64)
    return np.asarray(factor * np.abs(difference).sum(axis=1), dtype=np.float64)


def _check_metric(metric: str) -> Metric:
    if metric not in ("l1", "l2"):
        raise ValueError(f"balance metric must be 'l1' or 'l2', not {metric!r}")
    return metric  # type: ignore[return-value]  # checked to be a Metric above


def balance_score(
    covariates: Covariates,
    allocation: Mapping[str, str],
    arms: ArmWeights,
    *,
    weights: Mapping[str, float] | None = None,
    metric: Metric = "l2",
) -> float:
    """cvcrand's balance score B of one allocation (site code -> arm code) of two arms.

    The definition and its sources are in this module's docstring. Standardisation uses all sites
    in ``covariates``; every one of them must be allocated. Raises ``ValueError`` as
    :func:`constrained` does, or when a site is missing or an arm is empty.
    """
    checked = check_two_arms(arms, "a balance score")
    metric = _check_metric(metric)
    codes, _, _, z, _ = standardised(covariates, weights)
    if set(allocation) != set(codes):
        raise ValueError("the allocation must cover exactly the sites with covariates")
    first = checked[0][0]
    unknown = set(allocation.values()) - {code for code, _ in checked}
    if unknown:
        raise ValueError(f"unknown arms in the allocation: {', '.join(sorted(unknown))}")
    row = np.array([[1 if allocation[code] == first else 0 for code in codes]], dtype=np.int8)
    if row.sum() in (0, len(codes)):
        raise ValueError("each arm needs at least one site")
    return float(_scores(row, z, metric)[0])


def _binomials(n: int) -> list[list[int]]:
    table = [[0] * (n + 1) for _ in range(n + 1)]
    for a in range(n + 1):
        table[a][0] = 1
        for b in range(1, a + 1):
            table[a][b] = table[a - 1][b - 1] + table[a - 1][b]
    return table


def _unrank(ranks: Sequence[int], n: int, k: int) -> npt.NDArray[np.int8]:
    """0/1 rows marking the ``rank``-th k-subset of range(n) in lexicographic order.

    The combinatorial number system, one site position at a time: position x is in the subset
    iff the remaining rank is below C(n − x − 1, still-needed − 1), the number of subsets that
    include it; otherwise those are skipped. Vectorised over the ranks with int64 when
    C(n, k) fits, else with Python integers.
    """
    table = _binomials(n)
    rows = np.zeros((len(ranks), n), dtype=np.int8)
    if table[n][k] < 2**62:
        lookup = np.array(table, dtype=np.int64)
        remaining = np.array(ranks, dtype=np.int64)
        needed = np.full(len(ranks), k, dtype=np.int64)
        for x in range(n):
            with_x = lookup[n - x - 1, np.maximum(needed - 1, 0)]
            take = (needed > 0) & (remaining < with_x)
            rows[take, x] = 1
            skip = (needed > 0) & ~take
            remaining = np.where(skip, remaining - with_x, remaining)
            needed = needed - take
        return rows
    for row, rank in enumerate(ranks):
        left = k
        for x in range(n):
            if left == 0:
                break
            count = table[n - x - 1][left - 1]
            if rank < count:
                rows[row, x] = 1
                left -= 1
            else:
                rank -= count
    return rows


def _sample_ranks(stream: Stream, total: int, m: int) -> list[int]:
    """``m`` distinct integers drawn uniformly from range(total) (Floyd's algorithm), sorted."""
    chosen: set[int] = set()
    for j in range(total - m, total):
        t = stream.randbelow(j + 1)
        chosen.add(j if t in chosen else t)
    return sorted(chosen)


@dataclass(frozen=True, eq=False)
class ConstrainedResult:
    allocation: dict[str, str]
    """Site code -> arm code of the chosen allocation."""
    score: float
    """Balance score B of the chosen allocation."""
    metric: Metric
    method: Literal["enumerated", "sampled"]
    """All allocations with the right arm sizes were scored, or a random sample of them."""
    n_possible: int
    """Number of allocations with the right arm sizes: C(n, n_first)."""
    n_candidates: int
    """Allocations scored (all of them when enumerated, else ``limit`` distinct ones)."""
    n_kept: int
    """Size of the constrained space the allocation was drawn from."""
    cutoff: float
    """The largest score allowed into the constrained space."""
    quantile: float | None
    """The quantile rule used, or None when an absolute ``max_score`` was given."""
    arm_sizes: dict[str, int]
    sites: list[str]
    """Site codes in sorted order: the columns of ``indicator``."""
    indicator: npt.NDArray[np.int8] = field(repr=False)
    """One row per candidate allocation, 1 where the site is in the first arm. Candidates are in
    lexicographic order of the first arm's site positions (enumeration order)."""
    scores: list[float] = field(repr=False)
    """Balance score of each candidate, same order."""
    kept: list[int] = field(repr=False)
    """Indices into ``candidates`` of the constrained space (needed later for a permutation
    test over the constrained space, as cvcrand's saved ``savedata`` file)."""
    chosen: int
    """Index into ``candidates`` of the chosen allocation."""
    arm_means: dict[str, dict[str, float]]
    """Arm code -> covariate -> mean over the arm's sites in the chosen allocation."""
    smd: dict[str, float]
    """Covariate -> standardised mean difference of the chosen allocation: (mean in the second
    arm − mean in the first arm) / sample SD over all sites."""
    same_arm: dict[tuple[str, str], float] = field(repr=False)
    """(site a, site b), a < b -> proportion of kept allocations with both in the same arm."""
    same_arm_min: float
    same_arm_max: float
    always_together: list[tuple[str, str]]
    """Pairs in the same arm in every kept allocation."""
    never_together: list[tuple[str, str]]
    """Pairs in different arms in every kept allocation."""
    often_together: list[tuple[str, str]]
    """Pairs together in at least ``same_arm_high`` of the kept allocations."""
    rarely_together: list[tuple[str, str]]
    """Pairs together in at most ``same_arm_low`` of the kept allocations."""

    def candidate(self, index: int) -> tuple[str, ...]:
        """The codes of the sites in the first arm in candidate ``index``."""
        return tuple(
            code for code, flag in zip(self.sites, self.indicator[index], strict=True) if flag
        )

    def allocation_of(self, index: int) -> dict[str, str]:
        """Candidate ``index`` as site code -> arm code (e.g. for a permutation test)."""
        first, second = self.arm_sizes
        return {
            code: first if flag else second
            for code, flag in zip(self.sites, self.indicator[index], strict=True)
        }

    @property
    def has_fixed_pairs(self) -> bool:
        """True when some pair of sites is always, or never, in the same arm.

        Then the constrained space is too small for a valid randomisation (permutation) test:
        two sites always together (or always apart) behave as one unit, and the design no
        longer randomises them independently (cvcrand ``check_validity``; Moulton 2004).
        """
        return bool(self.always_together or self.never_together)


def constrained(
    seed: bytes,
    covariates: Covariates,
    arms: ArmWeights,
    *,
    weights: Mapping[str, float] | None = None,
    metric: Metric = "l2",
    quantile: float = 0.1,
    max_score: float | None = None,
    limit: int = DEFAULT_LIMIT,
    arm_sizes: Mapping[str, int] | None = None,
    same_arm_high: float = 0.75,
    same_arm_low: float = 0.25,
) -> ConstrainedResult:
    """Covariate-constrained randomisation of sites into two arms, as cvcrand's ``cvrall()``:
    standardise, score the candidate allocations, keep the best balanced and draw one of them
    (the method, step by step, and its sources are in this module's docstring).

    Raises ``ValueError`` for other than two arms, arm sizes that are not whole numbers, a
    quantile outside (0, 1], a limit below 1, a ``max_score`` that no candidate meets, or the
    covariate problems listed in :func:`~randomisation.cluster.designs.match_pairs`.
    """
    checked = check_two_arms(arms, "constrained randomisation")
    metric = _check_metric(metric)
    if not 0 < quantile <= 1:
        raise ValueError("the cutoff quantile must be above 0 and at most 1")
    if limit < 1:
        raise ValueError("the candidate limit must be at least 1")
    if not 0 <= same_arm_low <= same_arm_high <= 1:
        raise ValueError("same-arm thresholds must satisfy 0 ≤ low ≤ high ≤ 1")
    codes, names, values, z, sd = standardised(covariates, weights)
    n = len(codes)
    n0, n1 = _arm_sizes(n, checked, arm_sizes)
    first, second = checked[0][0], checked[1][0]

    n_possible = math.comb(n, n0)
    method, indicator = _candidates(seed, n, n0, limit)
    scores = _scores(indicator, z, metric)
    cutoff, used_quantile, kept = _constrain(scores, quantile, max_score)
    chosen = kept[Stream(seed, "cluster|constrained|choice").randbelow(len(kept))]

    allocation = {code: first if indicator[chosen, i] else second for i, code in enumerate(codes)}
    arm_means, smd = _balance(values, sd, names, indicator[chosen].astype(bool), first, second)
    pairs = _pairs(indicator[kept], codes, same_arm_high, same_arm_low)
    shares = list(pairs.same_arm.values())

    return ConstrainedResult(
        allocation=allocation,
        score=float(scores[chosen]),
        metric=metric,
        method=method,
        n_possible=n_possible,
        n_candidates=len(indicator),
        n_kept=len(kept),
        cutoff=cutoff,
        quantile=used_quantile,
        arm_sizes={first: n0, second: n1},
        sites=codes,
        indicator=indicator,
        scores=[float(s) for s in scores],
        kept=kept,
        chosen=chosen,
        arm_means=arm_means,
        smd=smd,
        same_arm=pairs.same_arm,
        same_arm_min=min(shares),
        same_arm_max=max(shares),
        always_together=pairs.always,
        never_together=pairs.never,
        often_together=pairs.often,
        rarely_together=pairs.rarely,
    )


def _candidates(
    seed: bytes, n: int, n0: int, limit: int
) -> tuple[Literal["enumerated", "sampled"], npt.NDArray[np.int8]]:
    """Every allocation of ``n0`` of the ``n`` sites to the first arm when there are at most
    ``limit``, else ``limit`` distinct ones drawn uniformly; as 0/1 rows (step 3)."""
    n_possible = math.comb(n, n0)
    method: Literal["enumerated", "sampled"]
    if n_possible <= limit:
        method = "enumerated"
        ranks: Sequence[int] = range(n_possible)
    else:
        method = "sampled"
        ranks = _sample_ranks(Stream(seed, "cluster|constrained|candidates"), n_possible, limit)
    return method, _unrank(ranks, n, n0)


def _constrain(
    scores: FloatArray, quantile: float, max_score: float | None
) -> tuple[float, float | None, list[int]]:
    """The cutoff, the quantile used (None for an absolute ``max_score``), and the candidates
    kept: every one scoring at most the cutoff, ties with it included (step 4)."""
    if max_score is not None:
        cutoff = float(max_score)
        used_quantile = None
    else:
        m = max(1, round(quantile * len(scores)))
        cutoff = float(np.partition(scores, m - 1)[m - 1])
        used_quantile = quantile
    tolerance = _TIE_TOLERANCE * max(1.0, abs(cutoff))
    kept = [int(i) for i in np.flatnonzero(scores <= cutoff + tolerance)]
    if not kept:
        raise ValueError(
            f"no candidate allocation has a balance score ≤ {cutoff:g} "
            f"(the smallest is {float(scores.min()):g})"
        )
    return cutoff, used_quantile, kept


def _balance(
    values: FloatArray,
    sd: FloatArray,
    names: list[str],
    in_first: npt.NDArray[np.bool_],
    first: str,
    second: str,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each arm's covariate means in the chosen allocation, and the standardised mean
    differences (second arm − first arm) / sample SD."""
    arm_means = {
        first: {
            name: float(v) for name, v in zip(names, values[in_first].mean(axis=0), strict=True)
        },
        second: {
            name: float(v) for name, v in zip(names, values[~in_first].mean(axis=0), strict=True)
        },
    }
    smd = {
        name: (arm_means[second][name] - arm_means[first][name]) / float(s)
        for name, s in zip(names, sd, strict=True)
    }
    return arm_means, smd


class _Pairs(NamedTuple):
    same_arm: dict[tuple[str, str], float]
    always: list[tuple[str, str]]
    never: list[tuple[str, str]]
    often: list[tuple[str, str]]
    rarely: list[tuple[str, str]]


def _pairs(kept_rows: npt.NDArray[np.int8], codes: list[str], high: float, low: float) -> _Pairs:
    """For each pair of sites, the share of the kept allocations with both in the same arm,
    and the pairs always, never, often (≥ ``high``) and rarely (≤ ``low``) together."""
    space = kept_rows.astype(np.int64)
    together = space.T @ space + (1 - space).T @ (1 - space)
    pairs = _Pairs({}, [], [], [], [])
    for i, j in combinations(range(len(codes)), 2):
        pair = (codes[i], codes[j])
        count = int(together[i, j])
        share = count / len(kept_rows)
        pairs.same_arm[pair] = share
        if count == len(kept_rows):
            pairs.always.append(pair)
        if count == 0:
            pairs.never.append(pair)
        if share >= high:
            pairs.often.append(pair)
        if share <= low:
            pairs.rarely.append(pair)
    return pairs
