"""Multiple imputation against R's mice (tests/economics/reference/mi_reference.R, mice 3.15.0).

The same data (``mi_data.csv``: the boot reference's 60 participants with 10 costs and 7
effects removed by a fixed rule), imputed by arm with predictive mean matching, 500
imputations on each side, and Rubin's pooled difference in means with the within-imputation
variance var_t/n_t + var_c/n_c. The two use different random numbers, so they agree only up to
Monte Carlo error; tolerances: pooled estimates within four Monte Carlo standard errors of their
difference (√(B_R/M + B_Py/M)), the within-imputation variance to 2 %, the between-imputation
variance to 30 % (a variance estimated from 500 draws has a relative standard error of about
6 %), the total variance to 5 %.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from economics import imputation

HERE = Path(__file__).with_name("reference")
M = 500


@pytest.mark.parametrize("column", ["cost", "effect"])
def test_imputation_by_arm_agrees_with_mice(column: str) -> None:
    data = pd.read_csv(HERE / "mi_data.csv")
    reference = pd.read_csv(HERE / "mi_reference_r.csv").set_index("quantity")
    assert int(reference["imputations"].iloc[0]) == M
    treated = data["treated"].to_numpy() == 1
    completed = imputation.impute_by_arm(
        data["cost"], data["effect"], treated, seed=20261206, imputations=M
    )
    position = ["cost", "effect"].index(column)
    values = np.array([pair[position] for pair in completed])
    q = values[:, treated].mean(axis=1) - values[:, ~treated].mean(axis=1)
    u = (
        values[:, treated].var(axis=1, ddof=1) / treated.sum()
        + values[:, ~treated].var(axis=1, ddof=1) / (~treated).sum()
    )
    pooled = imputation.rubin(q, u, math.inf)
    r = reference.loc[column]
    between = float(np.var(q, ddof=1))
    monte_carlo = math.sqrt(r["between"] / M + between / M)
    assert abs(pooled.estimate - r["estimate"]) < 4 * monte_carlo
    assert float(u.mean()) == pytest.approx(r["within"], rel=0.02)
    assert between == pytest.approx(r["between"], rel=0.30)
    assert pooled.variance == pytest.approx(r["total"], rel=0.05)
