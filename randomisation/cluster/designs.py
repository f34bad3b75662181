"""Cluster (site-level) randomisation as pure functions: no ORM, no request, no clock.

In complex-intervention trials whole NAV offices are randomised, to limit contamination between
arms; participants then take their site's arm. Four designs are offered:

* :func:`stratified`: a random permutation of the arms within each stratum of sites;
* :func:`pair_matched` (with :func:`match_pairs` to form the pairs): one site of each pair to
  each arm;
* :func:`constrained`: covariate-constrained randomisation as in the R package cvcrand;
* :func:`stepped_wedge`: the step at which each site crosses over to the intervention.

Every random choice comes from :class:`randomisation.engine.Stream`, keyed by the scheme's secret
seed and labelled ``cluster|<design>|...``, so a design is recomputed exactly from its seed and
its inputs. Inputs are put in a canonical order (sorted by site code and stratum label) before
any draw, so the order in which the caller lists the sites does not change the result.

Arm codes and weights come as :data:`randomisation.engine.ArmWeights`, ``[(code, weight), ...]``.
Errors are plain ``ValueError`` with an English message naming the problem; forms should check
shape first and show their own translated text.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import numpy as np
import numpy.typing as npt

from randomisation.engine import ArmWeights, Stream

Covariates = Mapping[str, Mapping[str, float]]
"""Site code -> {covariate name: value}, e.g. {"OSLO1": {"size": 40, "unemployment": 3.1}}."""

Metric = Literal["l1", "l2"]

DEFAULT_LIMIT = 50_000
"""Candidate allocations enumerated (or sampled, past this many), as cvcrand's ``size``."""

_TIE_TOLERANCE = 1e-9
"""Relative tolerance under which two balance scores count as equal (see :func:`constrained`)."""

FloatArray = npt.NDArray[np.float64]


# --- validation helpers ------------------------------------------------------------------------


def _check_arms(arms: ArmWeights) -> list[tuple[str, int]]:
    checked = list(arms)
    if len(checked) < 2:
        raise ValueError("at least two arms are needed")
    codes = [code for code, _ in checked]
    if len(set(codes)) != len(codes):
        raise ValueError("arm codes must be distinct")
    for code, weight in checked:
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            raise ValueError(f"arm {code}: the allocation weight must be a whole number ≥ 1")
    return checked


def _check_two_arms(arms: ArmWeights, design: str) -> list[tuple[str, int]]:
    checked = _check_arms(arms)
    if len(checked) != 2:
        raise ValueError(f"{design} needs exactly two arms, not {len(checked)}")
    return checked


def _reduced(arms: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    divisor = math.gcd(*(weight for _, weight in arms))
    return [(code, weight // divisor) for code, weight in arms]


def _check_codes(codes: Sequence[str]) -> list[str]:
    counts = Counter(codes)
    repeated = sorted(code for code, count in counts.items() if count > 1)
    if repeated:
        raise ValueError(f"site codes appear more than once: {', '.join(repeated)}")
    return sorted(codes)


def _standardised(
    covariates: Covariates, weights: Mapping[str, float] | None
) -> tuple[list[str], list[str], FloatArray, FloatArray, FloatArray]:
    """Site codes, covariate names, raw values, weighted z-scores and sample SDs.

    Each covariate is centred on its mean over all sites and divided by its sample standard
    deviation (n − 1 denominator, like R's ``sd()`` that cvcrand uses); the weight multiplies
    the z-score.
    """
    codes = sorted(covariates)
    if len(codes) < 2:
        raise ValueError("at least two sites are needed")
    names = sorted(covariates[codes[0]])
    if not names:
        raise ValueError("at least one covariate is needed")
    for code in codes:
        if sorted(covariates[code]) != names:
            raise ValueError(
                f"site {code} has covariates {sorted(covariates[code])}, expected {names}"
            )
    values = np.array(
        [[float(covariates[code][name]) for name in names] for code in codes], dtype=np.float64
    )
    if not np.isfinite(values).all():
        raise ValueError("covariate values must be finite numbers")
    sd = values.std(axis=0, ddof=1)
    constant = [name for name, s in zip(names, sd, strict=True) if s == 0]
    if constant:
        raise ValueError(
            f"covariates with the same value at every site cannot be balanced: "
            f"{', '.join(constant)}"
        )
    weight_of = dict(weights or {})
    unknown = sorted(set(weight_of) - set(names))
    if unknown:
        raise ValueError(f"weights given for unknown covariates: {', '.join(unknown)}")
    w = np.array([float(weight_of.get(name, 1.0)) for name in names], dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise ValueError("covariate weights must be ≥ 0 and at least one must be positive")
    z = (values - values.mean(axis=0)) / sd * w
    return codes, names, values, z, sd


# --- 1. stratified -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StratifiedResult:
    allocation: dict[str, str]
    """Site code -> arm code."""
    counts: dict[str, dict[str, int]]
    """Stratum -> arm code -> number of sites."""
    leftover: dict[str, int]
    """Stratum -> sites beyond whole multiples of the ratio (their arms drawn by the ratio)."""


def stratified(seed: bytes, strata: Mapping[str, str], arms: ArmWeights) -> StratifiedResult:
    """Stratified cluster randomisation: a random permutation of the arms within each stratum.

    ``strata`` maps each site code to its stratum label (use one label for an unstratified
    design). Within a stratum of *m* sites and an arm ratio that reduces to *u* = sum of the
    reduced weights, the first ``u·⌊m/u⌋`` arm labels are the arms in exact ratio; the
    ``m mod u`` leftover labels are the first ones of one further shuffled ratio block, i.e.
    drawn by the ratio without replacement. The labels are then shuffled and given to the sites
    in code order. So every stratum is as balanced as its size allows (each arm within one
    ratio block of its target) and every site has exactly the nominal probability
    weight/total of each arm.

    Stream label: ``cluster|stratified|<stratum>``, so each stratum depends only on the seed and
    its own sites. Raises ``ValueError`` for invalid arms or repeated site codes.

    Reference: Donner A, Klar N. *Design and Analysis of Cluster Randomization Trials in Health
    Research*. London: Arnold; 2000, ch. 3 (stratified designs); Hayes RJ, Moulton LH. *Cluster
    Randomised Trials*, 2nd ed. CRC Press; 2017, §6.3.
    """
    checked = _check_arms(arms)
    codes = _check_codes(list(strata))
    if not codes:
        raise ValueError("at least one site is needed")
    reduced = _reduced(checked)
    unit = sum(weight for _, weight in reduced)
    members: dict[str, list[str]] = defaultdict(list)
    for code in codes:
        members[str(strata[code])].append(code)

    allocation: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    leftover: dict[str, int] = {}
    for label in sorted(members):
        sites = members[label]
        stream = Stream(seed, f"cluster|stratified|{label}")
        whole, rest = divmod(len(sites), unit)
        labels = [code for code, weight in reduced for _ in range(weight * whole)]
        if rest:
            extra = [code for code, weight in reduced for _ in range(weight)]
            stream.shuffle(extra)
            labels += extra[:rest]
        stream.shuffle(labels)
        allocation.update(zip(sites, labels, strict=True))
        tally = Counter(labels)
        counts[label] = {code: tally[code] for code, _ in checked}
        leftover[label] = rest
    return StratifiedResult(allocation, counts, leftover)


# --- 2. pair-matched ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    pairs: list[tuple[str, str]]
    """Matched pairs in the order they were formed (closest first), each (smaller, larger) code."""
    distances: list[float]
    """Weighted Euclidean distance between the members of each pair, in standardised units."""
    leftover: str | None
    """The site left unmatched when the number of sites is odd."""


def match_pairs(covariates: Covariates, *, weights: Mapping[str, float] | None = None) -> Pairing:
    """Form pairs of similar sites by greedy matching on standardised covariates. No randomness.

    Algorithm: each covariate is standardised over all sites (mean 0, sample SD 1) and
    multiplied by its weight (default 1); the distance between two sites is the Euclidean
    distance between their weighted z-score vectors. All site pairs are sorted by distance
    (ties by the codes) and taken in that order whenever neither site is matched yet, so the
    closest remaining pair is always matched next. With an odd number of sites one site is
    left over: typically the one least like any other.

    Greedy matching is simple and transparent but not optimal: it minimises each next distance,
    not the total. Optimal non-bipartite matching (Lu B, Greevy R, Xu X, Beck C. Optimal
    nonbipartite matching and its statistical applications. *Am Stat* 2011;65:21–30; R package
    nbpMatching) can give a smaller sum of distances. Matching on covariates correlated with
    the outcome is what makes pair matching pay off: Imai K, King G, Nall C. The essential role
    of pair matching in cluster-randomized experiments. *Stat Sci* 2009;24:29–53.

    Raises ``ValueError`` for fewer than two sites, unequal covariate sets, non-finite values,
    constant covariates or invalid weights.
    """
    codes, _, _, z, _ = _standardised(covariates, weights)
    candidates = []
    for i, j in combinations(range(len(codes)), 2):
        distance = math.sqrt(float(((z[i] - z[j]) ** 2).sum()))
        candidates.append((round(distance, 12), codes[i], codes[j]))
    candidates.sort()
    matched: set[str] = set()
    pairs: list[tuple[str, str]] = []
    distances: list[float] = []
    for distance, a, b in candidates:
        if a in matched or b in matched:
            continue
        matched.update((a, b))
        pairs.append((a, b))
        distances.append(distance)
    unmatched = [code for code in codes if code not in matched]
    return Pairing(pairs, distances, unmatched[0] if unmatched else None)


@dataclass(frozen=True)
class PairMatchedResult:
    allocation: dict[str, str]
    """Site code -> arm code."""
    pairs: list[tuple[str, str]]
    """The pairs, each as (smaller code, larger code), sorted."""
    leftover: str | None
    """An unpaired site, if any; it was randomised on its own by the allocation ratio (a fair
    coin for 1:1), so the arms may differ by one site."""
    leftover_arm: str | None


def pair_matched(
    seed: bytes,
    pairs: Sequence[tuple[str, str]],
    arms: ArmWeights,
    *,
    leftover: str | None = None,
) -> PairMatchedResult:
    """Pair-matched cluster randomisation: within each pair one site to each of the two arms.

    ``pairs`` are given by the trial team or formed by :func:`match_pairs`; ``leftover`` is an
    unpaired site (odd number of sites), which is randomised by the ratio on its own and
    reported as such. Needs exactly two arms in a 1:1 ratio (a pair cannot honour any other
    ratio). For each pair (members in code order) one draw decides which member takes the
    first arm; the other takes the second.

    Stream labels: ``cluster|pair|<a>|<b>`` for each pair and ``cluster|pair-leftover|<code>``,
    so each pair's draw depends only on the seed and that pair.

    Raises ``ValueError`` for other than two equally weighted arms, a pair of one site with
    itself, or a site that appears twice.

    Reference: Hayes RJ, Moulton LH. *Cluster Randomised Trials*, 2nd ed. CRC Press; 2017,
    §6.2 (pair matching); Imai K, King G, Nall C. *Stat Sci* 2009;24:29–53.
    """
    checked = _check_two_arms(arms, "pair matching")
    if checked[0][1] != checked[1][1]:
        raise ValueError("pair matching needs two arms in a 1:1 ratio")
    canonical = []
    for a, b in pairs:
        if a == b:
            raise ValueError(f"site {a} cannot be paired with itself")
        canonical.append((min(a, b), max(a, b)))
    canonical.sort()
    everyone = [code for pair in canonical for code in pair]
    if leftover is not None:
        everyone.append(leftover)
    _check_codes(everyone)
    if not everyone:
        raise ValueError("at least one site is needed")

    first, second = checked[0][0], checked[1][0]
    allocation: dict[str, str] = {}
    for a, b in canonical:
        if Stream(seed, f"cluster|pair|{a}|{b}").randbelow(2) == 0:
            allocation[a], allocation[b] = first, second
        else:
            allocation[a], allocation[b] = second, first
    leftover_arm = None
    if leftover is not None:
        leftover_arm = Stream(seed, f"cluster|pair-leftover|{leftover}").weighted(checked)
        allocation[leftover] = leftover_arm
    return PairMatchedResult(allocation, canonical, leftover, leftover_arm)


# --- 3. covariate-constrained --------------------------------------------------------------------


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

    The definition and its sources are in :func:`constrained`. Standardisation uses all sites
    in ``covariates``; every one of them must be allocated. Raises ``ValueError`` as
    :func:`constrained` does, or when a site is missing or an arm is empty.
    """
    checked = _check_two_arms(arms, "a balance score")
    metric = _check_metric(metric)
    codes, _, _, z, _ = _standardised(covariates, weights)
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
    """Covariate-constrained randomisation of sites into two arms, as cvcrand's ``cvrall()``.

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

    Raises ``ValueError`` for other than two arms, arm sizes that are not whole numbers, a
    quantile outside (0, 1], a limit below 1, a ``max_score`` that no candidate meets, or the
    covariate problems listed in :func:`match_pairs`.
    """
    checked = _check_two_arms(arms, "constrained randomisation")
    metric = _check_metric(metric)
    if not 0 < quantile <= 1:
        raise ValueError("the cutoff quantile must be above 0 and at most 1")
    if limit < 1:
        raise ValueError("the candidate limit must be at least 1")
    if not 0 <= same_arm_low <= same_arm_high <= 1:
        raise ValueError("same-arm thresholds must satisfy 0 ≤ low ≤ high ≤ 1")
    codes, names, values, z, sd = _standardised(covariates, weights)
    n = len(codes)
    n0, n1 = _arm_sizes(n, checked, arm_sizes)
    first, second = checked[0][0], checked[1][0]

    n_possible = math.comb(n, n0)
    method: Literal["enumerated", "sampled"]
    if n_possible <= limit:
        method = "enumerated"
        ranks: Sequence[int] = range(n_possible)
    else:
        method = "sampled"
        ranks = _sample_ranks(Stream(seed, "cluster|constrained|candidates"), n_possible, limit)
    indicator = _unrank(ranks, n, n0)
    scores = _scores(indicator, z, metric)

    if max_score is not None:
        cutoff = float(max_score)
        used_quantile = None
    else:
        m = max(1, round(quantile * len(indicator)))
        cutoff = float(np.partition(scores, m - 1)[m - 1])
        used_quantile = quantile
    tolerance = _TIE_TOLERANCE * max(1.0, abs(cutoff))
    kept = [int(i) for i in np.flatnonzero(scores <= cutoff + tolerance)]
    if not kept:
        raise ValueError(
            f"no candidate allocation has a balance score ≤ {cutoff:g} "
            f"(the smallest is {float(scores.min()):g})"
        )
    chosen = kept[Stream(seed, "cluster|constrained|choice").randbelow(len(kept))]

    allocation = {code: first if indicator[chosen, i] else second for i, code in enumerate(codes)}
    in_first = indicator[chosen].astype(bool)
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

    space = indicator[kept].astype(np.int64)
    together = space.T @ space + (1 - space).T @ (1 - space)
    same_arm: dict[tuple[str, str], float] = {}
    always, never, often, rarely = [], [], [], []
    for i, j in combinations(range(n), 2):
        pair = (codes[i], codes[j])
        count = int(together[i, j])
        share = count / len(kept)
        same_arm[pair] = share
        if count == len(kept):
            always.append(pair)
        if count == 0:
            never.append(pair)
        if share >= same_arm_high:
            often.append(pair)
        if share <= same_arm_low:
            rarely.append(pair)
    shares = list(same_arm.values())

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
        same_arm=same_arm,
        same_arm_min=min(shares),
        same_arm_max=max(shares),
        always_together=always,
        never_together=never,
        often_together=often,
        rarely_together=rarely,
    )


# --- 4. stepped wedge --------------------------------------------------------------------------


@dataclass(frozen=True)
class SteppedWedgeResult:
    step: dict[str, int]
    """Site code -> the step (1..n_steps) at which it crosses from control to intervention."""
    counts: dict[int, int]
    """Step -> number of sites crossing over then."""
    stratum_counts: dict[str, dict[int, int]]
    """Stratum -> step -> number of its sites (one stratum ``all`` when unstratified)."""


def stepped_wedge(
    seed: bytes,
    units: Sequence[str],
    n_steps: int,
    *,
    strata: Mapping[str, str] | None = None,
) -> SteppedWedgeResult:
    """Stepped-wedge schedule: the step at which each site crosses over to the intervention.

    Every site starts in control and crosses over at its step; the order is random and the
    numbers per step are as equal as possible (they differ by at most one). Strata are spread
    over the steps: strata are taken in random order and, within each, its *m* sites are given
    ⌊m/S⌋ places at every one of the S steps plus one place at each of ``m mod S`` steps chosen
    among those with the fewest sites so far (ties at random); the stratum's sites, in random
    order, fill its places. So within a stratum and overall the counts per step differ by at most
    one, and because every choice treats the steps alike, each site is equally likely to cross
    over at any step. Without ``strata`` all sites form one stratum named ``all``.

    Stream label: ``cluster|stepped-wedge``. Raises ``ValueError`` for fewer than one step,
    more steps than sites, repeated site codes, or strata that do not cover exactly the sites.

    References: Hussey MA, Hughes JP. Design and analysis of stepped wedge cluster randomized
    trials. *Contemp Clin Trials* 2007;28:182–191. Hemming K, Haines TP, Chilton PJ, Girling AJ,
    Lilford RJ. The stepped wedge cluster randomised trial: rationale, design, analysis, and
    reporting. *BMJ* 2015;350:h391. Copas AJ et al. Designing a stepped wedge trial: three main
    designs, carry-over effects and randomisation approaches. *Trials* 2015;16:352
    (stratified/restricted allocation of clusters to sequences).
    """
    codes = _check_codes(list(units))
    if n_steps < 1:
        raise ValueError("a stepped-wedge design needs at least one step")
    if len(codes) < n_steps:
        raise ValueError(f"{len(codes)} sites cannot fill {n_steps} steps")
    if strata is None:
        groups: dict[str, list[str]] = {"all": codes}
    else:
        if set(strata) != set(codes):
            raise ValueError("every site, and only those sites, must have a stratum")
        groups = defaultdict(list)
        for code in codes:
            groups[str(strata[code])].append(code)

    stream = Stream(seed, "cluster|stepped-wedge")
    labels = sorted(groups)
    stream.shuffle(labels)
    steps = list(range(1, n_steps + 1))
    totals = dict.fromkeys(steps, 0)
    step_of: dict[str, int] = {}
    stratum_counts: dict[str, dict[int, int]] = {}
    for label in labels:
        sites = list(groups[label])
        stream.shuffle(sites)
        whole, rest = divmod(len(sites), n_steps)
        order = list(steps)
        stream.shuffle(order)
        order.sort(key=lambda s: totals[s])  # stable: random among equally filled steps
        extra = set(order[:rest])
        places = [s for s in steps for _ in range(whole + (1 if s in extra else 0))]
        step_of.update(zip(sites, places, strict=True))
        stratum_counts[label] = {s: whole + (1 if s in extra else 0) for s in steps}
        for s in steps:
            totals[s] += stratum_counts[label][s]
    return SteppedWedgeResult(
        step={code: step_of[code] for code in codes},
        counts=totals,
        stratum_counts={label: stratum_counts[label] for label in sorted(stratum_counts)},
    )
