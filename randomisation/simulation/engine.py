"""Scheme simulation: run a randomisation scheme on many virtual trials and measure it.

Pure functions: no ORM, no Django. Each virtual trial draws its participants from a
:class:`~randomisation.engine.Stream` labelled with the trial's number, allocates them with a
fresh :class:`~randomisation.engine.Allocator` (the same code that checks the real allocation
log), and records

* **overall imbalance**: max over arms of ``|n_arm - expected_n_arm|``, where the expectation
  follows the allocation ratio, and the range of ``n_arm / weight``;
* **within-stratum imbalance** (the same measure in each stratum of ``strata_factors``) and
  **marginal imbalance** in each level of every factor in the mix; the max and the mean over
  the strata (levels) that received participants;
* **predictability**: the share of correct guesses made by a convergence-strategy guesser
  (Blackwell & Hodges, *Ann. Math. Statist.* 28 (1957) 449–460). Before each allocation the
  guesser, knowing every earlier allocation, names the arm the scheme is most likely to give:
  for blocks the arm most under-represented relative to the ratio in the participant's stratum;
  for simple randomisation the same over the whole trial; for minimisation the arm(s) the
  scheme would prefer, scored with the engine's own imbalance function. Ties are broken at
  random.

Everything is a function of the seed, so a simulation can be repeated exactly.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from randomisation.engine import Allocator, SchemeSpec, Stream, imbalance, stratum_key

StrataMix = Mapping[str, Mapping[str, float]]
"""Planned participant mix: factor -> level -> probability; factors are independent."""

Progress = Callable[[int, int], None]

DEFAULT_THRESHOLDS = (0.02, 0.04, 0.10)
"""Overall imbalance thresholds, as shares of the trial size, for ``share_above``."""


@dataclass(frozen=True)
class Distribution:
    """Summary of one figure over the virtual trials."""

    mean: float
    sd: float
    p5: float
    p50: float
    p95: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Distribution:
        array = np.asarray(values, dtype=float)
        p5, p50, p95 = np.percentile(array, [5, 50, 95])
        return cls(
            mean=float(array.mean()),
            sd=float(array.std(ddof=1)) if array.size > 1 else 0.0,
            p5=float(p5),
            p50=float(p50),
            p95=float(p95),
            min=float(array.min()),
            max=float(array.max()),
        )


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate` measured; ``as_dict()`` gives plain JSON for a task result."""

    n_trials: int
    trial_size: int
    overall_imbalance: Distribution
    """max over arms of |n_arm - trial_size * weight / total weight|."""
    overall_range: Distribution
    """max over arms of n_arm / weight minus the min (for 1:1, |n_A - n_B|)."""
    share_above: dict[str, float]
    """Share of trials whose overall imbalance exceeds a share of the trial size ("0.02")."""
    stratum_imbalance_max: Distribution | None
    stratum_imbalance_mean: Distribution | None
    """Within-stratum imbalance over the strata of ``strata_factors``; None if unstratified."""
    marginal_imbalance_max: dict[str, Distribution]
    marginal_imbalance_mean: dict[str, Distribution]
    """Per factor of the mix: the imbalance within each of its levels, max and mean."""
    predictability: Distribution
    """Per trial: correct guesses of the convergence guesser / trial size."""
    chance_rate: float
    """What a guesser without information achieves by always naming the largest arm."""
    excess_predictability: float
    """Mean predictability minus ``chance_rate``."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def simulate(
    spec: SchemeSpec,
    *,
    n_trials: int,
    trial_size: int,
    strata_mix: StrataMix,
    seed: bytes,
    progress: Progress | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> SimulationResult:
    """Run ``spec`` on ``n_trials`` virtual trials of ``trial_size`` participants each.

    ``strata_mix`` gives, for every factor the scheme uses (strata and minimisation factors,
    "site" included) and optionally others, the probability of each level. ``progress(done,
    total)`` is called about every 1% of the trials and once at the end. The result depends
    only on the arguments. Raises ``ValueError`` for a mix that misses a factor of the scheme
    or whose probabilities are not a distribution, for non-positive sizes and a short seed.
    """
    if n_trials < 1 or trial_size < 1:
        raise ValueError("n_trials and trial_size must be positive")
    if len(seed) < 16:
        raise ValueError("seed must be at least 128 bits")
    _check_mix(spec, strata_mix)

    codes = {code: index for index, (code, _) in enumerate(spec.arms)}
    mix_factors = list(strata_mix)
    profiles, cumulative = _joint_profiles(spec, strata_mix)
    n_strata = 1 + max(profile.stratum for profile in profiles)
    n_levels = [len(levels) for levels in strata_mix.values()]
    guess_candidates = _guesser(spec, mix_factors)
    figures = _Figures(spec, n_trials, mix_factors)
    report_every = max(1, n_trials // 100)
    last = len(profiles) - 1

    for trial in range(n_trials):
        allocator = Allocator(spec, _trial_seed(seed, trial))
        participants = Stream(seed, f"simulation|participants|{trial}")
        guesser = Stream(seed, f"simulation|guesser|{trial}")
        overall = [0] * len(codes)
        strata = [[0] * len(codes) for _ in range(n_strata)]
        marginal = [[[0] * len(codes) for _ in range(n)] for n in n_levels]
        correct = 0
        for _ in range(trial_size):
            profile = profiles[min(bisect.bisect_right(cumulative, participants.random()), last)]
            stratum = strata[profile.stratum]
            by_level = [marginal[f][level] for f, level in enumerate(profile.level_ids)]
            candidates = guess_candidates(overall, stratum, by_level)
            guess = candidates[0] if len(candidates) == 1 else guesser.choice(candidates)
            arm = codes[allocator.allocate(profile.levels)]
            correct += guess == arm
            overall[arm] += 1
            stratum[arm] += 1
            for counts in by_level:
                counts[arm] += 1
        figures.record(trial, overall, strata, marginal, correct / trial_size)
        if progress is not None and ((trial + 1) % report_every == 0 or trial + 1 == n_trials):
            progress(trial + 1, n_trials)

    return figures.result(trial_size, thresholds)


class _Figures:
    """What :func:`simulate` measures, one value per virtual trial."""

    def __init__(self, spec: SchemeSpec, n_trials: int, mix_factors: list[str]) -> None:
        self.spec = spec
        self.weights = [weight for _, weight in spec.arms]
        self.total_weight = sum(self.weights)
        self.mix_factors = mix_factors
        self.overall_imbalance = np.empty(n_trials)
        self.overall_range = np.empty(n_trials)
        self.stratum_max = np.empty(n_trials)
        self.stratum_mean = np.empty(n_trials)
        self.marginal_max = {factor: np.empty(n_trials) for factor in mix_factors}
        self.marginal_mean = {factor: np.empty(n_trials) for factor in mix_factors}
        self.predictability = np.empty(n_trials)

    def record(
        self,
        trial: int,
        overall: list[int],
        strata: list[list[int]],
        marginal: list[list[list[int]]],
        predictability: float,
    ) -> None:
        """Trial ``trial``'s arm counts: overall, by stratum, and by level of each factor."""
        weights, total_weight = self.weights, self.total_weight
        self.overall_imbalance[trial] = _imbalance(overall, weights, total_weight)
        ratios = [count / weight for count, weight in zip(overall, weights, strict=True)]
        self.overall_range[trial] = max(ratios) - min(ratios)
        values = [_imbalance(counts, weights, total_weight) for counts in strata if any(counts)]
        self.stratum_max[trial], self.stratum_mean[trial] = max(values), sum(values) / len(values)
        for factor, levels in zip(self.mix_factors, marginal, strict=True):
            values = [_imbalance(c, weights, total_weight) for c in levels if any(c)]
            self.marginal_max[factor][trial] = max(values)
            self.marginal_mean[factor][trial] = sum(values) / len(values)
        self.predictability[trial] = predictability

    def result(self, trial_size: int, thresholds: Sequence[float]) -> SimulationResult:
        chance_rate = max(self.weights) / self.total_weight
        stratified = bool(self.spec.strata_factors)
        return SimulationResult(
            n_trials=len(self.predictability),
            trial_size=trial_size,
            overall_imbalance=Distribution.of(self.overall_imbalance),
            overall_range=Distribution.of(self.overall_range),
            share_above={
                str(share): float(np.mean(self.overall_imbalance > share * trial_size))
                for share in thresholds
            },
            stratum_imbalance_max=Distribution.of(self.stratum_max) if stratified else None,
            stratum_imbalance_mean=Distribution.of(self.stratum_mean) if stratified else None,
            marginal_imbalance_max={f: Distribution.of(v) for f, v in self.marginal_max.items()},
            marginal_imbalance_mean={f: Distribution.of(v) for f, v in self.marginal_mean.items()},
            predictability=Distribution.of(self.predictability),
            chance_rate=chance_rate,
            excess_predictability=float(self.predictability.mean()) - chance_rate,
        )


def scheme_factors(spec: SchemeSpec) -> list[str]:
    """The factors a scheme needs for each participant, strata first."""
    factors = list(spec.strata_factors)
    factors += [factor for factor, _ in spec.minimisation_factors if factor not in factors]
    return factors


def _check_mix(spec: SchemeSpec, strata_mix: StrataMix) -> None:
    missing = [factor for factor in scheme_factors(spec) if factor not in strata_mix]
    if missing:
        raise ValueError(f"strata_mix has no levels for {', '.join(missing)}")
    for factor, levels in strata_mix.items():
        probabilities = list(levels.values())
        if not probabilities or any(p < 0 or not math.isfinite(p) for p in probabilities):
            raise ValueError(f"strata_mix[{factor!r}] needs non-negative probabilities")
        if not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6):
            raise ValueError(f"strata_mix[{factor!r}] probabilities must add up to 1")


@dataclass(frozen=True)
class _Profile:
    """One combination of levels: what the allocator sees, and where its counts are kept."""

    levels: dict[str, str]
    stratum: int
    """Index of the stratum (combination of ``strata_factors`` levels)."""
    level_ids: tuple[int, ...]
    """Index of the level of each factor of the mix, in the mix's order."""


def _joint_profiles(spec: SchemeSpec, strata_mix: StrataMix) -> tuple[list[_Profile], list[float]]:
    """Every combination of levels with positive probability, and the cumulative probabilities.

    One uniform draw per participant then picks a whole profile (the factors are independent,
    so the joint probability is the product), which is cheaper than one draw per factor.
    """
    factors = list(strata_mix)
    level_index = {f: {level: i for i, level in enumerate(strata_mix[f])} for f in factors}
    strata: dict[str, int] = {}
    profiles: list[_Profile] = []
    cumulative: list[float] = []
    running = 0.0
    options = [[(lvl, p) for lvl, p in strata_mix[f].items() if p > 0] for f in factors]
    for combination in itertools.product(*options):
        levels = {f: level for f, (level, _) in zip(factors, combination, strict=True)}
        key = stratum_key(spec.strata_factors, levels)
        profiles.append(
            _Profile(
                levels=levels,
                stratum=strata.setdefault(key, len(strata)),
                level_ids=tuple(level_index[f][levels[f]] for f in factors),
            )
        )
        running += math.prod(p for _, p in combination)
        cumulative.append(running)
    return profiles, cumulative


def _trial_seed(seed: bytes, trial: int) -> bytes:
    """The allocator's seed for virtual trial ``trial``: 256 bits derived from ``seed``."""
    return hmac.new(seed, f"simulation|trial|{trial}".encode(), hashlib.sha256).digest()


def _imbalance(counts: Sequence[int], weights: Sequence[int], total_weight: int) -> float:
    """max over arms of |n_arm - n * weight / total weight| (in integers, then one division)."""
    n = sum(counts)
    deviations = [abs(c * total_weight - n * w) for c, w in zip(counts, weights, strict=True)]
    return max(deviations) / total_weight


Candidates = Callable[[list[int], list[int], list[list[int]]], list[int]]
"""(overall counts, the participant's stratum counts, counts in each of the participant's levels)
-> the arm indexes the guesser would name. Counts are by arm index."""


def _guesser(spec: SchemeSpec, mix_factors: Sequence[str]) -> Candidates:
    """The convergence guesser for ``spec``: history in, the arm indexes it would name out."""
    weights = [weight for _, weight in spec.arms]
    total_weight = sum(weights)

    if spec.method == "minimisation":
        positions = [mix_factors.index(factor) for factor, _ in spec.minimisation_factors]
        preferred = _MinimisationPreference(spec)

        def preferred_by_minimisation(
            overall: list[int], stratum: list[int], by_level: list[list[int]]
        ) -> list[int]:
            return preferred([by_level[position] for position in positions])

        return preferred_by_minimisation

    use_stratum = spec.method == "blocks"
    cache: dict[tuple[int, ...], list[int]] = {}  # the same counts recur in every trial

    def most_under_represented(
        overall: list[int], stratum: list[int], by_level: list[list[int]]
    ) -> list[int]:
        key = tuple(stratum if use_stratum else overall)
        candidates = cache.get(key)
        if candidates is None:
            candidates = cache[key] = _most_under_represented(key, weights, total_weight)
        return candidates

    return most_under_represented


def _most_under_represented(
    counts: Sequence[int], weights: Sequence[int], total_weight: int
) -> list[int]:
    """Arms with the largest shortfall n * weight / total - n_arm (integers, so ties are exact)."""
    n = sum(counts)
    shortfall = [n * w - c * total_weight for c, w in zip(counts, weights, strict=True)]
    most = max(shortfall)
    return [arm for arm, value in enumerate(shortfall) if value == most]


class _MinimisationPreference:
    """The arms :func:`engine.minimise` would prefer, given the counts in each factor's level.

    Same arithmetic as the engine (counts with the candidate added, divided by the arm weight,
    :func:`engine.imbalance`, weighted sum over the factors in the scheme's order, rounded to 12
    places), so ties come out exactly as the engine's. One level's imbalances depend only on its
    counts, and the same counts recur in every virtual trial, so they are computed once.
    """

    def __init__(self, spec: SchemeSpec) -> None:
        self.weights = [weight for _, weight in spec.arms]
        self.factor_weights = [weight for _, weight in spec.minimisation_factors]
        self.measure = spec.measure
        self._cache: dict[tuple[int, ...], list[float]] = {}

    def _imbalances(self, counts: tuple[int, ...]) -> list[float]:
        """The imbalance of one level's counts if the next participant went to each arm."""
        arms = range(len(self.weights))
        return [
            imbalance(
                [(counts[arm] + (arm == candidate)) / self.weights[arm] for arm in arms],
                self.measure,
            )
            for candidate in arms
        ]

    def __call__(self, counts: Sequence[Sequence[int]]) -> list[int]:
        totals = [0.0] * len(self.weights)
        for level_counts, factor_weight in zip(counts, self.factor_weights, strict=True):
            key = tuple(level_counts)
            values = self._cache.get(key)
            if values is None:
                values = self._cache[key] = self._imbalances(key)
            for arm, value in enumerate(values):
                totals[arm] += factor_weight * value
        scores = [round(total, 12) for total in totals]
        best = min(scores)
        return [arm for arm, score in enumerate(scores) if score == best]
