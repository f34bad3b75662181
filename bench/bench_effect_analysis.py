"""Time the effect-evaluation analyses (reports/analysis/effect.py) on 10,000 participants.

Synthetic data (reports/analysis/synthetic.py): 10,000 participants x 4 visits, 8 sites, 15%
missing follow-up. Reports the time of each section and of the whole ``effect_sections`` call
for the individual and cluster designs. Needs no database.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, emit
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(REPO_ROOT))

from reports.analysis import effect
from reports.analysis.results import AnalysisPlan
from reports.analysis.synthetic import synthetic_effect_data

PARTICIPANTS = 10_000
BUILDERS = [
    effect.primary_section,
    effect.secondary_section,
    effect.over_visits_section,
    effect.time_to_work_section,
    effect.compliance_section,
    effect.missing_section,
    effect.subgroup_section,
]


def main() -> None:
    plan = AnalysisPlan(
        primary_outcome="in_paid_work",
        time_point="m12",
        secondary_outcomes=["hours_per_week", "on_benefits", "self_rated_health"],
        covariates=["age", "site", "education"],
        missing="complete_case",
        subgroups=["women", "age"],
    )
    for design in ("individual", "cluster"):
        data = synthetic_effect_data(PARTICIPANTS, design, seed=1)
        context = effect.prepare(data, plan, seed=1, blinded=False)
        for build in BUILDERS:
            with threadpool_limits(limits=1, user_api="blas"):  # as effect_sections does
                started = time.perf_counter()
                section = build(context)
                seconds = time.perf_counter() - started
            if section.problems:
                raise SystemExit(f"{section.key}: {section.problems}")
            emit("effect_analysis", f"{design} {section.key}", seconds, "s", "10,000 participants")
        started = time.perf_counter()
        effect.effect_sections(data, plan, seed=1, blinded=False)
        total = time.perf_counter() - started
        emit("effect_analysis", f"{design} all sections", total, "s", "10,000 x 4 visits")


if __name__ == "__main__":
    main()
