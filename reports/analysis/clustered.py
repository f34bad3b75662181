"""Cluster-randomised and stepped-wedge trials: effect estimates, ICC and design effect.

Every interval of a cluster or stepped-wedge report is cluster-aware, with one reference
distribution: t with K − 2 degrees of freedom for K clusters (the between-cluster degrees of
freedom of a two-arm comparison; with no covariates this is K − p). Two small-sample corrected
covariance estimators are used:

* :func:`gee_effect`, the primary and secondary outcomes: GEE with an exchangeable working
  correlation and the Mancl–DeRouen bias-reduced sandwich (statsmodels ``bias_reduced``);
* :func:`linear_cr2`, every linear estimate the GEE cannot give (the ITT beside the CACE,
  the CACE by two-stage least squares, per-protocol and as-treated differences, complete-case
  and multiply imputed differences, subgroup effects and interaction tests, means by arm):
  least squares with the CR2 bias-reduced cluster-robust covariance of Bell & McCaffrey
  (2002), as R's ``clubSandwich::vcovCR(type = "CR2")`` computes it, for ordinary and
  two-stage least squares alike.

Both refuse to estimate (:func:`cluster_problem`) when an arm has a single cluster, or a
stepped wedge fewer than three clusters: no valid interval exists then, and no section prints
one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from reports.analysis.estimates import (
    Estimate,
    covariate_terms,
    finite,
    is_binary,
    t_reference,
    term,
    unavailable,
    usable_covariates,
)
from reports.analysis.text import _

EIGEN_FLOOR = 1e-12
"""Eigenvalues of I − H at or below this count as 0 in the CR2 adjustment (clubSandwich's
``Sym_power`` tolerance), so a cluster whose rows the model fits exactly gets a
pseudo-inverse instead of an infinite weight."""


@dataclass
class ICC:
    """One-way ANOVA estimate of the intracluster correlation."""

    icc: float | None
    clusters: int
    n: int
    mean_size: float
    n0: float  # the "average" cluster size of the ANOVA estimator
    msb: float | None
    msw: float | None


def icc_anova(values: pd.Series, clusters: pd.Series) -> ICC:
    """Intracluster correlation by the one-way ANOVA estimator.

    ICC = (MSB − MSW) / (MSB + (n0 − 1) MSW), with n0 = (N − Σ m_i² / N) / (k − 1) for k
    clusters of sizes m_i (Donner 1986; Shrout & Fleiss ICC(1) when sizes are equal). The
    estimate can be negative; :func:`design_effect` treats a negative ICC as 0.
    """
    data = pd.DataFrame({"y": values, "c": clusters}).dropna()
    data["y"] = data["y"].astype(float)
    sizes = data.groupby("c")["y"].size()
    k, n = len(sizes), len(data)
    mean_size = n / k if k else 0.0
    if k < 2 or n - k < 1:
        return ICC(None, k, n, mean_size, float("nan"), None, None)
    means = data.groupby("c")["y"].mean()
    grand = data["y"].mean()
    ssb = float((sizes * (means - grand) ** 2).sum())
    ssw = float(((data["y"] - data["c"].map(means)) ** 2).sum())
    msb, msw = ssb / (k - 1), ssw / (n - k)
    n0 = (n - float((sizes**2).sum()) / n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    icc = (msb - msw) / denominator if denominator > 0 else None
    return ICC(finite(icc), k, n, mean_size, n0, msb, msw)


def design_effect(mean_size: float, icc: float | None, cv: float = 0.0) -> float | None:
    """Design effect 1 + (m − 1) ICC; with cluster-size CV, 1 + ((CV² + 1) m − 1) ICC.

    The unequal-size form is Eldridge, Ashby & Kerry (2006). A negative ICC counts as 0.
    """
    if icc is None:
        return None
    return 1 + ((cv**2 + 1) * mean_size - 1) * max(icc, 0.0)


def gee_effect(
    frame: pd.DataFrame,
    outcome: str,
    cluster: str,
    covariates: list[str],
    binary: bool,
    treat: str = "treat",
    period: str | None = None,
    cov_type: str = "bias_reduced",
    correlation: str = "exchangeable",
    *,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Population-averaged effect by GEE with an exchangeable working correlation.

    Binary outcomes: logit link, the result is an odds ratio. Continuous: identity link, a
    difference in means. ``period`` adds period fixed effects (stepped wedge). The default
    covariance is the Mancl–DeRouen bias-reduced sandwich (``cov_type="bias_reduced"``);
    intervals and p-values use a t reference with K − 2 degrees of freedom (K clusters) because
    the normal reference is anti-conservative with few clusters. ``treat`` is normally 0/1; a
    numeric column is accepted too (the per-arm checks are then skipped). ``correlation`` may
    be "independence" (used in validation). A covariate left out is named in the note by
    ``label`` (see :func:`~reports.analysis.estimates.usable_covariates`).
    """
    measure = _("odds ratio (GEE)") if binary else _("difference in means (GEE)")
    method = (
        _("GEE, exchangeable, bias-reduced SE")
        if cov_type == "bias_reduced"
        else _("GEE, exchangeable")
    )
    covariates, notes = usable_covariates(frame, [c for c in covariates if c != cluster], label)
    columns = [outcome, treat, cluster, *covariates] + ([period] if period else [])
    data = frame[columns].dropna().astype({outcome: float})
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    two_arms = is_binary(data[treat])
    if two_arms and (n_t == 0 or n_c == 0):
        return unavailable(measure, method, n_t, n_c, _("An arm has no complete observations."))
    k = data[cluster].nunique()
    problem = cluster_problem(data, treat, cluster, period is not None)
    if problem:
        return unavailable(measure, method, n_t, n_c, problem)
    if binary and data[outcome].nunique() < 2:
        return unavailable(measure, method, n_t, n_c, _("The outcome takes only one value."))
    terms = [f"{term(outcome)} ~ {treat}", *covariate_terms(data, covariates)]
    if period:
        terms.append(term(period, categorical=True))
    family = sm.families.Binomial() if binary else sm.families.Gaussian()
    data = data.sort_values(cluster)
    try:
        fit = _fit_gee(data, terms, cluster, family, correlation, cov_type)
    except Exception as error:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    coef, se = float(fit.params[treat]), float(fit.bse[treat])
    if not (math.isfinite(coef) and math.isfinite(se)) or se <= 0 or (binary and abs(coef) > 15):
        return unavailable(
            measure, method, n_t, n_c, _("The model did not give a usable estimate (separation?).")
        )
    df = cluster_df(k)
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(coef / se), df))
    low, high = coef - q * se, coef + q * se
    if binary:
        coef, low, high = math.exp(coef), math.exp(low), math.exp(high)
    se_type = (
        _("Mancl–DeRouen bias-reduced, cluster-robust")
        if cov_type == "bias_reduced"
        else _("cluster-robust sandwich")
    )
    return Estimate(
        measure, coef, low, high, p, method, n_t, n_c, " ".join(notes) or None
    ).described(se_type, t_reference(df), [label(c) for c in covariates])


def _fit_gee(
    data: pd.DataFrame,
    terms: list[str],
    cluster: str,
    family: Any,
    correlation: str,
    cov_type: str,
) -> Any:
    """The GEE fit of ``terms`` (its warnings silenced: the caller checks the estimate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.gee(
            " + ".join(terms),
            groups=cluster,
            data=data,
            family=family,
            cov_struct=(
                sm.cov_struct.Independence()
                if correlation == "independence"
                else sm.cov_struct.Exchangeable()
            ),
        )
        return model.fit(cov_type=cov_type)


def cluster_df(clusters: int) -> int:
    """Degrees of freedom of the t reference of every cluster-aware estimate: K − 2."""
    return max(clusters - 2, 1)


def cluster_problem(
    data: pd.DataFrame, treat: str, cluster: str, stepped_wedge: bool = False
) -> str | None:
    """Why no valid cluster-aware interval exists for comparing ``treat`` groups, or None.

    Parallel designs need two clusters in each group (else the between-cluster variation
    within a group cannot be estimated); a stepped wedge, where clusters cross over, needs
    three clusters. ``treat`` that is not 0/1 is checked for the number of clusters only.
    """
    k = data[cluster].nunique()
    if not stepped_wedge and is_binary(data[treat]):
        per_group = data.groupby(treat)[cluster].nunique()
        if len(per_group) < 2 or per_group.min() < 2:
            return _(
                "An arm has only one cluster, so the between-cluster variation within arms "
                "cannot be estimated and no valid confidence interval exists."
            )
        return None
    if k < 3:
        return _("Fewer than three clusters.")
    return None


def cr2_covariance(
    regressors: np.ndarray, residuals: np.ndarray, clusters: np.ndarray
) -> np.ndarray:
    """The CR2 cluster-robust covariance of least-squares coefficients.

    ``regressors`` is the model matrix X for ordinary least squares, or its projection on
    the instruments X̂ = Z(Z'Z)⁻¹Z'X for two-stage least squares; ``residuals`` are
    y − Xβ (for 2SLS with the actual, not the projected, regressors). With M = (X̂'X̂)⁻¹,
    V = M [Σ_j X̂_j' A_j e_j e_j' A_j X̂_j] M and A_j = (I − X̂_j M X̂_j')^(−1/2), the
    symmetric inverse square root (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018), as
    ``clubSandwich::vcovCR(type = "CR2")`` for ``lm`` and ``AER::ivreg`` fits.

    The cluster's hat matrix has rank at most p, so A_j e_j is computed from the thin SVD of
    X̂_j L (M = LL') in O(n_j p²) instead of an n_j × n_j eigendecomposition.
    """
    bread = np.linalg.inv(regressors.T @ regressors)
    root = np.linalg.cholesky(bread)
    meat = np.zeros_like(bread)
    order = np.argsort(clusters, kind="stable")
    sorted_clusters = clusters[order]
    bounds = np.flatnonzero(sorted_clusters[1:] != sorted_clusters[:-1]) + 1
    for rows in np.split(order, bounds):
        x, e = regressors[rows], residuals[rows]
        u, singular, _vt = np.linalg.svd(x @ root, full_matrices=False)
        remaining = 1.0 - singular**2  # eigenvalues of I − H_jj in the span of u
        scale = np.zeros_like(remaining)
        positive = remaining > EIGEN_FLOOR
        scale[positive] = remaining[positive] ** -0.5
        adjusted = e + u @ ((scale - 1.0) * (u.T @ e))
        score = x.T @ adjusted
        meat += np.outer(score, score)
    return bread @ meat @ bread


@dataclass
class LinearFit:
    """A least-squares fit with its CR2 covariance (see :func:`linear_cr2`)."""

    params: pd.Series
    covariance: pd.DataFrame
    clusters: int
    n: int

    def se(self, name: str) -> float:
        return math.sqrt(max(float(self.covariance.loc[name, name]), 0.0))


def _full_rank(matrix: pd.DataFrame, keep: str) -> pd.DataFrame:
    """``matrix`` without columns that are linear combinations of earlier ones (R's aliased
    coefficients), never dropping ``keep``."""
    columns: list[str] = []
    for name in [keep, *[c for c in matrix.columns if c != keep]]:
        trial = matrix[[*columns, name]].to_numpy(dtype=float)
        if np.linalg.matrix_rank(trial) == len(columns) + 1:
            columns.append(name)
    return matrix[[c for c in matrix.columns if c in columns]]


def linear_cr2(
    data: pd.DataFrame,
    outcome: str,
    terms: list[str],
    cluster: str,
    *,
    coefficient: str,
    instrument: str | None = None,
) -> LinearFit:
    """Least squares of ``outcome`` on ``terms`` (patsy terms, with an intercept), with the
    CR2 covariance by ``cluster`` (see :func:`cr2_covariance`).

    With ``instrument`` the column ``coefficient`` is instrumented by it (two-stage least
    squares: the instrument replaces it in the first stage, every other term instruments
    itself). Aliased columns are dropped, ``coefficient`` never. ``data`` must be complete.
    Raises ValueError when the model cannot be fitted.
    """
    import patsy  # type: ignore[import-untyped]  # patsy ships no type information

    rhs = " + ".join(terms) if terms else "1"
    design = patsy.dmatrix(rhs, data, return_type="dataframe", NA_action="raise")
    design.columns = [str(c) for c in design.columns]
    if coefficient not in design.columns:
        raise ValueError(f"{coefficient} is not a column of the model")
    design = _full_rank(design, coefficient)
    x = design.to_numpy(dtype=float)
    y = data[outcome].to_numpy(dtype=float)
    if instrument is None:
        projected = x
    else:
        z = design.copy()
        z[coefficient] = data[instrument].to_numpy(dtype=float)
        zm = z.to_numpy(dtype=float)
        if np.linalg.matrix_rank(zm) < zm.shape[1]:
            raise ValueError("the instrument does not vary apart from the other terms")
        projected = zm @ np.linalg.lstsq(zm, x, rcond=None)[0]
    beta = np.linalg.solve(projected.T @ x, projected.T @ y)
    residuals = y - x @ beta
    covariance = cr2_covariance(projected, residuals, data[cluster].to_numpy())
    names = list(design.columns)
    return LinearFit(
        pd.Series(beta, index=names),
        pd.DataFrame(covariance, index=names, columns=names),
        int(data[cluster].nunique()),
        len(data),
    )


def cluster_difference(
    frame: pd.DataFrame,
    outcome: str,
    cluster: str,
    measure: str,
    method: str,
    *,
    treat: str = "treat",
    covariates: list[str] | None = None,
    period: str | None = None,
    instrument: str | None = None,
    check: str | None = None,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Difference in means (a risk difference for 0/1 outcomes) between ``treat`` groups by
    least squares with the CR2 covariance and a t(K − 2) reference (see :func:`linear_cr2`).

    ``covariates`` adjust the model, ``period`` adds period fixed effects (stepped wedge),
    ``instrument`` makes ``treat`` the treatment received instrumented by the arm (the CACE by
    two-stage least squares). The cluster count is checked on ``check`` (the arm; by default
    ``instrument`` or ``treat``). Complete case; never raises for bad data.
    """
    covariates, notes = usable_covariates(
        frame, [c for c in (covariates or []) if c != cluster], label
    )
    by = check or instrument or treat
    columns = list(
        dict.fromkeys([outcome, treat, cluster, by, *covariates, *([period] if period else [])])
    )
    data = frame[columns].dropna()
    data = data.astype({outcome: float, treat: float, by: float})
    n_t, n_c = int((data[by] == 1).sum()), int((data[by] == 0).sum())
    if n_t == 0 or n_c == 0:
        return unavailable(measure, method, n_t, n_c, _("An arm has no complete observations."))
    problem = cluster_problem(data, by, cluster, period is not None)
    if problem:
        return unavailable(measure, method, n_t, n_c, problem)
    terms = [treat, *covariate_terms(data, covariates)]
    if period:
        terms.append(term(period, categorical=True))
    try:
        fit = linear_cr2(
            data.assign(**{cluster: data[cluster].astype(str)}),
            outcome,
            terms,
            cluster,
            coefficient=treat,
            instrument=instrument,
        )
    except (ValueError, np.linalg.LinAlgError) as error:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    coef, se = float(fit.params[treat]), fit.se(treat)
    df = cluster_df(fit.clusters)
    if not math.isfinite(coef) or not math.isfinite(se) or se <= 0:
        return unavailable(
            measure, method, n_t, n_c, _("The model did not give a usable estimate.")
        )
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(coef / se), df))
    return Estimate(
        measure, coef, coef - q * se, coef + q * se, p, method, n_t, n_c, " ".join(notes) or None
    ).described(cr2_label(), t_reference(df), [label(c) for c in covariates])


def first_stage_f(
    data: pd.DataFrame, received: str, instrument: str, cluster: str, period: str | None = None
) -> float | None:
    """The instrument's strength in a cluster trial: the squared CR2 t statistic of the arm in
    the regression of treatment received on it (and the periods); None if it cannot be
    computed."""
    terms = [instrument, *([term(period, categorical=True)] if period else [])]
    columns = [received, instrument, cluster, *([period] if period else [])]
    complete = data[columns].dropna().astype({received: float, instrument: float})
    try:
        fit = linear_cr2(
            complete.assign(**{cluster: complete[cluster].astype(str)}),
            received,
            terms,
            cluster,
            coefficient=instrument,
        )
    except (ValueError, np.linalg.LinAlgError):
        return None
    se = fit.se(instrument)
    return finite((float(fit.params[instrument]) / se) ** 2) if se > 0 else None


def cr2_label() -> str:
    """How the report names the CR2 standard error."""
    return _("CR2 bias-reduced, cluster-robust")


@dataclass
class ClusterMean:
    """A mean (or proportion) with its cluster-robust 95% CI (see :func:`cluster_mean`)."""

    n: int
    clusters: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    df: int | None


def cluster_mean(
    values: pd.Series, clusters: pd.Series, bounds: tuple[float, float] | None = None
) -> ClusterMean:
    """The mean of ``values`` with a CR2 cluster-robust 95% CI and a t(K − 1) reference, K the
    clusters with values (an intercept-only :func:`linear_cr2`). No interval with fewer than
    two clusters. ``bounds`` clip the interval (0–1 for a proportion)."""
    data = pd.DataFrame({"y": values, "c": clusters}).dropna()
    n, k = len(data), int(data["c"].nunique())
    if n == 0:
        return ClusterMean(0, 0, None, None, None, None)
    data["y"] = data["y"].astype(float)
    mean = float(data["y"].mean())
    if k < 2:
        return ClusterMean(n, k, mean, None, None, None)
    fit = linear_cr2(data.assign(c=data["c"].astype(str)), "y", [], "c", coefficient="Intercept")
    se, df = fit.se("Intercept"), k - 1
    q = float(stats.t.ppf(0.975, df))
    low, high = mean - q * se, mean + q * se
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return ClusterMean(n, k, mean, low, high, df)


def cluster_wald_test(fit: LinearFit, names: list[str]) -> tuple[float | None, float | None, int]:
    """Wald test that the coefficients ``names`` are all 0, with the fit's CR2 covariance:
    F = W / q referred to F(q, K − 2). Returns (F, p, q); (None, None, q) when the covariance
    of the tested coefficients is singular."""
    q = len(names)
    beta = fit.params[names].to_numpy()
    covariance = fit.covariance.loc[names, names].to_numpy()
    try:
        statistic = float(beta @ np.linalg.solve(covariance, beta)) / q
    except np.linalg.LinAlgError:
        return None, None, q
    if not math.isfinite(statistic) or statistic < 0:
        return None, None, q
    return statistic, float(stats.f.sf(statistic, q, cluster_df(fit.clusters))), q


def calendar_period(dates: pd.Series, months: int = 3) -> pd.Series:
    """Consecutive periods of ``months`` calendar months from the earliest date (0, 1, 2, …)."""
    stamps = pd.to_datetime(dates)
    index = stamps.dt.year * 12 + stamps.dt.month - 1
    return ((index - index.min()) // months).astype("Int64")


def cluster_sizes_cv(sizes: pd.Series) -> float:
    """Coefficient of variation of cluster sizes (population SD / mean)."""
    values = np.asarray(sizes, dtype=float)
    return float(values.std(ddof=0) / values.mean()) if len(values) and values.mean() else 0.0
