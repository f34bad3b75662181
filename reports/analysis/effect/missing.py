"""Missing data: who was not assessed and why, and the sensitivity analyses the plan names."""

from __future__ import annotations

import pandas as pd

from reports.analysis import (
    clustered,
    missing,
)
from reports.analysis.effect.context import Context, capital, clean, estimates_table
from reports.analysis.effect.rows import estimate_problems, outcome_problem
from reports.analysis.estimates import (
    Estimate,
    ancova_hc3,
)
from reports.analysis.results import Section, Table
from reports.analysis.text import _, number
from reports.registers import is_time_to_event


def register_missing(context: Context, section: Section, outcome: str) -> Section:
    """A register primary endpoint is missing only where the register follow-up it needs was
    not over by the cut-off: counted by arm, not imputed (nothing was lost)."""
    if is_time_to_event(outcome):
        section.text.append(
            _(
                "The primary outcome comes from the registers and is censored at the end of "
                "register follow-up; no participant's outcome is missing."
            )
        )
        return section
    frame = context.at_visit(context.plan.time_point)
    if outcome not in frame.columns:
        section.problems.append(
            outcome_problem(context, outcome, frame) or _("No register endpoint values.")
        )
        return section
    rows = [
        {
            _("Arm"): context.labels[arm],
            _("Randomised"): int((frame["arm"] == arm).sum()),
            _("Outcome observed"): int(frame.loc[frame["arm"] == arm, outcome].notna().sum()),
            _("Not yet observed"): int(frame.loc[frame["arm"] == arm, outcome].isna().sum()),
        }
        for arm in context.arms
    ]
    section.tables.append(
        Table(
            "missing_by_arm",
            capital(
                _("Register follow-up of %(outcome)s by arm")
                % {"outcome": context.names.outcome(outcome)}
            ),
            clean(pd.DataFrame(rows)),
        )
    )
    section.text.append(
        _(
            "The primary outcome comes from the registers: it is missing only for participants "
            "whose register follow-up had not covered the window by the cut-off. They are left "
            "out, not imputed: their outcome is not lost but not yet due."
        )
    )
    return section


def missing_section(context: Context) -> Section:
    """Missing primary outcomes by arm and reason; complete case beside multiple imputation.

    Only participants whose visit was due by the cut-off are imputed: a visit whose window was
    still open ("not yet due") is left out of both analyses, and the imputation uses the
    outcome at earlier visits only, whose windows closed before it. Cluster designs: the
    complete-case difference and the analysis of each imputed data set by least squares with
    the CR2 covariance, sites as fixed effects in the imputation models (see
    :func:`reports.analysis.missing.multiple_imputation`).
    """
    plan = context.plan
    outcome = plan.primary_outcome
    section = Section("missing", _("Missing outcomes"))
    if context.is_register(outcome):
        return register_missing(context, section, outcome)
    section.tables.append(_missing_by_arm(context))
    frame = context.at_visit(plan.time_point)
    problem = outcome_problem(context, outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    not_due = not_yet_due(context, plan.time_point)
    frame = frame.loc[~frame["study_id"].isin(not_due)]
    n_missing = int(frame[outcome].isna().sum())
    if n_missing == 0:
        section.text.append(
            _("No primary outcomes are missing; multiple imputation is not needed.")
        )
        return section
    section.text.append(
        _(
            "%(missing)s of %(total)s primary outcomes that were due by the cut-off are missing. "
            "As a sensitivity analysis the missing values were imputed by chained equations "
            "(predictive mean matching, using arm, covariates and the outcome at earlier visits) "
            "and the estimates pooled by Rubin's rules."
        )
        % {"missing": number(n_missing), "total": number(len(frame))}
    )
    if not_due:
        section.text.append(
            _(
                "%(count)s participants whose visit was not yet due at the cut-off are left out: "
                "their outcome is not missing, it has not happened yet."
            )
            % {"count": number(len(not_due))}
        )
    rows = _sensitivity_rows(context, frame)
    section.tables.append(_sensitivity_table(context, rows))
    section.problems.extend(estimate_problems(rows))
    return section


def _missing_by_arm(context: Context) -> Table:
    """Missing primary outcomes at the plan's time point by arm and reason."""
    plan = context.plan
    outcome = plan.primary_outcome
    counts = missing.missing_outcomes_table(
        context.participants, context.data.outcomes, context.data.missed, outcome, plan.time_point
    )
    if not counts.empty:
        counts = counts.set_index("arm").reindex(
            [a for a in context.arms if a in set(counts["arm"])]
        )
        counts = counts.reset_index()
        counts["arm"] = counts["arm"].map(context.labels)
    names = {
        "arm": _("Arm"),
        "randomised": _("Randomised"),
        "observed": _("Outcome observed"),
        "missing": _("Outcome missing"),
        "missed": _("Visit missed"),
        "withdrawn": _("Withdrawn"),
        "lost": _("Lost to follow-up"),
        "not yet due": _("Not yet due"),
        "value missing": _("Value missing"),
        "no record": _("No record"),
    }
    return Table(
        "missing_by_arm",
        _("Missing %(outcome)s at %(visit)s by arm and reason")
        % {
            "outcome": context.names.outcome(outcome),
            "visit": context.names.visit(plan.time_point),
        },
        clean(counts.rename(columns=names)),
    )


def _sensitivity_rows(
    context: Context, frame: pd.DataFrame
) -> list[tuple[dict[str, object], Estimate]]:
    """Complete case beside multiple imputation, for each comparison."""
    outcome = context.plan.primary_outcome
    wide = auxiliary_visits(context, outcome)
    covariates = [c for c in context.covariates_for(outcome, frame) if c in frame.columns]
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        auxiliary: list[str] = []
        if wide is not None:
            pair = pair.merge(wide, on="study_id", how="left")
            auxiliary = list(wide.columns.drop("study_id"))
        pair[outcome] = pair[outcome].astype(float)
        if cluster:
            complete = clustered.cluster_difference(
                pair,
                outcome,
                cluster,
                _("difference (complete case)"),
                _("least squares, CR2 cluster-robust SE"),
                covariates=covariates,
                period=period,
                label=context.names.covariate,
            )
        else:
            complete = ancova_hc3(pair, outcome, covariates, label=context.names.covariate)
            complete.measure = _("difference (complete case)")
            complete.method = _("linear regression, HC3 robust SE")
        rows.append(({"comparison": name}, complete))
        rows.append(
            (
                {"comparison": name},
                missing.multiple_imputation(
                    pair,
                    outcome,
                    covariates,
                    context.seed,
                    auxiliary=auxiliary,
                    cluster=cluster,
                    period=period,
                    label=context.names.covariate,
                ),
            )
        )
    return rows


def _sensitivity_table(context: Context, rows: list[tuple[dict[str, object], Estimate]]) -> Table:
    """The complete-case and multiple-imputation estimates with their notes."""
    notes = [
        _(
            "Both on the difference scale (risk difference for a binary outcome), "
            "adjusted for the plan's covariates."
        ),
        _("Seed %(seed)s; the same data and seed give the same imputations.")
        % {"seed": context.seed},
    ]
    if context.clustered:
        notes.append(
            _(
                "Cluster-aware: sites enter the imputation models as fixed effects; each imputed "
                "data set is analysed with the CR2 cluster-robust standard error, and the "
                "pooled estimate has a t reference with Barnard–Rubin degrees of freedom from "
                "K − 2 complete-data degrees of freedom for K sites."
            )
        )
    return estimates_table(
        "missing_sensitivity", _("Complete case and multiple imputation"), rows, notes
    )


def not_yet_due(context: Context, visit: str) -> set[str]:
    """Study ids whose ``visit`` was not yet due on the cut-off (its window still open)."""
    missed = context.data.missed
    if missed is None or missed.empty or "reason" not in missed.columns:
        return set()
    rows = missed.loc[(missed["visit"] == visit) & (missed["reason"] == "not yet due")]
    return set(rows["study_id"])


def auxiliary_visits(context: Context, outcome: str) -> pd.DataFrame | None:
    """The outcome at the visits before the plan's time point, one column per visit (at most
    four, the latest), for imputation: their windows closed before the time point's, so no
    visit that was not yet due is imputed through them."""
    outcomes = context.data.outcomes
    own = outcomes.loc[outcomes["visit"] == context.plan.time_point, "offset_months"]
    if own.empty:
        return None
    others = outcomes.loc[(outcomes["offset_months"] < own.iloc[0]) & outcomes[outcome].notna()]
    if others.empty:
        return None
    visits = others.drop_duplicates("visit").sort_values("offset_months")["visit"].tolist()[-4:]
    wide = others.loc[others["visit"].isin(visits)].pivot_table(
        index="study_id", columns="visit", values=outcome, aggfunc="first"
    )
    wide = wide.astype(float)
    wide.columns = [f"{outcome}_at_{v}" for v in wide.columns]
    return wide.reset_index()
