"""Time to first paid work: Kaplan–Meier by arm, log-rank test and Cox hazard ratio."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from reports.analysis.estimates import (
    Z95,
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
    """Log-rank chi-square statistic and p-value (statsmodels ``survdiff``)."""
    data = pd.DataFrame({"t": time, "e": event, "g": group}).dropna()
    if data["g"].nunique() < 2 or data["e"].astype(int).sum() == 0:
        return None, None
    stat, p = survdiff(data["t"].astype(float), data["e"].astype(int), data["g"].to_numpy())
    return finite(stat), finite(p)


def cox_hazard_ratio(
    frame: pd.DataFrame,
    covariates: list[str],
    treat: str = "treat",
    time: str = "months",
    event: str = "event",
    *,
    label: Callable[[str], str] = str,
) -> Estimate:
    """Hazard ratio for ``treat`` from a Cox model (statsmodels ``PHReg``, Efron ties).

    Without tied event times Breslow's likelihood is used, which is then identical to Efron's.

    Wald 95% CI and p-value on the log scale. Complete case on time, event and covariates. A
    covariate not in the data, without values or constant is left out with a note naming it by
    ``label`` (see :func:`~reports.analysis.estimates.usable_covariates`): the Cox model has no
    intercept to absorb a constant column, which otherwise gives a degenerate interval, and an
    empty one would drop every row.
    """
    measure, method = _("hazard ratio"), _("Cox regression (Efron ties)")
    covariates, notes = usable_covariates(frame, covariates, label)
    data = frame[[time, event, treat, *covariates]].dropna()
    n_t, n_c = int((data[treat] == 1).sum()), int((data[treat] == 0).sum())
    if is_binary(data[treat]) and (n_t == 0 or n_c == 0):
        return unavailable(measure, method, n_t, n_c, _("An arm has no participants."))
    if data[event].astype(int).sum() == 0:
        return unavailable(measure, method, n_t, n_c, _("No events were observed."))
    data = data.astype({time: float, event: int})
    rhs = " + ".join([treat, *covariate_terms(data, covariates)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            event_times = data.loc[data[event] == 1, time]
            # Efron and Breslow agree exactly when no event times are tied; statsmodels'
            # Breslow code is several times faster on large data, so use it then.
            ties = "efron" if event_times.duplicated().any() else "breslow"
            model = PHReg.from_formula(
                f"{term(time)} ~ {rhs}", data, status=data[event].to_numpy(), ties=ties
            )
            fit = model.fit()
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
    coef, se = float(fit.params[index]), float(fit.bse[index])
    if not (math.isfinite(coef) and math.isfinite(se)) or se <= 0 or abs(coef) > 15:
        return unavailable(
            measure, method, n_t, n_c, _("No usable estimate: events occurred in one arm only?")
        )
    return Estimate(
        measure,
        math.exp(coef),
        math.exp(coef - Z95 * se),
        math.exp(coef + Z95 * se),
        float(2 * stats.norm.sf(abs(coef / se))),
        method,
        n_t,
        n_c,
        " ".join(notes) or None,
    )
