"""Server time and SQL queries of the main pages, on the demo trial with 2,000 participants.

Requests go through Django's test Client (the whole middleware, view and template stack, no
network and no web server). Each page gets 3 warm-up requests, then 30 timed ones.
Run through bench/run.py, which provides the PostgreSQL/Redis environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, percentiles, reset_demo, setup_django

BENCH = "pages"
PARTICIPANTS = 2000
SEED = 1
WARMUP = 3
REQUESTS = 30


def main() -> None:
    setup_django()

    result, seed_seconds = reset_demo(PARTICIPANTS, SEED)
    enrolled = result.participants
    emit(BENCH, "seed_demo", seed_seconds, "s", f"{enrolled} participants, seed {SEED}")
    emit(
        BENCH,
        "enrolment rate",
        enrolled / seed_seconds,
        "participants/s",
        "seed_demo: enrol_participant with audit, in one transaction",
    )

    client_of = clients()
    for name, persona, url, note in pages(result.trial, enrolled):
        measure(client_of[persona], name, persona, url, note)


def clients() -> dict[str, Any]:
    """The test Client of each persona: anonymous, the coordinator and a caseworker."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    found: dict[str, Client] = {"anonymous": Client()}
    for username in ("coordinator", "caseworker"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        found[username] = client
    return found


def pages(trial: Any, enrolled: int) -> list[tuple[str, str, str, str]]:
    """(name, persona, URL, note) of every page measured."""
    from django.contrib.auth import get_user_model

    from trial.demo import DEMO_TRIAL_CODE
    from trial.models import AuditEvent, Participant

    code = DEMO_TRIAL_CODE
    caseworker = get_user_model().objects.get(username="caseworker")
    visible = Participant.objects.filter(trial=trial).visible_to(caseworker).count()
    audit_events = AuditEvent.objects.filter(trial=trial).count()
    return [
        ("dashboard", "coordinator", f"/trials/{code}/", "coordinator"),
        (
            "participants",
            "coordinator",
            f"/trials/{code}/participants/",
            f"coordinator, {enrolled} rows, page 1 of 50",
        ),
        (
            "participants (caseworker)",
            "caseworker",
            f"/trials/{code}/participants/",
            f"caseworker at 2 sites, {visible} visible rows",
        ),
        (
            "API participants",
            "coordinator",
            f"/api/v1/trials/{code}/participants/",
            "coordinator, JSON, page 1",
        ),
        ("audit trail", "coordinator", f"/trials/{code}/audit/", f"{audit_events} events"),
        ("health", "anonymous", "/health/", "database + Redis broker check"),
    ]


def measure(client: Any, name: str, persona: str, url: str, note: str) -> None:
    """Warm-up requests, then REQUESTS timed ones: p50, p95 and the queries of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(url)
        if response.status_code != 200:
            # A benchmark of an error page would be meaningless: stop with the reason.
            raise SystemExit(f"GET {url} as {persona}: HTTP {response.status_code}")
    samples: list[float] = []
    query_counts: list[int] = []
    for _ in range(REQUESTS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"GET {url} as {persona}: HTTP {response.status_code}")
        samples.append(elapsed * 1000)
        query_counts.append(len(queries.captured_queries))
    stats = percentiles(samples)
    detail = f"{note}; n={REQUESTS}, max {stats['max']:.1f} ms"
    emit(BENCH, f"{name} p50", stats["p50"], "ms", detail)
    emit(BENCH, f"{name} p95", stats["p95"], "ms", f"GET {url}")
    low, high = min(query_counts), max(query_counts)
    spread = "" if low == high else f"varies {low}–{high}"
    emit(BENCH, f"{name} queries", sorted(query_counts)[len(query_counts) // 2], "SQL", spread)


if __name__ == "__main__":
    main()
