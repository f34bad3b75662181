"""The whole economic evaluation from frames: costs per participant, the analysed participants
(complete cases, or everyone with multiple imputation), each intervention arm against the
control arm with the bootstrap and the acceptability curve, the societal perspective when
earnings are counted, and the one-way sensitivity analyses. Pure (no ORM):
``economics.extract`` supplies the frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from economics import analysis, costs, imputation

SENSITIVITY_FACTORS = (0.8, 1.2)
DISCOUNT_RATES = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)
COMPLETE_CASE = "complete_case"
MULTIPLE_IMPUTATION = "multiple_imputation"


@dataclass
class Comparison:
    arm: str  # the intervention arm's code
    control: str
    result: analysis.Result
    sensitivity: list[analysis.Scenario]
    societal: analysis.Result | None = None  # costs net of earnings, when earnings are counted


@dataclass
class Evaluation:
    settings: costs.CostSettings
    per_participant: pd.DataFrame  # every allocated participant, with ``complete`` and ``effect``
    left_out: list[costs.LeftOut]
    comparisons: list[Comparison]
    reference_wtp: float
    missing: str = COMPLETE_CASE
    earnings: bool = False

    @property
    def complete(self) -> pd.DataFrame:
        return self.per_participant[self.per_participant["complete"]]


@dataclass(frozen=True)
class Options:
    """How the plan says to analyse: bootstrap size and seed, clusters, the missing-data
    method and whether earnings are counted."""

    wtp_max: float
    replicates: int
    seed: int
    clustered: bool = False
    missing: str = COMPLETE_CASE
    earnings: bool = False
    imputations: int = imputation.IMPUTATIONS
    discount_rate: float = 0.0
    # Over a horizon of 12 months or less nothing is discounted: the rates are not varied.
    vary_discount: bool = True


def evaluate(
    participants: pd.DataFrame,
    contacts: pd.DataFrame,
    months: pd.DataFrame,
    rates: pd.DataFrame,
    settings: costs.CostSettings,
    *,
    wtp_max: float,
    replicates: int,
    seed: int,
    clustered: bool = False,
    effect: pd.Series | None = None,
    missing: str = COMPLETE_CASE,
    earnings: bool = False,
) -> Evaluation:
    """Costs and effects per participant; for each intervention arm against the (first, by
    code) control arm: point estimates, a bootstrap of ``replicates`` replicates (by cluster
    when ``clustered`` and ``participants`` has a ``cluster`` column), net monetary benefit and
    acceptability over 0…``wtp_max``, and one-way sensitivity analyses on the unit costs (×0.8,
    ×1.2) and, when the horizon reaches beyond 12 months, the discount rate (0–5 %).

    The effect is months in work (discounted like costs), or ``effect`` (a value by
    participant id, e.g. the plan's primary outcome; NaN: not known). ``missing``: complete
    cases (participants with anything left out are counted, not analysed), or multiple
    imputation of the missing total costs and effects (:mod:`economics.imputation`); the
    sensitivity analyses are on complete cases either way. ``earnings``: also analyse costs net
    of earnings (the societal perspective)."""
    options = Options(
        wtp_max,
        replicates,
        seed,
        clustered,
        missing,
        earnings,
        discount_rate=settings.discount_rate,
        vary_discount=settings.horizon_months > 12,
    )
    parts = costs.components(participants, contacts, months, rates, settings)
    frame = costs.per_participant(parts, discount_rate=settings.discount_rate)
    frame = with_effect(frame, effect)
    reference_wtp = float(wtp_max) / 2
    comparisons: list[Comparison] = []
    controls = sorted(set(frame.loc[frame["control"].astype(bool), "arm"]))
    if controls:
        control = controls[0]
        arms = sorted(set(frame.loc[~frame["control"].astype(bool), "arm"]))
        for position, arm in enumerate(arms):
            found = compare(parts, frame, arm, control, position, options, reference_wtp, effect)
            if found is not None:
                comparisons.append(found)
    return Evaluation(
        settings, frame, parts.left_out, comparisons, reference_wtp, missing, earnings
    )


def with_effect(frame: pd.DataFrame, effect: pd.Series | None) -> pd.DataFrame:
    """``effect`` (months in work, or the given values) and ``complete`` (cost and effect
    known) on the per-participant frame."""
    out = frame.copy()
    if effect is None:
        out["effect"] = out["months_in_work"]
    else:
        out["effect"] = out["participant_id"].map(effect).astype(float)
        out["effect_complete"] = out["effect_complete"] & out["effect"].notna()
    out["complete"] = out["cost_complete"] & out["effect_complete"]
    return out


def compare(
    parts: costs.Components,
    frame: pd.DataFrame,
    arm: str,
    control: str,
    position: int,
    options: Options,
    reference_wtp: float,
    effect: pd.Series | None,
) -> Comparison | None:
    """One intervention arm against the control arm (None when an arm has nobody analysed)."""
    rows = frame[frame["arm"].isin([arm, control])]
    if options.missing == COMPLETE_CASE:
        rows = rows[rows["complete"]]
    treated = (rows["arm"] == arm).to_numpy()
    if treated.all() or not treated.any():
        return None
    cost = rows["total_cost"].where(rows["cost_complete"]).to_numpy(dtype=float)
    values = rows["effect"].where(rows["effect_complete"]).to_numpy(dtype=float)
    cluster = rows["cluster"].tolist() if options.clustered and "cluster" in rows else None
    seed = options.seed + position
    result = estimate(cost, values, treated, cluster, seed, options)
    societal = None
    if options.earnings:
        net = cost - rows["earnings"].to_numpy(dtype=float)
        societal = estimate(net, values, treated, cluster, seed, options)
    complete_ids = set(frame.loc[frame["complete"], "participant_id"])

    def frame_for(rate: float, scale: dict[str, float]) -> pd.DataFrame:
        out = costs.per_participant(parts, discount_rate=rate, scale=scale)
        out = out[out["participant_id"].isin(complete_ids)]
        out = out[out["arm"].isin([arm, control])]
        if effect is not None:  # the plan's outcome is not discounted
            return out.assign(effect=out["participant_id"].map(effect).astype(float))
        return out.rename(columns={"months_in_work": "effect"})

    scenarios = analysis.sensitivity(
        frame_for,
        lambda f: (f["arm"] == arm).to_numpy(),
        base_rate=options.discount_rate,
        reference_wtp=reference_wtp,
        factors=SENSITIVITY_FACTORS,
        rates=DISCOUNT_RATES if options.vary_discount else (),
    )
    return Comparison(arm, control, result, scenarios, societal)


def estimate(
    cost: np.ndarray,
    effect: np.ndarray,
    treated: np.ndarray,
    cluster: list[object] | None,
    seed: int,
    options: Options,
) -> analysis.Result:
    """The complete-case analysis, or multiple imputation then the bootstrap (Rubin's rules)."""
    wtp = analysis.wtp_grid(options.wtp_max)
    if options.missing == COMPLETE_CASE:
        return analysis.analyse(
            cost,
            effect,
            treated,
            wtp=wtp,
            replicates=options.replicates,
            seed=seed,
            cluster=cluster,
        )
    return imputed_analysis(cost, effect, treated, cluster, seed, options)


def imputed_analysis(
    cost: np.ndarray,
    effect: np.ndarray,
    treated: np.ndarray,
    cluster: list[object] | None,
    seed: int,
    options: Options,
) -> analysis.Result:
    """Impute, bootstrap each completed data set, pool by Rubin's rules (see
    :mod:`economics.imputation`). Point estimates are the means over imputations; intervals
    are Rubin's with the bootstrap variances as within-imputation variances; the plane and the
    acceptability curve hold the replicates of every imputation."""
    wtp = analysis.wtp_grid(options.wtp_max)
    m = options.imputations
    each = max(200, -(-options.replicates // m))
    completed = imputation.impute_by_arm(
        cost, effect, treated, seed=seed, imputations=m, cluster=cluster
    )
    runs = [
        analysis.analyse(
            c, e, treated, wtp=wtp, replicates=each, seed=seed + 1 + k, cluster=cluster
        )
        for k, (c, e) in enumerate(completed)
    ]
    n_groups = len(set(cluster)) if cluster is not None else len(treated)
    complete_df = float(max(n_groups - 2, 1))

    def pooled(estimates: list[float], draws: list[np.ndarray]) -> imputation.Pooled:
        variances = [float(np.nanvar(d, ddof=1)) for d in draws]
        return imputation.rubin(estimates, variances, complete_df)

    d_cost = pooled([r.point.delta_cost for r in runs], [r.delta_cost for r in runs])
    d_effect = pooled([r.point.delta_effect for r in runs], [r.delta_effect for r in runs])
    nmb = [
        pooled(
            [float(r.nmb[i]) for r in runs],
            [w * r.delta_effect - r.delta_cost for r in runs],
        )
        for i, w in enumerate(wtp)
    ]
    points = [r.point for r in runs]
    point = analysis.Point(
        points[0].n_control,
        points[0].n_treated,
        float(np.mean([p.cost_control for p in points])),
        float(np.mean([p.cost_treated for p in points])),
        float(np.mean([p.effect_control for p in points])),
        float(np.mean([p.effect_treated for p in points])),
    )
    dc = np.concatenate([r.delta_cost for r in runs])
    de = np.concatenate([r.delta_effect for r in runs])
    return analysis.Result(
        point=point,
        wtp=wtp,
        nmb=np.array([p.estimate for p in nmb]),
        replicates=int(dc.size),
        seed=seed,
        clustered=cluster is not None,
        delta_cost=dc,
        delta_effect=de,
        ci_cost=d_cost.interval,
        ci_effect=d_effect.interval,
        ci_nmb=[p.interval for p in nmb],
        ceac=analysis.acceptability(dc, de, wtp),
        imputations=m,
        fmi=(d_cost.fmi, d_effect.fmi),
    )


def cost_table(evaluation: Evaluation) -> pd.DataFrame:
    """Mean of each cost component, the total, earnings (when counted) and the effect by arm
    (complete cases)."""
    columns = [*costs.COMPONENTS, "total_cost"]
    if evaluation.earnings:
        columns.append("earnings")
    columns.append("effect")
    data = evaluation.complete
    if data.empty:
        return pd.DataFrame(columns=["arm", "n", *columns])
    means = data.groupby("arm")[columns].mean()
    means.insert(0, "n", data.groupby("arm").size())
    return means.reset_index()


def plane_points(result: analysis.Result) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "replicate": np.arange(1, result.delta_cost.size + 1),
            "delta_effect": result.delta_effect,
            "delta_cost": result.delta_cost,
        }
    )
