"""Job strain figures from a data frame of jobs reached and a JEM: plain functions, no ORM.

``jobs`` has one row per job reached: ``participant_id``, ``arm`` (the label to group by; the
caller decides whether that is an arm code or a name) and ``code`` (STYRK-08). ``entries`` is a
JEM as in :mod:`occupations.jem`. The unit is the job: a participant who reached two different
occupations counts twice, the same occupation twice counts once (the caller deduplicates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from occupations import jem, styrk

OVERALL = "__overall__"


@dataclass(frozen=True)
class MeasureSummary:
    measure: str
    n: int
    """Jobs with a score (after fallback)."""
    mean: float | None
    sd: float | None
    """Sample standard deviation (n − 1); None below two scored jobs."""
    median: float | None
    q1: float | None
    q3: float | None
    minimum: float | None
    maximum: float | None
    label: str = ""


@dataclass(frozen=True)
class GroupSummary:
    arm: str
    """An arm label, or OVERALL."""
    jobs: int
    participants: int
    unscored: int
    """Jobs with no score on any measure, at any level."""
    measures: list[MeasureSummary]
    levels_used: dict[int, int]
    """How many jobs were scored at level 4, 3, 2, 1 (``level_used``, the coarsest level)."""

    @property
    def is_overall(self) -> bool:
        return self.arm == OVERALL

    @property
    def level_counts(self) -> list[int]:
        """``levels_used`` as a list in the order 4, 3, 2, 1."""
        return [self.levels_used[level] for level in jem.LEVELS]


@dataclass(frozen=True)
class MajorGroupRow:
    code: str
    label: str
    counts: list[int]
    """Jobs in this major group, in the order of ``StrainSummary.groups`` (arms, then overall)."""


@dataclass
class StrainSummary:
    measures: list[str]
    groups: list[GroupSummary]
    major_groups: list[MajorGroupRow] = field(default_factory=list)

    @property
    def arms(self) -> list[GroupSummary]:
        return [g for g in self.groups if not g.is_overall]

    @property
    def overall(self) -> GroupSummary:
        return next(g for g in self.groups if g.is_overall)


def _measure_summary(measure: str, scores: pd.Series, label: str) -> MeasureSummary:
    values = scores.dropna().astype(float)
    n = int(values.size)
    if n == 0:
        return MeasureSummary(measure, 0, None, None, None, None, None, None, None, label)
    return MeasureSummary(
        measure=measure,
        n=n,
        mean=float(values.mean()),
        sd=float(values.std(ddof=1)) if n > 1 else None,
        median=float(values.median()),
        q1=float(values.quantile(0.25)),
        q3=float(values.quantile(0.75)),
        minimum=float(values.min()),
        maximum=float(values.max()),
        label=label,
    )


def _group(
    arm: str, frame: pd.DataFrame, measures: list[str], labels: dict[str, str]
) -> GroupSummary:
    levels = frame["level_used"].dropna().astype(int).value_counts()
    return GroupSummary(
        arm=arm,
        jobs=len(frame),
        participants=int(frame["participant_id"].nunique()),
        unscored=int(frame["level_used"].isna().sum()),
        measures=[_measure_summary(m, frame[m], labels.get(m, m)) for m in measures],
        levels_used={level: int(levels.get(level, 0)) for level in jem.LEVELS},
    )


def summarise(
    jobs: pd.DataFrame,
    entries: pd.DataFrame,
    *,
    arms: list[str] | None = None,
    measure_labels: dict[str, str] | None = None,
    lang: str = "nb",
) -> StrainSummary:
    """Scores, by arm and overall: jobs, participants, mean, SD, median, IQR, range per measure.

    ``arms`` fixes the order (and includes arms without jobs); by default the sorted labels.
    Codes are looked up with the hierarchy fallback of :func:`occupations.jem.strain_scores`.
    """
    measures = sorted(entries["measure"].unique()) if len(entries) else []
    frame = jobs.reset_index(drop=True)
    scored = pd.concat([frame, jem.strain_scores(frame["code"], entries)], axis=1)
    arm_order = arms if arms is not None else sorted(frame["arm"].dropna().unique())
    labels = measure_labels or {}
    groups = [_group(arm, scored[scored["arm"] == arm], measures, labels) for arm in arm_order]
    groups.append(_group(OVERALL, scored, measures, labels))
    majors = frame["code"].astype(str).str.slice(0, 1)
    rows = []
    for major in sorted(majors.unique()):
        in_major = frame[majors == major]
        counts = [int((in_major["arm"] == arm).sum()) for arm in arm_order] + [len(in_major)]
        rows.append(MajorGroupRow(major, styrk.label(major, lang), counts))
    return StrainSummary(measures=measures, groups=groups, major_groups=rows)


# --- the bar chart ----------------------------------------------------------------------------

PALETTE = ["#1f5f8b", "#d9822b", "#4d8b31", "#8b3a62", "#6b6b6b"]


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    arm: str
    measure: str
    value: float


@dataclass(frozen=True)
class ChartTick:
    position: float
    label: str


@dataclass(frozen=True)
class LegendItem:
    label: str
    colour: str
    y: float
    """Top of the swatch; one legend line per arm under the measure labels."""


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[ChartBar]
    y_ticks: list[ChartTick]
    x_labels: list[ChartTick]
    legend: list[LegendItem]


def mean_chart(
    summary: StrainSummary,
    measure_labels: dict[str, str],
    *,
    scale_max: float | None = None,
    width: int = 640,
    height: int = 260,
) -> BarChart | None:
    """Grouped bars: for each measure, the mean score in each arm. None without any mean."""
    arms = summary.arms
    means = [
        [g.measures[i].mean for g in arms] for i in range(len(summary.measures))
    ]  # by measure, then arm
    present = [m for row in means for m in row if m is not None]
    if not arms or not present:
        return None
    height = height + 16 * len(arms)
    left, right, top, bottom = 40, width - 12, 12, height - 32 - 16 * len(arms)
    top_value = max(scale_max or 0.0, max(present), 1e-9)
    step = _nice_step(top_value)
    axis_max = step * math.ceil(top_value / step)

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * value / axis_max, 1)

    slot = (right - left) / len(summary.measures)
    bar_width = slot * 0.8 / len(arms)
    bars = []
    for i, measure in enumerate(summary.measures):
        for j, group in enumerate(arms):
            value = means[i][j]
            if value is None:
                continue
            bars.append(
                ChartBar(
                    x=round(left + i * slot + slot * 0.1 + j * bar_width, 1),
                    y=y_of(value),
                    width=round(bar_width * 0.92, 1),
                    height=round(bottom - y_of(value), 1),
                    fill=PALETTE[j % len(PALETTE)],
                    arm=group.arm,
                    measure=measure_labels.get(measure, measure),
                    value=round(value, 2),
                )
            )
    ticks = []
    value = 0.0
    while value <= axis_max + 1e-9:
        ticks.append(ChartTick(y_of(value), f"{value:g}"))
        value = round(value + step, 10)
    labels = [
        ChartTick(round(left + (i + 0.5) * slot, 1), measure_labels.get(m, m))
        for i, m in enumerate(summary.measures)
    ]
    legend = [
        LegendItem(g.arm, PALETTE[j % len(PALETTE)], bottom + 28 + 16 * j)
        for j, g in enumerate(arms)
    ]
    return BarChart(width, height, left, right, top, bottom, bars, ticks, labels, legend)


def _nice_step(top: float) -> float:
    """A round tick step giving about four to eight ticks up to ``top``."""
    raw = top / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude
