"""Cluster-randomised and stepped-wedge trials: GEE effect estimates, ICC and design effect."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

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
    term,
    unavailable,
    usable_covariates,
)
from reports.analysis.text import _


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
    if period is None and two_arms:
        per_arm = data.groupby(treat)[cluster].nunique()
        if per_arm.min() < 2:
            return unavailable(
                measure,
                method,
                n_t,
                n_c,
                _(
                    "An arm has only one cluster, so the between-cluster variation within arms "
                    "cannot be estimated and no valid confidence interval exists."
                ),
            )
    elif k < 3:
        return unavailable(measure, method, n_t, n_c, _("Fewer than three clusters."))
    if binary and data[outcome].nunique() < 2:
        return unavailable(measure, method, n_t, n_c, _("The outcome takes only one value."))
    terms = [f"{term(outcome)} ~ {treat}", *covariate_terms(data, covariates)]
    if period:
        terms.append(term(period, categorical=True))
    family = sm.families.Binomial() if binary else sm.families.Gaussian()
    data = data.sort_values(cluster)
    try:
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
            fit = model.fit(cov_type=cov_type)
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
    df = max(k - 2, 1)
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(coef / se), df))
    low, high = coef - q * se, coef + q * se
    if binary:
        coef, low, high = math.exp(coef), math.exp(low), math.exp(high)
    note = [*notes, _("t reference with %(df)s degrees of freedom.") % {"df": df}]
    return Estimate(measure, coef, low, high, p, method, n_t, n_c, " ".join(note))


def calendar_period(dates: pd.Series, months: int = 3) -> pd.Series:
    """Consecutive periods of ``months`` calendar months from the earliest date (0, 1, 2, …)."""
    stamps = pd.to_datetime(dates)
    index = stamps.dt.year * 12 + stamps.dt.month - 1
    return ((index - index.min()) // months).astype("Int64")


def cluster_sizes_cv(sizes: pd.Series) -> float:
    """Coefficient of variation of cluster sizes (population SD / mean)."""
    values = np.asarray(sizes, dtype=float)
    return float(values.std(ddof=0) / values.mean()) if len(values) and values.mean() else 0.0
