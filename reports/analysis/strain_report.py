"""Job strain of the jobs reached, by arm, for the pathways report: a table and a bar chart
from :func:`occupations.strain.summarise` (the same figures as the job strain page)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure

from occupations.strain import StrainSummary
from reports.analysis.figures import COLOURS, MUTED, to_svg
from reports.analysis.text import _

COLUMNS = ["arm", "measure", "jobs", "participants", "n", "mean", "sd", "median", "q1", "q3"]


def strain_table(summary: StrainSummary, labels: dict[str, str]) -> pd.DataFrame:
    """One row per arm (and all arms) and measure: jobs, participants, jobs scored, mean, SD,
    median and quartiles."""
    rows = []
    for group in summary.groups:
        arm = _("All arms") if group.is_overall else group.arm
        for measure in group.measures:
            rows.append(
                {
                    "arm": arm,
                    "measure": labels.get(measure.measure, measure.measure),
                    "jobs": group.jobs,
                    "participants": group.participants,
                    "n": measure.n,
                    "mean": measure.mean,
                    "sd": measure.sd,
                    "median": measure.median,
                    "q1": measure.q1,
                    "q3": measure.q3,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def levels_table(summary: StrainSummary) -> pd.DataFrame:
    """How many jobs per arm were scored at each STYRK-08 level of the matrix (4 = exact)."""
    rows = [
        {
            "arm": _("All arms") if group.is_overall else group.arm,
            "jobs": group.jobs,
            "level_4": group.levels_used[4],
            "level_3": group.levels_used[3],
            "level_2": group.levels_used[2],
            "level_1": group.levels_used[1],
            "unscored": group.unscored,
        }
        for group in summary.groups
    ]
    return pd.DataFrame(rows)


def strain_svg(summary: StrainSummary, labels: dict[str, str], scale_max: float | None) -> str:
    """Grouped bars: mean score per measure and arm, with ±1 SD whiskers."""
    arms = summary.arms
    measures = summary.measures
    figure = MplFigure(figsize=(7, 3.4))
    axes = figure.add_axes((0.09, 0.12, 0.88, 0.7))
    width = 0.8 / max(len(arms), 1)
    positions = np.arange(len(measures))
    for j, group in enumerate(arms):
        means = [m.mean if m.mean is not None else np.nan for m in group.measures]
        sds = [m.sd if m.sd is not None else 0.0 for m in group.measures]
        axes.bar(
            positions - 0.4 + width * (j + 0.5),
            means,
            width * 0.92,
            yerr=sds,
            capsize=3,
            color=COLOURS[j % len(COLOURS)],
            error_kw={"elinewidth": 0.8, "ecolor": MUTED},
            label=group.arm,
        )
    axes.set_xticks(positions, [labels.get(m, m) for m in measures], fontsize=8)
    if scale_max:
        axes.set_ylim(0, scale_max)
    axes.set_ylabel(_("Mean score"))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(
        loc="lower left",
        bbox_to_anchor=(0, 1.02),
        ncol=min(len(arms), 3),
        frameon=False,
        fontsize=8,
    )
    return to_svg(figure)
