"""Synthetic trial data with known effects, for tests, benchmarks and trying the analyses out.

No real person is behind these rows: study ids are ``S00001``…, and effects are chosen so that
the analyses have something to find (intervention raises the probability of paid work).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from reports.analysis.results import EffectData

VISITS = [("m0", 0), ("m6", 6), ("m12", 12), ("m18", 18)]


def synthetic_effect_data(
    n: int = 400,
    design: str = "individual",
    seed: int = 1,
    sites: int = 8,
    effect: float = 0.8,
    missing_rate: float = 0.15,
    contamination: float = 0.2,
) -> EffectData:
    """An :class:`EffectData` with ``n`` participants, four visits (0, 6, 12, 18 months).

    Individual design: arm randomised per person. Cluster: per site. Stepped wedge: each site
    switches to the intervention at its own quarter. ``effect`` is the log odds ratio of paid
    work for the intervention; ``contamination`` the share of controls exposed.
    """
    rng = np.random.default_rng(seed)
    site = rng.integers(0, sites, n)
    start = dt.date(2024, 1, 1)
    day = rng.integers(0, 540, n)
    randomised_on = [start + dt.timedelta(days=int(d)) for d in day]
    if design == "individual":
        treated = rng.integers(0, 2, n)
    elif design == "cluster":
        site_arm = np.array([i % 2 for i in range(sites)])
        treated = site_arm[site]
    else:
        switch_quarter = 1 + np.arange(sites) % 5
        treated = (day // 91 >= switch_quarter[site]).astype(int)
    age = rng.normal(35, 9, n).round()
    women = rng.integers(0, 2, n).astype(bool)
    education = rng.choice(["primary", "secondary", "higher"], n, p=[0.3, 0.5, 0.2])
    site_effect = rng.normal(0, 0.3, sites)[site]
    frailty = rng.normal(0, 0.8, n)
    participants = pd.DataFrame(
        {
            "study_id": [f"S{i:05d}" for i in range(n)],
            "arm": np.where(treated == 1, "B", "A"),
            "arm_label": np.where(treated == 1, "IPS", "Usual services"),
            "is_control": treated == 0,
            "site": [f"site{s}" for s in site],
            "randomised_on": randomised_on,
            "stratum": np.where(women, "women", "men"),
            "withdrawn": rng.random(n) < 0.03,
            "age": age,
            "women": women,
            "education": education,
        }
    )
    rows, missed = _assessments(
        rng,
        participants,
        treated,
        site_effect,
        frailty,
        effect=effect,
        missing_rate=missing_rate,
    )
    exposure = _exposure(rng, participants["study_id"], treated, randomised_on, contamination)
    time_to_work = _time_to_work(rng, participants["study_id"], treated, frailty)
    return EffectData(
        participants=participants,
        outcomes=pd.DataFrame(rows),
        missed=pd.DataFrame(missed, columns=["study_id", "visit", "reason"]),
        exposure=exposure,
        time_to_work=time_to_work,
        design=design,
    )


def _assessments(
    rng: np.random.Generator,
    participants: pd.DataFrame,
    treated: np.ndarray,
    site_effect: np.ndarray,
    frailty: np.ndarray,
    *,
    effect: float,
    missing_rate: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The assessments at every visit and the visits missed (with the reason)."""
    n = len(participants)
    age = participants["age"].to_numpy()
    randomised_on = list(participants["randomised_on"])
    rows, missed = [], []
    for visit, offset in VISITS:
        linear = (
            -1.2
            + 0.08 * offset
            + effect * treated * (offset > 0)
            + site_effect
            + frailty
            - 0.02 * (age - 35)
        )
        work = rng.random(n) < 1 / (1 + np.exp(-linear))
        hours = np.where(work, rng.normal(22 + 3 * treated, 8, n).clip(1, 45), 0.0)
        absent = (rng.random(n) < missing_rate * (offset > 0)) | participants[
            "withdrawn"
        ].to_numpy() & (offset > 0)
        for i in range(n):
            if absent[i]:
                reason = "withdrawn" if participants.at[i, "withdrawn"] else "missed"
                missed.append(
                    {"study_id": participants.at[i, "study_id"], "visit": visit, "reason": reason}
                )
                continue
            rows.append(
                {
                    "study_id": participants.at[i, "study_id"],
                    "visit": visit,
                    "offset_months": offset,
                    "assessed_on": randomised_on[i] + dt.timedelta(days=30 * offset),
                    "in_paid_work": bool(work[i]),
                    "hours_per_week": float(hours[i]),
                    "monthly_earnings": float(hours[i] * 4.3 * 230),
                    "on_benefits": bool(not work[i] and rng.random() < 0.8),
                    "self_rated_health": int(
                        np.clip(round(3 + 0.3 * work[i] + rng.normal(0, 1)), 1, 5)
                    ),
                }
            )
    return rows, missed


def _exposure(
    rng: np.random.Generator,
    study_ids: pd.Series,
    treated: np.ndarray,
    randomised_on: list[dt.date],
    contamination: float,
) -> pd.DataFrame:
    """Controls exposed to intervention components (a share ``contamination``)."""
    n = len(study_ids)
    exposed = (treated == 0) & (rng.random(n) < contamination)
    return pd.DataFrame(
        {
            "study_id": study_ids,
            "exposed": exposed,
            "first_exposed_on": [
                d + dt.timedelta(days=60) if e else None
                for d, e in zip(randomised_on, exposed, strict=True)
            ],
            "contacted": treated == 1,  # everyone in the intervention arm was reached
        }
    )


def _time_to_work(
    rng: np.random.Generator, study_ids: pd.Series, treated: np.ndarray, frailty: np.ndarray
) -> pd.DataFrame:
    """Months to first paid work (or censoring) by arm and frailty, in whole days."""
    n = len(study_ids)
    rate = 0.05 * np.exp(0.5 * treated + 0.3 * frailty)
    months = rng.exponential(1 / rate)
    censor = rng.uniform(6, 24, n)
    # Whole days, as when months are computed from dates (30.4375 days a month).
    months = np.ceil(months * 30.4375) / 30.4375
    censor = np.ceil(censor * 30.4375) / 30.4375
    return pd.DataFrame(
        {
            "study_id": study_ids,
            "months": np.minimum(months, censor),
            "event": months <= censor,
        }
    )
