"""Estimates of one outcome by arm (the rows of the estimates tables), with the descriptive
tables and the notes on models that go under them."""

from __future__ import annotations

import pandas as pd

from reports.analysis import (
    clustered,
    ordinal_count,
)
from reports.analysis.effect.context import (
    BINARY,
    COUNT,
    ORDINAL,
    REGISTER_MONTHS,
    Context,
    capital,
    clean,
)
from reports.analysis.estimates import (
    Estimate,
    ancova_hc3,
    binary_itt,
    logistic_adjusted,
    means_by_arm,
    proportions_by_arm,
    welch_difference,
)
from reports.analysis.results import Table
from reports.analysis.text import _
from reports.registers import is_time_to_event


def outcome_problem(context: Context, outcome: str, frame: pd.DataFrame) -> str | None:
    """Why ``outcome`` cannot be analysed at the plan's time point, or None."""
    if is_time_to_event(outcome):
        return _(
            "%(outcome)s is a time to event; this section analyses outcomes with one value per "
            "participant, so it leaves it out (the hazard ratio is in the section on the "
            "outcome itself)."
        ) % {"outcome": capital(context.names.outcome(outcome))}
    if context.is_register(outcome):
        if outcome not in frame.columns:
            return _(
                "The plan names the register endpoint %(outcome)s, but it could not be "
                "computed: the trial has no such register state."
            ) % {"outcome": context.names.outcome(outcome)}
        if frame[outcome].notna().sum() == 0:
            return _(
                "No participant's register follow-up covers %(outcome)s by the data cut-off."
            ) % {"outcome": context.names.outcome(outcome)}
        return None
    if outcome not in context.data.outcomes.columns or outcome not in frame.columns:
        return _("The plan names outcome %(outcome)s, but the data have no such outcome.") % {
            "outcome": context.names.outcome(outcome)
        }
    if frame[outcome].notna().sum() == 0:
        return _("No participant has a value for %(outcome)s at visit %(visit)s.") % {
            "outcome": context.names.outcome(outcome),
            "visit": context.names.visit(context.plan.time_point),
        }
    return None


def effect_rows(
    context: Context, frame: pd.DataFrame, outcome: str, full: bool
) -> list[tuple[dict[str, object], Estimate]]:
    """Estimates of the effect on ``outcome`` for every comparison, by the design's methods.

    Individual randomisation, by the outcome's kind: RD/RR/OR and adjusted OR (binary;
    ``full=False`` keeps only the RD of the unadjusted three); Welch and ANCOVA (continuous
    and score); those and a rate ratio from Poisson regression with robust SE (count); those
    and a proportional-odds odds ratio (ordinal). Cluster and stepped wedge: GEE, unadjusted
    and adjusted (binary as odds ratio, every other kind as difference in means).
    """
    kind = context.kind(outcome)
    binary = kind == BINARY
    covariates = context.covariates_for(outcome, frame)
    label = context.names.covariate
    design = context.data.design
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        extra: dict[str, object] = {"comparison": name, "outcome": outcome}
        pair = pair.loc[pair[outcome].notna()]
        if design in {"cluster", "stepped_wedge"} and kind == REGISTER_MONTHS:
            rows.extend((extra, e) for e in register_months_cluster(context, pair, outcome))
            continue
        if design in {"cluster", "stepped_wedge"}:
            period = None
            if design == "stepped_wedge":
                pair = pair.assign(period=context.period(pair))
                period = "period"
            model_covariates = [c for c in covariates if c != "site"]
            rows.append(
                (extra, clustered.gee_effect(pair, outcome, "site", [], binary, period=period))
            )
            if model_covariates:
                adjusted = clustered.gee_effect(
                    pair, outcome, "site", model_covariates, binary, period=period, label=label
                )
                adjusted.measure = _("adjusted %(measure)s") % {"measure": adjusted.measure}
                rows.append((extra, adjusted))
            continue
        if binary:
            itt = binary_itt(pair, outcome)
            rows.extend((extra, e) for e in (itt if full else itt[:1]))
            if covariates:
                rows.append((extra, logistic_adjusted(pair, outcome, covariates, label=label)))
        else:
            rows.append(
                (
                    extra,
                    welch_difference(
                        pair.loc[pair["treat"] == 1, outcome], pair.loc[pair["treat"] == 0, outcome]
                    ),
                )
            )
            if covariates:
                rows.append((extra, ancova_hc3(pair, outcome, covariates, label=label)))
            if kind == COUNT:
                rows.append(
                    (extra, ordinal_count.rate_ratio(pair, outcome, covariates, label=label))
                )
            elif kind == ORDINAL:
                rows.append(
                    (extra, ordinal_count.proportional_odds(pair, outcome, covariates, label=label))
                )
    return rows


def register_months_cluster(context: Context, pair: pd.DataFrame, outcome: str) -> list[Estimate]:
    """Months in a state in a cluster or stepped-wedge trial: difference in means by least
    squares with the CR2 covariance and a t(K − 2) reference, unadjusted and adjusted (period
    fixed effects in a stepped wedge)."""
    pair, period = context.period_column(pair)
    method = _("least squares, CR2 cluster-robust SE")
    out = [
        clustered.cluster_difference(
            pair, outcome, "site", _("difference in mean months"), method, period=period
        )
    ]
    covariates = [c for c in context.covariates_for(outcome, pair) if c != "site"]
    if covariates:
        out.append(
            clustered.cluster_difference(
                pair,
                outcome,
                "site",
                _("adjusted difference in mean months"),
                method,
                covariates=covariates,
                period=period,
                label=context.names.covariate,
            )
        )
    return out


def register_notes(context: Context, outcomes: list[str]) -> list[str]:
    """How the register endpoints among ``outcomes`` are defined and modelled."""
    kinds = {context.kind(o) for o in outcomes if context.is_register(o)}
    notes = []
    if REGISTER_MONTHS in kinds:
        notes.append(
            _(
                "Months in a state: months of the window whose monthly register state (the "
                "trial's month rule) is that state; missing where the window was not wholly "
                "observed by the cut-off."
            )
        )
        if context.clustered:
            notes.append(
                _(
                    "Months in a state: least squares with the CR2 cluster-robust covariance "
                    "(Bell & McCaffrey) and a t reference with K − 2 degrees of freedom."
                )
            )
        else:
            notes.append(
                _(
                    "Months in a state: Welch difference in means and, with covariates, ANCOVA "
                    "with HC3 robust standard errors."
                )
            )
    if BINARY in kinds:
        notes.append(
            _(
                "In a state in month m: the monthly register state of follow-up month m (1 is "
                "the month of randomisation)."
            )
        )
    return notes


def kind_notes(context: Context, outcomes: list[str]) -> list[str]:
    """Notes on the count and ordinal models, when ``outcomes`` have such kinds (individual
    randomisation: cluster designs fit GEE only)."""
    if context.data.design != "individual":
        return []
    kinds = {context.kind(o) for o in outcomes}
    notes = []
    if COUNT in kinds:
        notes.append(
            _(
                "Rate ratio: ratio of mean counts from Poisson regression (log link) with "
                "robust (sandwich) standard errors, valid when counts are overdispersed; "
                "Wald 95% CI on the log scale."
            )
        )
    if ORDINAL in kinds:
        notes.append(
            _(
                "Ordinal outcomes: the differences in means treat the codes as equally spaced "
                "numbers; the proportional-odds odds ratio (ordered logistic regression) is the "
                "common odds of a higher category, assuming the same odds ratio at every "
                "cut-point; Wald 95% CI on the log scale."
            )
        )
    return notes


def descriptive_table(context: Context, frame: pd.DataFrame, outcome: str, key: str) -> Table:
    """Proportions (binary) or means (continuous) of ``outcome`` by arm, in the trial's arm
    order. A proportion's 95% CI is Wilson's, or in a cluster trial CR2 cluster-robust with a
    t(K − 1) reference over the arm's K clusters (none with fewer than two)."""
    if context.binary(outcome):
        table = proportions_by_arm(frame.astype({outcome: float}), outcome)
        if context.clustered:
            table = cluster_proportions(frame, outcome, table)
        names = {
            "arm": _("Arm"),
            "n": _("n analysed"),
            "events": _("Events"),
            "proportion": _("Proportion"),
            "ci_low": _("95% CI lower"),
            "ci_high": _("95% CI upper"),
        }
        note = [_("Confidence intervals for proportions: Wilson score.")]
        if context.clustered:
            note = [
                _(
                    "Confidence intervals for proportions: CR2 cluster-robust standard error, "
                    "t reference with (clusters in the arm − 1) degrees of freedom, limited to "
                    "0–1; none for an arm with fewer than two clusters."
                )
            ]
    else:
        table = means_by_arm(frame, outcome)
        names = {"arm": _("Arm"), "n": _("n analysed"), "mean": _("Mean"), "sd": _("SD")}
        note = []
    table = table.set_index("arm").reindex([a for a in context.arms if a in set(table["arm"])])
    table = table.reset_index()
    table["arm"] = table["arm"].map(context.labels)
    title = _("%(outcome)s at %(visit)s by arm") % {
        "outcome": context.names.outcome(outcome),
        "visit": context.names.visit(context.plan.time_point),
    }
    if context.is_register(outcome):
        title = _("%(outcome)s by arm") % {"outcome": context.names.outcome(outcome)}
    title = title[:1].upper() + title[1:]
    return Table(key, title, clean(table.rename(columns=names)), note)


def cluster_proportions(frame: pd.DataFrame, outcome: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (from :func:`proportions_by_arm`) with cluster-robust CIs (see
    :func:`descriptive_table`)."""
    table = table.copy()
    for index, code in table["arm"].items():
        rows = frame.loc[frame["arm"] == code]
        result = clustered.cluster_mean(rows[outcome].astype(float), rows["site"], bounds=(0, 1))
        table.loc[index, ["ci_low", "ci_high"]] = [result.ci_low, result.ci_high]
    return table


def estimate_problems(rows: list[tuple[dict[str, object], Estimate]]) -> list[str]:
    """Problems for estimates that are ``None``: measure, comparison and reason."""
    return [
        _("%(measure)s (%(comparison)s) not estimated: %(why)s")
        % {"measure": e.measure, "comparison": extra.get("comparison", ""), "why": e.note or ""}
        for extra, e in rows
        if e.estimate is None
    ]
