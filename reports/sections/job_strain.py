"""Job strain of the jobs reached (pathways report)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from occupations import jobs as job_data
from occupations import services as occupation_services
from occupations import strain
from reports.analysis import strain_report
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import number
from reports.sections.base import ReportInput
from trial.models import Participant


def job_strain_section(inp: ReportInput, names: dict[str, str]) -> Section:
    """Job strain (from the active job exposure matrix) of the jobs reached by the cut-off, by
    arm: the figures of the job strain page."""
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
    jobs = _jobs_reached(inp)
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


def _jobs_reached(inp: ReportInput) -> pd.DataFrame:
    """The jobs reached by randomised participants by the cut-off."""
    jobs = job_data.jobs_reached(inp.trial)
    jobs = jobs[pd.to_datetime(jobs["on"]) <= pd.Timestamp(inp.cut_off)]
    study_ids = dict(
        Participant.objects.filter(pk__in=jobs["participant_id"].tolist()).values_list(
            "pk", "study_id"
        )
    )
    randomised = set(inp.data.participants["study_id"])
    jobs = jobs[jobs["participant_id"].map(study_ids).isin(randomised)]
    return jobs
