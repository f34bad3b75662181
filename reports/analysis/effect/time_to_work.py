"""Time to first paid work: Kaplan-Meier curves, the log-rank test and Cox hazard ratios, from
assessments or register dates."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.analysis import (
    figures,
    survival,
)
from reports.analysis.effect.context import Context, capital, clean, estimates_table
from reports.analysis.effect.rows import estimate_problems
from reports.analysis.estimates import (
    Estimate,
)
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import _, number

MIN_VISITS = 2


"""Follow-up visits with the work question answered that time to first paid work needs: the
times come from assessment dates, so with one visit every time is that visit's date."""


MIN_EVENTS = 10


"""Events (first paid work seen) below which no log-rank test or hazard ratio is estimated."""


def follow_up_visits(context: Context) -> int:
    """How many visits after randomisation have the paid-work question answered."""
    outcomes = context.data.outcomes
    if outcomes.empty or "in_paid_work" not in outcomes.columns:
        return 0
    answered = outcomes.loc[outcomes["in_paid_work"].notna() & (outcomes["offset_months"] > 0)]
    return int(answered["visit"].nunique())


REGISTER_WORK = "time_to_first_work"


"""The register endpoint that, when the plan names it, gives the section on time to first
paid work its times (register dates in place of assessment dates)."""


def register_time_section(context: Context, section: Section, outcome: str, key: str) -> Section:
    """Time to the first spell of a register state (``time_to_first_<state>``): Kaplan–Meier
    by arm from register dates, the log-rank test and the Cox hazard ratio (cluster-adjusted in
    cluster designs), as :func:`survival_tables`."""
    times = context.data.register_times.get(outcome)
    if times is None or times.empty:
        section.problems.append(
            _("No register times for %(outcome)s.") % {"outcome": context.names.outcome(outcome)}
        )
        return section
    frame = context.participants.merge(times[["study_id", "months", "event"]], on="study_id")
    frame = frame.loc[frame["months"].notna() & (frame["months"] >= 0)]
    frame["event"] = frame["event"].fillna(False).astype(bool)
    name = context.names.outcome(outcome)
    section.text.append(
        _(
            "Times come from register dates: months (days / 30.44) from randomisation to the "
            "start of the first spell (0 for a spell going on at randomisation), so the curves "
            "step on the days spells start. Participants without such a spell are censored at "
            "the end of register follow-up: the end of the follow-up window, the data cut-off "
            "or the day the register data are complete until, whichever is first."
        )
    )
    words = {
        "median": _("Median %(outcome)s") % {"outcome": name},
        "figure": capital(_("Cumulative proportion reaching the state: %(outcome)s"))
        % {"outcome": name},
        "axis": _("Proportion reached"),
        "hazard": _(
            "Hazard ratio above 1: the state reached sooner in the arm than in the reference."
        ),
    }
    return survival_tables(context, section, frame, key, words)


def time_to_work_section(context: Context) -> Section:
    """Kaplan–Meier by arm with median and numbers at risk, log-rank test and Cox HR.

    Not estimated, with the reason, when the data cannot support it: fewer than
    :data:`MIN_VISITS` follow-up visits with the work question answered (then the curve is a
    single step at one visit), and no log-rank test or hazard ratio with fewer than
    :data:`MIN_EVENTS` events. Cluster designs: no interval for the median (the
    Brookmeyer–Crowley interval ignores clustering), the cluster-adjusted log-rank test and
    the cluster-robust Cox model, stratified by period in a stepped wedge.
    """
    section = Section("time_to_work", _("Time to first paid work"))
    registered = context.data.register_times.get(REGISTER_WORK)
    if registered is not None:
        return register_time_section(context, section, REGISTER_WORK, "time_to_work")
    ttw = context.data.time_to_work
    if ttw is None or ttw.empty or ttw["months"].notna().sum() == 0:
        section.problems.append(_("No time-to-work data."))
        return section
    visits = follow_up_visits(context)
    if visits < MIN_VISITS:
        section.problems.append(
            _(
                "Not estimated: time to first paid work is taken from the dates of the "
                "assessments, and only %(visits)s follow-up visit has the work question "
                "answered, so every time would be that visit's date. At least %(needed)s "
                "visits are needed."
            )
            % {"visits": number(visits), "needed": number(MIN_VISITS)}
        )
        return section
    frame = context.participants.merge(
        ttw[["study_id", "months", "event"]], on="study_id", how="inner"
    )
    frame = frame.loc[frame["months"].notna() & (frame["months"] >= 0)]
    frame["event"] = frame["event"].fillna(False).astype(bool)
    section.text.append(
        _(
            "Times come from the dates of the follow-up assessments: a participant first found "
            "in paid work at a visit started work at some time since the previous visit, so "
            "the curves step at the visits and the times are later than the true ones by up "
            "to one visit interval. Participants not yet in work are censored at their last "
            "assessment."
        )
    )
    words = {
        "median": _("Median time to first paid work"),
        "figure": _("Cumulative proportion in first paid work"),
        "axis": _("Proportion in paid work"),
        "hazard": _(
            "Hazard ratio above 1: paid work reached sooner in the arm than in the reference."
        ),
    }
    return survival_tables(context, section, frame, "time_to_work", words)


def survival_tables(
    context: Context, section: Section, frame: pd.DataFrame, key: str, words: dict[str, str]
) -> Section:
    """Kaplan–Meier curves by arm (median, numbers at risk, figure), the log-rank test
    (cluster-adjusted in cluster designs) and the Cox hazard ratio of ``frame`` (participants
    with ``months`` and ``event``) into ``section``; tables keyed ``<key>_km`` etc. ``words``
    gives the median table's and figure's titles, the figure's axis and the hazard ratio's
    note."""
    _km_tables(context, section, frame, key, words)
    events = int(frame["event"].sum())
    if events < MIN_EVENTS:
        section.problems.append(
            _(
                "No log-rank test or hazard ratio: %(events)s participants were seen in paid "
                "work, fewer than the %(needed)s such a comparison needs."
            )
            % {"events": number(events), "needed": number(MIN_EVENTS)}
        )
        return section
    return _comparison_tables(context, section, frame, key, words)


def _km_tables(
    context: Context, section: Section, frame: pd.DataFrame, key: str, words: dict[str, str]
) -> None:
    """Kaplan–Meier medians by arm, the numbers at risk and the figure, into ``section``."""
    arms = context.arms
    curves = {
        context.labels[a]: survival.kaplan_meier(*_te(frame.loc[frame["arm"] == a])) for a in arms
    }
    longest = float(frame["months"].max()) if len(frame) else 0.0
    step = 3.0 if longest <= 24 else 6.0
    grid = [step * i for i in range(int(longest // step) + 1)] or [0.0]
    at_risk = {
        context.labels[a]: survival.numbers_at_risk(frame.loc[frame["arm"] == a, "months"], grid)
        for a in arms
    }
    km_rows = [
        {
            _("Arm"): label,
            _("n"): curve.n,
            _("Events"): curve.events,
            _("Median months"): curve.median,
            _("95% CI lower"): None if context.clustered else curve.median_ci[0],
            _("95% CI upper"): None if context.clustered else curve.median_ci[1],
        }
        for label, curve in curves.items()
    ]
    km_notes = [
        _(
            "Kaplan–Meier; median = first time the proportion not yet in work is 0.5 or less "
            "(empty when not reached); CI by Brookmeyer–Crowley (cloglog)."
        )
    ]
    if context.clustered:
        km_notes = [
            _(
                "Kaplan–Meier; median = first time the proportion not yet in work is 0.5 or "
                "less (empty when not reached). No confidence interval is given for the "
                "median: the Brookmeyer–Crowley interval ignores clustering by site."
            )
        ]
    km_table = Table(
        f"{key}_km",
        words["median"],
        clean(pd.DataFrame(km_rows)),
        km_notes,
    )
    risk_frame = pd.DataFrame(
        {_("Arm"): list(at_risk)}
        | {
            number(t, 0 if float(t).is_integer() else 1): [at_risk[a][i] for a in at_risk]
            for i, t in enumerate(grid)
        }
    )
    risk_table = Table(f"{key}_at_risk", _("Numbers at risk by month"), risk_frame)
    section.tables.extend([km_table, risk_table])
    section.figures.append(
        Figure(
            f"{key}_figure",
            words["figure"],
            figures.km_svg(
                curves,
                at_risk,
                grid,
                _("Months from randomisation"),
                words["axis"],
                _("Numbers at risk"),
            ),
            risk_table,
        )
    )


def _comparison_tables(
    context: Context, section: Section, frame: pd.DataFrame, key: str, words: dict[str, str]
) -> Section:
    """The log-rank test and the Cox hazard ratios (unadjusted and adjusted) of each comparison,
    into ``section``."""
    rows: list[tuple[dict[str, object], Estimate]] = []
    covariates = [c for c in context.model_covariates() if c in frame.columns]
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    test_rows = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        if cluster:
            statistic, p, df, why = survival.robust_logrank(pair, "site", strata=period)
            test_rows.append(
                {
                    _("Comparison"): name,
                    _("Robust score statistic (F)"): statistic,
                    _("Degrees of freedom"): None if df is None else f"1, {number(df)}",
                    _("p-value"): p,
                }
            )
            if why:
                section.problems.append(
                    _("Cluster-adjusted log-rank test (%(comparison)s) not computed: %(why)s")
                    % {"comparison": name, "why": why}
                )
        else:
            statistic, p = survival.logrank(pair["months"], pair["event"], pair["treat"])
            test_rows.append(
                {_("Comparison"): name, _("Log-rank chi-square"): statistic, _("p-value"): p}
            )
        rows.append(
            (
                {"comparison": name},
                survival.cox_hazard_ratio(pair, [], cluster=cluster, strata=period),
            )
        )
        if covariates:
            adjusted = survival.cox_hazard_ratio(
                pair, covariates, cluster=cluster, strata=period, label=context.names.covariate
            )
            adjusted.measure = _("adjusted %(measure)s") % {"measure": adjusted.measure}
            rows.append(({"comparison": name}, adjusted))
    section.tables.append(_logrank_table(key, test_rows, clustered=bool(cluster), period=period))
    hr_notes = [words["hazard"]]
    if period:
        hr_notes.append(
            _("Stepped wedge: stratified by period (calendar quarter of randomisation).")
        )
    section.tables.append(estimates_table(f"{key}_cox", _("Cox regression"), rows, hr_notes))
    section.problems.extend(estimate_problems(rows))
    return section


def _logrank_table(
    key: str, test_rows: list[dict[str, Any]], *, clustered: bool, period: str | None
) -> Table:
    """The log-rank test of each comparison: cluster-adjusted in cluster designs."""
    if clustered:
        return Table(
            f"{key}_logrank",
            _("Cluster-adjusted log-rank test"),
            clean(pd.DataFrame(test_rows)),
            [
                _(
                    "Robust score test of the Cox model at a hazard ratio of 1 (Lin & Wei 1989): "
                    "the log-rank statistic's numerator (observed − expected first jobs) over "
                    "its variance summed by site, referred to F(1, K − 2) for K sites; "
                    "two-sided."
                ),
                *(
                    [_("Stratified by period (calendar quarter of randomisation).")]
                    if period
                    else []
                ),
            ],
            group=_("Comparison"),
        )
    return Table(
        f"{key}_logrank",
        _("Log-rank test"),
        clean(pd.DataFrame(test_rows)),
        [_("Chi-square with 1 degree of freedom; two-sided.")],
        group=_("Comparison"),
    )


def _te(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return frame["months"], frame["event"]
