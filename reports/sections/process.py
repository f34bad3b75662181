"""The process report: recruitment, dose and reach, contamination, fidelity and adaptations."""

from __future__ import annotations

import pandas as pd
from django.utils.translation import gettext as _

from fidelity.dashboards import contamination as contamination_figures
from fidelity.dashboards import dose as dose_figures
from fidelity.models import Adaptation
from reports.analysis.results import Section, Table
from reports.analysis.text import number
from reports.sections.base import ReportInput, arm_names
from reports.sections.fidelity import fidelity_reviews_section, site_fidelity_section
from reports.sections.recruitment import recruitment_section
from trial.models import Trial


def _plain(frame: pd.DataFrame, names: dict[str, str], *, index: str) -> pd.DataFrame:
    """A summary frame with its index as the first column and arm codes shown as in the report."""
    out = frame.reset_index().rename(columns={frame.index.name or "index": index})
    if "arm" in out.columns:
        out["arm"] = out["arm"].map(lambda code: names.get(code, code))
    if index == "arm":
        out[index] = out[index].map(lambda code: names.get(code, code))
    return out.drop(columns=[c for c in ("name", "is_control") if c in out.columns])


def process_kind_sections(inp: ReportInput) -> list[Section]:
    """Implementation: recruitment and retention, dose and reach by arm and site,
    contamination, site fidelity reviews and their relation to site outcomes, adaptations."""
    names = arm_names(inp.data, inp.blinded)
    dose = dose_section(inp, names)
    contamination = contamination_section(inp, names)
    return [
        recruitment_section(inp, names),
        dose,
        contamination,
        fidelity_reviews_section(inp),
        site_fidelity_section(inp),
        adaptations_section(inp),
    ]


def dose_section(inp: ReportInput, names: dict[str, str]) -> Section:
    """Contacts and minutes per participant-month, reach and time to the first contact."""
    trial, end = inp.trial, inp.cut_off
    frame = dose_figures.dose_by_participant(trial, end=end)
    dose = Section(
        key="dose",
        title=_("Dose and reach"),
        text=[
            _(
                "Contacts and minutes per participant-month of follow-up from randomisation to "
                "the cut-off (or withdrawal); reach is the share of randomised participants with "
                "at least one logged contact. Employer contacts about no single participant count "
                "for their site only."
            )
        ],
        tables=[
            Table(
                "dose_by_arm",
                _("Dose by arm"),
                _plain(dose_figures.dose_by_arm(trial, end=end, frame=frame), names, index="arm"),
            ),
            Table(
                "reach_by_arm",
                _("Reach by arm"),
                _plain(dose_figures.reach(trial, end=end, frame=frame), names, index="arm"),
            ),
            Table(
                "first_contact_by_arm",
                _("Days from randomisation to the first contact"),
                _plain(
                    dose_figures.time_to_first_contact(trial, end=end, frame=frame),
                    names,
                    index="arm",
                ),
            ),
            Table(
                "dose_by_site",
                _("Dose by site"),
                _plain(dose_figures.dose_by_site(trial, end=end, frame=frame), names, index="site"),
            ),
        ],
    )
    return dose


def contamination_section(inp: ReportInput, names: dict[str, str]) -> Section:
    """Control participants exposed to intervention-specific components, by month, site and
    source; left out for blinded readers."""
    trial, end = inp.trial, inp.cut_off
    contamination = Section(key="contamination", title=_("Contamination"))
    if inp.blinded:
        contamination.problems.append(
            _(
                "Contamination is reported for the control arm only, which would reveal the "
                "allocation, so it is left out of reports for blinded readers."
            )
        )
    else:
        data = contamination_figures.exposure_data(trial, end=end)
        overall = contamination_figures.contamination_overall(trial, end=end, data=data)
        contamination.text.append(
            _(
                "%(exposed)s of %(controls)s control participants received intervention-specific "
                "components by the cut-off (from logged contacts and follow-up answers)."
            )
            % {"exposed": number(overall["exposed"]), "controls": number(overall["controls"])}
        )
        contamination.tables = [
            Table(
                "contamination_by_month",
                _("Contamination by month"),
                _plain(
                    contamination_figures.contamination_by_month(trial, end=end, data=data),
                    names,
                    index="month",
                ),
            ),
            Table(
                "contamination_by_site",
                _("Contamination by site"),
                _plain(
                    contamination_figures.contamination_by_site(trial, end=end, data=data),
                    names,
                    index="site",
                ),
            ),
            Table(
                "contamination_by_source",
                _("Contamination by source"),
                _plain(
                    contamination_figures.contamination_by_source(trial, end=end, data=data),
                    names,
                    index="source",
                ),
                labels={"source": _("Code"), "label": _("Source")},
            ),
        ]
    return contamination


def adaptations_section(inp: ReportInput) -> Section:
    """The adaptations coordinators noted by the cut-off, oldest first. Blinded readers of a
    cluster trial get them without the site, which would name an intervention site."""
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
