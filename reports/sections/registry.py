"""The registry of report kinds, the only place that lists them: a kind says how to turn the
extracted data into :class:`~reports.analysis.results.Section` objects (from the section modules
of this package) and whether it makes a PDF. The order here is the order the order form offers.

A new kind: write its section builder in a module of this package and register it below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reports.analysis.results import Section
from reports.sections.base import ReportBuildError, ReportInput
from reports.sections.economics import economic_kind_sections
from reports.sections.effect import effect_kind_sections
from reports.sections.pathways import pathways_kind_sections
from reports.sections.process import process_kind_sections


@dataclass(frozen=True)
class ReportKind:
    key: str
    label: Any
    sections: Callable[[ReportInput], list[Section]]
    pdf: bool = True
    needs_plan: bool = False
    description: Any = ""


KINDS: dict[str, ReportKind] = {}


def register_kind(kind: ReportKind) -> ReportKind:
    KINDS[kind.key] = kind
    return kind


def get_kind(key: str) -> ReportKind:
    try:
        return KINDS[key]
    except KeyError:
        raise ReportBuildError(
            _("There is no report of kind “%(kind)s”.") % {"kind": key}
        ) from None


def full_kind_sections(inp: ReportInput) -> list[Section]:
    """The effect, process and pathways reports in one, each a part of its own; the shared
    inputs (extracted data, CONSORT frames, fidelity reviews) are computed once."""
    parts = [
        (_("Effect evaluation"), effect_kind_sections),
        (_("Process evaluation"), process_kind_sections),
        (_("Pathways"), pathways_kind_sections),
        (_("Economic evaluation"), economic_kind_sections),
    ]
    out = []
    for title, build_part in parts:
        for section in build_part(inp):
            section.part = title
            out.append(section)
    return out


register_kind(
    ReportKind(
        key="effect",
        label=gettext_lazy("Effect evaluation"),
        sections=effect_kind_sections,
        needs_plan=True,
        description=gettext_lazy(
            "Intention-to-treat effect on the plan's outcomes, contamination-adjusted "
            "estimates, time to first paid work, missing data and subgroups (PDF and data sets)."
        ),
    )
)
register_kind(
    ReportKind(
        key="process",
        label=gettext_lazy("Process evaluation"),
        sections=process_kind_sections,
        description=gettext_lazy(
            "Implementation: recruitment and retention, dose and reach by arm and site, "
            "contamination by month, site and source, the sites' fidelity reviews over time "
            "beside their outcomes, and adaptations."
        ),
    )
)
register_kind(
    ReportKind(
        key="pathways",
        label=gettext_lazy("Pathways (sequence analysis)"),
        sections=pathways_kind_sections,
        description=gettext_lazy(
            "Monthly register states by arm: state distributions, index plots, time in each "
            "state, transition rates, revolving doors, entropy and turbulence, a typology "
            "of pathways by optimal matching, and the job strain of the jobs reached."
        ),
    )
)
register_kind(
    ReportKind(
        key="economic",
        label=gettext_lazy("Economic evaluation"),
        sections=economic_kind_sections,
        description=gettext_lazy(
            "Costs per participant from the contact log and the register months, incremental "
            "cost and months in work, net monetary benefit, the cost-effectiveness plane and "
            "acceptability curve, and one-way sensitivity analyses."
        ),
    )
)
register_kind(
    ReportKind(
        key="full",
        label=gettext_lazy("Full evaluation report"),
        sections=full_kind_sections,
        needs_plan=True,
        description=gettext_lazy(
            "Effect, process evaluation, pathways and the CONSORT flow in one PDF with a "
            "table of contents, for funders and steering groups."
        ),
    )
)
register_kind(
    ReportKind(
        key="data",
        label=gettext_lazy("Analysis data sets only"),
        sections=lambda inp: [],
        pdf=False,
        description=gettext_lazy(
            "The pseudonymised data sets with a data dictionary, as CSV and Stata files or in "
            "the formats you choose (SPSS, R, Parquet); no PDF."
        ),
    )
)
