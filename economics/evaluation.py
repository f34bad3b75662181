"""The whole economic evaluation from frames: costs per participant, the complete cases, each
intervention arm against the control arm with the bootstrap and the acceptability curve, and
the one-way sensitivity analyses. Pure (no ORM): ``economics.extract`` supplies the frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from economics import analysis, costs

SENSITIVITY_FACTORS = (0.8, 1.2)
DISCOUNT_RATES = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)


@dataclass
class Comparison:
    arm: str  # the intervention arm's code
    control: str
    result: analysis.Result
    sensitivity: list[analysis.Scenario]


@dataclass
class Evaluation:
    settings: costs.CostSettings
    per_participant: pd.DataFrame  # every allocated participant, with ``complete``
    left_out: list[costs.LeftOut]
    comparisons: list[Comparison]
    reference_wtp: float

    @property
    def complete(self) -> pd.DataFrame:
        return self.per_participant[self.per_participant["complete"]]


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
) -> Evaluation:
    """Costs and effects (months in work) per participant; for each intervention arm against
    the (first, by code) control arm: point estimates, a bootstrap of ``replicates`` replicates
    (by cluster when ``clustered`` and ``participants`` has a ``cluster`` column), net monetary
    benefit and acceptability over 0…``wtp_max``, and one-way sensitivity analyses on the unit
    costs (×0.8, ×1.2) and the discount rate (0–5 %). Complete cases only: participants with
    anything left out are not analysed (they are counted)."""
    parts = costs.components(participants, contacts, months, rates, settings)
    frame = costs.per_participant(parts, discount_rate=settings.discount_rate)
    wtp = analysis.wtp_grid(wtp_max)
    reference_wtp = float(wtp_max) / 2
    complete_ids = set(frame.loc[frame["complete"], "participant_id"])
    controls = sorted(set(frame.loc[frame["control"].astype(bool), "arm"]))
    comparisons: list[Comparison] = []
    if controls:
        control = controls[0]
        arms = sorted(set(frame.loc[~frame["control"].astype(bool), "arm"]))
        for position, arm in enumerate(arms):
            rows = frame[frame["complete"] & frame["arm"].isin([arm, control])]
            treated = (rows["arm"] == arm).to_numpy()
            if treated.all() or not treated.any():
                continue
            cluster = rows["cluster"].tolist() if clustered and "cluster" in rows else None
            result = analysis.analyse(
                rows["total_cost"],
                rows["months_in_work"],
                treated,
                wtp=wtp,
                replicates=replicates,
                seed=seed + position,
                cluster=cluster,
            )

            def frame_for(rate: float, scale: dict[str, float], arm: str = arm) -> pd.DataFrame:
                out = costs.per_participant(parts, discount_rate=rate, scale=scale)
                out = out[out["participant_id"].isin(complete_ids)]
                out = out[out["arm"].isin([arm, control])]
                return out.rename(columns={"months_in_work": "effect"})

            scenarios = analysis.sensitivity(
                frame_for,
                lambda f, arm=arm: (f["arm"] == arm).to_numpy(),
                base_rate=settings.discount_rate,
                reference_wtp=reference_wtp,
                factors=SENSITIVITY_FACTORS,
                rates=DISCOUNT_RATES,
            )
            comparisons.append(Comparison(arm, control, result, scenarios))
    return Evaluation(settings, frame, parts.left_out, comparisons, reference_wtp)


def cost_table(evaluation: Evaluation) -> pd.DataFrame:
    """Mean of each cost component, the total and the effect by arm (complete cases)."""
    columns = [*costs.COMPONENTS, "total_cost", "months_in_work"]
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
