"""The contact log under load, and the dose/reach/contamination summaries at scale.

1. API throughput: real HTTP against gunicorn (2 workers x 16 threads) on PostgreSQL. A trial
   with 12 sites, 2 arms and 4 components; 2,000 randomised participants. Clients POST
   /api/v1/trials/<code>/contacts/ (token auth, a fresh client_id each, 1 to 3 components,
   about half to control participants so that exposures are derived too) at 1, 8 and 32
   concurrent clients (300, 1,500 and 3,000 requests). Figures: accepted contacts per second
   and p50/p95 latency per level; then the batch endpoint (.../contacts/batch/, 50 contacts a
   request) at 1, 8 and 32 clients, accepted contacts counted in the database; then 300 retries
   of earlier submissions (same client_id), and the duplicates over all of them (must be 0).
   Issue target: at least 300 accepted/s.
2. Summaries at scale: 10,000 randomised participants (allocations written in bulk with a valid
   hash chain) and 1,000,000 contacts written with COPY, their components and exposures with
   INSERT ... SELECT. Figures: seconds for each function of ``fidelity.dashboards`` called on
   its own (each reads what it needs), and p50 of both dashboard pages through the test Client.
   Issue target: each summary under 5 s.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    api_token,
    emit,
    percentiles,
    reset_database,
    setup_django,
    start_gunicorn,
    with_errors,
)

BENCH = "contacts"
HTTP_PARTICIPANTS = 2000
LEVELS = [(1, 300), (8, 1500), (32, 3000)]
# The batch endpoint: requests of BATCH_SIZE contacts each.
BATCH_SIZE = 50
BATCH_LEVELS = [(1, 20), (8, 80), (32, 160)]
RETRIES = 300
SCALE_PARTICIPANTS = 10_000
SCALE_CONTACTS = 1_000_000
COMPONENTS = [
    ("rapid", "Rapid job search", True),
    ("jobdev", "Job development with employers", True),
    ("follow", "Follow-along support", True),
    ("benefits", "Benefits counselling", False),
]


def make_trial(code: str, sites: int):
    from fidelity.models import Component
    from trial.models import Arm, Site, Trial

    trial = Trial.objects.create(
        code=code, title=code, status=Trial.Status.RECRUITING, target_size=SCALE_PARTICIPANTS
    )
    Arm.objects.create(trial=trial, code="A", name="IPS")
    Arm.objects.create(trial=trial, code="B", name="Usual", is_control=True)
    for i in range(sites):
        Site.objects.create(trial=trial, code=f"S{i:02d}", name=f"NAV {i}")
    for order, (code_, name, specific) in enumerate(COMPONENTS):
        Component.objects.create(
            trial=trial, code=code_, name=name, intervention_specific=specific, order=order
        )
    return trial


def make_randomised(trial, n: int, rng: random.Random, first: dt.date, days: int) -> list:
    """``n`` participants, randomised on days spread over ``days`` from ``first``, in bulk."""
    from django.utils import timezone

    from randomisation import engine
    from randomisation.allocation import log
    from randomisation.models import Allocation
    from trial.models import Participant

    sites = list(trial.sites.all())
    arms = list(trial.arms.order_by("code"))
    people = []
    for i in range(n):
        on = first + dt.timedelta(days=rng.randrange(days))
        people.append(
            Participant(
                trial=trial,
                site=rng.choice(sites),
                study_id=f"{trial.code}-{i:06d}",
                personal_number_encrypted="-",
                personal_number_hash=secrets.token_hex(32),
                enrolled_on=on,
                consent_version="1",
                consent_date=on,
                randomised_on=on,
            )
        )
    people = Participant.objects.bulk_create(people, batch_size=2000)
    previous = log.GENESIS
    rows = []
    now = timezone.now()
    for sequence, person in enumerate(people, start=1):
        allocation = Allocation(
            trial=trial,
            sequence=sequence,
            participant=person,
            arm=arms[sequence % 2],
            allocated_on=cast(dt.date, person.randomised_on),  # set when made above
            created_at=now,
            allocated_by_name="bench",
            source=Allocation.Source.IMPORTED,
            previous_hash=previous,
        )
        allocation.hash = engine.commitment(log.allocation_payload(allocation))
        previous = allocation.hash
        rows.append(allocation)
    Allocation.objects.bulk_create(rows, batch_size=2000)
    return people


# 1. API throughput


def start_server() -> tuple[subprocess.Popen, str]:
    options = ["--workers", "2", "--threads", "16", "--backlog", "512", "--log-level", "error"]
    return start_gunicorn(options)


def run_level(
    url: str, token: str, bodies: list[dict], clients: int, accepted: tuple[int, ...] = (200, 201)
) -> dict:
    work: queue.Queue[dict] = queue.Queue()
    for body in bodies:
        work.put(body)
    latencies: list[float] = []
    errors: list[str] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client() -> None:
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            request = urllib.request.Request(
                url,
                data=json.dumps(body).encode(),
                method="POST",
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            started = time.perf_counter()
            status = 0
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
                with lock:
                    errors.append(f"{error.code} {error.read()[:200]!r}")
            except OSError as error:
                with lock:
                    errors.append(str(error))
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status in accepted:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "latencies": latencies,
        "errors": errors,
        "statuses": statuses,
        "wall": time.perf_counter() - started,
    }


def http_bench(rng: random.Random) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from trial.models import Membership

    trial = make_trial("bench-contacts", sites=12)
    user = get_user_model().objects.create_user("bench-coordinator")
    Membership.objects.create(trial=trial, user=user, role=Membership.Role.COORDINATOR)
    token = api_token(user)
    today = timezone.localdate()
    people = make_randomised(trial, HTTP_PARTICIPANTS, rng, today - dt.timedelta(days=400), 300)
    body = body_maker(rng, today)
    sent: list[dict] = []
    server, url_base = start_server()
    url = f"{url_base}/api/v1/trials/{trial.code}/contacts/"
    try:
        for clients, requests in LEVELS:
            bodies = [body(rng.choice(people)) for _ in range(requests)]
            sent.extend(bodies)
            single_level(url, token, bodies, clients)
        for clients, requests in BATCH_LEVELS:
            batches = [
                {"contacts": [body(rng.choice(people)) for _ in range(BATCH_SIZE)]}
                for _ in range(requests)
            ]
            sent.extend(item for batch in batches for item in batch["contacts"])
            batch_level(f"{url}batch/", token, trial, batches, clients)
        retries = rng.sample(sent, RETRIES)
        result = run_level(url, token, retries, 8)
        emit(
            BENCH,
            "retries answered 200",
            result["statuses"].get(200, 0),
            "",
            f"of {RETRIES} resubmissions with a client_id already used, 8 clients",
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    count_duplicates(trial, sent)


def body_maker(rng: random.Random, today: dt.date) -> Callable[[Any], dict]:
    """A function that writes one contact's request body for a participant: a day since the
    allocation, 1 to 3 components, a fresh client_id."""
    codes = [code for code, _name, _specific in COMPONENTS]

    def body(person: Any) -> dict:
        span = (today - person.randomised_on).days
        return {
            "study_id": person.study_id,
            "contact_on": (
                person.randomised_on + dt.timedelta(days=rng.randint(0, span))
            ).isoformat(),
            "mode": rng.choice(["in_person", "phone", "video"]),
            "minutes": rng.choice([15, 30, 45, 60]),
            "partners": ["participant"] + (["employer"] if rng.random() < 0.3 else []),
            "components": rng.sample(codes, rng.randint(1, 3)),
            "client_id": str(uuid.uuid4()),
            "note": "",
        }

    return body


def single_level(url: str, token: str, bodies: list[dict], clients: int) -> None:
    """One contact a request: accepted contacts per second and latency."""
    result = run_level(url, token, bodies, clients)
    accepted = result["statuses"].get(201, 0)
    stats = percentiles(result["latencies"] or [0.0])
    note = with_errors(f"{clients} concurrent clients, {len(bodies)} requests", result)
    emit(BENCH, f"accepted/s @{clients}", accepted / result["wall"], "contacts/s", note)
    emit(BENCH, f"latency p50 @{clients}", stats["p50"], "ms", note)
    emit(BENCH, f"latency p95 @{clients}", stats["p95"], "ms", note)


def batch_level(url: str, token: str, trial: Any, batches: list[dict], clients: int) -> None:
    """BATCH_SIZE contacts a request: accepted contacts (counted in the database) per second
    and latency."""
    from fidelity.models import Contact

    before = Contact.objects.filter(trial=trial).count()
    result = run_level(url, token, batches, clients, accepted=(200,))
    accepted = Contact.objects.filter(trial=trial).count() - before
    stats = percentiles(result["latencies"] or [0.0])
    note = with_errors(
        f"{clients} concurrent clients, {len(batches)} requests of {BATCH_SIZE} contacts", result
    )
    emit(BENCH, f"batch accepted/s @{clients}", accepted / result["wall"], "contacts/s", note)
    emit(BENCH, f"batch latency p50 @{clients}", stats["p50"], "ms", note)
    emit(BENCH, f"batch latency p95 @{clients}", stats["p95"], "ms", note)


def count_duplicates(trial: Any, sent: list[dict]) -> None:
    """Contacts stored more than once (by client_id, or more contacts than posts), and the
    exposures derived."""
    from django.db.models import Count

    from fidelity.models import Contact, Exposure

    contacts = Contact.objects.filter(trial=trial)
    duplicates = (
        contacts.values("client_id").annotate(n=Count("id")).filter(n__gt=1).count()
        + len(sent)
        - contacts.count()
    )
    emit(BENCH, "duplicates", duplicates, "", f"{contacts.count()} contacts for {len(sent)} posts")
    emit(BENCH, "exposures derived", Exposure.objects.filter(trial=trial).count(), "")


# 2. Summaries at scale


def copy_contacts(trial, people, rng: random.Random, today: dt.date, user) -> float:
    """Write SCALE_CONTACTS contacts with COPY; their components and exposures in SQL."""
    import numpy as np
    from django.db import connection

    from fidelity.models import Component, Contact, Exposure

    np_rng = np.random.default_rng(rng.randrange(2**32))
    ids = np.array([p.pk for p in people])
    sites = np.array([p.site_id for p in people])
    start = np.array([(p.randomised_on - dt.date(1970, 1, 1)).days for p in people])
    last = (today - dt.date(1970, 1, 1)).days
    who = np.sort(np_rng.integers(0, len(people), SCALE_CONTACTS))
    day = start[who] + (np_rng.random(SCALE_CONTACTS) * (last - start[who] + 1)).astype(int)
    minutes = np_rng.choice([15, 20, 30, 45, 60], SCALE_CONTACTS)
    employer = np_rng.random(SCALE_CONTACTS) < 0.3
    modes = np.array(["in_person", "phone", "video"])[np_rng.integers(0, 3, SCALE_CONTACTS)]
    epoch = dt.date(1970, 1, 1)
    now = dt.datetime.now(dt.UTC).isoformat()
    plain, with_employer = '["participant"]', '["participant", "employer"]'
    started = time.perf_counter()
    columns = (
        "trial_id, site_id, participant_id, author_id, author_name, contact_on, mode, minutes, "
        "partners, note, contamination_risk, created_at, updated_at"
    )
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for i in range(SCALE_CONTACTS):
                copy.write_row(
                    (
                        trial.pk,
                        int(sites[who[i]]),
                        int(ids[who[i]]),
                        user.pk,
                        "bench",
                        epoch + dt.timedelta(days=int(day[i])),
                        modes[i],
                        int(minutes[i]),
                        with_employer if employer[i] else plain,
                        "",
                        False,
                        now,
                        now,
                    )
                )
        components = list(Component.objects.filter(trial=trial).order_by("order"))
        through = Contact.components.through._meta.db_table
        # One component per contact chosen by its id, a second for every third contact.
        cases = " ".join(f"WHEN {i} THEN {c.pk}" for i, c in enumerate(components))
        cursor.execute(
            f"INSERT INTO {through} (contact_id, component_id) "  # noqa: S608 - model tables
            f"SELECT id, CASE id %% {len(components)} {cases} END FROM {table} "
            "WHERE trial_id = %s",
            [trial.pk],
        )
        cursor.execute(
            f"INSERT INTO {through} (contact_id, component_id) "  # noqa: S608 - model tables
            f"SELECT id, CASE (id + 1) %% {len(components)} {cases} END FROM {table} "
            "WHERE trial_id = %s AND id %% 3 = 0",
            [trial.pk],
        )
        # The exposures fidelity.services derives: a control participant's contact on or after
        # the allocation, delivering an intervention-specific component.
        cursor.execute(
            f"INSERT INTO {Exposure._meta.db_table} "  # noqa: S608 - model table
            "(trial_id, participant_id, site_id, source, component_id, exposed_on, contact_id, "
            "note, created_at) "
            "SELECT c.trial_id, c.participant_id, c.site_id, 'contact', cc.component_id, "
            "c.contact_on, c.id, '', now() "
            f"FROM {table} c JOIN {through} cc ON cc.contact_id = c.id "
            "JOIN fidelity_component k ON k.id = cc.component_id AND k.intervention_specific "
            "JOIN randomisation_allocation a ON a.participant_id = c.participant_id "
            "JOIN trial_arm arm ON arm.id = a.arm_id AND arm.is_control "
            "WHERE c.trial_id = %s AND c.contact_on >= a.allocated_on "
            "AND random() < 0.05",
            [trial.pk],
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def scale_bench(rng: random.Random) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from fidelity.models import Contact, Exposure
    from trial.models import Membership

    trial = make_trial("bench-scale", sites=12)
    user = get_user_model().objects.create_user("bench-scale")
    Membership.objects.create(trial=trial, user=user, role=Membership.Role.COORDINATOR)
    today = timezone.localdate()
    started = time.perf_counter()
    people = make_randomised(trial, SCALE_PARTICIPANTS, rng, today - dt.timedelta(days=730), 700)
    emit(
        BENCH,
        "scale: participants written",
        time.perf_counter() - started,
        "s",
        f"{SCALE_PARTICIPANTS} with allocations (bulk, hash chain)",
    )
    seconds = copy_contacts(trial, people, rng, today, user)
    emit(
        BENCH,
        "scale: contacts written",
        seconds,
        "s",
        f"{Contact.objects.filter(trial=trial).count()} contacts by COPY, components and "
        f"{Exposure.objects.filter(trial=trial).count()} exposures by INSERT ... SELECT",
    )
    time_summaries(trial)
    time_pages(trial, user)


def time_summaries(trial: Any) -> None:
    """Each function of ``fidelity.dashboards`` on its own: best of 3 after a warm call."""
    from fidelity.dashboards import contamination, dose

    calls = [
        ("dose_by_participant", lambda: dose.dose_by_participant(trial)),
        ("dose_by_arm", lambda: dose.dose_by_arm(trial)),
        ("dose_by_site", lambda: dose.dose_by_site(trial)),
        ("time_to_first_contact", lambda: dose.time_to_first_contact(trial, by="site")),
        ("reach", lambda: dose.reach(trial, by="arm")),
        ("components_delivered", lambda: dose.components_delivered(trial)),
        ("contamination_by_month", lambda: contamination.contamination_by_month(trial)),
        ("contamination_by_site", lambda: contamination.contamination_by_site(trial)),
        ("contamination_by_source", lambda: contamination.contamination_by_source(trial)),
        ("sites_driving_contamination", lambda: contamination.sites_driving_contamination(trial)),
        ("latest_exposures", lambda: contamination.latest_exposures(trial)),
    ]
    for name, call in calls:
        call()  # warm: the first call pays for imports and cold caches
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            call()
            timings.append(time.perf_counter() - started)
        emit(
            BENCH,
            f"scale: {name}",
            min(timings),
            "s",
            f"best of 3; {SCALE_PARTICIPANTS} participants, {SCALE_CONTACTS} contacts",
        )


def time_pages(trial: Any, user: Any) -> None:
    """p50 of both dashboard pages through the test Client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    for page, path in (("dose", "dose"), ("contamination", "contamination")):
        url = f"/trials/{trial.code}/dashboards/{path}/"
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        timings = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
        stats = percentiles(timings)
        emit(
            BENCH,
            f"scale: {page} page p50",
            stats["p50"],
            "ms",
            f"5 requests; {len(queries)} queries",
        )


def main() -> None:
    setup_django()
    reset_database()
    rng = random.Random(2026)  # noqa: S311 - synthetic data
    which = os.environ.get("BENCH_CONTACTS_PARTS", "http,scale").split(",")
    if "http" in which:
        http_bench(rng)
    if "scale" in which:
        scale_bench(rng)


if __name__ == "__main__":
    main()
