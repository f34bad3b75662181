"""Outcomes over the follow-up visits: by visit, and the repeated-measures model."""

from __future__ import annotations

import pandas as pd

from reports.analysis import (
    figures,
    repeated,
)
from reports.analysis.effect.context import Context, capital, clean, estimates_table
from reports.analysis.effect.rows import estimate_problems
from reports.analysis.estimates import (
    Estimate,
    finite,
)
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import _


def over_visits_section(context: Context) -> Section:
    """The primary outcome at every visit, by arm, as a table and a line figure."""
    outcome = context.plan.primary_outcome
    section = Section("over_visits", _("Outcomes over follow-up visits"))
    if context.is_register(outcome):
        section.text.append(
            _(
                "The primary outcome comes from the registers, not from the follow-up visits; "
                "the pathways report shows the monthly register states by arm."
            )
        )
        return section
    outcomes = context.data.outcomes
    if outcomes.empty or outcome not in outcomes.columns or outcomes[outcome].notna().sum() == 0:
        section.problems.append(
            _("No values of %(outcome)s at any visit.")
            % {"outcome": context.names.outcome(outcome)}
        )
        return section
    binary = context.binary(outcome)
    merged = outcomes.loc[
        outcomes[outcome].notna(), ["study_id", "visit", "offset_months", outcome]
    ].merge(context.participants[["study_id", "arm"]], on="study_id")
    merged[outcome] = merged[outcome].astype(float)
    visits = merged.drop_duplicates("visit").sort_values("offset_months")[
        ["visit", "offset_months"]
    ]
    records, series = [], {}
    for arm in context.arms:
        points = []
        for visit in visits.itertuples(index=False):
            values = merged.loc[(merged["arm"] == arm) & (merged["visit"] == visit.visit), outcome]
            value = finite(values.mean()) if len(values) else None
            points.append((float(visit.offset_months), value))
            records.append(
                {
                    _("Visit"): visit.visit,
                    _("Months from randomisation"): visit.offset_months,
                    _("Arm"): context.labels[arm],
                    _("n analysed"): len(values),
                    (_("Proportion") if binary else _("Mean")): value,
                }
            )
        series[context.labels[arm]] = points
    title = _("%(outcome)s by arm over visits") % {"outcome": context.names.outcome(outcome)}
    title = title[:1].upper() + title[1:]
    table = Table("over_visits", title, clean(pd.DataFrame(records)), group=_("Arm"))
    table.shown[_("Visit")] = [context.names.visit(str(r[_("Visit")])) for r in records]
    svg = figures.over_visits_svg(
        series, _("Months from randomisation"), _("Proportion") if binary else _("Mean"), binary
    )
    section.tables.append(table)
    section.figures.append(Figure("over_visits_figure", title, svg, table))
    section.text.append(_("Observed values at each visit (participants assessed at that visit)."))
    return section


def repeated_outcome(context: Context) -> str | None:
    """The outcome the repeated-measures model analyses: the primary outcome when it is measured
    at the follow-up visits, else the first secondary outcome that is (a register primary
    outcome has one value per participant); None when the plan names none."""
    outcomes = context.data.outcomes
    for outcome in [context.plan.primary_outcome, *context.plan.secondary_outcomes]:
        if not context.is_register(outcome) and outcome in outcomes.columns:
            return outcome
    return None


def repeated_section(context: Context) -> Section:
    """An outcome at every follow-up visit in one GEE model (see :func:`repeated_outcome`):
    the arm effect at each visit and overall (their average), with an exchangeable and
    (individual randomisation) an AR(1) working correlation, stated in the table (see
    :mod:`reports.analysis.repeated`)."""
    section = Section("repeated", _("Repeated measures"))
    outcomes = context.data.outcomes
    outcome = repeated_outcome(context)
    if outcome is None:
        section.text.append(
            _(
                "The plan names no outcome measured at the follow-up visits, so there is no "
                "repeated-measures model."
            )
        )
        return section
    if outcome != context.plan.primary_outcome:
        section.text.append(
            _(
                "The primary outcome comes from the registers; the repeated-measures model "
                "analyses the plan's first secondary outcome measured at the visits, "
                "%(outcome)s."
            )
            % {"outcome": context.names.outcome(outcome)}
        )
    follow_up = outcomes.loc[(outcomes["offset_months"] > 0) & outcomes[outcome].notna()]
    visits = list(
        follow_up.drop_duplicates("visit").sort_values("offset_months")["visit"].astype(str)
    )
    if len(visits) < 2:
        section.problems.append(
            _("Not estimated: %(outcome)s has values at fewer than two follow-up visits.")
            % {"outcome": context.names.outcome(outcome)}
        )
        return section
    long = follow_up[["study_id", "visit", outcome]].merge(context.participants, on="study_id")
    covariates = [c for c in context.model_covariates() if c in long.columns and c != "site"]
    if context.data.design == "individual" and "site" in context.plan.covariates:
        covariates.append("site")
    long, period = context.period_column(long)
    rows = _repeated_rows(
        context, section, long, outcome, visits, covariates=covariates, period=period
    )
    if not rows:
        return section
    notes = _repeated_notes(context, outcome, clustered=context.clustered, period=period)
    section.tables.append(
        estimates_table(
            "repeated_measures",
            capital(
                _("%(outcome)s over follow-up visits in one model")
                % {"outcome": context.names.outcome(outcome)}
            ),
            rows,
            notes,
            context.names,
        )
    )
    section.problems.extend(estimate_problems(rows))
    return section


def _repeated_rows(
    context: Context,
    section: Section,
    long: pd.DataFrame,
    outcome: str,
    visits: list[str],
    *,
    covariates: list[str],
    period: str | None,
) -> list[tuple[dict[str, object], Estimate]]:
    """The GEE model of each comparison under each working correlation: its estimates by visit
    and overall; a model that cannot be fitted says why in ``section``."""
    binary = context.binary(outcome)
    cluster = "site" if context.clustered else None
    structures = [repeated.EXCHANGEABLE] if cluster else [repeated.EXCHANGEABLE, repeated.AR1]
    rows: list[tuple[dict[str, object], Estimate]] = []
    stated = []
    for arm, name in context.comparisons():
        pair = context.pair(long, arm)
        for structure in structures:
            fit = repeated.fit_repeated(
                pair,
                outcome,
                visits,
                binary,
                structure,
                cluster=cluster,
                covariates=covariates,
                period=period,
                label=context.names.covariate,
            )
            if fit.problem:
                section.problems.append(
                    _(
                        "Repeated-measures model (%(comparison)s, %(correlation)s) not "
                        "estimated: %(why)s"
                    )
                    % {
                        "comparison": name,
                        "correlation": repeated.correlation_name(structure),
                        "why": fit.problem,
                    }
                )
                continue
            stated.append(repeated.alpha_text(fit))
            for visit, estimate in fit.rows:
                where = context.names.visit(visit) if visit else _("overall (average over visits)")
                estimate.measure = f"{estimate.measure}, {where}"
                estimate.method = repeated.alpha_text(fit)
                rows.append(({"comparison": name, "outcome": outcome}, estimate))
    return rows


def _repeated_notes(
    context: Context, outcome: str, *, clustered: bool, period: str | None
) -> list[str]:
    """How the repeated-measures model was specified."""
    notes = [
        _(
            "One GEE model for %(outcome)s at every follow-up visit: arm × visit, so each "
            "visit has its own arm effect; the overall effect is their average. Method column: "
            "the working correlation and its estimate."
        )
        % {"outcome": context.names.outcome(outcome)},
        _(
            "Cluster trial: sites are the model's clusters (exchangeable working correlation "
            "within sites, which takes in the correlation within participants), Mancl–DeRouen "
            "bias-reduced sandwich, t reference with K − 2 degrees of freedom; no AR(1) model."
        )
        if clustered
        else _(
            "Working correlations within participants over the visits: exchangeable and "
            "first-order autoregressive (AR(1)), robust (sandwich) standard errors."
        ),
        *(
            [_("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")]
            if period
            else []
        ),
    ]
    return notes
