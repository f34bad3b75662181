"""Effect measures for count and ordinal outcomes, beside the difference in means (ANCOVA) that
every numeric outcome gets.

* Count: the ratio of means (rate ratio) from Poisson regression with a log link and robust
  (sandwich, HC0) standard errors. The robust errors make the interval valid whatever the
  variance, overdispersion included, so no negative-binomial model is needed for the ratio
  (Zou 2004; Cameron & Trivedi, *Regression analysis of count data*, 2013, §3.2.2). Every
  participant has the same exposure time (one visit), so there is no offset.
* Ordinal: the common odds ratio of a higher category from the proportional-odds (ordered
  logistic) model (statsmodels ``OrderedModel``, the parametrisation of R's ``MASS::polr``:
  logit P(Y ≤ k) = θ_k − xβ), Wald interval from the observed information.

Both use the conventions of :mod:`reports.analysis.estimates`: ``treat`` is 0/1, complete cases
on outcome and covariates, 95% Wald intervals with a normal reference, and ``None`` with a note
when an estimate cannot be computed. Checked against R in tests/reports/reference/.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pandas as pd
import patsy  # type: ignore[import-untyped]  # patsy ships no type information
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel

from reports.analysis.estimates import (
    Estimate,
    _ratio,
    covariate_terms,
    normal_reference,
    term,
    unavailable,
    usable_covariates,
)
from reports.analysis.text import _

LARGEST_LOG_RATIO = 15.0
"""A log ratio beyond this is separation (a category or zero count predicted perfectly)."""


def _complete(
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    treat: str,
    label: Callable[[str], str],
) -> tuple[pd.DataFrame, list[str], list[str]]:
    covariates, notes = usable_covariates(frame, covariates, label)
    data = frame[[outcome, treat, *covariates]].dropna()
    return data.astype({outcome: float}), covariates, notes


def rate_ratio(
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    treat: str = "treat",
    *,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Ratio of mean counts (arm over reference) from Poisson regression, robust SE (HC0).

    Adjusted for ``covariates`` (the measure says "adjusted" when any is used). Not estimated
    when an arm has no observation or only zeros (the ratio is then 0 or infinite), or when an
    outcome value is negative.
    """
    data, covariates, notes = _complete(frame, outcome, covariates, treat, label)
    measure = _("adjusted rate ratio") if covariates else _("rate ratio")
    method = _("Poisson regression, robust SE")
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    if n_t == 0 or n_c == 0:
        return unavailable(measure, method, n_t, n_c, _("An arm has no complete observations."))
    y = data[outcome]
    if (y < 0).any():
        return unavailable(measure, method, n_t, n_c, _("A count cannot be negative."))
    if y[data[treat] == 1].sum() == 0 or y[data[treat] == 0].sum() == 0:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("Every count in an arm is zero, so the ratio is 0 or infinite."),
        )
    formula = " + ".join([f"{term(outcome)} ~ {treat}", *covariate_terms(data, covariates)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.glm(formula, data=data, family=sm.families.Poisson()).fit(cov_type="HC0")
    except Exception as error:  # statsmodels raises several types for degenerate data
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    coef, se = float(fit.params[treat]), float(fit.bse[treat])
    if not fit.converged or not math.isfinite(se) or abs(coef) > LARGEST_LOG_RATIO:
        return unavailable(measure, method, n_t, n_c, _("The model did not converge."))
    result = _ratio(measure, coef, se, method, n_t, n_c)
    result.note = " ".join(notes) or None
    return result.described("HC0", normal_reference(), [label(c) for c in covariates])


def proportional_odds(
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    treat: str = "treat",
    *,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Common odds ratio of a higher category (arm over reference), proportional-odds model.

    The categories are the distinct observed values in order; ``covariates`` enter as in the
    other models (text as factors). Not estimated with fewer than two categories observed, an
    arm without observations, or separation (an arm entirely in the top or bottom category).
    """
    data, covariates, notes = _complete(frame, outcome, covariates, treat, label)
    measure = (
        _("adjusted proportional-odds odds ratio")
        if covariates
        else _("proportional-odds odds ratio")
    )
    method = _("ordered logistic regression")
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    if n_t == 0 or n_c == 0:
        return unavailable(measure, method, n_t, n_c, _("An arm has no complete observations."))
    levels = sorted(data[outcome].unique())
    if len(levels) < 2:
        return unavailable(measure, method, n_t, n_c, _("The outcome takes only one value."))
    rhs = " + ".join([treat, *covariate_terms(data, covariates)])
    try:
        exog = patsy.dmatrix(rhs, data, return_type="dataframe").drop(columns="Intercept")
        endog = pd.Series(pd.Categorical(data[outcome], categories=levels, ordered=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = OrderedModel(endog, exog.reset_index(drop=True), distr="logit")
            fit = model.fit(method="bfgs", maxiter=2000, gtol=1e-8, disp=False)
    except Exception as error:  # statsmodels and patsy raise several types for degenerate data
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    coef = float(fit.params[treat])
    se = float(fit.bse[treat])
    converged = bool(fit.mle_retvals.get("converged", False))
    if not converged or not math.isfinite(se) or abs(coef) > LARGEST_LOG_RATIO:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _(
                "Separation or no convergence: an arm lies (almost) entirely in the top or "
                "bottom category, so the odds ratio does not exist."
            ),
        )
    result = _ratio(measure, coef, se, method, n_t, n_c)
    result.note = " ".join(notes) or None
    return result.described(_("model-based"), normal_reference(), [label(c) for c in covariates])
