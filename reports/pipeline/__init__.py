"""The report pipeline: extract → analyse → render → PDF → ZIP, the same for the Celery task
and the ``build_report`` command.

- :mod:`reports.pipeline.build`: the build and its stages (:func:`build`, :class:`BuildSpec`);
- :mod:`reports.pipeline.provenance`: the data snapshot hash, software versions and the seed;
- :mod:`reports.pipeline.datasets`: the data sets of the ZIP and their dictionary;
- the kinds of report and their sections live in :mod:`reports.sections` (the registry is
  :mod:`reports.sections.registry`); the names a caller of the build needs are re-exported here,
  so that ``from reports import pipeline`` is the one entry point.

Reproducibility: a build records the SHA-256 of the extracted data (canonical CSV, sorted), the
software versions, the options and the random seed. The seed is derived from the trial, kind,
cut-off and plan unless the options set one, so ordering the same report on the same data gives
the same numbers.
"""

from reports.pipeline.build import (
    STAGE_LABELS,
    STAGES,
    BuildResult,
    BuildSpec,
    Progress,
    build,
    numbered_views,
    output_paths,
    unique_tables,
)
from reports.pipeline.datasets import (
    COLUMN_LABELS,
    add_register_endpoints,
    export_columns,
    export_frames,
)
from reports.pipeline.provenance import (
    canonical_csv,
    data_snapshot,
    default_seed,
    effect_data_hash,
    snapshot_hash,
    software_versions,
)
from reports.sections.base import ReportBuildError, ReportInput, plan_in_force, plan_spec
from reports.sections.registry import KINDS, ReportKind, get_kind

__all__ = [
    "COLUMN_LABELS",
    "KINDS",
    "STAGES",
    "STAGE_LABELS",
    "BuildResult",
    "BuildSpec",
    "Progress",
    "ReportBuildError",
    "ReportInput",
    "ReportKind",
    "add_register_endpoints",
    "build",
    "canonical_csv",
    "data_snapshot",
    "default_seed",
    "effect_data_hash",
    "export_columns",
    "export_frames",
    "get_kind",
    "numbered_views",
    "output_paths",
    "plan_in_force",
    "plan_spec",
    "snapshot_hash",
    "software_versions",
    "unique_tables",
]
