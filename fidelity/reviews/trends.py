"""Site fidelity trends: the consensus totals of each site's reviews over time, with the
coordinates of a small SVG chart, and an item × review-date table of consensus scores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fidelity.models import ConsensusScore, Review, ScaleItem
from fidelity.scales.scoring import summarise
from trial.models import Site, Trial


@dataclass
class TrendPoint:
    review: Review
    total: int
    band: str | None
    x: float = 0
    y: float = 0


@dataclass
class BandLine:
    label: str
    value: int
    y: float


@dataclass
class SiteTrend:
    site: Site
    points: list[TrendPoint]
    maximum: int
    minimum: int
    band_lines: list[BandLine]
    item_rows: list[dict[str, Any]]
    ticks: list[BandLine] = field(default_factory=list)
    """Labels on the vertical axis: band floors, and the lowest and highest possible totals
    where they do not crowd a band floor."""
    width: int = 440
    height: int = 160
    left: int = 34
    right: int = 300
    """The plot ends here; band labels are written to its right."""
    top: int = 12
    bottom: int = 132
    path: str = ""

    @property
    def latest(self) -> TrendPoint | None:
        return self.points[-1] if self.points else None

    @property
    def change(self) -> int | None:
        if len(self.points) < 2:
            return None
        return self.points[-1].total - self.points[0].total


def heat_level(score: int | None, low: int, high: int) -> int | None:
    """1..5: where ``score`` lies between the scale's lowest and highest level (CSS class)."""
    if score is None:
        return None
    return 1 + round(4 * (score - low) / (high - low))


def site_trends(trial: Trial, sites: Iterable[Site]) -> list[SiteTrend]:
    """For each site, the consensus totals of its reviews over time with chart coordinates,
    and an item × review-date table of consensus scores (heat levels 1–5).

    Reviews without a complete consensus are left out. Three queries in all.
    """
    site_list = list(sites)
    reviews = list(
        Review.objects.filter(
            trial=trial,
            site__in=site_list,
            status__in=[Review.Status.CONSENSUS, Review.Status.FINALISED],
        )
        .select_related("scale", "site")
        .order_by("site__code", "review_date")
    )
    scale_ids = {r.scale_id for r in reviews}
    items_by_scale: dict[int, list[ScaleItem]] = {}
    for item in ScaleItem.objects.filter(scale_id__in=scale_ids).order_by("number"):
        items_by_scale.setdefault(item.scale_id, []).append(item)
    consensus: dict[int, dict[int, int]] = {}
    for row in ConsensusScore.objects.filter(review__in=reviews).values(
        "review_id", "item__number", "score"
    ):
        consensus.setdefault(row["review_id"], {})[row["item__number"]] = row["score"]
    result = []
    for site in site_list:
        points = []
        for review in (r for r in reviews if r.site_id == site.pk):
            items = items_by_scale.get(review.scale_id, [])
            summary = summarise(review.scale, items, consensus.get(review.pk, {}))
            if summary.total is not None:
                points.append(TrendPoint(review=review, total=summary.total, band=summary.band))
        if not points:
            result.append(SiteTrend(site, [], 0, 0, [], []))
            continue
        trend = _chart(site, points, len(items_by_scale[points[-1].review.scale_id]))
        trend.item_rows = _item_rows(points, items_by_scale, consensus)
        result.append(trend)
    return result


def _chart(site: Site, points: list[TrendPoint], n_items: int) -> SiteTrend:
    """The site's trend with the chart's coordinates, its axis running over the possible totals
    of the latest review's scale (``n_items`` items), with that scale's band floors."""
    latest_scale = points[-1].review.scale
    low, high = latest_scale.total_range(n_items)
    trend = SiteTrend(
        site=site, points=points, maximum=high, minimum=low, band_lines=[], item_rows=[]
    )
    span = (high - low) or 1

    def y_of(value: float) -> float:
        return round(trend.bottom - (trend.bottom - trend.top) * (value - low) / span, 1)

    count = len(points)
    inset = 28  # room for the first and last date under the axis
    first_x, last_x = trend.left + inset, trend.right - inset
    for i, point in enumerate(points):
        step = (last_x - first_x) / (count - 1) if count > 1 else 0
        point.x = round(first_x + i * step if count > 1 else (first_x + last_x) / 2, 1)
        point.y = y_of(point.total)
    trend.path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    trend.band_lines = [
        BandLine(label=str(b["label"]), value=int(b["min"]), y=y_of(int(b["min"])))
        for b in latest_scale.bands
        if low < int(b["min"]) <= high
    ]
    for tick in [
        *trend.band_lines,
        BandLine("", low, y_of(low)),
        BandLine("", high, y_of(high)),
    ]:
        if all(abs(tick.y - kept.y) >= 9 for kept in trend.ticks):
            trend.ticks.append(tick)
    return trend


def _item_rows(
    points: list[TrendPoint],
    items_by_scale: dict[int, list[ScaleItem]],
    consensus: dict[int, dict[int, int]],
) -> list[dict[str, Any]]:
    """Item × review-date consensus scores with their heat levels, items by number."""
    numbers = sorted({i.number for p in points for i in items_by_scale[p.review.scale_id]})
    titles = {i.number: i.title for p in points for i in items_by_scale[p.review.scale_id]}
    rows = []
    for number in numbers:
        cells = []
        for point in points:
            scale = point.review.scale
            score = consensus.get(point.review.pk, {}).get(number)
            cells.append(
                {"score": score, "heat": heat_level(score, scale.min_level, scale.max_level)}
            )
        rows.append({"number": number, "title": titles[number], "cells": cells})
    return rows
