"""Report sections that read a little more than the extracted data: recruitment and retention,
site fidelity beside site outcomes, adaptations (process report) and job strain (pathways
report). Each reads its table once; the numbers come from ``reports.analysis``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from reports import registers
from reports.analysis import process
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import number
from trial.models import Participant, Trial

if TYPE_CHECKING:
    from reports.analysis.effect import Names
    from reports.pipeline import ReportInput


def report_names(trial: Trial) -> Names:
    """The report's labels (``reports.pipeline.report_names``; imported late, the pipeline
    imports this module)."""
    from reports.pipeline import report_names as names

    return names(trial)


def not_randomised() -> str:
    """The caveat beside every fidelity–outcome relation."""
    return _(
        "Sites were not randomised to their level of fidelity: sites with higher fidelity may "
        "differ in caseload, staff and local labour market, so this relation is descriptive "
        "and is not an estimate of the effect of fidelity."
    )


def visit_label(inp: ReportInput, code: str) -> str:
    """The visit as readers know it (its label); the data sets keep the code."""
    return inp.shared("names", lambda: report_names(inp.trial)).visit(code)


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
    shown = visit_label(inp, visit) if visit else ""
    completeness_label = (
        _("Completeness at %(visit)s") % {"visit": shown} if visit else _("Completeness")
    )
    section.tables = [
        Table(
            "recruitment_by_month",
            _("Randomised by month"),
            process.recruitment_by_month(people, names),
            labels={"cumulative": _("Cumulative")},
        ),
        Table(
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
        ),
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


def fidelity_rows(trial: Trial, inp: ReportInput) -> pd.DataFrame:
    """Consensus totals of the sites' fidelity reviews dated by the cut-off (one query set,
    computed once per build and shared by the fidelity sections)."""

    def load() -> pd.DataFrame:
        from fidelity.reviews.trends import site_trends

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


def site_fidelity_section(inp: ReportInput) -> Section:
    """Latest consensus fidelity total per site beside the intervention arm's primary outcome
    at the site: a table and a scatter, with the caveat that sites were not randomised."""
    section = Section(
        key="fidelity-outcomes",
        title=_("Site fidelity and site outcomes"),
        text=[not_randomised()],
    )
    if inp.blinded:
        section.problems.append(
            _(
                "The intervention arm's outcome by site would reveal the allocation, so this "
                "relation is left out of reports for blinded readers."
            )
        )
        return section
    if inp.plan is None:
        section.problems.append(
            _("No analysis plan names a primary outcome and time point to relate fidelity to.")
        )
        return section
    outcome, visit = inp.plan.primary_outcome, inp.plan.time_point
    outcomes = inp.data.outcomes
    if registers.is_time_to_event(outcome):
        section.problems.append(
            _(
                "The primary outcome is a time to event, which has no value per site to relate "
                "fidelity to."
            )
        )
        return section
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


def adaptations_section(inp: ReportInput) -> Section:
    """The adaptations coordinators noted by the cut-off, oldest first. Blinded readers of a
    cluster trial get them without the site, which would name an intervention site."""
    from fidelity.models import Adaptation

    rows = list(
        Adaptation.objects.filter(trial=inp.trial, adapted_on__lte=inp.cut_off)
        .order_by("adapted_on", "id")
        .values("adapted_on", "site__code", "component__name", "description")
    )
    hide_site = inp.blinded and inp.trial.design != Trial.Design.INDIVIDUAL
    frame = pd.DataFrame(
        {
            "date": [r["adapted_on"] for r in rows],
            "site": [r["site__code"] or _("Whole trial") for r in rows],
            "component": [r["component__name"] or "–" for r in rows],
            "description": [r["description"] for r in rows],
        }
    )
    if hide_site:
        frame = frame.drop(columns=["site"])
    section = Section(
        key="adaptations",
        title=_("Adaptations"),
        text=[
            _(
                "Changes to how the intervention was delivered, as noted by the trial's "
                "coordinators, at one site or across the trial."
            )
        ],
        tables=[
            Table(
                "adaptations",
                _("Adaptations noted by coordinators"),
                frame,
                labels={
                    "date": _("Date"),
                    "component": _("Component affected"),
                    "description": _("What changed"),
                },
                notes=[_("Sites are left out: they would name the intervention sites.")]
                if hide_site
                else [],
            )
        ],
    )
    if not rows:
        section.tables = []
        section.problems.append(_("No adaptation was noted by the cut-off."))
    return section


def job_strain_section(inp: ReportInput, names: dict[str, str]) -> Section:
    """Job strain (from the active job exposure matrix) of the jobs reached by the cut-off, by
    arm: the figures of the job strain page."""
    from occupations import jobs as job_data
    from occupations import services as occupation_services
    from occupations import strain
    from reports.analysis import strain_report

    section = Section(
        key="job-strain",
        title=_("Job strain of the jobs reached"),
        text=[
            _(
                "Occupations (STYRK-08) reached in paid work, from follow-up assessments and "
                "work spells, scored with the trial's job exposure matrix (falling back to a "
                "coarser level of the code where the matrix has no exact entry). The unit is "
                "the job: a participant who reached two occupations counts twice."
            )
        ],
    )
    matrix = occupation_services.active_matrix(inp.trial)
    if matrix is None:
        section.problems.append(_("The trial has no active job exposure matrix."))
        return section
    jobs = job_data.jobs_reached(inp.trial)
    jobs = jobs[pd.to_datetime(jobs["on"]) <= pd.Timestamp(inp.cut_off)]
    study_ids = dict(
        Participant.objects.filter(pk__in=jobs["participant_id"].tolist()).values_list(
            "pk", "study_id"
        )
    )
    randomised = set(inp.data.participants["study_id"])
    jobs = jobs[jobs["participant_id"].map(study_ids).isin(randomised)]
    entries = pd.DataFrame(
        list(matrix.entries.values("code", "level", "measure", "score")),
        columns=["code", "level", "measure", "score"],
    )
    frame = pd.DataFrame(
        {
            "participant_id": jobs["participant_id"].to_numpy(),
            "arm": jobs["arm_code"].map(names).to_numpy(),
            "code": jobs["code"].to_numpy(),
        }
    )
    labels: dict[str, Any] = dict(matrix.measures)
    lang = "en" if (get_language() or "nb").startswith("en") else "nb"
    summary = strain.summarise(
        frame, entries, arms=list(names.values()), measure_labels=labels, lang=lang
    )
    section.text.append(
        _("Matrix: %(name)s. %(jobs)s jobs reached by %(people)s participants.")
        % {
            "name": matrix,
            "jobs": number(summary.overall.jobs),
            "people": number(summary.overall.participants),
        }
    )
    table = Table(
        "job_strain_by_arm",
        _("Job strain by arm"),
        strain_report.strain_table(summary, labels),
        labels={"jobs": _("Jobs"), "n": _("Scored")},
    )
    section.tables = [
        table,
        Table(
            "job_strain_levels",
            _("Jobs scored at each level of the occupation code"),
            strain_report.levels_table(summary),
            labels={
                "jobs": _("Jobs"),
                "level_4": _("4 digits"),
                "level_3": _("3 digits"),
                "level_2": _("2 digits"),
                "level_1": _("1 digit"),
                "unscored": _("Not scored"),
            },
        ),
    ]
    if summary.overall.jobs == 0:
        section.problems.append(_("No job with an occupation code was reached by the cut-off."))
        return section
    scale_max = float(entries["score"].max()) if len(entries) else None
    section.figures = [
        Figure(
            "job_strain_means",
            _("Mean job strain by arm (±1 SD)"),
            strain_report.strain_svg(summary, labels, scale_max),
            table,
        )
    ]
    return section
