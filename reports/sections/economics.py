"""The economic evaluation's sections (``reports.economics_section``) with the report's arm
names."""

from __future__ import annotations

from reports.analysis.results import Section
from reports.economics_section import economic_sections
from reports.sections.base import ReportInput, arm_names


def economic_kind_sections(inp: ReportInput) -> list[Section]:
    return economic_sections(inp, arm_names(inp.data, inp.blinded))
