"""Recruitment and follow-up completeness on the dashboard, and the sortable worklist.

The expected figures were worked out by hand from the small data set in ``figures`` (see the
tables in its docstring). "Today" is 15 September 2025 throughout.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests import factories
from tests.conftest import World
from trial import dashboard, permissions
from trial.models import (
    ExclusionReason,
    Participant,
    ScreeningRecord,
    Site,
    Trial,
    Visit,
    VisitDefinition,
)

TODAY = dt.date(2025, 9, 15)
NOW = dt.datetime(2025, 9, 15, 10, tzinfo=dt.UTC)  # 12:00 in Oslo, the same date


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def add_visit(
    participant: Participant,
    definition: VisitDefinition,
    window: tuple[str, str],
    *,
    completed_on: str | None = None,
    missed: bool = False,
) -> Visit:
    start, end = d(window[0]), d(window[1])
    return Visit.objects.create(
        participant=participant,
        definition=definition,
        due_on=start + dt.timedelta(days=14),
        window_start=start,
        window_end=end,
        completed_on=d(completed_on) if completed_on else None,
        missed=missed,
    )


def screen(trial: Trial, site: Site, day: str, *, eligible: bool, declined: bool = False) -> None:
    reason = None
    if not eligible:
        reason, _ = ExclusionReason.objects.get_or_create(trial=trial, code="age", label="Age")
    ScreeningRecord.objects.create(
        trial=trial,
        site=site,
        screened_on=d(day),
        eligible=eligible,
        exclusion_reason=reason,
        declined=declined,
    )


@pytest.fixture
def figures(world: World) -> World:
    """The world trial, recruiting to a target of 20, with screening and 15 visits.

    Participants (the world's six enrolled 2025-03-01, plus two):
        OSLA a1 a2, a3 (enrolled 2025-04-15); OSLB b1, b2 (lost); BGO c1 c2, c3 (enrolled
        2025-06-20, withdrawn).
    Screening: OSLA Feb 2 eligible + 1 not, Apr 1 eligible who declined; BGO Apr 1 + 1 not.

    Visits (window; outcome on 15 Sep):
        m3 a1 18 May–1 Jul done 10 Jun (in window)   m6 a1 18 Aug–1 Oct open (due now)
        m3 a2 18 May–1 Jul done 20 Jul (late)        m6 a2 18 Aug–1 Oct done 1 Sep (in window)
        m3 a3 31 Jul–14 Sep open (overdue)           m6 a3 1 Oct–14 Nov open (not yet due)
        m3 b1 18 May–1 Jul missed                    m6 b1 18 Aug–1 Oct open (due now)
        m3 b2 18 May–1 Jul open, lost
        m3 c1 18 May–1 Jul done 1 Jun (in window)    m6 c1 18 Aug–1 Oct missed
        m3 c2 18 May–1 Jul done 10 May (early)       m6 c2 15 Sep–29 Oct open (due now)
        m3 c3 5 Sep–20 Oct open, withdrawn           m6 c3 5 Dec–19 Jan open (not yet due)

    The other trial gets a screening and a visit that must never be counted.
    """
    trial = world.trial
    trial.status = Trial.Status.RECRUITING
    trial.target_size = 20
    trial.save(update_fields=["status", "target_size"])
    osla, _oslb, bgo = world.sites
    a1, a2 = world.participants["OSLA"]
    b1, b2 = world.participants["OSLB"]
    c1, c2 = world.participants["BGO"]
    a3 = factories.make_participant(trial, osla, enrolled_on=d("2025-04-15"))
    c3 = factories.make_participant(
        trial, bgo, enrolled_on=d("2025-06-20"), status=Participant.Status.WITHDRAWN
    )
    Participant.objects.filter(pk=b2.pk).update(status=Participant.Status.LOST)

    for day, eligible, declined in [
        ("2025-02-10", True, False),
        ("2025-02-10", True, False),
        ("2025-02-20", False, False),
        ("2025-04-05", True, True),
    ]:
        screen(trial, osla, day, eligible=eligible, declined=declined)
    screen(trial, bgo, "2025-04-10", eligible=True)
    screen(trial, bgo, "2025-04-11", eligible=False)

    m3 = VisitDefinition.objects.create(trial=trial, code="m3", label="3 months", offset_months=3)
    m6 = VisitDefinition.objects.create(trial=trial, code="m6", label="6 months", offset_months=6)
    early = ("2025-05-18", "2025-07-01")
    later = ("2025-08-18", "2025-10-01")
    add_visit(a1, m3, early, completed_on="2025-06-10")
    add_visit(a2, m3, early, completed_on="2025-07-20")
    add_visit(a3, m3, ("2025-07-31", "2025-09-14"))
    add_visit(b1, m3, early, missed=True)
    add_visit(b2, m3, early)
    add_visit(c1, m3, early, completed_on="2025-06-01")
    add_visit(c2, m3, early, completed_on="2025-05-10")
    add_visit(c3, m3, ("2025-09-05", "2025-10-20"))
    add_visit(a1, m6, later)
    add_visit(a2, m6, later, completed_on="2025-09-01")
    add_visit(a3, m6, ("2025-10-01", "2025-11-14"))
    add_visit(b1, m6, later)
    add_visit(c1, m6, later, missed=True)
    add_visit(c2, m6, ("2025-09-15", "2025-10-29"))
    add_visit(c3, m6, ("2025-12-05", "2026-01-19"))

    other = world.other_trial
    trd_site = Site.objects.get(trial=other)
    trd = world.participants["TRD"][0]
    screen(other, trd_site, "2025-03-03", eligible=True)
    other_m3 = VisitDefinition.objects.create(
        trial=other, code="m3", label="3 months", offset_months=3
    )
    add_visit(trd, other_m3, early)
    return world


def counts(row: dashboard.VisitCounts) -> dict[str, object]:
    values = asdict(row)
    values.pop("name")
    values["pct"] = (row.percent_completed, row.percent_in_window)
    return values


def test_recruitment_by_month_and_site_for_the_coordinator(figures: World) -> None:
    sites = list(permissions.visible_sites(figures.users["coordinator"], figures.trial))
    result = dashboard.recruitment(figures.trial, sites, today=TODAY)

    months = [
        (m.month, m.screened, m.eligible, m.enrolled, m.cumulative, m.percent_of_target)
        for m in result.months
    ]
    assert months == [
        (d("2025-02-01"), 3, 2, 0, 0, 0.0),
        (d("2025-03-01"), 0, 0, 6, 6, 30.0),
        (d("2025-04-01"), 3, 2, 1, 7, 35.0),
        (d("2025-05-01"), 0, 0, 0, 7, 35.0),  # months without recruits still show
        (d("2025-06-01"), 0, 0, 1, 8, 40.0),
        (d("2025-07-01"), 0, 0, 0, 8, 40.0),
        (d("2025-08-01"), 0, 0, 0, 8, 40.0),
        (d("2025-09-01"), 0, 0, 0, 8, 40.0),  # recruiting: up to this month
    ]
    by_site = {
        s.code: (s.screened, s.eligible, s.enrolled, s.active, s.withdrawn, s.lost)
        for s in result.sites
    }
    assert by_site == {
        "BGO": (2, 1, 3, 2, 1, 0),
        "OSLA": (4, 3, 3, 3, 0, 0),
        "OSLB": (0, 0, 2, 1, 0, 1),
    }
    total = result.total
    assert (total.screened, total.eligible, total.enrolled) == (6, 4, 8)
    assert (total.active, total.withdrawn, total.lost) == (6, 1, 1)
    assert result.percent_of_target == 40.0


def test_months_stop_at_the_last_recruit_once_recruitment_has_ended(figures: World) -> None:
    figures.trial.status = Trial.Status.FOLLOW_UP
    result = dashboard.recruitment(figures.trial, figures.sites, today=TODAY)
    assert [m.month for m in result.months][-1] == d("2025-06-01")


def test_follow_up_completeness_by_visit_and_site(figures: World) -> None:
    result = dashboard.follow_up(figures.trial, figures.sites, today=TODAY)

    by_visit = {row.code: counts(row) for row in result.by_visit}
    assert by_visit["m3"] == {
        "code": "m3",
        "due": 8,
        "completed": 4,
        "completed_in_window": 2,
        "missed": 1,
        "overdue": 1,
        "due_now": 0,
        "withdrawn": 1,
        "lost": 1,
        "pct": (50.0, 25.0),
    }
    assert by_visit["m6"] == {
        "code": "m6",
        "due": 5,
        "completed": 1,
        "completed_in_window": 1,
        "missed": 1,
        "overdue": 0,
        "due_now": 3,
        "withdrawn": 0,
        "lost": 0,
        "pct": (20.0, 20.0),
    }
    by_site = {row.code: counts(row) for row in result.by_site}
    assert by_site["OSLA"] == {
        "code": "OSLA",
        "due": 5,
        "completed": 3,
        "completed_in_window": 2,
        "missed": 0,
        "overdue": 1,
        "due_now": 1,
        "withdrawn": 0,
        "lost": 0,
        "pct": (60.0, 40.0),
    }
    assert by_site["OSLB"] == {
        "code": "OSLB",
        "due": 3,
        "completed": 0,
        "completed_in_window": 0,
        "missed": 1,
        "overdue": 0,
        "due_now": 1,
        "withdrawn": 0,
        "lost": 1,
        "pct": (0.0, 0.0),
    }
    assert by_site["BGO"] == {
        "code": "BGO",
        "due": 5,
        "completed": 2,
        "completed_in_window": 1,
        "missed": 1,
        "overdue": 0,
        "due_now": 1,
        "withdrawn": 1,
        "lost": 0,
        "pct": (40.0, 20.0),
    }
    total = counts(result.total)
    assert total == {
        "code": "",
        "due": 13,
        "completed": 5,
        "completed_in_window": 3,
        "missed": 2,
        "overdue": 1,
        "due_now": 3,
        "withdrawn": 1,
        "lost": 1,
        "pct": (38.5, 23.1),
    }
    # Every due visit is in exactly one outcome.
    outcomes = ("completed", "missed", "overdue", "due_now", "withdrawn", "lost")
    for row in [*result.by_visit, *result.by_site, result.total]:
        assert sum(getattr(row, name) for name in outcomes) == row.due, row.code


def test_a_schedule_without_due_visits_has_no_percentages(world: World) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    result = dashboard.follow_up(world.trial, world.sites, today=TODAY)
    assert [(r.code, r.due, r.percent_completed) for r in result.by_visit] == [("m3", 0, None)]
    assert result.total.percent_in_window is None


@time_machine.travel(NOW, tick=False)
def test_dashboard_page_shows_the_figures_and_an_accessible_chart(figures: World) -> None:
    response = figures.client("coordinator").get("/trials/ips/")
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["follow_up"].total.due == 13
    assert response.context["recruitment"].total.enrolled == 8
    assert "September 2025" in page
    assert "38.5" in page  # per cent completed, all visits
    assert '<svg class="chart"' in page
    assert 'role="img"' in page
    assert '<title id="recruitment-chart-title">' in page
    assert "Target 20" in page
    assert len(re.findall(r'<rect class="bar"', page)) == 8  # one bar per month
    # CSP: no inline style attributes, no inline script.
    assert "style=" not in page
    assert "<script>" not in page


@time_machine.travel(NOW, tick=False)
def test_dashboard_in_norwegian_localises_months_and_decimals(figures: World) -> None:
    client = figures.client("coordinator")
    client.post("/i18n/setlang/", {"language": "nb", "next": "/trials/ips/"})
    page = client.get("/trials/ips/").content.decode()
    assert "september 2025" in page
    assert "mars 2025" in page
    assert "38,5" in page
    # Coordinates inside the SVG are never written with a decimal comma.
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert not re.search(r'(x|y|width|height|y1|y2)="[0-9]+,[0-9]', svg)


@time_machine.travel(NOW, tick=False)
def test_caseworker_sees_only_their_sites_figures(figures: World) -> None:
    response = figures.client("caseworker").get("/trials/ips/statistics/")
    assert response.status_code == 200
    recruitment = response.context["recruitment"]
    follow_up = response.context["follow_up"]
    assert [s.code for s in recruitment.sites] == ["OSLA"]
    assert [s.code for s in follow_up.by_site] == ["OSLA"]
    assert [(m.month, m.enrolled, m.cumulative) for m in recruitment.months][:3] == [
        (d("2025-02-01"), 0, 0),
        (d("2025-03-01"), 2, 2),
        (d("2025-04-01"), 1, 3),
    ]
    assert (recruitment.total.screened, recruitment.total.eligible) == (4, 3)
    by_visit = {row.code: counts(row) for row in follow_up.by_visit}
    assert by_visit["m3"]["due"] == 3
    assert by_visit["m3"]["pct"] == (66.7, 33.3)
    assert by_visit["m6"]["pct"] == (50.0, 50.0)
    assert (follow_up.total.due, follow_up.total.completed) == (5, 3)
    page = response.content.decode()
    assert "OSLB" not in page
    assert "BGO" not in page
    assert "These figures cover only your sites" in page


@time_machine.travel(NOW, tick=False)
def test_members_without_participant_access_get_no_figures(figures: World) -> None:
    response = figures.client("reviewer").get("/trials/ips/statistics/")
    assert response.status_code == 200
    assert "recruitment" not in response.context
    assert "Recruitment by site" not in response.content.decode()
    assert figures.client("outsider").get("/trials/ips/").status_code == 404


def test_chart_puts_the_target_line_at_the_target() -> None:
    months = [
        dashboard.MonthRecruitment(month=d("2025-01-01"), enrolled=5, cumulative=5),
        dashboard.MonthRecruitment(month=d("2025-02-01"), enrolled=15, cumulative=20),
    ]
    chart = dashboard.recruitment_chart(months, 20)
    assert chart is not None
    assert [bar.cumulative for bar in chart.bars] == [5, 20]
    assert chart.bars[1].y == chart.target_y  # reached the target: the bar touches the line
    assert chart.bars[0].height == pytest.approx(chart.bars[1].height / 4, abs=0.1)
    assert [tick.value for tick in chart.y_ticks] == [0, 5, 10, 15, 20]
    assert dashboard.recruitment_chart([], 20) is None


# The worklist


@time_machine.travel(NOW, tick=False)
def test_worklist_sorts_by_each_column(world: World) -> None:
    m3 = VisitDefinition.objects.create(
        trial=world.trial, code="m3", label="3 months", offset_months=3
    )
    m6 = VisitDefinition.objects.create(
        trial=world.trial, code="m6", label="6 months", offset_months=6
    )
    osla, oslb, _bgo = world.sites
    zed = factories.make_participant(world.trial, osla, study_id="OSLA-ZZZ")
    abe = factories.make_participant(world.trial, oslb, study_id="OSLB-AAA")
    mid = factories.make_participant(world.trial, osla, study_id="OSLA-MMM")
    add_visit(zed, m3, ("2025-09-01", "2025-09-20"))  # due 15 Sep
    add_visit(abe, m6, ("2025-08-01", "2025-09-30"))  # due 15 Aug
    add_visit(mid, m6, ("2025-09-10", "2025-09-16"))  # due 24 Sep
    client = world.client("coordinator")

    def order(sort: str) -> list[str]:
        response = client.get("/trials/ips/worklist/", {"sort": sort})
        assert response.status_code == 200
        return [row["visit"].participant.study_id for row in response.context["rows"]]

    assert order("window_end") == ["OSLA-MMM", "OSLA-ZZZ", "OSLB-AAA"]
    assert order("due_on") == ["OSLB-AAA", "OSLA-ZZZ", "OSLA-MMM"]
    assert order("study_id") == ["OSLA-MMM", "OSLA-ZZZ", "OSLB-AAA"]
    assert order("site") == ["OSLA-MMM", "OSLA-ZZZ", "OSLB-AAA"]
    assert order("visit") == ["OSLA-ZZZ", "OSLA-MMM", "OSLB-AAA"]
    # An unknown sort key falls back to the default order instead of failing.
    assert order("participant__personal_number_hash") == order("window_end")
    page = client.get("/trials/ips/worklist/", {"sort": "site"}).content.decode()
    assert 'aria-sort="ascending"><a href="?sort=site"' in page


@time_machine.travel(NOW, tick=False)
def test_worklist_is_paged_and_keeps_the_sort(world: World) -> None:
    m3 = VisitDefinition.objects.create(
        trial=world.trial, code="m3", label="3 months", offset_months=3
    )
    for i in range(53):
        p = factories.make_participant(world.trial, world.sites[0], study_id=f"OSLA-{i:03d}")
        add_visit(p, m3, ("2025-09-01", "2025-09-30"))
    client = world.client("caseworker")
    first = client.get("/trials/ips/worklist/", {"sort": "study_id"})
    ids = [row["visit"].participant.study_id for row in first.context["rows"]]
    assert ids == [f"OSLA-{i:03d}" for i in range(50)]
    assert "?sort=study_id&amp;page=2" in first.content.decode()
    second = client.get("/trials/ips/worklist/", {"sort": "study_id", "page": "2"})
    ids = [row["visit"].participant.study_id for row in second.context["rows"]]
    assert ids == ["OSLA-050", "OSLA-051", "OSLA-052"]


# Query counts do not grow with the data


def grow(world: World, *, per_site: int, months: int) -> None:
    """Add participants at every site, spread over ``months`` months, each with two visits
    (one overdue, one due now) and a screening record."""
    definitions = list(VisitDefinition.objects.filter(trial=world.trial))
    for site in world.sites:
        for i in range(per_site):
            enrolled = d("2023-01-15") + dt.timedelta(days=31 * (i % months))
            p = factories.make_participant(world.trial, site, enrolled_on=enrolled)
            screen(world.trial, site, enrolled.isoformat(), eligible=True)
            add_visit(p, definitions[0], ("2025-07-01", "2025-08-01"))
            add_visit(p, definitions[1], ("2025-09-01", "2025-10-01"))


def query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("coordinator", "/trials/ips/"),
        ("caseworker", "/trials/ips/"),
        ("caseworker", "/trials/ips/statistics/"),
        ("coordinator", "/trials/ips/worklist/"),
        ("caseworker", "/trials/ips/worklist/?sort=visit"),
    ],
)
def test_query_count_does_not_grow_with_participants_visits_or_months(
    figures: World, persona: str, url: str
) -> None:
    client = figures.client(persona)
    visits = Visit.objects.filter(participant__trial=figures.trial)
    participants = Participant.objects.filter(trial=figures.trial)
    grow(figures, per_site=2, months=2)
    small = query_count(client, url)
    before = (visits.count(), participants.count())
    grow(figures, per_site=45, months=20)
    assert visits.count() >= 10 * before[0]
    assert participants.count() >= 10 * before[1]
    assert query_count(client, url) == small
