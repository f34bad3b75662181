"""The effect report's entry point: every section, each built on its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from threadpoolctl import threadpool_limits

from reports.analysis.effect.compliance import compliance_section
from reports.analysis.effect.context import Context, Names, prepare
from reports.analysis.effect.missing import missing_section
from reports.analysis.effect.over_visits import over_visits_section, repeated_section
from reports.analysis.effect.primary import primary_section, secondary_section
from reports.analysis.effect.subgroups import subgroup_section
from reports.analysis.effect.time_to_work import time_to_work_section
from reports.analysis.results import AnalysisPlan, EffectData, Section
from reports.analysis.text import _


def effect_sections(
    data: EffectData,
    plan: AnalysisPlan,
    seed: int,
    blinded: bool,
    names: Names | None = None,
) -> list[Section]:
    """Return the effect-evaluation sections for ``data`` under ``plan``.

    Sections: primary outcome, secondary outcomes, outcomes over visits, time to first paid
    work, contamination and non-compliance, missing outcomes, subgroups. ``blinded=True`` shows
    arms by code. ``seed`` makes multiple imputation reproducible. ``names`` gives the labels
    the PDF shows for covariates, their values and visits (the keys without it). Never raises
    for bad data: what cannot be estimated is reported in each section's ``problems``.

    BLAS runs single-threaded here: the models fit tall, narrow matrices that gain nothing from
    threads, and on a busy machine (a Celery worker beside others) oversubscribed BLAS threads
    made each fit about 20 times slower.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _effect_sections(data, plan, seed, blinded, names or Names())


def _effect_sections(
    data: EffectData, plan: AnalysisPlan, seed: int, blinded: bool, names: Names
) -> list[Section]:
    builders: list[tuple[str, Callable[[], str], Callable[[Context], Section]]] = [
        ("primary", lambda: _("Primary outcome"), primary_section),
        ("secondary", lambda: _("Secondary outcomes"), secondary_section),
        ("over_visits", lambda: _("Outcomes over follow-up visits"), over_visits_section),
        ("repeated", lambda: _("Repeated measures"), repeated_section),
        ("time_to_work", lambda: _("Time to first paid work"), time_to_work_section),
        ("compliance", lambda: _("Contamination and non-compliance"), compliance_section),
        ("missing", lambda: _("Missing outcomes"), missing_section),
        ("subgroups", lambda: _("Subgroup analyses"), subgroup_section),
    ]
    try:
        context = prepare(data, plan, seed, blinded)
        context.names = dataclasses.replace(names, outcomes={**data.labels, **names.outcomes})
    except Exception as error:
        return [
            Section(
                k, t(), problems=[_("The data could not be read: %(error)s") % {"error": error}]
            )
            for k, t, _b in builders
        ]
    sections = []
    for key, title, build in builders:
        if context.problems and (context.reference is None or not context.others):
            sections.append(Section(key, title(), problems=list(context.problems)))
            continue
        try:
            section = build(context)
        except Exception as error:  # a bug or data we did not foresee must not sink the report
            section = Section(
                key,
                title(),
                problems=[_("This section could not be computed: %(error)s") % {"error": error}],
            )
        if key == "primary":
            section.problems[:0] = context.problems
        sections.append(section)
    return sections
