"""Recruitment and follow-up completeness figures for the trial dashboard.

Plain functions over aggregate queries. Each one costs a fixed number of queries (one GROUP BY
per table read) however many participants, visits or months the trial has; the rows are then
summed in Python by site, by month or by visit. Callers pass the sites the user may see
(``permissions.visible_sites``), so a caseworker's figures cover only their own sites.

Follow-up terms, for a day ``today``:

- *due so far*: the visit's window has opened, or the visit is closed already (completed, even
  early, or missed). Every due visit is in exactly one of: completed, missed, overdue, due now,
  withdrawn, lost.
- *completed in window*: completed between the window's first and last day.
- *overdue* / *due now*: still open, the participant still followed up, the window closed before
  ``today`` / open on ``today``.
- *withdrawn* / *lost*: still open, but the participant has withdrawn or is lost to follow-up.
  They stay in the denominator (intention to treat).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from django.db.models import Count, F, Q
from django.db.models.functions import TruncMonth

from trial.models import Participant, ScreeningRecord, Site, Trial, Visit

GONE = (Participant.Status.WITHDRAWN, Participant.Status.LOST)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of every calendar month from ``first``'s month to ``last``'s, inclusive."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(dt.date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# Recruitment


@dataclass
class SiteRecruitment:
    code: str
    name: str
    screened: int = 0
    eligible: int = 0
    enrolled: int = 0
    active: int = 0
    withdrawn: int = 0
    lost: int = 0


@dataclass
class MonthRecruitment:
    month: dt.date  # the first day of the month
    screened: int = 0
    eligible: int = 0
    enrolled: int = 0
    cumulative: int = 0
    percent_of_target: float | None = None


@dataclass
class Recruitment:
    target: int
    sites: list[SiteRecruitment]
    months: list[MonthRecruitment]
    total: SiteRecruitment

    @property
    def percent_of_target(self) -> float | None:
        return _percent(self.total.enrolled, self.target)


def recruitment(trial: Trial, sites: Sequence[Site], *, today: dt.date) -> Recruitment:
    """Screened, eligible and enrolled people by site and by calendar month (two queries).

    Months run from the first month with a screening or enrolment to the last one, or to
    ``today``'s month while the trial is recruiting, so that months without recruits show.
    """
    site_ids = [site.pk for site in sites]
    by_site = {site.pk: SiteRecruitment(code=site.code, name=site.name) for site in sites}
    by_month: dict[dt.date, MonthRecruitment] = {}

    screenings = (
        ScreeningRecord.objects.filter(trial=trial, site_id__in=site_ids)
        .annotate(month=TruncMonth("screened_on"))
        .values("site_id", "month")
        .annotate(n_screened=Count("id"), n_eligible=Count("id", filter=Q(eligible=True)))
        .order_by()
    )
    for row in screenings:
        site = by_site[row["site_id"]]
        month = by_month.setdefault(row["month"], MonthRecruitment(month=row["month"]))
        for target in (site, month):
            target.screened += row["n_screened"]
            target.eligible += row["n_eligible"]

    status = Participant.Status
    enrolments = (
        Participant.objects.filter(trial=trial, site_id__in=site_ids)
        .annotate(month=TruncMonth("enrolled_on"))
        .values("site_id", "month")
        .annotate(
            n_enrolled=Count("id"),
            n_active=Count("id", filter=Q(status=status.ACTIVE)),
            n_withdrawn=Count("id", filter=Q(status=status.WITHDRAWN)),
            n_lost=Count("id", filter=Q(status=status.LOST)),
        )
        .order_by()
    )
    for row in enrolments:
        site = by_site[row["site_id"]]
        site.enrolled += row["n_enrolled"]
        site.active += row["n_active"]
        site.withdrawn += row["n_withdrawn"]
        site.lost += row["n_lost"]
        month = by_month.setdefault(row["month"], MonthRecruitment(month=row["month"]))
        month.enrolled += row["n_enrolled"]

    months: list[MonthRecruitment] = []
    if by_month:
        last = max(by_month)
        if trial.status == Trial.Status.RECRUITING:
            last = max(last, today)
        cumulative = 0
        for first_day in _month_range(min(by_month), last):
            month = by_month.get(first_day) or MonthRecruitment(month=first_day)
            cumulative += month.enrolled
            month.cumulative = cumulative
            month.percent_of_target = _percent(cumulative, trial.target_size)
            months.append(month)

    total = SiteRecruitment(code="", name="")
    for site in by_site.values():
        for name in ("screened", "eligible", "enrolled", "active", "withdrawn", "lost"):
            setattr(total, name, getattr(total, name) + getattr(site, name))
    return Recruitment(
        target=trial.target_size, sites=list(by_site.values()), months=months, total=total
    )


# Follow-up completeness


@dataclass
class VisitCounts:
    """Counts of due visits for one site, one visit of the schedule, or all of them."""

    code: str
    name: str
    due: int = 0
    completed: int = 0
    completed_in_window: int = 0
    missed: int = 0
    overdue: int = 0
    due_now: int = 0
    withdrawn: int = 0
    lost: int = 0

    def add(self, counts: Mapping[str, Any]) -> None:
        """Add one row of ``follow_up``'s query, whose counts are named ``n_<field>``."""
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + counts[f"n_{name}"])

    @property
    def percent_completed(self) -> float | None:
        return _percent(self.completed, self.due)

    @property
    def percent_in_window(self) -> float | None:
        return _percent(self.completed_in_window, self.due)


COUNTED = [f.name for f in fields(VisitCounts) if f.name not in ("code", "name")]


@dataclass
class FollowUp:
    by_site: list[VisitCounts]
    by_visit: list[VisitCounts]
    total: VisitCounts = field(default_factory=lambda: VisitCounts(code="", name=""))


def follow_up(trial: Trial, sites: Sequence[Site], *, today: dt.date) -> FollowUp:
    """Follow-up completeness by site and by scheduled visit on ``today`` (two queries).

    The terms are defined in this module's docstring.
    """
    site_ids = [site.pk for site in sites]
    by_site = {site.pk: VisitCounts(code=site.code, name=site.name) for site in sites}
    by_visit = {d.pk: VisitCounts(code=d.code, name=d.label) for d in trial.visit_definitions.all()}
    completed = Q(completed_on__isnull=False)
    missed = Q(completed_on__isnull=True, missed=True)
    still_open = Q(completed_on__isnull=True, missed=False)
    followed = ~Q(participant__status__in=GONE)
    status = Participant.Status
    # Only due visits are read (about half of them in a running trial), so every open visit
    # counted below has an open window.
    due = Q(window_start__lte=today) | completed | Q(missed=True)
    rows = (
        Visit.objects.filter(due, participant__trial=trial, participant__site_id__in=site_ids)
        .values("participant__site_id", "definition_id")
        .annotate(
            n_due=Count("id"),
            n_completed=Count("id", filter=completed),
            n_completed_in_window=Count(
                "id",
                filter=Q(completed_on__gte=F("window_start"), completed_on__lte=F("window_end")),
            ),
            n_missed=Count("id", filter=missed),
            n_overdue=Count("id", filter=still_open & followed & Q(window_end__lt=today)),
            n_due_now=Count("id", filter=still_open & followed & Q(window_end__gte=today)),
            n_withdrawn=Count("id", filter=still_open & Q(participant__status=status.WITHDRAWN)),
            n_lost=Count("id", filter=still_open & Q(participant__status=status.LOST)),
        )
        .order_by()
    )
    result = FollowUp(by_site=list(by_site.values()), by_visit=list(by_visit.values()))
    for row in rows:
        by_site[row["participant__site_id"]].add(row)
        by_visit[row["definition_id"]].add(row)
        result.total.add(row)
    return result


# Chart of cumulative recruitment against the target


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    month: dt.date
    cumulative: int


@dataclass
class Tick:
    position: float
    value: int | None = None
    month: dt.date | None = None


@dataclass
class Chart:
    """Coordinates for an inline SVG bar chart; the template only draws them."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    target: int
    target_y: float
    bars: list[Bar]
    y_ticks: list[Tick]
    x_labels: list[Tick]


def _nice_step(largest: int, most: int = 5) -> int:
    """A step of 1, 2 or 5 times a power of ten giving at most ``most`` steps up to ``largest``."""
    if largest <= most:
        return 1
    power = 10 ** math.floor(math.log10(largest / most))
    for factor in (1, 2, 5, 10):
        if largest / (factor * power) <= most:
            return factor * power
    return 10 * power


def recruitment_chart(
    months: Sequence[MonthRecruitment], target: int, *, width: int = 640, height: int = 240
) -> Chart | None:
    """Bars of cumulative enrolment by month with a line at the target; None without months."""
    if not months:
        return None
    left, right, top, bottom = 48, width - 12, 12, height - 28
    step = _nice_step(max(target, months[-1].cumulative, 1))
    scale_max = step * math.ceil(max(target, months[-1].cumulative, 1) / step)

    def y_of(value: int) -> float:
        return round(bottom - (bottom - top) * value / scale_max, 1)

    slot = (right - left) / len(months)
    bars = [
        Bar(
            x=round(left + i * slot + slot * 0.1, 1),
            y=y_of(m.cumulative),
            width=round(slot * 0.8, 1),
            height=round(bottom - y_of(m.cumulative), 1),
            month=m.month,
            cumulative=m.cumulative,
        )
        for i, m in enumerate(months)
    ]
    every = math.ceil(len(months) / 8)  # at most eight month labels fit under the axis
    labels = [
        Tick(position=round(left + (i + 0.5) * slot, 1), month=m.month)
        for i, m in enumerate(months)
        if i % every == 0
    ]
    ticks = [Tick(position=y_of(v), value=v) for v in range(0, scale_max + 1, step)]
    return Chart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        target=target,
        target_y=y_of(target),
        bars=bars,
        y_ticks=ticks,
        x_labels=labels,
    )
