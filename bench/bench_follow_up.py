"""Dashboard and worklist on a large trial: 10,000 participants and 60,000 follow-up visits.

The trial is written with bulk_create, not through the services that ``seed_demo`` uses (those
enrol, audit and assess one person at a time, which would take many minutes at this size), so
it has no audit events. It has 12 sites recruiting at different rates over two years, a
screening log, 6 visits per participant (3, 6, 9, 12, 18 and 24 months) with a realistic mix of
outcomes, assessments for the completed visits, and withdrawals and losses to follow-up. After
loading, the tables are ANALYZEd, as autovacuum would do on a live database.

Then real requests through Django's test Client, as in bench_pages.py: 3 warm-up requests and
30 timed ones per page. Pages: the coordinator's dashboard (12 sites), a caseworker's dashboard
and worklist (2 sites), and the coordinator's worklist (all sites; page 1 of 50 rows). The p50
note adds the median Python CPU time of this process and the median SQL time, which show where
the wall time goes when the machine is busy. Run through bench/run.py, which provides the
PostgreSQL/Redis environment.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, percentiles, reset_database, setup_django

BENCH = "follow_up"
PARTICIPANTS = 10_000
SEED = 7
WARMUP = 3
REQUESTS = 30
BATCH = 2_000
CODE = "bench-follow-up"
# (code, label, months after randomisation)
SCHEDULE = [
    ("m3", "3 months", 3),
    ("m6", "6 months", 6),
    ("m9", "9 months", 9),
    ("m12", "12 months", 12),
    ("m18", "18 months", 18),
    ("m24", "24 months", 24),
]


# Twelve NAV offices; the first two are the caseworker's.
SITES = [
    ("OSL1", "NAV Grünerløkka"),
    ("OSL2", "NAV Frogner"),
    ("BGO", "NAV Bergenhus"),
    ("TRD", "NAV Trondheim"),
    ("SVG", "NAV Stavanger"),
    ("KRS", "NAV Kristiansand"),
    ("TOS", "NAV Tromsø"),
    ("BOO", "NAV Bodø"),
    ("LHM", "NAV Lillehammer"),
    ("HMR", "NAV Hamar"),
    ("DRM", "NAV Drammen"),
    ("FRE", "NAV Fredrikstad"),
]


def synthetic_number(rng: random.Random, birth: dt.date, used: set[str]) -> str:
    """A new valid synthetic test number (month + 80) for someone born on ``birth``."""
    from trial.personal_numbers import check_digits

    while True:
        first_nine = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}"
        # Individual numbers 500-999 mark births from 2000 on.
        individual = rng.randint(500, 999) if birth.year >= 2000 else rng.randint(0, 499)
        first_nine += f"{individual:03d}"
        check = check_digits(first_nine)
        if check is not None and first_nine + check not in used:
            used.add(first_nine + check)
            return first_nine + check


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def build(today: dt.date) -> dict[str, Any]:
    """Create the trial and its data; returns counts for the notes."""
    from django.db import connection, transaction

    from instruments.models import Assessment
    from trial.models import Participant, ScreeningRecord, Visit, Withdrawal

    rng = random.Random(SEED)  # noqa: S311 - reproducible synthetic data
    counts: Counter[str] = Counter()
    with transaction.atomic():
        trial, sites, weights, definitions, reasons = create_trial(rng)
        people = create_people(rng, trial, sites, weights, today)
        screenings = create_screenings(rng, trial, people, reasons)
        stops, withdrawals = create_stops(rng, people, today)
        visits = create_visits(rng, people, definitions, stops, today)
        assessments = create_assessments(rng, trial, visits)
    with connection.cursor() as cursor:
        for model in (Participant, ScreeningRecord, Visit, Assessment, Withdrawal):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")

    counts["participants"] = len(people)
    counts["visits"] = len(visits)
    counts["screenings"] = screenings
    counts["assessments"] = assessments
    counts["withdrawn"] = withdrawals
    counts["lost"] = len(stops) - withdrawals
    for visit in visits:
        counts[visit.status_on(today).value] += 1
    return dict(counts)


def create_trial(rng: random.Random) -> tuple[Any, list[Any], list[float], list[Any], list[Any]]:
    """The trial, its arms, sites (and their recruitment weights), visit schedule, exclusion
    reasons, a coordinator and a caseworker of the first two sites."""
    from django.contrib.auth import get_user_model

    from trial.models import Arm, ExclusionReason, Membership, Site, Trial, VisitDefinition

    User = get_user_model()
    trial = Trial.objects.create(
        code=CODE,
        title="Follow-up benchmark trial",
        status=Trial.Status.RECRUITING,
        target_size=12_000,
    )
    Arm.objects.bulk_create(
        [
            Arm(trial=trial, code="A", name="IPS"),
            Arm(trial=trial, code="B", name="Usual services", is_control=True),
        ]
    )
    sites = Site.objects.bulk_create(
        [Site(trial=trial, code=code, name=name) for code, name in SITES]
    )
    weights = [rng.uniform(0.4, 1.6) for _ in sites]
    definitions = VisitDefinition.objects.bulk_create(
        [
            VisitDefinition(trial=trial, code=code, label=label, offset_months=months)
            for code, label, months in SCHEDULE
        ]
    )
    reasons = ExclusionReason.objects.bulk_create(
        [
            ExclusionReason(trial=trial, code="age", label="Outside the age range", order=0),
            ExclusionReason(trial=trial, code="in_work", label="Already in work", order=1),
            ExclusionReason(trial=trial, code="other", label="Other programme", order=2),
        ]
    )
    coordinator = User.objects.create(username="bench-coordinator")
    caseworker = User.objects.create(username="bench-caseworker")
    Membership.objects.create(trial=trial, user=coordinator, role=Membership.Role.COORDINATOR)
    membership = Membership.objects.create(
        trial=trial, user=caseworker, role=Membership.Role.CASEWORKER
    )
    membership.sites.set(sites[:2])
    return trial, sites, weights, definitions, reasons


def create_people(
    rng: random.Random, trial: Any, sites: list[Any], weights: list[float], today: dt.date
) -> list[Any]:
    """Participants, enrolled evenly over two years at sites of different sizes."""
    from trial import personal_numbers
    from trial.models import Participant

    start = today - dt.timedelta(days=730)
    numbers: set[str] = set()
    people = []
    for i in range(PARTICIPANTS):
        site = rng.choices(sites, weights)[0]
        enrolled_on = start + dt.timedelta(days=rng.randint(0, 729))
        birth = enrolled_on - dt.timedelta(days=rng.randint(18 * 365, 29 * 365))
        number = synthetic_number(rng, birth, numbers)
        people.append(
            Participant(
                trial=trial,
                site=site,
                study_id=f"{site.code}-{i:06d}",
                personal_number_encrypted=personal_numbers.encrypt(number),
                personal_number_hash=personal_numbers.lookup_hash(number),
                enrolled_on=enrolled_on,
                consent_version="2.1",
                consent_date=enrolled_on,
                randomised_on=min(enrolled_on + dt.timedelta(days=rng.randint(0, 7)), today),
            )
        )
    return Participant.objects.bulk_create(people, batch_size=BATCH)


def create_screenings(rng: random.Random, trial: Any, people: list[Any], reasons: list[Any]) -> int:
    """Screening log: about 2 in 3 screened are eligible, 1 in 8 eligible decline. Returns the
    number of records."""
    from trial.models import ScreeningRecord

    screenings = []
    for person in people:
        while True:
            screened_on = person.enrolled_on - dt.timedelta(days=rng.randint(0, 10))
            eligible = rng.random() < 0.68
            declined = eligible and rng.random() < 0.12
            enrolled = eligible and not declined
            screenings.append(
                ScreeningRecord(
                    trial=trial,
                    site=person.site,
                    screened_on=screened_on,
                    eligible=eligible,
                    exclusion_reason=None if eligible else rng.choice(reasons),
                    declined=declined,
                    participant=person if enrolled else None,
                )
            )
            if enrolled:
                break
    ScreeningRecord.objects.bulk_create(screenings, batch_size=BATCH)
    return len(screenings)


def create_stops(
    rng: random.Random, people: list[Any], today: dt.date
) -> tuple[dict[int, dt.date], int]:
    """About 6 % withdraw and 3 % are lost; from then on their visits stay open. Returns the
    day each of them stopped, and the number withdrawn."""
    from trial.models import Participant, Withdrawal

    stops: dict[int, dt.date] = {}
    withdrawals = []
    for person in people:
        draw = rng.random()
        if draw >= 0.09:
            continue
        assert person.randomised_on is not None
        span = (today - person.randomised_on).days
        stop = person.randomised_on + dt.timedelta(days=rng.randint(0, max(span, 0)))
        stops[person.pk] = stop
        if draw < 0.06:
            person.status = Participant.Status.WITHDRAWN
            withdrawals.append(
                Withdrawal(
                    participant=person,
                    withdrawn_on=stop,
                    scope=Withdrawal.Scope.NO_DATA,
                    reason="No longer wishes to take part",
                )
            )
        else:
            person.status = Participant.Status.LOST
    Participant.objects.bulk_update(
        [p for p in people if p.pk in stops], ["status"], batch_size=BATCH
    )
    Withdrawal.objects.bulk_create(withdrawals, batch_size=BATCH)
    return stops, len(withdrawals)


def create_visits(
    rng: random.Random,
    people: list[Any],
    definitions: list[Any],
    stops: dict[int, dt.date],
    today: dt.date,
) -> list[Any]:
    """Visits: of those whose window has closed, 82 % completed (88 % of them in the window),
    10 % missed and 8 % still open (overdue); 45 % of those in their window now are done; later
    ones are scheduled."""
    from trial.models import Visit

    visits = []
    for person in people:
        assert person.randomised_on is not None
        stop = stops.get(person.pk)
        for definition in definitions:
            due = add_months(person.randomised_on, definition.offset_months)
            visit = Visit(
                participant=person,
                definition=definition,
                due_on=due,
                window_start=due - dt.timedelta(days=definition.window_before_days),
                window_end=due + dt.timedelta(days=definition.window_after_days),
            )
            visits.append(visit)
            last_day = min(today, stop) if stop else today
            if visit.window_start > last_day:
                continue
            draw = rng.random()
            if visit.window_end < last_day:
                if draw < 0.82:
                    if rng.random() < 0.88:
                        offset = rng.randint(0, (visit.window_end - visit.window_start).days)
                        visit.completed_on = visit.window_start + dt.timedelta(days=offset)
                    else:
                        late = visit.window_end + dt.timedelta(days=rng.randint(1, 40))
                        visit.completed_on = min(late, last_day)
                elif draw < 0.92:
                    visit.missed = True
            elif draw < 0.45:
                offset = rng.randint(0, (last_day - visit.window_start).days)
                visit.completed_on = visit.window_start + dt.timedelta(days=offset)
    return Visit.objects.bulk_create(visits, batch_size=BATCH)


def create_assessments(rng: random.Random, trial: Any, visits: list[Any]) -> int:
    """The built-in instrument's answers at every completed visit. Returns their number."""
    from instruments.models import Assessment
    from instruments.setup.services import default_instrument

    instrument = default_instrument(trial)
    version = instrument.current_version()
    assessments = []
    for visit in visits:
        if visit.completed_on is None:
            continue
        in_work = rng.random() < 0.15 + 0.02 * visit.definition.offset_months
        on_benefits = not in_work or rng.random() < 0.3
        values: dict[str, Any] = {"in_paid_work": in_work}
        if in_work:
            values["hours_per_week"] = float(rng.choice([8, 15, 20, 30]))
            values["monthly_earnings"] = rng.randint(8, 45) * 1000
        values["on_benefits"] = on_benefits
        if on_benefits:
            values["benefit_type"] = "work_assessment_allowance"
        values["self_rated_health"] = rng.randint(1, 5)
        assessments.append(
            Assessment(
                visit=visit,
                instrument=instrument,
                version=version,
                assessed_on=visit.completed_on,
                values=values,
            )
        )
    Assessment.objects.bulk_create(assessments, batch_size=BATCH)
    return len(assessments)


def measure(client: Any, url: str, label: str, persona: str, note: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} as {persona}: HTTP {response.status_code}")
    samples: list[float] = []
    cpu: list[float] = []
    sql: list[float] = []
    query_counts: list[int] = []
    for _ in range(REQUESTS):
        with CaptureQueriesContext(connection) as queries:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        if response.status_code != 200:
            raise SystemExit(f"GET {url} as {persona}: HTTP {response.status_code}")
        samples.append(elapsed * 1000)
        cpu.append(elapsed_cpu * 1000)
        sql.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        query_counts.append(len(queries.captured_queries))
    stats = percentiles(samples)
    # On a busy machine wall time swells; Python CPU time and SQL time show where it goes.
    detail = (
        f"{note}; n={REQUESTS}, max {stats['max']:.1f} ms; p50 Python CPU "
        f"{percentiles(cpu)['p50']:.0f} ms, SQL {percentiles(sql)['p50']:.0f} ms"
    )
    emit(BENCH, f"{label} p50", stats["p50"], "ms", detail)
    emit(BENCH, f"{label} p95", stats["p95"], "ms", f"GET {url}")
    low, high = min(query_counts), max(query_counts)
    spread = "" if low == high else f"varies {low}–{high}"
    emit(BENCH, f"{label} queries", sorted(query_counts)[len(query_counts) // 2], "SQL", spread)


def main() -> None:
    setup_django()

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    reset_database()
    today = timezone.localdate()
    started = time.perf_counter()
    counts = build(today)
    seconds = time.perf_counter() - started
    emit(
        BENCH,
        "build",
        seconds,
        "s",
        f"{counts['participants']} participants, {counts['visits']} visits, "
        f"{counts['screenings']} screenings, {counts['assessments']} assessments (bulk_create)",
    )
    emit(
        BENCH,
        "visit mix",  # by Visit.status_on(today); the dashboard splits off withdrawn and lost
        counts["visits"],
        "visits",
        ", ".join(
            f"{status} {counts.get(status, 0)}"
            for status in ("completed", "missed", "overdue", "due", "not_yet_due")
        )
        + f"; {counts['withdrawn']} withdrawn, {counts['lost']} lost",
    )

    User = get_user_model()
    clients = {}
    for persona in ("coordinator", "caseworker"):
        client = Client()
        client.force_login(User.objects.get(username=f"bench-{persona}"))
        clients[persona] = client

    def worklist_rows(persona: str) -> int:
        page = clients[persona].get(f"/trials/{CODE}/worklist/").content.decode()
        paged = re.search(r"\((\d+) rows?\)", page)  # "Page 1 of 13 (633 rows)"
        return int(paged.group(1)) if paged else page.count("/assess/")

    rows, all_rows = worklist_rows("caseworker"), worklist_rows("coordinator")
    pages = [
        ("dashboard", "coordinator", f"/trials/{CODE}/", "coordinator, all 12 sites"),
        ("dashboard (caseworker)", "caseworker", f"/trials/{CODE}/", "caseworker, 2 of 12 sites"),
        (
            "worklist (caseworker)",
            "caseworker",
            f"/trials/{CODE}/worklist/",
            f"caseworker, 2 sites, page 1 of {rows} rows",
        ),
        (
            "worklist (coordinator)",
            "coordinator",
            f"/trials/{CODE}/worklist/?sort=site",
            f"coordinator, all sites, page 1 of {all_rows} rows",
        ),
    ]
    for label, persona, url, note in pages:
        measure(clients[persona], url, label, persona, note)


if __name__ == "__main__":
    main()
