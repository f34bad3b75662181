"""Contamination and compliance: the ITT beside complier-average (CACE / IV) estimates."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.analysis import (
    clustered,
    compliance,
)
from reports.analysis.effect.context import Context, clean, estimates_table
from reports.analysis.effect.rows import estimate_problems, outcome_problem
from reports.analysis.estimates import (
    Estimate,
)
from reports.analysis.results import Section, Table
from reports.analysis.text import _, number


def compliance_section(context: Context) -> Section:
    """Contamination by arm, and ITT beside CACE (IV), per-protocol and as-treated."""
    section = Section("compliance", _("Contamination and non-compliance"))
    if context.blinded:
        section.problems.append(
            _(
                "Withheld while the report is blinded: "
                "this analysis reveals which arm is the control."
            )
        )
        return section
    plan = context.plan
    frame = context.at_visit(plan.time_point)
    exposure = context.data.exposure
    if exposure is not None and not exposure.empty:
        columns = ["study_id", "exposed", "contacted"]
        frame = frame.merge(exposure[columns], on="study_id", how="left")
    else:
        frame = frame.assign(exposed=False, contacted=False)
    frame["exposed"] = frame["exposed"].fillna(False).astype(bool)
    frame["contacted"] = frame["contacted"].fillna(False).astype(bool)
    unlogged = []
    for arm in context.others:
        in_arm = (frame["arm"] == arm) & ~frame["is_control"].astype(bool)
        if in_arm.any() and not frame.loc[in_arm, "contacted"].any():
            # No contact logged in the whole arm: the trial does not use the contact log
            # there, so whether someone was reached is unknown; count all as treated.
            frame.loc[in_arm, "contacted"] = True
            unlogged.append(context.labels[arm])
    frame["received"] = compliance.received_treatment(
        frame["is_control"], frame["exposed"], frame["contacted"]
    )
    section.tables.append(_exposure_table(context, frame, unlogged))
    outcome = plan.primary_outcome
    problem = outcome_problem(context, outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    section.text.append(
        _(
            "Treatment received counts a participant randomised to an intervention arm as "
            "treated when at least one contact with them was logged by the cut-off (as in the "
            "participant flow), and a control participant when they received an "
            "intervention-specific component. The complier-average causal effect (CACE) uses the "
            "randomised arm as instrument (two-stage least squares). Per-protocol and as-treated "
            "comparisons break randomisation and are biased; they are shown for description only."
        )
    )
    binary = context.binary(outcome)
    if context.clustered:
        rows, notes = clustered_compliance_rows(context, frame, outcome, binary)
    else:
        rows, notes = compliance_rows(context, frame, outcome, binary)
    for row in rows:
        row[1].note = row[1].note or None
    section.tables.append(
        estimates_table(
            "compliance_effects", _("ITT, CACE, per-protocol and as-treated estimates"), rows, notes
        )
    )
    section.problems.extend(estimate_problems(rows))
    return section


def _exposure_table(context: Context, frame: pd.DataFrame, unlogged: list[str]) -> Table:
    """Exposure to intervention-specific components and treatment received, by arm; a note for
    each arm with no contact logged (``unlogged``, by label)."""
    rates = []
    for arm in context.arms:
        group = frame.loc[frame["arm"] == arm]
        exposed = int(group["exposed"].sum())
        rates.append(
            {
                _("Arm"): context.labels[arm],
                _("Randomised"): len(group),
                _("Exposed to intervention components"): exposed,
                _("Proportion exposed"): exposed / len(group) if len(group) else None,
                _("Treatment received"): int(group["received"].sum()),
            }
        )
    notes = [
        _(
            "No contact is logged for %(arm)s, so whether its participants were reached is not "
            "known: all of them count as having received the intervention."
        )
        % {"arm": name}
        for name in unlogged
    ]
    return Table(
        "contamination_by_arm",
        _("Exposure to intervention-specific components by arm"),
        clean(pd.DataFrame(rates)),
        notes=notes,
    )


def compliance_rows(
    context: Context, frame: pd.DataFrame, outcome: str, binary: bool
) -> tuple[list[tuple[dict[str, object], Estimate]], list[str]]:
    """ITT, CACE, per-protocol and as-treated rows under individual randomisation: the
    differences by the primary table's unadjusted estimator (one SE per estimate across the
    report), the CACE by 2SLS with HC0."""
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        pair = pair.loc[pair[outcome].notna()]
        y = pair[outcome].astype(float)
        extra: dict[str, object] = {"comparison": name}
        itt_measure = _("ITT risk difference") if binary else _("ITT difference in means")
        rows.append(
            (extra, compliance.difference(y, pair["treat"], itt_measure, "", binary=binary))
        )
        cace, first_f = compliance.iv_2sls(y, pair["received"], pair["treat"])
        if first_f is not None:
            cace.note = " ".join(
                filter(None, [cace.note, _("First-stage F: %(f)s.") % {"f": number(first_f, 1)}])
            )
        rows.append((extra, cace))
        protocol = pair.loc[~((pair["treat"] == 0) & pair["exposed"])]
        rows.append(
            (
                extra,
                compliance.difference(
                    protocol[outcome].astype(float),
                    protocol["treat"],
                    _("per-protocol difference (biased)"),
                    _("Excludes contaminated controls; not randomised, so biased."),
                    binary=binary,
                ),
            )
        )
        rows.append(
            (
                extra,
                compliance.difference(
                    y,
                    pair["received"],
                    _("as-treated difference (biased)"),
                    _("Compares treatment received, not randomised; biased."),
                    binary=binary,
                ),
            )
        )
    notes = [
        _("Differences on the risk-difference scale for binary outcomes."),
        _(
            "The ITT, per-protocol and as-treated differences use the estimator of the primary "
            "outcome's unadjusted comparison, with the same standard error."
        ),
    ]
    return rows, notes


def clustered_compliance_rows(
    context: Context, frame: pd.DataFrame, outcome: str, binary: bool
) -> tuple[list[tuple[dict[str, object], Estimate]], list[str]]:
    """The compliance rows of a cluster or stepped-wedge trial: all four by least squares
    (two-stage for the CACE) with the CR2 covariance by site and a t(K − 2) reference, period
    fixed effects in a stepped wedge; the first-stage F is the squared CR2 t statistic."""
    frame, period = context.period_column(frame)
    rows: list[tuple[dict[str, object], Estimate]] = []
    rd = _("risk difference") if binary else _("difference in means")
    least_squares = _("least squares, CR2 cluster-robust SE")
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        pair = pair.loc[pair[outcome].notna()].assign(
            received=lambda f: f["received"].astype(float)
        )
        extra: dict[str, object] = {"comparison": name}

        def estimate(data: pd.DataFrame, measure: str, method: str, **options: Any) -> Estimate:
            return clustered.cluster_difference(
                data, outcome, "site", measure, method, period=period, **options
            )

        rows.append((extra, estimate(pair, _("ITT %(measure)s") % {"measure": rd}, least_squares)))
        cace = estimate(
            pair,
            _("complier-average causal effect"),
            _("2SLS, arm as instrument, CR2 cluster-robust SE"),
            treat="received",
            instrument="treat",
        )
        f_value = clustered.first_stage_f(pair, "received", "treat", "site", period)
        if cace.estimate is not None and f_value is not None:
            cace.note = " ".join(
                filter(
                    None,
                    [
                        cace.note,
                        _("First-stage F (cluster-robust): %(f)s.") % {"f": number(f_value, 1)},
                        _("Weak instrument: first-stage F below 10.") if f_value < 10 else "",
                    ],
                )
            )
        rows.append((extra, cace))
        protocol = pair.loc[~((pair["treat"] == 0) & pair["exposed"])]
        per_protocol = estimate(protocol, _("per-protocol difference (biased)"), least_squares)
        per_protocol.note = " ".join(
            filter(
                None,
                [
                    _("Excludes contaminated controls; not randomised, so biased."),
                    per_protocol.note,
                ],
            )
        )
        rows.append((extra, per_protocol))
        as_treated = estimate(
            pair, _("as-treated difference (biased)"), least_squares, treat="received"
        )
        as_treated.note = " ".join(
            filter(
                None,
                [_("Compares treatment received, not randomised; biased."), as_treated.note],
            )
        )
        rows.append((extra, as_treated))
    notes = [
        _("Differences on the risk-difference scale for binary outcomes."),
        _(
            "Cluster-aware: least squares (two-stage for the CACE) with the CR2 bias-reduced "
            "cluster-robust standard error by site and a t reference with K − 2 degrees of "
            "freedom for K sites. The ITT here is the CACE's numerator (unweighted least "
            "squares), so it can differ slightly from the GEE estimate of the primary table, "
            "which is the primary analysis."
        ),
    ]
    if period:
        notes.append(
            _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
        )
    return rows, notes
