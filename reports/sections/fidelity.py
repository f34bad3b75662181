"""The fidelity sections of the process report: the sites' reviews over time, and site fidelity
beside site outcomes."""

from __future__ import annotations

import pandas as pd
from django.utils.translation import gettext as _

from fidelity.reviews.trends import site_trends
from reports import registers
from reports.analysis import process
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import number
from reports.sections.base import ReportInput, not_randomised, report_names, visit_label
from trial.models import Trial


def fidelity_rows(trial: Trial, inp: ReportInput) -> pd.DataFrame:
    """Consensus totals of the sites' fidelity reviews dated by the cut-off (one query set,
    computed once per build and shared by the fidelity sections)."""

    def load() -> pd.DataFrame:
        rows = [
            {
                "site": trend.site.code,
                "review_date": point.review.review_date,
                "scale": f"{point.review.scale.name} {point.review.scale.version}".strip(),
                "total": point.total,
                "band": point.band or "",
            }
            for trend in site_trends(trial, trial.sites.order_by("code"))
            for point in trend.points
            if point.review.review_date <= inp.cut_off
        ]
        return pd.DataFrame(rows, columns=["site", "review_date", "scale", "total", "band"])

    frame: pd.DataFrame = inp.shared("fidelity_reviews", load)
    return frame


def fidelity_reviews_section(inp: ReportInput) -> Section:
    """The consensus totals of each site's fidelity reviews over time."""
    reviews = fidelity_rows(inp.trial, inp)
    scales_used = sorted(set(reviews["scale"]))
    reviews_table = Table("fidelity_reviews", _("Fidelity reviews by site"), reviews)
    if len(scales_used) == 1:  # the same long name on every row: say it once
        reviews_table.hidden = ("scale",)
        reviews_table.notes.append(_("Scale: %(scale)s.") % {"scale": scales_used[0]})
    fidelity = Section(
        key="fidelity",
        title=_("Fidelity"),
        text=[
            _(
                "Consensus totals of the fidelity reviews of each site over time; totals and "
                "bands are computed from the item scores of the scale version each review used."
            )
        ],
        tables=[reviews_table],
    )
    if reviews.empty:
        fidelity.problems.append(
            _("No site had a fidelity review with a consensus by the cut-off.")
        )
    return fidelity


def _no_site_outcome(inp: ReportInput) -> str:
    """Why fidelity cannot be related to site outcomes in this report, or "" when it can."""
    if inp.blinded:
        return _(
            "The intervention arm's outcome by site would reveal the allocation, so this "
            "relation is left out of reports for blinded readers."
        )
    if inp.plan is None:
        return _("No analysis plan names a primary outcome and time point to relate fidelity to.")
    if registers.is_time_to_event(inp.plan.primary_outcome):
        return _(
            "The primary outcome is a time to event, which has no value per site to relate "
            "fidelity to."
        )
    return ""


def site_fidelity_section(inp: ReportInput) -> Section:
    """Latest consensus fidelity total per site beside the intervention arm's primary outcome
    at the site: a table and a scatter, with the caveat that sites were not randomised."""
    section = Section(
        key="fidelity-outcomes",
        title=_("Site fidelity and site outcomes"),
        text=[not_randomised()],
    )
    problem = _no_site_outcome(inp)
    if problem or inp.plan is None:
        section.problems.append(problem)
        return section
    outcome, visit = inp.plan.primary_outcome, inp.plan.time_point
    outcomes = inp.data.outcomes
    if registers.parse(outcome) is not None and inp.data.registers is not None:
        # A register endpoint has one value per participant, whatever the visit.
        outcomes = inp.data.registers.assign(visit=visit)
    frame = process.site_fidelity_outcomes(
        inp.data.participants,
        outcomes,
        fidelity_rows(inp.trial, inp),
        outcome=outcome,
        visit=visit,
    )
    binary = inp.data.kinds.get(outcome) == "binary"
    names = inp.shared("names", lambda: report_names(inp.trial))
    name = inp.data.labels.get(outcome) or names.outcome_label(outcome)
    shown = visit_label(inp, visit)
    outcome_label = (
        _("%(outcome)s at %(visit)s (share)") if binary else _("%(outcome)s at %(visit)s (mean)")
    ) % {"outcome": name, "visit": shown}
    section.text.insert(
        0,
        _(
            "For each site: the consensus total of its latest fidelity review by the cut-off, "
            "and the primary outcome (%(outcome)s at %(visit)s) of the intervention arm's "
            "participants at the site."
        )
        % {"outcome": names.outcome(outcome), "visit": shown},
    )
    table = Table(
        "fidelity_outcomes_by_site",
        _("Latest fidelity and the intervention arm's primary outcome by site"),
        frame,
        labels={
            "review_date": _("Latest review"),
            "fidelity_total": _("Fidelity total"),
            "randomised": _("Randomised (intervention arm)"),
            "assessed": _("Assessed"),
            "outcome": outcome_label,
        },
    )
    both = frame.dropna(subset=["fidelity_total", "outcome"])
    correlation = process.spearman(frame)
    if correlation is not None:
        table.notes.append(
            _("Spearman's rank correlation over %(n)s sites: %(rho)s (descriptive).")
            % {"n": number(correlation[1]), "rho": number(correlation[0], 2)}
        )
    section.tables = [table]
    if both.empty:
        section.problems.append(
            _("No site had both a fidelity review with a consensus and assessed outcomes.")
        )
        return section
    section.figures = [
        Figure(
            "fidelity_outcomes_scatter",
            _("Site fidelity and the intervention arm's outcome"),
            process.fidelity_outcome_svg(frame, ylabel=outcome_label, proportion=binary),
            table,
        )
    ]
    return section
