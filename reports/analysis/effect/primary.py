"""The primary and secondary outcome sections."""

from __future__ import annotations

import pandas as pd

from reports.analysis import (
    clustered,
    survival,
)
from reports.analysis.effect.context import REGISTER_MONTHS, Context, clean, estimates_table
from reports.analysis.effect.rows import (
    descriptive_table,
    effect_rows,
    estimate_problems,
    kind_notes,
    outcome_problem,
    register_notes,
)
from reports.analysis.effect.time_to_work import register_time_section
from reports.analysis.estimates import (
    Estimate,
)
from reports.analysis.results import Section, Table
from reports.analysis.text import _
from reports.registers import is_time_to_event


def primary_section(context: Context) -> Section:
    """Primary outcome at the primary time point: descriptives, effect estimates, ICC."""
    plan = context.plan
    section = Section("primary", _("Primary outcome"))
    if is_time_to_event(plan.primary_outcome):
        section.text.append(
            _("Intention-to-treat analysis of %(outcome)s from the register spells.")
            % {"outcome": context.names.outcome(plan.primary_outcome)}
        )
        return register_time_section(context, section, plan.primary_outcome, "primary")
    frame = context.at_visit(plan.time_point)
    problem = outcome_problem(context, plan.primary_outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    outcome = plan.primary_outcome
    section.text.append(
        _(
            "Intention-to-treat analysis of %(outcome)s at %(visit)s: participants analysed in the "
            "arm they were randomised to, complete case (multiple imputation is in the section on "
            "missing outcomes)."
        )
        % {"outcome": context.names.outcome(outcome), "visit": context.names.visit(plan.time_point)}
        if not context.is_register(outcome)
        else _(
            "Intention-to-treat analysis of %(outcome)s from the register spells: participants "
            "analysed in the arm they were randomised to."
        )
        % {"outcome": context.names.outcome(outcome)}
    )
    section.tables.append(descriptive_table(context, frame, outcome, "primary_by_arm"))
    rows = effect_rows(context, frame, outcome, full=True)
    if context.binary(outcome):
        notes = [
            _("Risk difference: Wald 95% CI. Risk and odds ratios: Wald 95% CI on the log scale.")
        ]
    else:
        notes = kind_notes(context, [outcome])
    if context.data.design != "individual" and context.kind(outcome) == REGISTER_MONTHS:
        notes = []
        if context.data.design == "stepped_wedge":
            notes.append(
                _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
            )
    elif context.data.design != "individual":
        notes = [
            _(
                "GEE with exchangeable working correlation within sites and the Mancl–DeRouen "
                "bias-reduced sandwich covariance; t reference with K − 2 degrees of freedom."
            )
        ]
        if context.data.design == "stepped_wedge":
            notes.append(
                _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
            )
    notes = [*register_notes(context, [outcome]), *notes]
    section.tables.append(
        estimates_table(
            "primary_effect", _("Effect on the primary outcome"), rows, notes, context.names
        )
    )
    section.problems.extend(estimate_problems(rows))
    if context.data.design != "individual":
        section.tables.append(icc_table(context, frame, outcome))
    return section


def icc_table(context: Context, frame: pd.DataFrame, outcome: str) -> Table:
    """ICC of ``outcome`` within sites (arm-centred values, pooled) and the design effect."""
    data = frame.loc[frame[outcome].notna()].copy()
    values = data[outcome].astype(float)
    # Centre on the arm mean so that the arm effect does not inflate the between-site variance.
    centred = values - data.groupby("arm")[outcome].transform(lambda s: s.astype(float).mean())
    icc = clustered.icc_anova(centred, data["site"])
    sizes = data.groupby("site").size()
    cv = clustered.cluster_sizes_cv(sizes)
    frame_out = pd.DataFrame(
        [
            {
                _("Outcome"): outcome,
                _("Clusters"): icc.clusters,
                _("Participants"): icc.n,
                _("Mean cluster size"): icc.mean_size,
                _("CV of cluster size"): cv,
                _("ICC (ANOVA)"): icc.icc,
                _("Design effect"): clustered.design_effect(icc.mean_size, icc.icc, cv),
            }
        ]
    )
    notes = [
        _(
            "ICC by the one-way ANOVA estimator on arm-centred values; design effect "
            "1 + ((CV² + 1)m − 1)·ICC (Eldridge et al. 2006), a negative ICC counted as 0."
        )
    ]
    if icc.icc is None:
        notes.append(_("The ICC could not be estimated: fewer than two clusters with data."))
    table = Table("primary_icc", _("Intracluster correlation"), clean(frame_out), notes)
    table.shown[_("Outcome")] = [context.names.outcome_label(outcome)]
    return table


def secondary_section(context: Context) -> Section:
    """Each secondary outcome at the primary time point."""
    plan = context.plan
    section = Section("secondary", _("Secondary outcomes"))
    if not plan.secondary_outcomes:
        section.text.append(_("The analysis plan names no secondary outcomes."))
        return section
    frame = context.at_visit(plan.time_point)
    rows: list[tuple[dict[str, object], Estimate]] = []
    for outcome in plan.secondary_outcomes:
        if is_time_to_event(outcome):
            rows.extend(register_hazard_rows(context, outcome, section))
            continue
        problem = outcome_problem(context, outcome, frame)
        if problem:
            section.problems.append(problem)
            continue
        rows.extend(effect_rows(context, frame, outcome, full=False))
    if rows:
        section.tables.append(
            estimates_table(
                "secondary_effects",
                _("Effects on secondary outcomes at %(visit)s")
                % {"visit": context.names.visit(plan.time_point)},
                rows,
                [
                    _(
                        "Secondary outcomes are not adjusted for multiplicity; "
                        "read them as supportive."
                    ),
                    *kind_notes(context, plan.secondary_outcomes),
                    *register_notes(context, plan.secondary_outcomes),
                    *(
                        [
                            _(
                                "Time to the first spell of a register state: Cox regression "
                                "on register dates (the Kaplan–Meier curves of time to first "
                                "paid work are in their own section)."
                            )
                        ]
                        if any(is_time_to_event(o) for o in plan.secondary_outcomes)
                        else []
                    ),
                ],
                context.names,
            )
        )
        section.problems.extend(estimate_problems(rows))
    return section


def register_hazard_rows(
    context: Context, outcome: str, section: Section
) -> list[tuple[dict[str, object], Estimate]]:
    """Cox hazard ratios (unadjusted and adjusted; cluster-robust in cluster designs) of a
    time-to-first register endpoint, for the secondary outcomes' table."""
    times = context.data.register_times.get(outcome)
    if times is None or times.empty:
        section.problems.append(
            _("No register times for %(outcome)s.") % {"outcome": context.names.outcome(outcome)}
        )
        return []
    frame = context.participants.merge(times[["study_id", "months", "event"]], on="study_id")
    frame["event"] = frame["event"].fillna(False).astype(bool)
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    covariates = [c for c in context.model_covariates() if c in frame.columns]
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        extra: dict[str, object] = {"comparison": name, "outcome": outcome}
        rows.append((extra, survival.cox_hazard_ratio(pair, [], cluster=cluster, strata=period)))
        if covariates:
            adjusted = survival.cox_hazard_ratio(
                pair, covariates, cluster=cluster, strata=period, label=context.names.covariate
            )
            adjusted.measure = _("adjusted %(measure)s") % {"measure": adjusted.measure}
            rows.append((extra, adjusted))
    return rows
