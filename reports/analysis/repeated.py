"""Repeated measures: an outcome measured at several follow-up visits analysed in one model.

GEE (statsmodels) with the arm effect at each visit as its own coefficient (cell-means
parameterisation ``y ~ 0 + visit + visit:treat``), so the per-visit contrasts are coefficients
and the overall effect is their average (a linear contrast with equal weights). Working
correlation exchangeable or AR(1) over the visit order, within participants; identity link for
numbers (differences in means), logit for yes/no (odds ratios).

Inference: under individual randomisation the robust (sandwich) covariance with a normal
reference, as R's ``geepack::geeglm``; in cluster and stepped-wedge trials the participants'
repeated measures are nested in sites, so the model's clusters are the sites (exchangeable
working correlation within a site, which takes in the correlation within participants too),
with the Mancl–DeRouen bias-reduced sandwich and a t reference with K − 2 degrees of freedom,
as the primary analysis; AR(1) has no meaning there and is not fitted.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from reports.analysis.clustered import cluster_df, cluster_problem
from reports.analysis.estimates import (
    Estimate,
    covariate_terms,
    normal_reference,
    t_reference,
    term,
    unavailable,
    usable_covariates,
)
from reports.analysis.text import _, number

EXCHANGEABLE, AR1 = "exchangeable", "ar1"


@dataclass
class RepeatedFit:
    """The per-visit and overall effects of one model, and its working correlation."""

    correlation: str  # EXCHANGEABLE or AR1
    alpha: float | None  # the estimated working correlation parameter
    rows: list[tuple[str, Estimate]] = field(default_factory=list)  # (visit code or "", estimate)
    problem: str | None = None


class VisitAR1(sm.cov_struct.CovStruct):  # type: ignore[misc]  # statsmodels is untyped
    """AR(1) over the visits' order, ρ^|visit distance|, so a missed visit keeps its place
    (statsmodels' own uses the rows' positions, which shifts every later visit of a participant
    who missed one). ρ by the moment estimator: the mean product of Pearson residuals of
    adjacent visits (distance 1) over the scale, as Liang & Zeger (1986)."""

    def __init__(self) -> None:
        super().__init__()
        self.dep_params = 0.0

    def summary(self) -> str:
        return f"AR(1) over visits, rho = {self.dep_params:.4f}"

    def covariance_matrix(self, endog_expval: np.ndarray, index: int) -> tuple[np.ndarray, bool]:
        waves = np.asarray(self.model.time_li[index], dtype=float).reshape(-1)
        distance = np.abs(waves[:, None] - waves[None, :])
        return self.dep_params**distance, True

    def update(self, params: np.ndarray) -> None:
        endog = self.model.endog_li
        variance = self.model.family.variance
        products, pairs, squares = 0.0, 0, 0.0
        for index in range(self.model.num_group):
            expval, _linear = self.model.cached_means[index]
            residuals = (endog[index] - expval) / np.sqrt(variance(expval))
            waves = np.asarray(self.model.time_li[index], dtype=float).reshape(-1)
            squares += float(residuals @ residuals)
            adjacent = np.abs(waves[:, None] - waves[None, :]) == 1
            upper = np.triu(adjacent)
            products += float(residuals @ upper @ residuals)
            pairs += int(upper.sum())
        scale = squares / max(self.model.nobs - len(params), 1)
        if pairs and scale > 0:
            self.dep_params = float(np.clip(products / pairs / scale, -0.99, 0.99))


def correlation_name(correlation: str) -> str:
    return _("exchangeable") if correlation == EXCHANGEABLE else _("AR(1)")


def fit_repeated(
    long: pd.DataFrame,
    outcome: str,
    visits: list[str],
    binary: bool,
    correlation: str,
    *,
    cluster: str | None = None,
    covariates: list[str] | None = None,
    period: str | None = None,
    label: object = str,
) -> RepeatedFit:
    """GEE of ``outcome`` in ``long`` (one row per participant and visit: study_id, visit,
    treat, and ``cluster``/covariates when given) over ``visits`` in their order.

    Without ``cluster`` the groups are participants; with it the groups are the clusters and
    the covariance is bias-reduced with a t(K − 2) reference. ``period`` adds period fixed
    effects (a stepped wedge, where the arm changes with calendar time). Never raises for bad
    data.
    """
    labeller = label if callable(label) else str
    covariates, notes = usable_covariates(long, list(covariates or []), labeller)
    data = _visit_rows(long, outcome, visits, covariates, cluster, period)
    present = [v for v in visits if (data["visit"] == v).any()]
    result = RepeatedFit(correlation, None)
    problem = _data_problem(data, outcome, present, binary, cluster, period)
    if problem:
        result.problem = problem
        return result
    group = cluster or "study_id"
    data = data.sort_values([group, "study_id", "wave"]).reset_index(drop=True)
    data["wave_code"] = pd.Categorical(data["visit"], categories=present)
    terms = ["0 + wave_code + wave_code:treat", *covariate_terms(data, covariates)]
    if period:
        terms.append(term(period, categorical=True))
    try:
        fit = _fit_gee(data, f"Q('{outcome}') ~ " + " + ".join(terms), group, binary, correlation)
    except Exception as error:
        result.problem = _("The model could not be fitted: %(error)s") % {"error": error}
        return result
    dep = fit.model.cov_struct.dep_params
    result.alpha = float(np.atleast_1d(dep)[0]) if dep is not None else None
    names = list(fit.params.index)
    effect_names = [f"wave_code[{v}]:treat" for v in present]
    if any(name not in names for name in effect_names):
        result.problem = _("The model could not be fitted: %(error)s") % {
            "error": "aliased visit effects"
        }
        return result
    params = fit.params.to_numpy()
    covariance = np.asarray(fit.cov_params())
    k = data[cluster].nunique() if cluster else 0
    df = cluster_df(k) if cluster else None
    measure = _("odds ratio (GEE)") if binary else _("difference in means (GEE)")
    method = _("GEE, %(correlation)s working correlation") % {
        "correlation": correlation_name(correlation)
    }
    se_type = _("Mancl–DeRouen bias-reduced, cluster-robust") if cluster else _("robust (sandwich)")
    reference = t_reference(df) if df else normal_reference()
    note = " ".join(notes) or None
    for visit, vector in _contrasts(present, effect_names, names):
        estimate, usable = _contrast(
            vector,
            visit,
            params,
            covariance,
            data,
            df=df,
            binary=binary,
            measure=measure,
            method=method,
            note=note,
        )
        if usable:
            estimate = estimate.described(se_type, reference, [labeller(c) for c in covariates])
        result.rows.append((visit, estimate))
    return result


def _fit_gee(data: pd.DataFrame, formula: str, group: str, binary: bool, correlation: str) -> Any:
    """The fitted GEE: groups ``group`` (participants, or clusters with the bias-reduced
    covariance), the exchangeable or visit-spaced AR(1) working correlation. Raises what
    statsmodels raises."""
    structure = VisitAR1() if correlation == AR1 else sm.cov_struct.Exchangeable()
    family = sm.families.Binomial() if binary else sm.families.Gaussian()
    cov_type = "robust" if group == "study_id" else "bias_reduced"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.gee(
            formula,
            groups=group,
            data=data,
            family=family,
            cov_struct=structure,
            time=data["wave"].to_numpy() if correlation == AR1 else None,
        ).fit(cov_type=cov_type)


def _data_problem(
    data: pd.DataFrame,
    outcome: str,
    present: list[str],
    binary: bool,
    cluster: str | None,
    period: str | None,
) -> str | None:
    """Why the model cannot be fitted to ``data``, or None."""
    n_t = int(data.loc[data["treat"] == 1, "study_id"].nunique())
    n_c = int(data.loc[data["treat"] == 0, "study_id"].nunique())
    if len(present) < 2:
        return _("Fewer than two visits have values.")
    if n_t == 0 or n_c == 0:
        return _("An arm has no complete observations.")
    if cluster:
        problem = cluster_problem(data, "treat", cluster, period is not None)
        if problem:
            return problem
    if binary and data[outcome].nunique() < 2:
        return _("The outcome takes only one value.")
    return None


def _visit_rows(
    long: pd.DataFrame,
    outcome: str,
    visits: list[str],
    covariates: list[str],
    cluster: str | None,
    period: str | None,
) -> pd.DataFrame:
    """The complete rows at ``visits``, with the visit's position in ``wave``."""
    columns = ["study_id", "visit", "treat", outcome, *covariates]
    if cluster:
        columns.append(cluster)
    if period:
        columns.append(period)
    data = long[list(dict.fromkeys(columns))].dropna().copy()
    data = data.loc[data["visit"].isin(visits)]
    data[outcome] = data[outcome].astype(float)
    order = {code: i for i, code in enumerate(visits)}
    data["wave"] = data["visit"].map(order).astype(int)
    return data


def _contrasts(
    present: list[str], effect_names: list[str], names: list[str]
) -> list[tuple[str, np.ndarray]]:
    """The arm effect at each visit, then overall (their average; visit ""), as contrasts."""
    contrasts: list[tuple[str, np.ndarray]] = []
    for visit, name in zip(present, effect_names, strict=True):
        vector = np.zeros(len(names))
        vector[names.index(name)] = 1.0
        contrasts.append((visit, vector))
    overall = np.mean([vector for _visit, vector in contrasts], axis=0)
    contrasts.append(("", overall))
    return contrasts


def _contrast(
    vector: np.ndarray,
    visit: str,
    params: np.ndarray,
    covariance: np.ndarray,
    data: pd.DataFrame,
    *,
    df: int | None,
    binary: bool,
    measure: str,
    method: str,
    note: str | None,
) -> tuple[Estimate, bool]:
    """One contrast's estimate, and whether it is usable (else an unavailable estimate)."""
    coef = float(vector @ params)
    se = float(math.sqrt(max(vector @ covariance @ vector, 0.0)))
    arm_t = int(
        data.loc[(data["treat"] == 1) & ((data["visit"] == visit) | (visit == ""))][
            "study_id"
        ].nunique()
    )
    arm_c = int(
        data.loc[(data["treat"] == 0) & ((data["visit"] == visit) | (visit == ""))][
            "study_id"
        ].nunique()
    )
    if not (math.isfinite(coef) and math.isfinite(se)) or se <= 0:
        return unavailable(measure, method, arm_t, arm_c, _("No usable estimate.")), False
    if df:
        q = float(stats.t.ppf(0.975, df))
        p = float(2 * stats.t.sf(abs(coef / se), df))
    else:
        q = float(stats.norm.ppf(0.975))
        p = float(2 * stats.norm.sf(abs(coef / se)))
    low, high = coef - q * se, coef + q * se
    if binary:
        coef, low, high = math.exp(coef), math.exp(low), math.exp(high)
    return Estimate(measure, coef, low, high, p, method, arm_t, arm_c, note), True


def alpha_text(fit: RepeatedFit) -> str:
    """The working correlation as the table states it, e.g. "exchangeable, α = 0.41"."""
    if fit.alpha is None:
        return correlation_name(fit.correlation)
    return _("%(correlation)s, estimated correlation %(alpha)s") % {
        "correlation": correlation_name(fit.correlation),
        "alpha": number(fit.alpha, 3),
    }
