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
from statsmodels.imputation.mice import MICE, MICEData

from reports.analysis.estimates import Z95, Estimate, unavailable, usable_covariates
from reports.analysis.text import _

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
    label: Callable[[str], str] = str,
) -> Estimate:
    """Treatment effect after multiple imputation by chained equations (statsmodels MICE).

    Imputation models: predictive mean matching on all other columns (outcome, arm,
    covariates and ``auxiliary`` variables such as the outcome at other visits). Analysis
    model: linear regression of the outcome on arm and covariates, so a binary outcome gives a
    risk difference and a continuous one a difference in means; estimates pooled by Rubin's
    rules (normal reference). Seeded with ``seed``: the same data and seed give the same result.
    A covariate left out is named in the note by ``label`` (see
    :func:`~reports.analysis.estimates.usable_covariates`).
    """
    measure = _("difference (multiple imputation)")
    method = _("MICE, %(m)s imputations, Rubin's rules") % {"m": imputations}
    covariates, notes = usable_covariates(frame, covariates, label)
    auxiliary = [a for a in (auxiliary or []) if a in frame.columns and frame[a].notna().any()]
    n_t, n_c = int((frame[treat] == 1).sum()), int((frame[treat] == 0).sum())
    observed = frame[outcome].notna()
    if (
        observed.sum() < 3
        or not (frame.loc[observed, treat] == 1).any()
        or not (frame.loc[observed, treat] == 0).any()
    ):
        return unavailable(
            measure, method, n_t, n_c, _("Too few observed outcomes in an arm to impute from.")
        )
    design = _numeric_design(frame, [outcome, treat, *covariates, *auxiliary])
    design = design.loc[:, design.notna().any()]
    design = design.loc[:, design.nunique(dropna=True) > 1]
    if outcome not in design.columns or treat not in design.columns:
        return unavailable(measure, method, n_t, n_c, _("The outcome takes only one value."))
    names = {column: f"v{index}" for index, column in enumerate(design.columns)}
    data = design.rename(columns=names).reset_index(drop=True)
    data.columns = pd.Index([str(c) for c in data.columns], dtype=object)
    adjust = [names[c] for c in design.columns if c not in {outcome, treat, *auxiliary}]
    formula = " + ".join([f"{names[outcome]} ~ {names[treat]}", *adjust])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if "rng" in inspect.signature(MICEData.__init__).parameters:
                imputed = _MatrixMICEData(data, rng=np.random.default_rng(seed))
            else:  # statsmodels < 0.15 draws from the global NumPy state
                np.random.seed(seed)
                imputed = _MatrixMICEData(data)
            analysis = MICE(formula, sm.OLS, imputed, n_skip=SKIP)
            result = analysis.fit(n_burnin=burn_in, n_imputations=imputations)
    except Exception as error:
        return unavailable(
            measure, method, n_t, n_c, _("Imputation failed: %(error)s") % {"error": error}
        )
    index = list(result.exog_names).index(names[treat])
    coef = float(result.params[index])
    se = float(np.sqrt(result.cov_params()[index, index]))
    if not (math.isfinite(coef) and math.isfinite(se)) or se <= 0:
        return unavailable(measure, method, n_t, n_c, _("Imputation gave no usable estimate."))
    p = float(2 * stats.norm.sf(abs(coef / se)))
    fmi = float(result.frac_miss_info[index])
    notes.append(_("Fraction of missing information: %(fmi).2f.") % {"fmi": fmi})
    return Estimate(
        measure, coef, coef - Z95 * se, coef + Z95 * se, p, method, n_t, n_c, " ".join(notes)
    )
