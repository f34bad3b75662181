"""Missing outcomes: counts by arm and reason, and multiple imputation as a sensitivity analysis."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.imputation.mice import MICEData

from reports.analysis import clustered
from reports.analysis.estimates import Estimate, t_reference, unavailable, usable_covariates
from reports.analysis.text import _, number

#: Imputations and burn-in cycles. Twenty imputations keep the Monte Carlo error of the pooled
#: estimate small (White, Royston & Wood 2011: m ≥ percentage of incomplete cases is ideal; 20
#: is the usual floor); ten burn-in cycles and two skipped cycles between imputations are
#: statsmodels' and van Buuren's defaults. On 10,000 participants this takes a few seconds.
IMPUTATIONS = 20
BURN_IN = 10
SKIP = 2


def missing_outcomes_table(
    participants: pd.DataFrame,
    outcomes: pd.DataFrame,
    missed: pd.DataFrame,
    outcome: str,
    visit: str,
    arm: str = "arm",
) -> pd.DataFrame:
    """Per arm: randomised, outcome observed, and missing by reason at ``visit``.

    Reasons come from ``missed`` (missed / withdrawn / lost / not yet due); an assessment that
    exists but lacks this outcome counts as "value missing", and a participant with neither an
    assessment nor a ``missed`` row counts as "no record".
    """
    at_visit = outcomes.loc[outcomes["visit"] == visit] if not outcomes.empty else outcomes
    observed_ids = set()
    assessed_ids = set()
    if not at_visit.empty and outcome in at_visit.columns:
        assessed_ids = set(at_visit["study_id"])
        observed_ids = set(at_visit.loc[at_visit[outcome].notna(), "study_id"])
    reasons: dict[object, str] = {}
    if not missed.empty:
        for row in missed.loc[missed["visit"] == visit].itertuples(index=False):
            reasons[row.study_id] = str(row.reason)
    labels = sorted({*reasons.values()})
    rows = []
    for code, group in participants.groupby(arm, sort=True):
        ids = list(group["study_id"])
        row = {"arm": code, "randomised": len(ids)}
        row["observed"] = sum(i in observed_ids for i in ids)
        for label in labels:
            row[label] = sum(i not in observed_ids and reasons.get(i) == label for i in ids)
        row["value missing"] = sum(
            i in assessed_ids and i not in observed_ids and i not in reasons for i in ids
        )
        row["no record"] = sum(i not in assessed_ids and i not in reasons for i in ids)
        row["missing"] = row["randomised"] - row["observed"]
        rows.append(row)
    return pd.DataFrame(rows)


class _MatrixMICEData(MICEData):  # type: ignore[misc]  # statsmodels is untyped
    """MICEData whose imputation models use numpy matrices instead of patsy formulas.

    Each variable is imputed from an intercept and all other columns (main effects), which is
    what MICEData's default formula says; building the matrices directly avoids patsy's
    per-cycle cost, which dominated the run time (≈ 40 ms per model, hundreds of models).
    """

    def _matrices(self, vname: str) -> tuple[np.ndarray, np.ndarray]:
        values = self.data.to_numpy(dtype=float)
        column = list(self.data.columns).index(vname)
        exog = np.column_stack([np.ones(len(values)), np.delete(values, column, axis=1)])
        return values[:, column], exog

    def get_split_data(self, vname):  # type: ignore[no-untyped-def]  # statsmodels' signature
        endog, exog = self._matrices(vname)
        ixo, ixm = self.ix_obs[vname], self.ix_miss[vname]
        return endog[ixo], exog[ixo], exog[ixm], {}, {}

    def get_fitting_data(self, vname):  # type: ignore[no-untyped-def]  # statsmodels' signature
        endog, exog = self._matrices(vname)
        ixo = self.ix_obs[vname]
        return endog[ixo], exog[ixo], {}, {}


def _numeric_design(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Numeric columns for imputation: booleans as 0/1, text and site/stratum as dummies."""
    parts = []
    for name in columns:
        column = frame[name]
        if column.dtype == bool or pd.api.types.is_bool_dtype(column):
            parts.append(column.astype(float).rename(name))
        elif name in {"site", "stratum"} or not pd.api.types.is_numeric_dtype(column):
            dummies = pd.get_dummies(
                column.astype("string"), prefix=name, drop_first=True, dtype=float
            )
            dummies.loc[column.isna(), :] = np.nan
            parts.append(dummies)
        else:
            parts.append(column.astype(float).rename(name))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def multiple_imputation(
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    seed: int,
    treat: str = "treat",
    auxiliary: list[str] | None = None,
    imputations: int = IMPUTATIONS,
    burn_in: int = BURN_IN,
    *,
    cluster: str | None = None,
    period: str | None = None,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Treatment effect after multiple imputation by chained equations (statsmodels MICEData).

    Imputation models: predictive mean matching on all other columns (outcome, arm,
    covariates and ``auxiliary`` variables such as the outcome at earlier visits). Analysis
    model: linear regression of the outcome on arm and covariates, so a binary outcome gives a
    risk difference and a continuous one a difference in means, with model-based standard
    errors; pooled by Rubin's rules with a t reference and the Barnard–Rubin degrees of
    freedom (complete-data degrees of freedom n − p).

    With ``cluster`` (a cluster or stepped-wedge trial) the clusters enter the imputation
    models as fixed effects (so imputed values keep the between-cluster variation), the
    analysis model has the CR2 cluster-robust covariance (and ``period`` fixed effects in a
    stepped wedge), and the complete-data degrees of freedom are K − 2, as for every
    cluster-aware estimate (:mod:`reports.analysis.clustered`).

    Only the rows given are imputed: the caller leaves out participants whose visit was not
    yet due. Seeded with ``seed``: the same data and seed give the same result. A covariate
    left out is named in the note by ``label`` (see
    :func:`~reports.analysis.estimates.usable_covariates`).
    """
    measure = _("difference (multiple imputation)")
    method = _("MICE, %(m)s imputations, Rubin's rules") % {"m": imputations}
    covariates, notes = usable_covariates(frame, [c for c in covariates if c != cluster], label)
    auxiliary = [a for a in (auxiliary or []) if a in frame.columns and frame[a].notna().any()]
    n_t, n_c = int((frame[treat] == 1).sum()), int((frame[treat] == 0).sum())
    problem = _imputation_problem(frame, outcome, treat, cluster, period)
    if problem:
        return unavailable(measure, method, n_t, n_c, problem)
    design, cluster_dummies = _imputation_design(
        frame, [outcome, treat, *covariates, *auxiliary], cluster, period
    )
    if outcome not in design.columns or treat not in design.columns:
        return unavailable(measure, method, n_t, n_c, _("The outcome takes only one value."))
    names = {column: f"v{index}" for index, column in enumerate(design.columns)}
    data = design.rename(columns=names).reset_index(drop=True)
    data.columns = pd.Index([str(c) for c in data.columns], dtype=object)
    # The analysis model: arm, covariates and (stepped wedge) periods; clusters only impute.
    only_imputing = {outcome, treat, *auxiliary}
    if cluster_dummies is not None:
        only_imputing |= set(cluster_dummies.columns)
    adjust = [names[c] for c in design.columns if c not in only_imputing]
    groups = frame[cluster].astype(str).to_numpy() if cluster else None
    try:
        draws = _imputed_estimates(
            data, seed, burn_in, imputations, names[outcome], names[treat], adjust, groups
        )
    except Exception as error:
        return unavailable(
            measure, method, n_t, n_c, _("Imputation failed: %(error)s") % {"error": error}
        )
    pooled = rubin(
        [d[0] for d in draws],
        [d[1] for d in draws],
        complete_df=(
            clustered.cluster_df(len(set(groups)))
            if groups is not None
            else len(data) - len(adjust) - 2
        ),
    )
    if pooled is None:
        return unavailable(measure, method, n_t, n_c, _("Imputation gave no usable estimate."))
    coef, se, df, fmi = pooled
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(coef / se), df))
    notes.append(_("Fraction of missing information: %(fmi)s.") % {"fmi": number(fmi, 2)})
    se_type = clustered.cr2_label() if cluster else _("model-based")
    return Estimate(
        measure, coef, coef - q * se, coef + q * se, p, method, n_t, n_c, " ".join(notes)
    ).described(
        _("%(se)s, pooled by Rubin's rules") % {"se": se_type},
        _("%(reference)s (Barnard–Rubin)") % {"reference": t_reference(df)},
        [label(c) for c in covariates],
    )


def _imputation_problem(
    frame: pd.DataFrame, outcome: str, treat: str, cluster: str | None, period: str | None
) -> str | None:
    """Why the outcome cannot be imputed and analysed, or None."""
    observed = frame[outcome].notna()
    if (
        observed.sum() < 3
        or not (frame.loc[observed, treat] == 1).any()
        or not (frame.loc[observed, treat] == 0).any()
    ):
        return _("Too few observed outcomes in an arm to impute from.")
    if cluster is not None:
        return clustered.cluster_problem(frame, treat, cluster, period is not None)
    return None


def _imputation_design(
    frame: pd.DataFrame, columns: list[str], cluster: str | None, period: str | None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The numeric columns the imputation models use (``columns``, then cluster and period
    dummies), without duplicates, empty or constant columns; and the cluster dummies."""
    design = _numeric_design(frame, columns)
    cluster_dummies = _numeric_design(frame, [cluster]) if cluster else None
    period_dummies = (
        _numeric_design(frame.assign(**{period: frame[period].astype("string")}), [period])
        if period
        else None
    )
    design = pd.concat([design, cluster_dummies, period_dummies], axis=1)
    design = design.loc[:, ~design.columns.duplicated()]
    design = design.loc[:, design.notna().any()]
    design = design.loc[:, design.nunique(dropna=True) > 1]
    return design, cluster_dummies


def _imputed_estimates(
    data: pd.DataFrame,
    seed: int,
    burn_in: int,
    imputations: int,
    outcome: str,
    treat: str,
    adjust: list[str],
    groups: np.ndarray | None,
) -> list[tuple[float, float]]:
    """The analysis model's estimate and variance in each imputed data set (seeded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "rng" in inspect.signature(MICEData.__init__).parameters:
            imputed = _MatrixMICEData(data, rng=np.random.default_rng(seed))
        else:  # statsmodels < 0.15 draws from the global NumPy state
            np.random.seed(seed)
            imputed = _MatrixMICEData(data)
        # The cycles of statsmodels' MICE.fit: burn-in, then SKIP + 1 cycles per imputation.
        imputed.update_all(burn_in)
        draws = []
        for _m in range(imputations):
            imputed.update_all(SKIP + 1)
            draws.append(_analyse(imputed.data, outcome, treat, adjust, groups))
    return draws


def _analyse(
    data: pd.DataFrame, outcome: str, treat: str, adjust: list[str], groups: np.ndarray | None
) -> tuple[float, float]:
    """The arm coefficient and its variance in one completed data set: least squares with
    model-based variance, or CR2 by ``groups``."""
    x = np.column_stack([np.ones(len(data)), data[[treat, *adjust]].to_numpy(dtype=float)])
    y = data[outcome].to_numpy(dtype=float)
    if groups is None:
        fit = sm.OLS(y, x).fit()
        return float(fit.params[1]), float(fit.cov_params()[1, 1])
    frame = pd.DataFrame(x[:, 1:], columns=[treat, *adjust]).assign(y=y, c=groups)
    result = clustered.linear_cr2(frame, "y", [treat, *adjust], "c", coefficient=treat)
    return float(result.params[treat]), result.se(treat) ** 2


def rubin(
    estimates: list[float], variances: list[float], complete_df: float
) -> tuple[float, float, float, float] | None:
    """Rubin's rules: the pooled estimate, its standard error, the Barnard–Rubin (1999)
    degrees of freedom with ``complete_df`` complete-data degrees of freedom, and the fraction
    of missing information λ = (1 + 1/m)B / T. None when the result is not usable."""
    m = len(estimates)
    if m < 2:
        return None
    q = np.asarray(estimates, dtype=float)
    within = float(np.mean(variances))
    between = float(np.var(q, ddof=1))
    total = within + (1 + 1 / m) * between
    if not (math.isfinite(total) and total > 0):
        return None
    share = (1 + 1 / m) * between / total
    observed = (complete_df + 1) / (complete_df + 3) * complete_df * (1 - share)
    df = observed if share == 0 else 1 / (share**2 / (m - 1) + 1 / observed)
    return float(q.mean()), math.sqrt(total), float(df), float(share)
