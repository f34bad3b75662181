"""Figures as SVG documents: Kaplan–Meier curves, forest plots and outcome over visits.

Figures are drawn with matplotlib's object API (no pyplot state, so safe in a Celery worker)
and saved as SVG with a fixed hash salt and no date, so the same numbers give the same file.

Colours are the pages' (one palette for pages and PDFs): series take the colour-blind-safe
palette of the pages' charts (``trial.charts.PALETTE``) in the trial's arm order, so an arm has
the same colour in every figure; a single series takes the pages' accent colour (``--accent``
in ``static/css/app.css``). Axis numbers are written in the report's language
(:func:`localise_axes`).
"""

from __future__ import annotations

import io
import math

import matplotlib as mpl
import numpy as np
from matplotlib.axis import Axis
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FixedFormatter, FixedLocator, ScalarFormatter

from reports.analysis.survival import KaplanMeier
from reports.analysis.text import number
from trial.charts import PALETTE

COLOURS = list(PALETTE)
ACCENT = "#0b5394"  # --accent in static/css/app.css
MUTED = "#4a5560"  # --muted in static/css/app.css


def to_svg(figure: MplFigure) -> str:
    """Render ``figure`` as a complete, reproducible ``<svg>`` document, its axis numbers in the
    active language's format."""
    FigureCanvasSVG(figure)
    localise_axes(figure)
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "worktrials", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def localise_axes(figure: MplFigure) -> None:
    """Write the numeric tick labels of every axis with :func:`~reports.analysis.text.number`
    ("0,25" in bokmål), with as many decimals as the tick spacing needs. Axes with text ticks
    (categories) keep theirs."""
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            _localise(axis)


def _localise(axis: Axis) -> None:
    if not isinstance(axis.get_major_formatter(), ScalarFormatter):
        return
    low, high = sorted(axis.get_view_interval())
    ticks = [float(t) for t in axis.get_majorticklocs() if low - 1e-9 <= t <= high + 1e-9]
    if not ticks:
        return
    steps = np.diff(sorted(ticks))
    step = float(steps.min()) if len(steps) else abs(ticks[0]) or 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if all(float(t).is_integer() for t in ticks):
        decimals = 0
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FixedFormatter([number(t, decimals) for t in ticks]))


def km_svg(
    curves: dict[str, KaplanMeier],
    at_risk: dict[str, list[int]],
    grid: list[float],
    xlabel: str,
    ylabel: str,
    at_risk_label: str,
) -> str:
    """Kaplan–Meier curves, drawn as the cumulative proportion in work, with numbers at risk."""
    figure = MplFigure(figsize=(7, 4.8))
    axes = figure.add_axes((0.1, 0.32, 0.85, 0.63))
    risk = figure.add_axes((0.1, 0.04, 0.85, 0.16))
    for index, (label, curve) in enumerate(curves.items()):
        colour = COLOURS[index % len(COLOURS)]
        times = [0.0, *curve.times.tolist()]
        cumulative = [0.0, *(1 - curve.survival).tolist()]
        if grid:
            times.append(max(grid[-1], times[-1]))
            cumulative.append(cumulative[-1])
        axes.step(times, cumulative, where="post", color=colour, label=label, linewidth=1.6)
    axes.set_xlim(0, grid[-1] if grid else None)
    if grid:
        axes.set_xticks(grid)
    axes.set_ylim(0, 1)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", frameon=False)
    risk.set_xlim(axes.get_xlim())
    risk.set_ylim(-0.5, len(at_risk) - 0.5)
    risk.axis("off")
    risk.set_title(at_risk_label, fontsize=9, loc="left")
    for row, counts in enumerate(at_risk.values()):
        y = len(at_risk) - 1 - row
        colour = COLOURS[row % len(COLOURS)]
        for t, count in zip(grid, counts, strict=True):
            risk.text(t, y, number(count), ha="center", va="center", fontsize=8, color=colour)
    return to_svg(figure)


def forest_svg(
    rows: list[tuple[str, float | None, float | None, float | None]],
    null: float,
    xlabel: str,
) -> str:
    """Forest plot: one row per (label, estimate, low, high); rows without an estimate are blank."""
    height = 1.0 + 0.35 * max(len(rows), 1)
    figure = MplFigure(figsize=(7, height))
    axes = figure.add_axes((0.35, 0.8 / height, 0.6, 1 - 1.2 / height))
    for index, (_label, estimate, low, high) in enumerate(rows):
        y = len(rows) - 1 - index
        if estimate is None:
            continue
        if low is not None and high is not None:
            axes.plot([low, high], [y, y], color=ACCENT, linewidth=1.4)
        axes.plot([estimate], [y], marker="s", color=ACCENT, markersize=5)
    low_limit, high_limit = axes.get_xlim()
    margin = 0.05 * (high_limit - low_limit)
    axes.set_xlim(min(low_limit, null - margin), max(high_limit, null + margin))
    axes.axvline(null, color=MUTED, linestyle="--", linewidth=0.8)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([label for label, *_ in reversed(rows)], fontsize=8)
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", alpha=0.3)
    return to_svg(figure)


def over_visits_svg(
    series: dict[str, list[tuple[float, float | None]]], xlabel: str, ylabel: str, proportion: bool
) -> str:
    """One line per arm: the outcome (proportion or mean) at each visit's offset in months."""
    figure = MplFigure(figsize=(7, 3.8))
    axes = figure.add_axes((0.1, 0.15, 0.85, 0.78))
    for index, (label, points) in enumerate(series.items()):
        shown = [(x, y) for x, y in points if y is not None]
        if not shown:
            continue
        xs, ys = zip(*shown, strict=True)
        axes.plot(xs, ys, marker="o", color=COLOURS[index % len(COLOURS)], label=label)
    offsets = sorted({x for points in series.values() for x, _y in points})
    if offsets:
        axes.set_xticks(offsets)
    if proportion:
        axes.set_ylim(0, 1)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", frameon=False)
    return to_svg(figure)
