"""Effect evaluation: the sections of the effect report, built from the functions in
``reports.analysis``, one module of this package per section family.

:func:`effect_sections` is the entry point the report pipeline calls. Each section is built on
its own; whatever cannot be estimated (no data for an outcome, an empty arm, separation, one
cluster per arm, …) is explained in that section's ``problems`` and the other sections go on.
The function never raises for bad data and never puts NaN in a table.

Arms: every non-reference arm is compared with the reference arm. The reference is the control
arm (``is_control``); when ``blinded`` is true, arms are shown by code, the reference is the
first code in sort order (so the direction of comparison reveals nothing), and the
contamination/CACE section is withheld because it needs to know which arm is the control.
Every table and figure lists the arms in the trial's order (by code, as the set-up and the
participant flow list them), whichever is the reference, so an arm keeps its place and its
colour throughout the report.

Cluster and stepped-wedge trials get cluster-aware inference in every section (see
:mod:`reports.analysis.clustered`); no section prints an interval that ignores clustering, and
where no valid interval exists (too few clusters) the section says so and prints none. Every
estimates table states, under it, each model's covariates, standard error, reference
distribution, and that p-values are two-sided.

Modules: :mod:`.context` (names, estimates tables, the prepared data), :mod:`.rows` (estimates
of one outcome), :mod:`.primary`, :mod:`.over_visits`, :mod:`.time_to_work`, :mod:`.compliance`,
:mod:`.missing`, :mod:`.subgroups` (one per section family) and :mod:`.sections` (the entry
point, :func:`effect_sections`).
"""

from __future__ import annotations

from reports.analysis.effect.compliance import compliance_section
from reports.analysis.effect.context import Context, Names, prepare
from reports.analysis.effect.missing import auxiliary_visits, missing_section
from reports.analysis.effect.over_visits import over_visits_section, repeated_section
from reports.analysis.effect.primary import primary_section, secondary_section
from reports.analysis.effect.sections import effect_sections
from reports.analysis.effect.subgroups import subgroup_section
from reports.analysis.effect.time_to_work import time_to_work_section

__all__ = [
    "Context",
    "Names",
    "auxiliary_visits",
    "compliance_section",
    "effect_sections",
    "missing_section",
    "over_visits_section",
    "prepare",
    "primary_section",
    "repeated_section",
    "secondary_section",
    "subgroup_section",
    "time_to_work_section",
]
