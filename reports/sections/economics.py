"""The economic evaluation's sections (``reports.sections.cost_effectiveness``) with the
report's arm names."""

from __future__ import annotations

from reports.analysis.results import Section
from reports.sections.base import ReportInput, arm_names
from reports.sections.cost_effectiveness import economic_sections


def economic_kind_sections(inp: ReportInput) -> list[Section]:
    return economic_sections(inp, arm_names(inp.data, inp.blinded))
