"""The effect evaluation's sections (``reports.analysis.effect``) with the trial's names."""

from __future__ import annotations

from reports.analysis.effect import effect_sections
from reports.analysis.results import Section
from reports.sections.base import ReportInput, report_names


def effect_kind_sections(inp: ReportInput) -> list[Section]:
    assert inp.plan is not None  # noqa: S101 - needs_plan guarantees it
    names = inp.shared("names", lambda: report_names(inp.trial))
    return effect_sections(inp.data, inp.plan, inp.seed, inp.blinded, names)
