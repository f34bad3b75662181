"""Cluster (site-level) randomisation as pure functions: no ORM, no request, no clock.

In complex-intervention trials whole NAV offices are randomised, to limit contamination between
arms; participants then take their site's arm. Four designs are offered:

* :func:`stratified`: a random permutation of the arms within each stratum of sites;
* :func:`pair_matched` (with :func:`match_pairs` to form the pairs): one site of each pair to
  each arm;
* :func:`~randomisation.cluster.constrained.constrained` (its own module): covariate-constrained
  randomisation as in the R package cvcrand;
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
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from randomisation.engine import ArmWeights, Stream

Covariates = Mapping[str, Mapping[str, float]]
"""Site code -> {covariate name: value}, e.g. {"OSLO1": {"size": 40, "unemployment": 3.1}}."""

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


def check_two_arms(arms: ArmWeights, design: str) -> list[tuple[str, int]]:
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


def standardised(
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
    codes, _, _, z, _ = standardised(covariates, weights)
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
    checked = check_two_arms(arms, "pair matching")
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


# --- 3. stepped wedge --------------------------------------------------------------------------


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
