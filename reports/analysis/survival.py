"""Time to first paid work: Kaplan–Meier by arm, log-rank test and Cox hazard ratio.

Cluster and stepped-wedge trials get the cluster-aware versions: the Cox model with the
Lin–Wei cluster-robust sandwich (R's ``coxph(..., cluster = site)``) and, in place of the
log-rank test, its cluster-adjusted form: the robust score test of the Cox model at β = 0
(Lin & Wei 1989), whose numerator is the log-rank O − E and whose variance is the sum over
clusters of the squared summed score residuals (R's ``coxph(...)$rscore`` with Breslow ties).
Both refer to t (or F(1, ·)) with K − 2 degrees of freedom, like every cluster-aware estimate
of the report (:mod:`reports.analysis.clustered`). A stepped wedge is stratified by period.

p-values come from survival functions (``sf``), never 1 − cdf, so a very small p-value is a
small number and not 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from reports.analysis import clustered
from reports.analysis.estimates import (
    Z95,
    Estimate,
    covariate_terms,
    finite,
    is_binary,
    normal_reference,
    t_reference,
    term,
    unavailable,
    usable_covariates,
)
from reports.analysis.text import _


@dataclass
class KaplanMeier:
    """The Kaplan–Meier curve of one group (times where an event happened)."""

    times: np.ndarray
    survival: np.ndarray
    n_risk: np.ndarray
    n_events: np.ndarray
    n: int
    events: int
    median: float | None
    median_ci: tuple[float | None, float | None]

    def at(self, t: float) -> float:
        """Ŝ(t): survival just after time ``t`` (1 before the first event)."""
        index = np.searchsorted(self.times, t, side="right") - 1
        return 1.0 if index < 0 else float(self.survival[index])


def kaplan_meier(time: pd.Series, event: pd.Series) -> KaplanMeier:
    """Kaplan–Meier estimate (statsmodels ``SurvfuncRight``) with the median and its 95% CI.

    The median is the smallest time with Ŝ(t) ≤ 0.5 (the usual definition, as in R's
    ``survfit`` except that R averages two times when Ŝ is exactly 0.5 on an interval); it is
    ``None`` when the curve never reaches 0.5. The CI is statsmodels' ``quantile_ci``
    (Brookmeyer–Crowley with the cloglog transform).
    """
    data = pd.DataFrame({"t": time, "e": event}).dropna()
    t = data["t"].astype(float).to_numpy()
    e = data["e"].astype(int).to_numpy()
    if len(t) == 0:
        return KaplanMeier(
            np.array([]), np.array([]), np.array([]), np.array([]), 0, 0, None, (None, None)
        )
    if e.sum() == 0:
        return KaplanMeier(
            np.array([]), np.array([]), np.array([]), np.array([]), len(t), 0, None, (None, None)
        )
    sf = SurvfuncRight(t, e)
    below = np.flatnonzero(sf.surv_prob <= 0.5 + 1e-12)
    median = float(sf.surv_times[below[0]]) if len(below) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            low, high = sf.quantile_ci(0.5)
    except Exception:  # too few events for an interval
        low, high = None, None
    return KaplanMeier(
        np.asarray(sf.surv_times, dtype=float),
        np.asarray(sf.surv_prob, dtype=float),
        np.asarray(sf.n_risk, dtype=int),
        np.asarray(sf.n_events, dtype=int),
        len(t),
        int(e.sum()),
        median,
        (finite(low), finite(high)),
    )


def numbers_at_risk(time: pd.Series, grid: list[float]) -> list[int]:
    """Number still under observation (time ≥ t) at each time in ``grid``."""
    values = pd.Series(time).dropna().astype(float).to_numpy()
    return [int((values >= t).sum()) for t in grid]


def logrank(
    time: pd.Series, event: pd.Series, group: pd.Series
) -> tuple[float | None, float | None]:
    """Log-rank chi-square statistic (statsmodels ``survdiff``) and its p-value from the
    chi-square survival function (``survdiff``'s own p-value is 1 − cdf, which is 0 below
    about 1e-16)."""
    data = pd.DataFrame({"t": time, "e": event, "g": group}).dropna()
    groups = data["g"].nunique()
    if groups < 2 or data["e"].astype(int).sum() == 0:
        return None, None
    stat, _p = survdiff(data["t"].astype(float), data["e"].astype(int), data["g"].to_numpy())
    stat = finite(stat)
    if stat is None:
        return None, None
    return stat, finite(stats.chi2.sf(stat, groups - 1))


def score_residuals(
    time: np.ndarray,
    event: np.ndarray,
    exog: np.ndarray,
    beta: np.ndarray,
    strata: np.ndarray | None = None,
    ties: str = "breslow",
) -> np.ndarray:
    """Cox model score residuals at ``beta`` (n × p), as R's ``residuals(fit, type =
    "score")`` for Breslow or Efron ties; their sum is the score vector.

    For subject i, r_i = δ_i (x_i − x̄(t_i)) − e^{η_i} Σ_{t ≤ t_i} w_i(t) (x_i − x̄(t)) / S0(t)
    over event times t where i is at risk (time ≥ t). Efron's approximation splits the d
    deaths at a tied time into d steps k = 0..d−1 with risk sums S0 − (k/d)·S0_deaths and
    weight 1 − k/d for the dying. Computed per stratum with cumulative sums (O(n log n));
    a subject at risk at no event time gets 0 (statsmodels' ``score_residuals`` gives NaN).
    """
    n, p = exog.shape
    out = np.zeros((n, p))
    labels = np.zeros(n, dtype=int) if strata is None else pd.factorize(strata)[0]
    for stratum in np.unique(labels):
        rows = np.flatnonzero(labels == stratum)
        out[rows] = _stratum_score_residuals(
            time[rows], event[rows].astype(bool), exog[rows], beta, ties
        )
    return out


def _stratum_score_residuals(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: np.ndarray, ties: str
) -> np.ndarray:
    n, p = x.shape
    if not event.any():
        return np.zeros((n, p))
    eta = x @ beta
    risk = np.exp(eta - eta.max())
    order = np.argsort(time, kind="stable")
    sorted_time = time[order]
    # Sums over the risk set {time ≥ t}: suffix sums of the subjects sorted by time.
    suffix0 = np.append(np.cumsum(risk[order][::-1])[::-1], 0.0)
    suffix1 = np.vstack([np.cumsum((risk[:, None] * x)[order][::-1], axis=0)[::-1], np.zeros(p)])
    event_times, deaths = np.unique(time[event], return_counts=True)
    start = np.searchsorted(sorted_time, event_times, side="left")
    s0, s1 = suffix0[start], suffix1[start]
    which = np.searchsorted(event_times, time[event])
    s0_dead = np.bincount(which, risk[event], len(event_times))
    s1_dead = np.column_stack(
        [np.bincount(which, risk[event] * x[event, j], len(event_times)) for j in range(p)]
    ).reshape(len(event_times), p)
    # One row per death step: Efron's k = 0..d−1 at each event time (Breslow: k = 0, d times).
    step_time = np.repeat(np.arange(len(event_times)), deaths)
    k = np.arange(len(step_time)) - np.repeat(np.cumsum(deaths) - deaths, deaths)
    fraction = k / deaths[step_time] if ties == "efron" else np.zeros(len(step_time))
    denominator = s0[step_time] - fraction * s0_dead[step_time]
    means = (s1[step_time] - fraction[:, None] * s1_dead[step_time]) / denominator[:, None]
    times = len(event_times)

    def per_time(weights: np.ndarray) -> np.ndarray:
        return np.bincount(step_time, weights, times)

    def per_time_columns(weights: np.ndarray) -> np.ndarray:
        return np.column_stack([per_time(weights * means[:, j]) for j in range(p)]).reshape(
            times, p
        )

    hazard = per_time(1 / denominator)  # at-risk subjects that do not die at t
    hazard_means = per_time_columns(1 / denominator)
    hazard_dead = per_time((1 - fraction) / denominator)  # the d subjects dying at t
    hazard_means_dead = per_time_columns((1 - fraction) / denominator)
    mean_dead = per_time_columns(np.ones(len(step_time))) / deaths[:, None]
    before = np.searchsorted(event_times, time, side="left")  # event times strictly earlier
    cumulative = np.append(0.0, np.cumsum(hazard))[before]
    cumulative_means = np.vstack([np.zeros(p), np.cumsum(hazard_means, axis=0)])[before]
    at_own = (before < times) & (event_times[np.minimum(before, times - 1)] == time)
    own = np.minimum(before, times - 1)
    died = at_own & event
    cumulative += np.where(died, hazard_dead[own], np.where(at_own, hazard[own], 0.0))
    cumulative_means += np.where(
        died[:, None],
        hazard_means_dead[own],
        np.where(at_own[:, None], hazard_means[own], 0.0),
    )
    residuals: np.ndarray = -risk[:, None] * (x * cumulative[:, None] - cumulative_means)
    residuals[event] += x[event] - mean_dead[own[event]]
    return residuals


def _cluster_sums(values: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    labels = pd.factorize(clusters)[0]
    return np.column_stack(
        [np.bincount(labels, values[:, j]) for j in range(values.shape[1])]
    ).reshape(labels.max() + 1, values.shape[1])


def robust_logrank(
    frame: pd.DataFrame,
    cluster: str,
    treat: str = "treat",
    time: str = "months",
    event: str = "event",
    strata: str | None = None,
) -> tuple[float | None, float | None, int | None, str | None]:
    """Cluster-adjusted log-rank test: the robust score test of the Cox model at β = 0.

    Statistic U² / V with U = Σ r_i (the log-rank O − E for ``treat``) and V = Σ_c (Σ_{i∈c}
    r_i)², r_i the Breslow score residuals at β = 0, within ``strata`` (stepped-wedge periods)
    when given; R's ``coxph(Surv(time, event) ~ treat, cluster = site, ties = "breslow")$rscore``.
    Referred to F(1, K − 2). Returns (statistic, p, df, why not).
    """
    columns = [time, event, treat, cluster, *([strata] if strata else [])]
    data = frame[columns].dropna()
    if data[treat].nunique() < 2 or data[event].astype(int).sum() == 0:
        return None, None, None, _("No events, or only one arm.")
    problem = clustered.cluster_problem(data, treat, cluster, strata is not None)
    if problem:
        return None, None, None, problem
    residuals = score_residuals(
        data[time].to_numpy(dtype=float),
        data[event].to_numpy(dtype=int),
        data[[treat]].to_numpy(dtype=float),
        np.zeros(1),
        data[strata].to_numpy() if strata else None,
        ties="breslow",
    )
    score = float(residuals.sum())
    variance = float((_cluster_sums(residuals, data[cluster].to_numpy()) ** 2).sum())
    if variance <= 0:
        return None, None, None, _("No variation in the score between clusters.")
    df = clustered.cluster_df(int(data[cluster].nunique()))
    statistic = score**2 / variance
    return statistic, finite(stats.f.sf(statistic, 1, df)), df, None


def cox_hazard_ratio(
    frame: pd.DataFrame,
    covariates: list[str],
    treat: str = "treat",
    time: str = "months",
    event: str = "event",
    *,
    cluster: str | None = None,
    strata: str | None = None,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Hazard ratio for ``treat`` from a Cox model (statsmodels ``PHReg``, Efron ties).

    Without tied event times Breslow's likelihood is used, which is then identical to Efron's.

    Wald 95% CI and p-value on the log scale: with the model-based covariance and a normal
    reference; with ``cluster``, with the Lin–Wei cluster-robust covariance H⁻¹(Σ_c U_c U_c')H⁻¹
    (U_c the summed score residuals of cluster c, as R's ``coxph(..., cluster = site)``) and a
    t reference with K − 2 degrees of freedom. ``strata`` stratifies the baseline hazard (the
    periods of a stepped wedge). Complete case on time, event and covariates. A covariate not
    in the data, without values or constant is left out with a note naming it by ``label``
    (see :func:`~reports.analysis.estimates.usable_covariates`): the Cox model has no
    intercept to absorb a constant column, which otherwise gives a degenerate interval, and an
    empty one would drop every row.
    """
    measure = _("hazard ratio")
    method = _("Cox regression (Efron ties)")
    if strata:
        method = _("Cox regression stratified by period (Efron ties)")
    covariates, notes = usable_covariates(frame, [c for c in covariates if c != cluster], label)
    extra = [c for c in (cluster, strata) if c]
    data = frame[list(dict.fromkeys([time, event, treat, *covariates, *extra]))].dropna()
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    if is_binary(data[treat]) and (n_t == 0 or n_c == 0):
        return unavailable(measure, method, n_t, n_c, _("An arm has no participants."))
    if data[event].astype(int).sum() == 0:
        return unavailable(measure, method, n_t, n_c, _("No events were observed."))
    if cluster:
        problem = clustered.cluster_problem(data, treat, cluster, strata is not None)
        if problem:
            return unavailable(measure, method, n_t, n_c, problem)
    data = data.astype({time: float, event: int})
    rhs = " + ".join([treat, *covariate_terms(data, covariates)])
    event_times = data.loc[data[event] == 1, time]
    # Efron and Breslow agree exactly when no event times are tied; statsmodels' Breslow code
    # is several times faster on large data, so use it then.
    ties = "efron" if event_times.duplicated().any() else "breslow"
    try:
        model, fit = _fit_cox(data, f"{term(time)} ~ {rhs}", event, ties, strata)
    except Exception as error:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    names = list(model.exog_names)
    index = names.index(treat)
    coef = float(fit.params[index])
    covariance = np.asarray(fit.cov_params())
    se_type, reference, q, df = _("model-based"), normal_reference(), Z95, None
    if cluster:
        covariance = _lin_wei(model, fit, covariance, data, cluster, strata, ties)
        df = clustered.cluster_df(int(data[cluster].nunique()))
        q = float(stats.t.ppf(0.975, df))
        se_type, reference = _("Lin–Wei cluster-robust"), t_reference(df)
    se = math.sqrt(max(float(covariance[index, index]), 0.0))
    if not (math.isfinite(coef) and math.isfinite(se)) or se <= 0 or abs(coef) > 15:
        return unavailable(
            measure, method, n_t, n_c, _("No usable estimate: events occurred in one arm only?")
        )
    z = abs(coef / se)
    p = stats.norm.sf(z) * 2 if df is None else stats.t.sf(z, df) * 2
    return Estimate(
        measure,
        math.exp(coef),
        math.exp(coef - q * se),
        math.exp(coef + q * se),
        float(p),
        method,
        n_t,
        n_c,
        " ".join(notes) or None,
    ).described(se_type, reference, [label(c) for c in covariates])


def _fit_cox(
    data: pd.DataFrame, formula: str, event: str, ties: str, strata: str | None
) -> tuple[Any, Any]:
    """The Cox model of ``formula`` and its fit (warnings silenced: the caller checks the
    estimate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PHReg.from_formula(
            formula,
            data,
            status=data[event].to_numpy(),
            ties=ties,
            strata=data[strata].to_numpy() if strata else None,
        )
        return model, model.fit()


def _lin_wei(
    model: Any,
    fit: Any,
    covariance: np.ndarray,
    data: pd.DataFrame,
    cluster: str,
    strata: str | None,
    ties: str,
) -> np.ndarray:
    """The Lin–Wei cluster-robust covariance H⁻¹(Σ_c U_c U_c')H⁻¹ from the model-based one."""
    residuals = score_residuals(
        model.endog,
        model.status,
        model.exog,
        np.asarray(fit.params),
        data[strata].to_numpy() if strata else None,
        ties,
    )
    sums = _cluster_sums(residuals, data[cluster].to_numpy())
    result: np.ndarray = covariance @ (sums.T @ sums) @ covariance
    return result
