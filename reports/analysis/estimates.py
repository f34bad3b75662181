"""Intention-to-treat estimates for two arms: binary and continuous outcomes.

Conventions used throughout ``reports/analysis/``:

* ``treat`` is a 0/1 column: 1 for the arm compared, 0 for the reference (control) arm.
* 95% confidence intervals. Risk difference: Wald interval. Risk ratio and odds ratio: Wald
  interval on the log scale (Woolf for the odds ratio). Regression models: Wald intervals from
  the model's covariance (HC3 with t reference for ANCOVA, see :func:`ancova_hc3`).
* An estimate that cannot be computed is ``None`` with a note saying why, never NaN.
* Every estimate says how its standard error was computed (``se_type``), which distribution
  its interval and p-value refer to (``reference``) and the covariates of its model, so that
  the report can state them; p-values are two-sided.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from reports.analysis.text import _, number

Z95 = float(stats.norm.ppf(0.975))


@dataclass
class Estimate:
    """One comparison of the treated arm with the reference arm."""

    measure: str  # e.g. "risk difference"
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str
    n_treated: int
    n_control: int
    note: str | None = None
    se_type: str = ""  # how the standard error was computed, e.g. "HC3", "CR2"
    reference: str = ""  # the distribution of the interval and p-value, e.g. "t, 23 df"
    covariates: tuple[str, ...] = ()  # the model's covariates, as readers know them

    def as_row(self) -> dict[str, object]:
        """The estimate as a table row (keys are the field names)."""
        return asdict(self)

    def described(
        self, se_type: str, reference: str, covariates: tuple[str, ...] | list[str] = ()
    ) -> Estimate:
        """This estimate with its standard error, reference distribution and covariates set."""
        self.se_type, self.reference, self.covariates = se_type, reference, tuple(covariates)
        return self


def normal_reference() -> str:
    """The reference distribution of Wald intervals and p-values on the normal scale."""
    return _("normal")


def t_reference(df: float) -> str:
    """A t reference distribution with ``df`` degrees of freedom, e.g. "t, 23 df"."""
    shown = number(round(df)) if abs(df - round(df)) < 1e-9 else number(df, 1)
    return _("t, %(df)s df") % {"df": shown}


def finite(value: object) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # TypeError is caught
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def unavailable(measure: str, method: str, n_treated: int, n_control: int, why: str) -> Estimate:
    """An estimate that could not be computed, with the reason in ``note``."""
    return Estimate(measure, None, None, None, None, method, n_treated, n_control, why)


def is_binary(values: pd.Series) -> bool:
    """True when the non-missing values are booleans or only 0 and 1."""
    observed = values.dropna()
    if observed.empty:
        return bool(values.dtype == bool)
    if observed.dtype == bool:
        return True
    try:
        return set(pd.unique(observed.astype(float))) <= {0.0, 1.0}
    except (TypeError, ValueError):
        return False


def term(name: str, categorical: bool = False) -> str:
    """A patsy term for column ``name`` that is safe whatever characters the name has."""
    quoted = f'Q("{name}")' if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else name
    return f"C({quoted})" if categorical else quoted


def covariate_terms(frame: pd.DataFrame, covariates: list[str]) -> list[str]:
    """Patsy terms for ``covariates``: text, boolean-like categories and site/stratum as factors."""
    terms = []
    for name in covariates:
        column = frame[name]
        categorical = name in {"site", "stratum"} or not pd.api.types.is_numeric_dtype(column)
        if column.dtype == bool:
            categorical = False
        terms.append(term(name, categorical))
    return terms


def usable_covariates(
    frame: pd.DataFrame, covariates: list[str], label: Callable[[str], str] = str
) -> tuple[list[str], list[str]]:
    """Split ``covariates`` into those that can enter a model and notes about the others.

    A covariate is left out when it is not in the data, entirely missing, or constant. The
    notes name it by ``label(key)`` (the key itself by default), so a report can show the name
    its readers know.
    """
    usable, notes = [], []
    for key in covariates:
        name = label(key)
        if key not in frame.columns:
            notes.append(
                _("Covariate %(name)s is not in the data and was left out.") % {"name": name}
            )
        elif frame[key].notna().sum() == 0:
            notes.append(_("Covariate %(name)s has no values and was left out.") % {"name": name})
        elif frame[key].nunique(dropna=True) < 2:
            notes.append(_("Covariate %(name)s is constant and was left out.") % {"name": name})
        else:
            usable.append(key)
    return usable, notes


# --- binary outcomes ---------------------------------------------------------------------------


def proportions_by_arm(frame: pd.DataFrame, outcome: str, arm: str = "arm") -> pd.DataFrame:
    """Number analysed, events and proportion (Wilson 95% CI) of ``outcome`` for each arm."""
    rows = []
    for code, group in frame.groupby(arm, sort=True):
        values = group[outcome].dropna().astype(float)
        n, events = len(values), int(values.sum())
        low, high = proportion_confint(events, n, method="wilson") if n else (None, None)
        rows.append(
            {
                "arm": code,
                "n": n,
                "events": events,
                "proportion": events / n if n else None,
                "ci_low": finite(low),
                "ci_high": finite(high),
            }
        )
    return pd.DataFrame(rows, columns=["arm", "n", "events", "proportion", "ci_low", "ci_high"])


def two_by_two(events_t: int, n_t: int, events_c: int, n_c: int) -> list[Estimate]:
    """Risk difference, risk ratio and odds ratio (treated vs control) with 95% Wald CIs.

    RD: Wald interval, SE = sqrt(p1(1-p1)/n1 + p0(1-p0)/n0).
    RR: Wald interval on the log scale, SE = sqrt(1/a - 1/n1 + 1/c - 1/n0).
    OR: Woolf interval on the log scale, SE = sqrt(1/a + 1/b + 1/c + 1/d).
    p-values are two-sided Wald z tests on the same scale. With a zero cell the ratio
    measures are not estimated (no continuity correction) and a note says so.
    """
    rd_m, rr_m, or_m = _("risk difference"), _("risk ratio"), _("odds ratio")
    wald, logwald = _("Wald"), _("Wald, log scale")
    if n_t == 0 or n_c == 0:
        why = _("An arm has no participants with this outcome.")
        return [unavailable(m, wald, n_t, n_c, why) for m in (rd_m, rr_m, or_m)]
    p1, p0 = events_t / n_t, events_c / n_c
    results = []
    rd = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n_t + p0 * (1 - p0) / n_c)
    if se > 0:
        results.append(
            Estimate(rd_m, rd, rd - Z95 * se, rd + Z95 * se, _p_normal(rd / se), wald, n_t, n_c)
        )
    else:
        why = _("Every participant in both arms has the same outcome, so there is no variance.")
        results.append(Estimate(rd_m, rd, None, None, None, wald, n_t, n_c, why))
    results[0].described(risk_difference_se(), normal_reference())
    a, b, c, d = events_t, n_t - events_t, events_c, n_c - events_c
    zero = _("A cell of the 2×2 table is zero; the ratio is not estimated.")
    if a > 0 and c > 0:
        log_rr = math.log(p1 / p0)
        se_rr = math.sqrt(1 / a - 1 / n_t + 1 / c - 1 / n_c)
        results.append(_ratio(rr_m, log_rr, se_rr, logwald, n_t, n_c))
    else:
        results.append(unavailable(rr_m, logwald, n_t, n_c, zero))
    if min(a, b, c, d) > 0:
        log_or = math.log(a * d / (b * c))
        se_or = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        results.append(_ratio(or_m, log_or, se_or, logwald, n_t, n_c))
    else:
        results.append(unavailable(or_m, logwald, n_t, n_c, zero))
    for result in results[1:]:
        result.described(_("Wald on the log scale"), normal_reference())
    return results


def risk_difference_se() -> str:
    """The standard error of every unadjusted risk difference of an individually randomised
    trial in the report (one definition, see :func:`two_by_two`)."""
    return _("Wald, p(1 − p)/n in each arm")


def _ratio(measure: str, log_est: float, se: float, method: str, n_t: int, n_c: int) -> Estimate:
    if se <= 0:
        return Estimate(measure, math.exp(log_est), None, None, None, method, n_t, n_c)
    return Estimate(
        measure,
        math.exp(log_est),
        math.exp(log_est - Z95 * se),
        math.exp(log_est + Z95 * se),
        _p_normal(log_est / se),
        method,
        n_t,
        n_c,
    )


def _p_normal(z: float) -> float:
    return float(2 * stats.norm.sf(abs(z)))


def binary_itt(frame: pd.DataFrame, outcome: str, treat: str = "treat") -> list[Estimate]:
    """Unadjusted RD, RR and OR for ``outcome`` by the 0/1 column ``treat`` (see two_by_two)."""
    data = frame[[outcome, treat]].dropna()
    y = data[outcome].astype(float)
    t = data[treat].astype(int)
    return two_by_two(
        int(y[t == 1].sum()), int((t == 1).sum()), int(y[t == 0].sum()), int((t == 0).sum())
    )


def logistic_adjusted(
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    treat: str = "treat",
    *,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Covariate-adjusted odds ratio from logistic regression (statsmodels GLM, binomial).

    Rows with a missing outcome or covariate are dropped (complete case). Separation (a
    covariate pattern or the treatment predicting the outcome perfectly) gives ``None`` with a
    note, because the maximum-likelihood estimate does not exist. A covariate left out is
    named in the note by ``label`` (see :func:`usable_covariates`).
    """
    measure, method = _("adjusted odds ratio"), _("logistic regression")
    covariates, notes = usable_covariates(frame, covariates, label)
    data = frame[[outcome, treat, *covariates]].dropna()
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    if n_t == 0 or n_c == 0:
        return unavailable(measure, method, n_t, n_c, _("An arm has no complete observations."))
    y = data[outcome].astype(float)
    if y.nunique() < 2:
        return unavailable(measure, method, n_t, n_c, _("The outcome takes only one value."))
    formula = " + ".join([f"{term(outcome)} ~ {treat}", *covariate_terms(data, covariates)])
    model_data = data.assign(**{outcome: y})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = smf.glm(formula, data=model_data, family=sm.families.Binomial())
            fit = model.fit()
    except Exception as error:  # statsmodels raises several types for degenerate data
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    fitted = np.asarray(fit.fittedvalues)
    coef, se = float(fit.params[treat]), float(fit.bse[treat])
    separated = (
        not fit.converged
        or np.any((fitted < 1e-8) | (fitted > 1 - 1e-8))
        or abs(coef) > 15
        or not math.isfinite(se)
    )
    if separated:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _(
                "Separation: some covariate pattern or the arm predicts the outcome perfectly, so "
                "the adjusted odds ratio does not exist. Report the unadjusted measures."
            ),
        )
    result = _ratio(measure, coef, se, method, n_t, n_c)
    result.note = " ".join(notes) or None
    return result.described(_("model-based"), normal_reference(), [label(c) for c in covariates])


# --- continuous outcomes -----------------------------------------------------------------------


def means_by_arm(frame: pd.DataFrame, outcome: str, arm: str = "arm") -> pd.DataFrame:
    """Number analysed, mean and standard deviation of ``outcome`` for each arm."""
    rows = []
    for code, group in frame.groupby(arm, sort=True):
        values = group[outcome].dropna().astype(float)
        rows.append(
            {
                "arm": code,
                "n": len(values),
                "mean": finite(values.mean()) if len(values) else None,
                "sd": finite(values.std(ddof=1)) if len(values) > 1 else None,
            }
        )
    return pd.DataFrame(rows, columns=["arm", "n", "mean", "sd"])


def welch_difference(y_treated: pd.Series, y_control: pd.Series) -> Estimate:
    """Difference in means (treated − control), Welch t test and its 95% CI.

    Welch–Satterthwaite degrees of freedom; the same statistic as
    ``scipy.stats.ttest_ind(equal_var=False)``.
    """
    measure, method = _("difference in means"), _("Welch t test")
    a = pd.Series(y_treated).dropna().astype(float).to_numpy()
    b = pd.Series(y_control).dropna().astype(float).to_numpy()
    n1, n0 = len(a), len(b)
    if n1 < 2 or n0 < 2:
        return unavailable(measure, method, n1, n0, _("An arm has fewer than two observations."))
    v1, v0 = a.var(ddof=1) / n1, b.var(ddof=1) / n0
    diff = float(a.mean() - b.mean())
    se = math.sqrt(v1 + v0)
    if se == 0:
        return Estimate(
            measure, diff, None, None, None, method, n1, n0, _("No variance in either arm.")
        )
    df = (v1 + v0) ** 2 / (v1**2 / (n1 - 1) + v0**2 / (n0 - 1))
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(diff / se), df))
    return Estimate(measure, diff, diff - q * se, diff + q * se, p, method, n1, n0).described(
        _("Welch (variance of each arm)"), t_reference(df)
    )


def ancova_hc3(
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    treat: str = "treat",
    *,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Adjusted difference in means by linear regression (ANCOVA) with HC3 robust errors.

    ``covariates`` normally include the baseline value of the outcome. Inference uses the HC3
    sandwich with a t(n − p) reference. Complete case on outcome and covariates. A covariate
    left out is named in the note by ``label`` (see :func:`usable_covariates`).
    """
    measure, method = _("adjusted difference in means"), _("ANCOVA, HC3 robust SE")
    covariates, notes = usable_covariates(frame, covariates, label)
    data = frame[[outcome, treat, *covariates]].dropna()
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    if n_t < 2 or n_c < 2:
        return unavailable(
            measure, method, n_t, n_c, _("An arm has fewer than two complete observations.")
        )
    formula = " + ".join([f"{term(outcome)} ~ {treat}", *covariate_terms(data, covariates)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = smf.ols(formula, data=data.astype({outcome: float}))
            fit = model.fit(cov_type="HC3", use_t=True)
    except Exception as error:
        return unavailable(
            measure,
            method,
            n_t,
            n_c,
            _("The model could not be fitted: %(error)s") % {"error": error},
        )
    low, high = fit.conf_int().loc[treat]
    return Estimate(
        measure,
        float(fit.params[treat]),
        finite(low),
        finite(high),
        finite(fit.pvalues[treat]),
        method,
        n_t,
        n_c,
        " ".join(notes) or None,
    ).described("HC3", t_reference(float(fit.df_resid)), [label(c) for c in covariates])
