"""What every report section builder gets and shares: the build's input (:class:`ReportInput`),
the plan it follows, and the names the report shows for arms, covariates, sites and visits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _

from reports import extract
from reports import variables as dictionary
from reports.analysis import results
from reports.analysis.effect import Names
from reports.analysis.results import EffectData
from reports.choices import covariate_choices, time_point_choices
from reports.models import AnalysisPlan
from trial.models import Trial


class ReportBuildError(Exception):
    """The report cannot be built as asked (unknown kind, no plan); the message says why."""


@dataclass
class ReportInput:
    """What a kind's section builder gets.

    ``cache`` holds inputs that several sections (or several kinds of the full report) read,
    computed once per build through :meth:`shared`.
    """

    trial: Trial
    data: EffectData
    plan: results.AnalysisPlan | None
    seed: int
    blinded: bool
    cut_off: dt.date
    cache: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, load: Callable[[], Any]) -> Any:
        """``load()`` the first time ``key`` is asked for in this build, then the same value."""
        if key not in self.cache:
            self.cache[key] = load()
        return self.cache[key]

    def consort_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The screening and flow frames of the CONSORT diagram (as of the cut-off)."""
        time_point = self.plan.time_point if self.plan else None
        frames: tuple[pd.DataFrame, pd.DataFrame] = self.shared(
            "consort_frames",
            lambda: extract.consort_frames(self.trial, self.cut_off, self.data, time_point),
        )
        return frames


def plan_spec(plan: AnalysisPlan) -> results.AnalysisPlan:
    return results.AnalysisPlan(
        primary_outcome=plan.primary_outcome,
        time_point=plan.time_point,
        secondary_outcomes=list(plan.secondary_outcomes),
        covariates=list(plan.covariates),
        missing=plan.missing,
        subgroups=list(plan.subgroups),
        version=plan.version,
    )


def plan_in_force(trial: Trial) -> AnalysisPlan | None:
    """The locked plan if there is one, else the draft (reports then say it is a draft)."""
    plans = {p.status: p for p in trial.analysis_plans.exclude(status="superseded")}
    return plans.get(AnalysisPlan.Status.LOCKED) or plans.get(AnalysisPlan.Status.DRAFT)


def arm_names(data: EffectData, blinded: bool) -> dict[str, str]:
    people = data.participants
    if people.empty:
        return {}
    pairs = people[["arm", "arm_label"]].drop_duplicates().sort_values("arm")
    return {
        code: code if blinded else f"{code}: {label}"
        for code, label in zip(pairs["arm"], pairs["arm_label"], strict=True)
    }


def report_arms(trial: Trial, data: EffectData, blinded: bool) -> list[tuple[str, str]]:
    """Every arm of the trial as (code, label shown): the code alone when blinded."""
    names = arm_names(data, blinded)
    return [
        (code, names.get(code, code if blinded else f"{code}: {name}"))
        for code, name in trial.arms.order_by("code").values_list("code", "name")
    ]


def report_names(trial: Trial, found: list[dictionary.Variable] | None = None) -> Names:
    """The labels the PDF shows for the trial's covariates (with site and stratum), their
    choices, its sites (the levels of ``site``, by name) and its visits, in place of the keys
    the data sets use.

    Stratum needs no levels: it is not offered as a subgroup, so its values are never shown.
    """
    levels = {
        c.key: {str(value): str(label) for value, label in c.choices}
        for c in trial.covariates.all()
        if c.choices
    }
    levels["site"] = {site.code: site.name for site in trial.sites.all()}
    found = dictionary.variables(trial) if found is None else found
    for variable in found:
        if dictionary.kind_of(variable) == dictionary.BINARY:
            continue  # subgroups of yes/no are "yes" and "no", translated by Names.level
        shown = {code: str(text) for code, text in variable.value_labels.items()}
        # An integer code reads "3.0" where the column also has blanks (floats).
        shown |= {f"{float(c)}": t for c, t in shown.items() if c.lstrip("-").isdigit()}
        if shown:
            levels[dictionary.baseline_key(variable.name)] = shown
    return Names(
        covariates={
            key: str(label)
            for key, label in covariate_choices(trial, found)
            if dictionary.baseline_name(key) is None
        },
        levels=levels,
        visits={code: str(label) for code, label in time_point_choices(trial)},
        outcomes={v.name: dictionary.label_of(v) for v in found},
    )


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
