"""Missing costs and effects by multiple imputation (pure functions, no ORM).

* **Imputation**: chained equations *by arm* (each arm imputed on its own, so the imputation
  model holds every interaction with arm; in a cluster design with the clusters as indicator
  variables), predictive mean matching (van Buuren's "type 1"
  matching, as R's ``mice.impute.pmm``): for each incomplete column, a linear regression on the
  other columns with its coefficients and variance drawn from their posterior; the predicted
  means of the missing rows (drawn coefficients) are matched to those of the observed rows
  (estimated coefficients) and the value of one of the ``DONORS`` closest is taken. Imputed values
  are always values someone has, so costs stay non-negative and a binary effect stays 0/1.
  ``BURN_IN`` cycles before the first imputation, ``SKIP`` + 1 between the next ones.
* **Then the bootstrap** ("MI, then bootstrap", Schomaker & Heumann 2018): every completed data
  set is bootstrapped as the complete-case analysis is (by arm or by cluster); its point
  estimates and bootstrap variances are pooled by Rubin's rules (:func:`rubin`), and the
  replicates of all imputations together make the plane and the acceptability curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

IMPUTATIONS = 20
BURN_IN = 10
SKIP = 2
DONORS = 5

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Pooled:
    """Rubin's rules: the pooled estimate, total variance, degrees of freedom (Barnard–Rubin),
    fraction of missing information and the 95 % interval."""

    estimate: float
    variance: float
    df: float
    fmi: float

    @property
    def interval(self) -> tuple[float, float]:
        if not (math.isfinite(self.variance) and self.variance > 0):
            return (self.estimate, self.estimate)
        q = float(stats.t.ppf(0.975, self.df)) if math.isfinite(self.df) else 1.959963984540054
        half = q * math.sqrt(self.variance)
        return (self.estimate - half, self.estimate + half)


def rubin(estimates: npt.ArrayLike, variances: npt.ArrayLike, complete_df: float) -> Pooled:
    """Pool m estimates with their within-imputation variances: Q̄ = mean, W = mean variance,
    B = between variance, T = W + (1 + 1/m) B, λ = (1 + 1/m) B / T and the Barnard–Rubin (1999)
    degrees of freedom with ``complete_df`` complete-data degrees of freedom (inf when B = 0
    and complete_df is inf)."""
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = q.size
    within = float(u.mean())
    between = float(q.var(ddof=1)) if m > 1 else 0.0
    total = within + (1 + 1 / m) * between
    share = (1 + 1 / m) * between / total if total > 0 else 0.0
    if math.isinf(complete_df):
        df = math.inf if share == 0 else (m - 1) / share**2
    else:
        observed = (complete_df + 1) / (complete_df + 3) * complete_df * (1 - share)
        df = observed if share == 0 else 1 / (share**2 / (m - 1) + 1 / observed)
    return Pooled(float(q.mean()), total, float(df), float(share))


def _pmm_column(
    values: Array, missing: npt.NDArray[np.bool_], predictors: Array, rng: np.random.Generator
) -> Array:
    """New draws for the missing entries of one column (see the module's docstring)."""
    x = np.column_stack([np.ones(len(values)), predictors])
    xo, yo = x[~missing], values[~missing]
    xtx = xo.T @ xo + 1e-5 * np.eye(x.shape[1])  # mice's ridge, for a constant predictor
    inverse = np.linalg.inv(xtx)
    beta = inverse @ xo.T @ yo
    residual = yo - xo @ beta
    dof = max(len(yo) - x.shape[1], 1)
    sigma2 = float(residual @ residual) / rng.chisquare(dof)
    chol = np.linalg.cholesky((inverse + inverse.T) / 2 * sigma2 + 1e-12 * np.eye(x.shape[1]))
    drawn = beta + chol @ rng.standard_normal(x.shape[1])
    observed_mean = xo @ beta
    wanted = x[missing] @ drawn
    k = min(DONORS, len(yo))
    out = np.empty(int(missing.sum()))
    for position, target in enumerate(wanted):
        nearest = np.argpartition(np.abs(observed_mean - target), k - 1)[:k]
        out[position] = yo[nearest[rng.integers(0, k)]]
    return out


def impute_arm(
    data: Array, rng: np.random.Generator, imputations: int = IMPUTATIONS
) -> list[Array]:
    """``imputations`` completed copies of one arm's (n × p) matrix, NaN marking missing.
    A column with fewer than two observed values cannot be imputed (ValueError)."""
    data = np.array(data, dtype=float)
    missing = np.isnan(data)
    columns = [j for j in range(data.shape[1]) if missing[:, j].any()]
    for j in columns:
        observed = data[~missing[:, j], j]
        if observed.size < 2:
            raise ValueError("fewer than two observed values")
        data[missing[:, j], j] = rng.choice(observed, size=int(missing[:, j].sum()))
    if not columns:
        return [data.copy() for _m in range(imputations)]

    def cycle() -> None:
        for j in columns:
            others = np.delete(data, j, axis=1)
            data[missing[:, j], j] = _pmm_column(data[:, j], missing[:, j], others, rng)

    for _b in range(BURN_IN):
        cycle()
    out = []
    for _m in range(imputations):
        for _s in range(SKIP + 1):
            cycle()
        out.append(data.copy())
    return out


def impute_by_arm(
    cost: npt.ArrayLike,
    effect: npt.ArrayLike,
    treated: npt.ArrayLike,
    *,
    seed: int,
    imputations: int = IMPUTATIONS,
    cluster: Sequence[object] | None = None,
) -> list[tuple[Array, Array]]:
    """Completed (cost, effect) pairs, one per imputation; NaN marks what is missing. Each arm
    is imputed on its own from its own cost and effect and, in a cluster design (``cluster``:
    each participant's cluster), an indicator of each of the arm's clusters but the first
    (fixed-effects imputation: a missing value is drawn from donors like it in its own
    cluster's level, so the imputed data keep the clusters' differences)."""
    c = np.asarray(cost, dtype=float)
    e = np.asarray(effect, dtype=float)
    t = np.asarray(treated, dtype=bool)
    rng = np.random.default_rng(seed)
    completed = [(c.copy(), e.copy()) for _m in range(imputations)]
    for arm in (False, True):
        rows = np.flatnonzero(t == arm)
        columns = [c[rows], e[rows]]
        if cluster is not None:
            of_arm = [cluster[int(i)] for i in rows]
            levels = sorted(set(of_arm), key=str)
            columns += [
                np.array([value == level for value in of_arm], dtype=float) for level in levels[1:]
            ]
        for index, filled in enumerate(impute_arm(np.column_stack(columns), rng, imputations)):
            completed[index][0][rows] = filled[:, 0]
            completed[index][1][rows] = filled[:, 1]
    return completed
