"""Ready-made geometry for the pathway pictures (inline SVG, no scripts): the participant's
strip, stacked state distributions by month and index plots. Templates only draw."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from django.utils.translation import gettext as _

from pathways import sequences
from pathways.models import SpellState
from pathways.services import GAP_COLOUR

UNOBSERVED_COLOUR = "#ffffff"


@dataclass(frozen=True)
class LegendEntry:
    code: str
    label: str
    colour: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    rects: list[Rect] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)


def legend(states: list[SpellState]) -> list[LegendEntry]:
    """The alphabet in precedence order, then the gap."""
    entries = [LegendEntry(s.code, s.label, s.colour) for s in states]
    entries.append(LegendEntry("", _("No registered state"), GAP_COLOUR))
    return entries


def _month_ticks(months: int, left: float, slot: float) -> list[Tick]:
    every = 1 if months <= 12 else 3 if months <= 36 else 6
    return [
        Tick(round(left + (k + 0.5) * slot, 1), str(k + 1))
        for k in range(months)
        if k == 0 or (k + 1) % every == 0
    ]


def describe(value: int, entries: list[LegendEntry]) -> str:
    if value == sequences.UNOBSERVED:
        return _("not observed yet")
    return entries[value].label


def strip(row: npt.NDArray[np.int16], entries: list[LegendEntry], *, width: int = 720) -> Chart:
    """One participant's sequence as a coloured strip, a rectangle per run of equal months."""
    months = row.size
    left, right, top, bottom = 8, width - 8, 4, 36
    chart = Chart(width=width, height=56, left=left, right=right, top=top, bottom=bottom)
    slot = (right - left) / max(months, 1)
    for start, length, value in sequences.runs(row):
        first, last = start + 1, start + length
        span = (
            _("Month %(n)s") % {"n": first}
            if length == 1
            else _("Months %(first)s–%(last)s") % {"first": first, "last": last}
        )
        chart.rects.append(
            Rect(
                x=round(left + start * slot, 2),
                y=top,
                width=round(length * slot, 2),
                height=bottom - top,
                colour=UNOBSERVED_COLOUR
                if value == sequences.UNOBSERVED
                else entries[value].colour,
                title=f"{span}: {describe(value, entries)}",
            )
        )
    chart.x_ticks = _month_ticks(months, left, slot)
    return chart


def runs_text(row: npt.NDArray[np.int16], entries: list[LegendEntry]) -> list[str]:
    """The strip in words, for screen readers and for reading the exact months."""
    lines = []
    for start, length, value in sequences.runs(row):
        first, last = start + 1, start + length
        span = (
            _("Month %(n)s") % {"n": first}
            if length == 1
            else _("Months %(first)s–%(last)s") % {"first": first, "last": last}
        )
        lines.append(f"{span}: {describe(value, entries)}")
    return lines


@dataclass
class Distribution:
    """Shares of each state by month for one group, with the numbers behind them."""

    name: str
    size: int
    chart: Chart
    rows: list[dict[str, object]]


def distribution(
    name: str,
    values: npt.NDArray[np.int16],
    entries: list[LegendEntry],
    *,
    width: int = 720,
    height: int = 260,
) -> Distribution:
    """Stacked bars per month of the share of participants in each state (gap on top)."""
    months = values.shape[1]
    counts, totals = sequences.distribution(values, len(entries))
    left, right, top, bottom = 40, width - 8, 8, height - 24
    chart = Chart(width=width, height=height, left=left, right=right, top=top, bottom=bottom)
    slot = (right - left) / max(months, 1)
    rows: list[dict[str, object]] = []
    for k in range(months):
        total = int(totals[k])
        cells = []
        y = float(bottom)
        for v, entry in enumerate(entries):
            n = int(counts[v, k])
            share = n / total if total else 0.0
            cells.append({"n": n, "percent": round(100 * share, 1)})
            if not n:
                continue
            h = (bottom - top) * share
            y -= h
            chart.rects.append(
                Rect(
                    x=round(left + k * slot + slot * 0.08, 2),
                    y=round(y, 2),
                    width=round(slot * 0.84, 2),
                    height=round(h, 2),
                    colour=entry.colour,
                    title=_("Month %(month)s: %(state)s %(percent)s %% (%(n)s of %(total)s)")
                    % {
                        "month": k + 1,
                        "state": entry.label,
                        "percent": f"{100 * share:.0f}",
                        "n": n,
                        "total": total,
                    },
                )
            )
        rows.append({"month": k + 1, "total": total, "cells": cells})
    chart.x_ticks = _month_ticks(months, left, slot)
    chart.y_ticks = [
        Tick(round(bottom - (bottom - top) * p / 100, 1), f"{p} %") for p in (0, 25, 50, 75, 100)
    ]
    return Distribution(name=name, size=int(values.shape[0]), chart=chart, rows=rows)


def index_plot(
    values: npt.NDArray[np.int16],
    entries: list[LegendEntry],
    *,
    width: int = 720,
    row_height: int = 6,
) -> Chart:
    """One thin strip per sequence of ``values`` (already sampled and sorted)."""
    n, months = values.shape
    left, right, top = 40, width - 8, 4
    bottom = top + n * row_height
    chart = Chart(width=width, height=bottom + 22, left=left, right=right, top=top, bottom=bottom)
    slot = (right - left) / max(months, 1)
    for i in range(n):
        for start, length, value in sequences.runs(values[i]):
            if value == sequences.UNOBSERVED:
                continue
            chart.rects.append(
                Rect(
                    x=round(left + start * slot, 2),
                    y=top + i * row_height,
                    width=round(length * slot, 2),
                    height=row_height - 1,
                    colour=entries[value].colour,
                    title=describe(value, entries),
                )
            )
    chart.x_ticks = _month_ticks(months, left, slot)
    return chart
