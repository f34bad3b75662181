"""The sections every report opens with: the participant flow (CONSORT) by arm and how the
trial randomised; and the CONSORT diagram on its own, for a direct download."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _

from randomisation.models import Scheme
from randomisation.schemes import consort as scheme_consort
from reports import extract
from reports.analysis import consort, results
from reports.analysis.results import Section, Table
from reports.sections.base import ReportInput, plan_in_force, plan_spec, report_arms, report_names
from trial.models import Trial


def flow_section(inp: ReportInput, arms: list[tuple[str, str]]) -> Section:
    """A CONSORT-like flow of participants by arm: randomised, withdrawn, assessed at the
    plan's time point and why the others were not."""
    data = inp.data
    people, outcomes, missed = data.participants, data.outcomes, data.missed
    time_point = inp.plan.time_point if inp.plan else None
    by_arm = people.set_index("study_id")["arm"] if not people.empty else pd.Series(dtype=str)
    rows: list[dict[str, Any]] = []
    shown: list[str] = []  # the row labels with the visit's label (the CSV keeps its code)
    visit = inp.shared("names", lambda: report_names(inp.trial)).visit(time_point or "")

    def count(study_ids: pd.Series) -> dict[str, int]:
        arms_of = study_ids.map(by_arm)
        return {code: int((arms_of == code).sum()) for code, _label in arms}

    def add(label: str, counts: dict[str, int], label_shown: str | None = None) -> None:
        shown.append(label if label_shown is None else label_shown)
        row: dict[str, Any] = {"": label}
        for code, name in arms:
            row[name] = counts.get(code, 0)
        row[_("Total")] = sum(counts.values())
        rows.append(row)

    add(_("Randomised"), count(people["study_id"]) if not people.empty else {})
    withdrawn = people[people["withdrawn"]]["study_id"] if not people.empty else pd.Series()
    add(_("Withdrawn by the cut-off"), count(withdrawn))
    add(_("With at least one assessment"), count(pd.Series(outcomes["study_id"].unique())))
    if time_point:
        at = outcomes[outcomes["visit"] == time_point]["study_id"]
        assessed = _("Assessed at %(visit)s")
        add(assessed % {"visit": time_point}, count(at), assessed % {"visit": visit})
        gone = missed[missed["visit"] == time_point] if not missed.empty else missed
        for reason, label in (
            ("missed", _("Not assessed at %(visit)s: missed")),
            ("withdrawn", _("Not assessed at %(visit)s: withdrawn")),
            ("lost", _("Not assessed at %(visit)s: lost to follow-up")),
            ("not yet due", _("Not assessed at %(visit)s: not yet due")),
        ):
            ids = gone[gone["reason"] == reason]["study_id"] if not gone.empty else pd.Series()
            add(label % {"visit": time_point}, count(ids), label % {"visit": visit})
    frame = pd.DataFrame(rows)
    problems = []
    empty = [name for code, name in arms if not (people["arm"] == code).any()]
    if people.empty:
        problems.append(_("No participant had been randomised by the data cut-off."))
    for name in empty:
        problems.append(_("Arm %(arm)s has no randomised participants.") % {"arm": name})
    diagram = consort_diagram(inp, arms)
    return Section(
        key="flow",
        title=_("Participant flow"),
        figures=[diagram],
        text=[
            _(
                "Numbers of participants by randomised arm as recorded on the data cut-off date "
                "(CONSORT flow)."
            )
        ],
        tables=[
            Table(key="flow", title=_("Participant flow by arm"), frame=frame, shown={"": shown})
        ],
        problems=problems,
    )


def consort_diagram(inp: ReportInput, arms: list[tuple[str, str]]) -> results.Figure:
    """The CONSORT flow diagram (SVG) and its numbers, with arms shown as in the report."""
    screening, flow = inp.consort_frames()
    flow = flow.copy()
    flow["arm_label"] = flow["arm"].map(dict(arms)).fillna(flow["arm"])
    return consort.consort_figure(screening, flow, design=inp.data.design, translate=_)


def current_consort(trial: Trial, *, cut_off: dt.date, blinded: bool) -> results.Figure:
    """The trial's CONSORT diagram as things stand on ``cut_off``, for a direct download: the
    same extraction and counts as a report's participant flow (arms as codes when blinded)."""
    data = extract.effect_data(trial, cut_off)
    if blinded and not data.participants.empty:
        data.participants["arm_label"] = data.participants["arm"]
    plan = plan_in_force(trial)
    inp = ReportInput(
        trial=trial,
        data=data,
        plan=plan_spec(plan) if plan else None,
        seed=0,
        blinded=blinded,
        cut_off=cut_off,
    )
    return consort_diagram(inp, report_arms(trial, data, blinded))


def randomisation_section(trial: Trial) -> Section | None:
    scheme = Scheme.objects.locked_for(trial)
    if scheme is None:
        return None
    return Section(
        key="randomisation",
        title=_("Randomisation"),
        text=list(scheme_consort.randomisation_text(scheme)),
    )
