"""Time the economic evaluation (economics/costs.py, analysis.py, evaluation.py) on synthetic
frames: 10,000 participants, 1,000,000 contacts, 72 months of states, 2,000 bootstrap
replicates, by participant and by cluster (20 sites). Needs no database.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from common import REPO_ROOT, emit
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(REPO_ROOT))

from economics import costs, evaluation
from economics.synthetic import synthetic

PARTICIPANTS = 10_000
CONTACTS = 1_000_000
MONTHS = 72
REPLICATES = 2000


def main() -> None:
    people, contacts, months, rates = synthetic(PARTICIPANTS, CONTACTS, MONTHS, seed=5)
    settings = costs.CostSettings(
        horizon_months=MONTHS, discount_rate=0.04, price_year=2024, price_index={2024: 100.0}
    )
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        parts = costs.components(people, contacts, months, rates, settings)
        emit("economics", "costs (components)", time.perf_counter() - started, "s")
        started = time.perf_counter()
        costs.per_participant(parts, discount_rate=0.04)
        emit("economics", "per-participant totals", time.perf_counter() - started, "s")
        for clustered in (False, True):
            started = time.perf_counter()
            result = evaluation.evaluate(
                people,
                contacts,
                months,
                rates,
                settings,
                wtp_max=500_000,
                replicates=REPLICATES,
                seed=1,
                clustered=clustered,
            )
            label = "cluster" if clustered else "participant"
            emit(
                "economics",
                f"whole evaluation, {REPLICATES} replicates by {label}",
                time.perf_counter() - started,
                "s",
                f"{len(result.complete)} complete cases, {CONTACTS:,} contacts",
            )
        imputed(people, contacts, months, rates, settings)


def imputed(people: Any, contacts: Any, months: Any, rates: Any, settings: Any) -> None:
    """The plan's other choice for missing data: an effect (as the plan's primary outcome
    would be) missing for 10 % of participants, imputed 20 times by arm before the bootstrap
    of each completed data set (economics.imputation)."""
    rng = np.random.default_rng(7)
    ids = people["participant_id"].to_numpy()
    values = rng.normal(50.0, 10.0, len(ids))
    values[rng.random(len(ids)) < 0.10] = np.nan
    effect = pd.Series(values, index=ids)
    started = time.perf_counter()
    result = evaluation.evaluate(
        people,
        contacts,
        months,
        rates,
        settings,
        wtp_max=500_000,
        replicates=REPLICATES,
        seed=1,
        effect=effect,
        missing=evaluation.MULTIPLE_IMPUTATION,
    )
    imputations = result.comparisons[0].result.imputations if result.comparisons else 0
    emit(
        "economics",
        f"whole evaluation, multiple imputation, {REPLICATES} replicates by participant",
        time.perf_counter() - started,
        "s",
        f"{imputations} imputations, 10 % of effects missing, {CONTACTS:,} contacts",
    )


if __name__ == "__main__":
    main()
