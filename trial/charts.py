"""Coordinates for small server-rendered SVG charts; the templates ``_chart_*.html`` draw them.

Charts are inline SVG without scripts (the CSP forbids inline scripts) and always sit beside a
table with the same numbers, so they carry only what a glance needs: bars or lines, a few axis
ticks, a legend. Colours are presentation attributes from a colour-blind-safe palette (Okabe
and Ito), so a chart looks the same in a page and in a PDF.

- :func:`bar_chart`: horizontal bars, one group per category (an arm, a site, a component) and
  one bar per series in each group.
- :func:`column_chart`: vertical columns over ordered labels (months).
- :func:`line_chart`: lines over ordered labels (months), with a point per value.

Values of None (no data) draw nothing and are not taken as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")


def nice_step(largest: float, most: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving at most ``most`` steps up to ``largest``."""
    if largest <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(largest / most))
    for factor in (1, 2, 5, 10):
        if largest / (factor * power) <= most:
            return factor * power
    return 10.0 * power


def _scale(largest: float, percent: bool) -> tuple[float, list[float]]:
    """The axis maximum and its tick values; a percent axis tops out at 100 at most."""
    if percent:
        largest = min(max(largest, 0.05), 1.0)
    step = nice_step(largest or 1.0)
    top = step * math.ceil((largest or 1.0) / step - 1e-9)
    ticks = [round(i * step, 10) for i in range(round(top / step) + 1)]
    return top, ticks


def _label(value: float, percent: bool, decimals: int) -> str:
    if percent:
        return f"{value * 100:.{max(decimals - 2, 0)}f} %"
    return f"{value:.{decimals}f}"


@dataclass
class LegendItem:
    label: str
    colour: str


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Mark:
    """One bar, column or point; ``title`` is its tooltip (category, series and value)."""

    x: float
    y: float
    width: float = 0
    height: float = 0
    colour: str = PALETTE[0]
    title: str = ""
    label: str = ""
    label_x: float = 0
    label_y: float = 0


@dataclass
class Line:
    colour: str
    points: str
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Chart:
    """What a ``_chart_*.html`` template draws; ``kind`` says which template."""

    kind: str
    title: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    marks: list[Mark] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    value_ticks: list[Tick] = field(default_factory=list)
    category_ticks: list[Tick] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    description: str = ""

    @property
    def template(self) -> str:
        return f"_chart_{self.kind}.html"


def _legend(series: Sequence[tuple[str, Sequence[Any]]]) -> list[LegendItem]:
    if len(series) < 2:
        return []
    return [LegendItem(str(name), PALETTE[i % len(PALETTE)]) for i, (name, _v) in enumerate(series)]


def _largest(series: Sequence[tuple[str, Sequence[float | None]]]) -> float:
    return max((v for _n, values in series for v in values if v is not None), default=0.0)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    percent: bool = False,
    decimals: int = 1,
    width: int = 520,
    description: str = "",
) -> Chart:
    """Horizontal bars: ``series`` is [(name, one value per category)]. Height follows the rows."""
    full = [str(c) for c in categories]
    categories = [_shorten(c) for c in full]
    per_group = max(len(series), 1)
    bar = 14 if per_group > 1 else 18
    group = bar * per_group + 10
    label_width = 14 + 6 * max((len(c) for c in categories), default=4)
    left, right, top = float(label_width), float(width - 56), 8.0
    bottom = top + group * max(len(categories), 1)
    height = int(bottom + 24)
    maximum, ticks = _scale(_largest(series), percent)
    span = right - left

    def x_of(value: float) -> float:
        return round(left + span * value / maximum, 1)

    marks = []
    for c in range(len(categories)):
        for s, (name, values) in enumerate(series):
            value = values[c]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            y = top + c * group + 5 + s * bar
            text = _label(value, percent, decimals)
            marks.append(
                Mark(
                    x=left,
                    y=round(y, 1),
                    width=max(round(x_of(value) - left, 1), 0.0),
                    height=bar - 2,
                    colour=PALETTE[s % len(PALETTE)],
                    title=f"{full[c]}{f' – {name}' if len(series) > 1 else ''}: {text}",
                    label=text,
                    label_x=round(x_of(value) + 4, 1),
                    label_y=round(y + bar - 5, 1),
                )
            )
    category_ticks = [
        Tick(position=round(top + (c + 0.5) * group, 1), label=str(category))
        for c, category in enumerate(categories)
    ]
    value_ticks = [
        Tick(position=x_of(t), label=_label(t, percent, 0 if percent else _dp(t))) for t in ticks
    ]
    return Chart(
        kind="bars",
        title=title,
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        marks=marks,
        value_ticks=value_ticks,
        category_ticks=category_ticks,
        legend=_legend(series),
        description=description,
    )


LABEL_CHARACTERS = 24


def _shorten(label: str) -> str:
    """A category label that fits beside the bars; the whole label is in each bar's tooltip."""
    return label if len(label) <= LABEL_CHARACTERS else label[: LABEL_CHARACTERS - 1] + "…"


def _dp(value: float) -> int:
    """Decimals needed to print an axis tick (0 for whole numbers)."""
    return 0 if float(value).is_integer() else min(len(f"{value:g}".split(".")[-1]), 3)


def _month_ticks(labels: Sequence[str], left: float, slot: float) -> list[Tick]:
    every = math.ceil(len(labels) / 8) if labels else 1  # at most eight labels fit
    return [
        Tick(position=round(left + (i + 0.5) * slot, 1), label=str(label))
        for i, label in enumerate(labels)
        if i % every == 0
    ]


class _OverLabels:
    """The frame of a chart over ordered labels (months): the plot area, the value axis and one
    slot per label, shared by :func:`column_chart` and :func:`line_chart`."""

    def __init__(
        self, labels: Sequence[str], *, largest: float, percent: bool, width: int, height: int
    ) -> None:
        self.labels, self.percent, self.width, self.height = labels, percent, width, height
        self.left, self.right = 44.0, float(width - 8)
        self.top, self.bottom = 10.0, float(height - 26)
        self.maximum, self.ticks = _scale(largest, percent)
        self.slot = (self.right - self.left) / max(len(labels), 1)

    def y_of(self, value: float) -> float:
        return round(self.bottom - (self.bottom - self.top) * value / self.maximum, 1)

    def chart(
        self, kind: str, *, title: str, description: str, legend: list[LegendItem], **drawn: Any
    ) -> Chart:
        """The chart of ``kind`` with its axes; ``drawn`` is its ``marks`` or ``lines``."""
        return Chart(
            kind=kind,
            title=title,
            width=self.width,
            height=self.height,
            left=self.left,
            right=self.right,
            top=self.top,
            bottom=self.bottom,
            value_ticks=[
                Tick(position=self.y_of(t), label=_label(t, self.percent, _dp(t)))
                for t in self.ticks
            ],
            category_ticks=_month_ticks(self.labels, self.left, self.slot),
            legend=legend,
            description=description,
            **drawn,
        )


def column_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    series_name: str = "",
    percent: bool = False,
    decimals: int = 0,
    width: int = 520,
    height: int = 200,
    description: str = "",
) -> Chart:
    """Vertical columns, one per label (e.g. months)."""
    frame = _OverLabels(
        labels, largest=_largest([("", values)]), percent=percent, width=width, height=height
    )
    left, bottom, slot, y_of = frame.left, frame.bottom, frame.slot, frame.y_of
    marks = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        text = _label(value, percent, decimals)
        marks.append(
            Mark(
                x=round(left + i * slot + slot * 0.15, 1),
                y=y_of(value),
                width=round(slot * 0.7, 1),
                height=round(bottom - y_of(value), 1),
                title=f"{label}: {text}",
                label=text,
            )
        )
    return frame.chart(
        "columns",
        title=title,
        description=description,
        legend=[LegendItem(series_name, PALETTE[0])] if series_name else [],
        marks=marks,
    )


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    percent: bool = False,
    decimals: int = 1,
    width: int = 520,
    height: int = 200,
    description: str = "",
) -> Chart:
    """Lines over ordered labels (e.g. months): ``series`` is [(name, one value per label)]."""
    frame = _OverLabels(
        labels, largest=_largest(series), percent=percent, width=width, height=height
    )
    lines = []
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        marks = []
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            text = _label(value, percent, decimals)
            marks.append(
                Mark(
                    x=round(frame.left + (i + 0.5) * frame.slot, 1),
                    y=frame.y_of(value),
                    colour=colour,
                    title=f"{label}{f' – {name}' if len(series) > 1 else ''}: {text}",
                    label=text,
                )
            )
        points = " ".join(f"{m.x},{m.y}" for m in marks)
        lines.append(Line(colour=colour, points=points, marks=marks))
    return frame.chart(
        "lines", title=title, description=description, legend=_legend(series), lines=lines
    )
