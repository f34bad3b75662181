"""Pre-specified subgroup analyses: effect per subgroup and a test of interaction."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from reports.analysis import clustered
from reports.analysis.estimates import Estimate, binary_itt, finite, term, welch_difference
from reports.analysis.text import _


@dataclass
class SubgroupResult:
    """Estimates per level of one subgroup variable and the interaction test."""

    variable: str
    estimates: list[tuple[str, Estimate]]  # (level label, estimate)
    interaction_p: float | None
    interaction_test: str
    note: str | None = None


def subgroup_levels(values: pd.Series) -> pd.Series:
    """Subgroup labels: the values themselves, or below/at-or-above the median when numeric.

    A numeric variable with more than five distinct values is split at its median (document
    a different cut-point in the analysis plan by adding a categorical covariate instead).
    """
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "yes", False: "no"})
    if pd.api.types.is_numeric_dtype(values) and values.nunique(dropna=True) > 5:
        median = values.median()
        labels = values.map(
            lambda v: None if pd.isna(v) else (f"< {median:g}" if v < median else f"≥ {median:g}")
        )
        return labels
    return values.map(lambda v: None if pd.isna(v) else str(v))


def subgroup_effects(
    frame: pd.DataFrame,
    outcome: str,
    variable: str,
    binary: bool,
    treat: str = "treat",
    *,
    cluster: str | None = None,
    period: str | None = None,
) -> SubgroupResult:
    """Effect of ``treat`` within each level of ``variable`` and an interaction test.

    Per level: risk difference (binary, Wald CI) or Welch difference in means. Interaction:
    likelihood-ratio test of the arm × subgroup terms in a logistic (binary) or linear
    (continuous) model with main effects of arm and subgroup.

    With ``cluster`` (cluster and stepped-wedge trials): per level the difference (risk
    difference for a binary outcome) by least squares with the CR2 covariance and a t(K − 2)
    reference, and the interaction by the CR2 Wald test of the arm × subgroup terms against
    F(q, K − 2) (see :mod:`reports.analysis.clustered`); ``period`` adds period fixed effects.
    """
    if cluster is not None:
        return _clustered_subgroups(frame, outcome, variable, treat, cluster, period)
    data = frame[[outcome, treat]].assign(level=subgroup_levels(frame[variable])).dropna()
    data = data.astype({outcome: float})
    estimates: list[tuple[str, Estimate]] = []
    for level, group in data.groupby("level", sort=True):
        if binary:
            estimate = binary_itt(group, outcome, treat)[0]
        else:
            estimate = welch_difference(
                group.loc[group[treat] == 1, outcome], group.loc[group[treat] == 0, outcome]
            )
        estimates.append((str(level), estimate))
    test_name = _("likelihood-ratio test") if binary else _("likelihood-ratio test (linear model)")
    if data["level"].nunique() < 2:
        return SubgroupResult(
            variable, estimates, None, test_name, _("Fewer than two subgroups with data.")
        )
    family = sm.families.Binomial() if binary else sm.families.Gaussian()
    y = term(outcome)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reduced = smf.glm(f"{y} ~ {treat} + C(level)", data=data, family=family).fit()
            full = smf.glm(f"{y} ~ {treat} * C(level)", data=data, family=family).fit()
        statistic = 2 * (full.llf - reduced.llf)
        dof = full.df_model - reduced.df_model
        p = finite(stats.chi2.sf(statistic, dof)) if dof > 0 else None
    except Exception as error:
        return SubgroupResult(
            variable,
            estimates,
            None,
            test_name,
            _("The interaction model could not be fitted: %(error)s") % {"error": error},
        )
    note = None
    if binary and (abs(full.params).max() > 15):
        p, note = None, _("Separation in a subgroup: the interaction test is not reliable.")
    return SubgroupResult(variable, estimates, p, test_name, note)


def _clustered_subgroups(
    frame: pd.DataFrame,
    outcome: str,
    variable: str,
    treat: str,
    cluster: str,
    period: str | None,
) -> SubgroupResult:
    columns = [outcome, treat, cluster, *([period] if period else [])]
    data = frame[columns].assign(level=subgroup_levels(frame[variable])).dropna()
    data = data.astype({outcome: float})
    test_name = _("cluster-robust (CR2) Wald test")
    estimates = [
        (
            str(level),
            clustered.cluster_difference(
                group,
                outcome,
                cluster,
                _("difference (CR2)"),
                _("least squares, CR2 cluster-robust SE"),
                treat=treat,
                period=period,
            ),
        )
        for level, group in data.groupby("level", sort=True)
    ]
    if data["level"].nunique() < 2:
        return SubgroupResult(
            variable, estimates, None, test_name, _("Fewer than two subgroups with data.")
        )
    problem = clustered.cluster_problem(data, treat, cluster, period is not None)
    if problem:
        return SubgroupResult(variable, estimates, None, test_name, problem)
    terms = [treat, "C(level)", f"{treat}:C(level)"]
    if period:
        terms.append(term(period, categorical=True))
    try:
        fit = clustered.linear_cr2(
            data.assign(**{cluster: data[cluster].astype(str)}),
            outcome,
            terms,
            cluster,
            coefficient=treat,
        )
    except (ValueError, np.linalg.LinAlgError) as error:
        return SubgroupResult(
            variable,
            estimates,
            None,
            test_name,
            _("The interaction model could not be fitted: %(error)s") % {"error": error},
        )
    interaction = [n for n in fit.params.index if n.startswith(f"{treat}:")]
    if not interaction:
        return SubgroupResult(
            variable,
            estimates,
            None,
            test_name,
            _(
                "The arm does not vary within subgroups (a cluster-level subgroup such as "
                "site), so the interaction cannot be estimated."
            ),
        )
    _statistic, p, _q = clustered.cluster_wald_test(fit, interaction)
    return SubgroupResult(variable, estimates, finite(p), test_name)
