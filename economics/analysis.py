"""Within-trial cost-effectiveness from one row per participant (no ORM): means by arm, the
incremental cost and effect, the ICER, net monetary benefit over willingness-to-pay values, a
non-parametric bootstrap (by arm, or by cluster) with percentile intervals, the cost-effectiveness
plane and the acceptability curve, and one-way sensitivity analyses.

Conventions, each checked against R (tests/economics/reference/):

* the bootstrap resamples participants with replacement *within each arm* (``boot(...,
  strata = arm)``), or, with a cluster column, whole clusters within each arm when every cluster
  lies in one arm (cluster randomisation), else whole clusters across arms;
* a replicate's means are ratio means: cluster sums over cluster sizes;
* percentile intervals are R's ``quantile(type = 7)`` (numpy's default "linear");
* net monetary benefit is ``wtp × Δeffect − Δcost``; the acceptability curve is the share of
  replicates with positive net monetary benefit (ties at 0 count as not cost-effective);
* everything is seeded (``numpy.random.default_rng(seed)``): the same data and seed give the
  same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

Array = npt.NDArray[np.float64]
CHUNK = 200  # replicates per block: bounds memory at CHUNK × participants


@dataclass(frozen=True)
class Point:
    n_control: int
    n_treated: int
    cost_control: float
    cost_treated: float
    effect_control: float
    effect_treated: float

    @property
    def delta_cost(self) -> float:
        return self.cost_treated - self.cost_control

    @property
    def delta_effect(self) -> float:
        return self.effect_treated - self.effect_control

    @property
    def icer(self) -> float:
        """Incremental cost per unit of effect; NaN when the effects are equal."""
        if self.delta_effect == 0:
            return float("nan")
        return self.delta_cost / self.delta_effect


def point(cost: npt.ArrayLike, effect: npt.ArrayLike, treated: npt.ArrayLike) -> Point:
    """Means of cost and effect by arm (``treated`` True for the intervention arm)."""
    c = np.asarray(cost, dtype=float)
    e = np.asarray(effect, dtype=float)
    t = np.asarray(treated, dtype=bool)
    return Point(
        int((~t).sum()),
        int(t.sum()),
        float(c[~t].mean()) if (~t).any() else float("nan"),
        float(c[t].mean()) if t.any() else float("nan"),
        float(e[~t].mean()) if (~t).any() else float("nan"),
        float(e[t].mean()) if t.any() else float("nan"),
    )


def net_benefit(
    delta_cost: npt.ArrayLike, delta_effect: npt.ArrayLike, wtp: npt.ArrayLike
) -> Array:
    """Net monetary benefit ``wtp × Δe − Δc``: one row per willingness to pay."""
    w = np.asarray(wtp, dtype=float)[:, None]
    return (
        w * np.atleast_1d(np.asarray(delta_effect, dtype=float))[None, :]
        - np.atleast_1d(np.asarray(delta_cost, dtype=float))[None, :]
    )


def resample_people(treated: npt.ArrayLike, replicates: int, seed: int) -> npt.NDArray[np.int64]:
    """Row indices of ``replicates`` bootstrap samples (replicates × n), drawn with replacement
    within each arm; each arm keeps its size and its columns."""
    t = np.asarray(treated, dtype=bool)
    rng = np.random.default_rng(seed)
    out = np.empty((replicates, t.size), dtype=np.int64)
    for arm in (False, True):
        rows = np.flatnonzero(t == arm)
        if rows.size:
            out[:, rows] = rows[rng.integers(0, rows.size, size=(replicates, rows.size))]
    return out


@dataclass(frozen=True)
class Clusters:
    """Per-cluster sums, in the order of the sorted cluster labels."""

    labels: npt.NDArray[np.object_]
    treated: npt.NDArray[np.bool_]  # the cluster's arm, when it lies in one arm
    nested: bool  # every cluster lies in one arm
    size: Array  # participants per cluster and arm: (K, 2) [control, treated]
    cost: Array  # (K, 2)
    effect: Array  # (K, 2)


def cluster_sums(
    cost: npt.ArrayLike, effect: npt.ArrayLike, treated: npt.ArrayLike, cluster: Sequence[object]
) -> Clusters:
    frame = pd.DataFrame(
        {
            "cluster": pd.Series(list(cluster)).astype(str),
            "t": np.asarray(treated, dtype=bool).astype(int),
            "c": np.asarray(cost, dtype=float),
            "e": np.asarray(effect, dtype=float),
            "n": 1.0,
        }
    )
    sums = frame.groupby(["cluster", "t"])[["n", "c", "e"]].sum().unstack("t", fill_value=0.0)
    sums = sums.sort_index()
    pick = [0, 1]

    def block(name: str) -> Array:
        return sums[name].reindex(columns=pick, fill_value=0.0).to_numpy(dtype=float)

    size = block("n")
    nested = bool(((size > 0).sum(axis=1) == 1).all())
    return Clusters(
        sums.index.to_numpy(dtype=object), size[:, 1] > 0, nested, size, block("c"), block("e")
    )


def resample_clusters(clusters: Clusters, replicates: int, seed: int) -> npt.NDArray[np.int64]:
    """Cluster positions of ``replicates`` samples (replicates × K): within each arm when every
    cluster lies in one arm, else across all clusters."""
    rng = np.random.default_rng(seed)
    k = clusters.labels.size
    out = np.empty((replicates, k), dtype=np.int64)
    groups = (
        [np.flatnonzero(~clusters.treated), np.flatnonzero(clusters.treated)]
        if clusters.nested
        else [np.arange(k)]
    )
    for rows in groups:
        if rows.size:
            out[:, rows] = rows[rng.integers(0, rows.size, size=(replicates, rows.size))]
    return out


def replicate_people(
    cost: npt.ArrayLike,
    effect: npt.ArrayLike,
    treated: npt.ArrayLike,
    indices: npt.NDArray[np.int64],
) -> tuple[Array, Array]:
    """Δcost and Δeffect of each replicate (a row of participant indices)."""
    c = np.asarray(cost, dtype=float)
    e = np.asarray(effect, dtype=float)
    t = np.asarray(treated, dtype=bool)
    dc = np.empty(indices.shape[0])
    de = np.empty(indices.shape[0])
    for start in range(0, indices.shape[0], CHUNK):
        idx = indices[start : start + CHUNK]
        tt = t[idx]
        nt = tt.sum(axis=1)
        nc = (~tt).sum(axis=1)
        cc, ee = c[idx], e[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            dc[start : start + CHUNK] = (cc * tt).sum(axis=1) / nt - (cc * ~tt).sum(axis=1) / nc
            de[start : start + CHUNK] = (ee * tt).sum(axis=1) / nt - (ee * ~tt).sum(axis=1) / nc
    return dc, de


def replicate_clusters(clusters: Clusters, draws: npt.NDArray[np.int64]) -> tuple[Array, Array]:
    """Δcost and Δeffect of each replicate (a row of cluster positions): ratio means."""
    n = clusters.size[draws].sum(axis=1)  # (B, 2)
    c = clusters.cost[draws].sum(axis=1)
    e = clusters.effect[draws].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c[:, 1] / n[:, 1] - c[:, 0] / n[:, 0], e[:, 1] / n[:, 1] - e[:, 0] / n[:, 0]


def percentile_interval(values: npt.ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval (R's quantile type 7), ignoring replicates without a value."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    low, high = np.quantile(v, [alpha, 1 - alpha])
    return float(low), float(high)


def acceptability(delta_cost: Array, delta_effect: Array, wtp: npt.ArrayLike) -> Array:
    """Share of replicates with a positive net monetary benefit at each willingness to pay."""
    ok = ~(np.isnan(delta_cost) | np.isnan(delta_effect))
    nmb = net_benefit(delta_cost[ok], delta_effect[ok], wtp)
    return (nmb > 0).mean(axis=1) if ok.any() else np.full(len(np.atleast_1d(wtp)), np.nan)


def wtp_grid(maximum: float, steps: int = 50) -> Array:
    return np.linspace(0.0, float(maximum), steps + 1)


@dataclass
class Result:
    point: Point
    wtp: Array
    nmb: Array  # at each wtp
    replicates: int
    seed: int
    clustered: bool
    delta_cost: Array = field(repr=False)  # per replicate: the plane
    delta_effect: Array = field(repr=False)
    ci_cost: tuple[float, float] = (float("nan"), float("nan"))
    ci_effect: tuple[float, float] = (float("nan"), float("nan"))
    ci_nmb: list[tuple[float, float]] = field(default_factory=list)
    ceac: Array = field(default_factory=lambda: np.empty(0))
    imputations: int = 0  # 0: complete cases; else the intervals are Rubin's
    fmi: tuple[float, float] = (float("nan"), float("nan"))  # cost, effect (imputation)


def analyse(
    cost: npt.ArrayLike,
    effect: npt.ArrayLike,
    treated: npt.ArrayLike,
    *,
    wtp: npt.ArrayLike,
    replicates: int = 2000,
    seed: int = 1,
    cluster: Sequence[object] | None = None,
    indices: npt.NDArray[np.int64] | None = None,
) -> Result:
    """Point estimates, bootstrap and acceptability curve. ``indices`` replaces the random draws
    (participant rows, or cluster positions with ``cluster``), as the R reference does."""
    c = np.asarray(cost, dtype=float)
    e = np.asarray(effect, dtype=float)
    t = np.asarray(treated, dtype=bool)
    w = np.asarray(wtp, dtype=float)
    est = point(c, e, t)
    if cluster is not None:
        sums = cluster_sums(c, e, t, cluster)
        draws = indices if indices is not None else resample_clusters(sums, replicates, seed)
        dc, de = replicate_clusters(sums, draws)
    else:
        draws = indices if indices is not None else resample_people(t, replicates, seed)
        dc, de = replicate_people(c, e, t, draws)
    nmb_draws = net_benefit(dc, de, w)
    return Result(
        point=est,
        wtp=w,
        nmb=net_benefit(est.delta_cost, est.delta_effect, w)[:, 0],
        replicates=int(draws.shape[0]),
        seed=seed,
        clustered=cluster is not None,
        delta_cost=dc,
        delta_effect=de,
        ci_cost=percentile_interval(dc),
        ci_effect=percentile_interval(de),
        ci_nmb=[percentile_interval(row) for row in nmb_draws],
        ceac=acceptability(dc, de, w),
    )


@dataclass(frozen=True)
class Scenario:
    name: str  # e.g. "staff_minute" or "discount"
    value: float  # the factor or the rate
    delta_cost: float
    delta_effect: float
    icer: float
    nmb: float


def sensitivity(
    frame_for: object,
    treated_for: object,
    *,
    base_rate: float,
    reference_wtp: float,
    factors: Sequence[float] = (0.8, 1.2),
    kinds: Sequence[str] = ("staff_minute", "partner_minute", "site", "participant", "benefit"),
    rates: Sequence[float] = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05),
) -> list[Scenario]:
    """One-way sensitivity analyses: each kind of unit cost scaled by each factor (discount rate
    as in the base case), then each discount rate with unit costs as entered.

    ``frame_for(discount_rate, scale)`` returns one row per analysed participant with
    ``total_cost`` and ``effect``; ``treated_for(frame)`` the treated flags."""
    make = frame_for  # callables, typed loosely to keep this module free of the cost model
    out: list[Scenario] = []

    def run(name: str, value: float, rate: float, scale: dict[str, float]) -> None:
        frame = make(rate, scale)  # type: ignore[operator]
        est = point(frame["total_cost"], frame["effect"], treated_for(frame))  # type: ignore[operator]
        out.append(
            Scenario(
                name,
                value,
                est.delta_cost,
                est.delta_effect,
                est.icer,
                reference_wtp * est.delta_effect - est.delta_cost,
            )
        )

    for kind in kinds:
        for factor in factors:
            run(kind, factor, base_rate, {kind: factor})
    for rate in rates:
        run("discount", rate, rate, {})
    return out
