"""Subgroup analyses: the effect within the plan's subgroups and the test of interaction."""

from __future__ import annotations

import pandas as pd

from reports.analysis import (
    figures,
    subgroups,
)
from reports.analysis.effect.context import Context, capital, clean, two_sided
from reports.analysis.effect.rows import outcome_problem
from reports.analysis.estimates import Estimate
from reports.analysis.results import Figure, Section, Table
from reports.analysis.subgroups import SubgroupResult
from reports.analysis.text import _


def subgroup_section(context: Context) -> Section:
    """Pre-specified subgroups: effect per subgroup, interaction test and forest plot."""
    plan = context.plan
    outcome = plan.primary_outcome
    section = Section("subgroups", _("Subgroup analyses"))
    if not plan.subgroups:
        section.text.append(_("The analysis plan names no subgroups."))
        return section
    frame = context.at_visit(plan.time_point)
    problem = outcome_problem(context, outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    binary = context.binary(outcome)
    names = context.names
    records, forest = [], []
    variables: list[str] = []
    levels: list[str] = []
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    for variable in plan.subgroups:
        if variable not in frame.columns or frame[variable].notna().sum() == 0:
            section.problems.append(
                _("Subgroup variable %(name)s is not in the data.")
                % {"name": names.covariate(variable)}
            )
            continue
        for arm, name in context.comparisons():
            pair = context.pair(frame, arm)
            result = subgroups.subgroup_effects(
                pair, outcome, variable, binary, cluster=cluster, period=period
            )
            for level, estimate in result.estimates:
                records.append(_record(name, variable, level, estimate, result))
                variables.append(capital(names.covariate(variable)))
                levels.append(names.level(variable, level))
                if arm == context.others[0]:
                    forest.append(
                        (
                            f"{capital(names.covariate(variable))}: {names.level(variable, level)}",
                            estimate.estimate,
                            estimate.ci_low,
                            estimate.ci_high,
                        )
                    )
            if result.interaction_p is None and result.note:
                section.problems.append(f"{capital(names.covariate(variable))}: {result.note}")
    if not records:
        return section
    measure = _("risk difference") if binary else _("difference in means")
    notes = _subgroup_notes(binary=binary, clustered=cluster is not None, period=period)
    notes += [_("Numeric subgroup variables are split at the median."), two_sided()]
    table = Table(
        "subgroups",
        _("Effect of the primary outcome by subgroup"),
        clean(pd.DataFrame(records)),
        notes,
        shown={_("Subgroup"): variables, _("Level"): levels},
        group=_("Comparison"),
        runs=(_("Subgroup"), _("p for interaction")),
    )
    section.tables.append(table)
    if forest:
        svg = figures.forest_svg(forest, 0.0, measure)
        name = context.comparisons()[0][1]
        section.figures.append(
            Figure(
                "subgroups_forest",
                _("Subgroup effects: %(comparison)s") % {"comparison": name},
                svg,
                table,
            )
        )
    return section


def _subgroup_notes(*, binary: bool, clustered: bool, period: str | None) -> list[str]:
    """How the subgroup effects and the interaction test were estimated."""
    if clustered:
        notes = [
            _(
                "Estimates are %(measures)s within each subgroup by least squares with the CR2 "
                "cluster-robust standard error by site and a t reference with K − 2 degrees of "
                "freedom (K sites with the subgroup); the interaction test is the CR2 Wald test "
                "of arm × subgroup against F(q, K − 2), q the number of interaction terms."
            )
            % {"measures": _("risk differences") if binary else _("differences in means")},
        ]
        if period:
            notes.append(
                _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
            )
    elif binary:
        notes = [
            _(
                "Estimates are risk differences within each subgroup (Wald, p(1 − p)/n in each "
                "arm, normal reference); the interaction test is a likelihood-ratio test of arm "
                "× subgroup in a logistic model (chi-square)."
            )
        ]
    else:
        notes = [
            _(
                "Estimates are differences in means within each subgroup (Welch t test); the "
                "interaction test is a likelihood-ratio test of arm × subgroup in a linear model "
                "(chi-square)."
            )
        ]
    return notes


def _record(
    name: str, variable: str, level: str, estimate: Estimate, result: SubgroupResult
) -> dict[str, object]:
    """One row of the subgroups table: the effect within one level of a subgroup."""
    return {
        _("Comparison"): name,
        _("Subgroup"): variable,
        _("Level"): level,
        _("n analysed (arm)"): estimate.n_treated,
        _("n analysed (reference)"): estimate.n_control,
        _("Estimate"): estimate.estimate,
        _("95% CI lower"): estimate.ci_low,
        _("95% CI upper"): estimate.ci_high,
        _("p-value"): estimate.p_value,
        _("p for interaction"): result.interaction_p,
        _("Note"): estimate.note or result.note,
    }
