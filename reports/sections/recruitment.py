"""Recruitment and retention (process report)."""

from __future__ import annotations

import pandas as pd
from django.utils.translation import gettext as _

from reports.analysis import process
from reports.analysis.results import Figure, Section, Table
from reports.sections.base import ReportInput, visit_label


def recruitment_section(inp: ReportInput, names: dict[str, str]) -> Section:
    """Recruitment by month and site, retention and follow-up completeness."""
    data = inp.data
    people = data.participants
    _screening, flow = inp.consort_frames()
    visit = inp.plan.time_point if inp.plan else None
    section = Section(
        key="recruitment",
        title=_("Recruitment and retention"),
        text=[
            _(
                "Participants randomised by month and site, those withdrawn and lost to follow-up "
                "by the cut-off, and the share of follow-up assessments made among those due."
            )
        ],
    )
    if people.empty:
        section.problems.append(_("No participant had been randomised by the data cut-off."))
        return section
    by_site = process.retention_by_site(people, flow, data.outcomes, data.missed, visit)
    section.tables = [
        Table(
            "recruitment_by_month",
            _("Randomised by month"),
            process.recruitment_by_month(people, names),
            labels={"cumulative": _("Cumulative")},
        ),
        _retention_table(inp, by_site, visit),
        Table(
            "completeness_by_visit",
            _("Follow-up completeness by visit and arm"),
            process.completeness_by_visit(people, data.outcomes, data.missed, names),
            labels={
                "visit": _("Visit"),
                "due": _("Due"),
                "assessed": _("Made"),
                "missed": _("Missed"),
                "withdrawn": _("After withdrawal"),
                "lost": _("After loss to follow-up"),
                "not_yet_due": _("Not yet due"),
                "completeness": _("Completeness"),
            },
            notes=[
                _(
                    "Completeness: assessments made over those due (made, missed, after "
                    "withdrawal or after loss to follow-up)."
                )
            ],
        ),
    ]
    section.figures = [
        Figure(
            "recruitment_by_site",
            _("Cumulative recruitment by site"),
            process.recruitment_svg(people, by="site", ylabel=_("Randomised")),
            Table("retention_by_site", _("Recruitment and retention by site"), by_site),
        )
    ]
    return section


def _retention_table(inp: ReportInput, by_site: pd.DataFrame, visit: str | None) -> Table:
    """Recruitment and retention by site, with follow-up completeness at the plan's visit."""
    shown = visit_label(inp, visit) if visit else ""
    completeness_label = (
        _("Completeness at %(visit)s") % {"visit": shown} if visit else _("Completeness")
    )
    return Table(
        "retention_by_site",
        _("Recruitment and retention by site"),
        by_site,
        labels={
            "randomised": _("Randomised"),
            "first_randomised": _("First randomised"),
            "last_randomised": _("Last randomised"),
            "withdrawn": _("Withdrawn"),
            "lost": _("Lost to follow-up"),
            "due": _("Assessments due"),
            "assessed": _("Assessments made"),
            "completeness": completeness_label,
        },
        notes=[
            _("Assessments due: at %(visit)s, by the cut-off.") % {"visit": shown}
            if visit
            else _("Assessments due: at every follow-up visit, by the cut-off.")
        ],
    )
