"""Randomisation under load: real HTTP against gunicorn on PostgreSQL, and minimisation cost.

1. A recruiting trial with 12 sites and a permuted-block scheme stratified by site (blocks of 4
   and 6). 8,640 consented participants (40 randomised first to warm the workers up). gunicorn
   (4 worker processes, as the README runs it; ``BENCH_GUNICORN`` overrides) serves the API.
   Clients (one kept-alive connection each) POST /api/v1/.../randomisation/ (token auth, an
   idempotency key each) at 1, 8 and 32 concurrent clients; each request randomises a
   different participant, at a site chosen at random, so allocations contend for the trial
   lock. Figures: throughput and p50/p95/max latency per level. For comparison, the cheapest
   authenticated API request (reading the trial) at 32 clients. Then 32 clients that pause
   between requests (exponential, so that they offer about 10, 20, 30, 50 and 70
   randomisations a second in all, 20 s each): throughput and p50/p95 at each pace, the load a
   trial's staff could put on it. Then duplicates (sequence numbers, sealed-list slots,
   participants) over all allocations, and the time verify() takes to recheck the whole chain.
2. Minimisation over 5 factors (site and 4 baseline covariates) with 10,000 earlier
   allocations (written directly with a valid hash chain): the in-process time of
   randomisation.allocation.services.randomise() per allocation, over 200 allocations.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import queue
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

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

BENCH = "randomisation"
LEVELS = [(1, 300), (8, 1700), (32, 3000)]  # (concurrent clients, requests): 5,000 in all
# 32 clients that each pause between randomisations (exponential, mean 32/rate seconds), so
# that together they offer about ``rate`` randomisations a second: (rate, seconds).
PACED = [(10, 20), (20, 20), (30, 20), (50, 20), (70, 20)]
PACED_CLIENTS = 32
# gunicorn as the README runs it in production (4 worker processes); BENCH_GUNICORN overrides,
# e.g. "--workers 2 --threads 16 --keep-alive 5" for threads sharing an interpreter.
SERVER = os.environ.get("BENCH_GUNICORN", "--workers 4")
# Randomisations before the measured levels, so that every worker process has loaded its code
# and connected to the database (the first request of a fresh worker takes seconds).
WARM_UP = (8, 40)
PARTICIPANTS = sum(n for _c, n in LEVELS) + sum(rate * seconds for rate, seconds in PACED)
PARTICIPANTS += WARM_UP[1]
PRIOR = 10_000
TIMED = 200
FACTORS = {
    "sex": ["female", "male"],
    "education": ["compulsory", "upper_secondary", "higher"],
    "diagnosis": ["anxiety", "psychosis", "substance", "adhd", "other"],
    "benefit": ["aap", "social", "unemployment", "none"],
}


def make_trial(code: str, sites: int):
    from trial.models import Arm, CovariateDefinition, Site, Trial

    trial = Trial.objects.create(
        code=code, title=code, status=Trial.Status.RECRUITING, target_size=PARTICIPANTS
    )
    Arm.objects.create(trial=trial, code="A", name="IPS")
    Arm.objects.create(trial=trial, code="B", name="Usual", is_control=True)
    for i in range(sites):
        Site.objects.create(trial=trial, code=f"S{i:02d}", name=f"NAV {i}")
    for order, (key, levels) in enumerate(FACTORS.items()):
        CovariateDefinition.objects.create(
            trial=trial,
            key=key,
            label=key,
            kind="choice",
            choices=[[level, level] for level in levels],
            order=order,
        )
    return trial


def make_participants(trial, n: int, rng: random.Random):
    from trial.models import Participant

    sites = list(trial.sites.all())
    rows = []
    for i in range(n):
        rows.append(
            Participant(
                trial=trial,
                site=rng.choice(sites),
                study_id=f"{trial.code}-{i:06d}",
                personal_number_encrypted="-",
                personal_number_hash=secrets.token_hex(32),
                enrolled_on=dt.date(2026, 1, 1),
                consent_version="1",
                consent_date=dt.date(2026, 1, 1),
                baseline={key: rng.choice(levels) for key, levels in FACTORS.items()},
            )
        )
    return Participant.objects.bulk_create(rows, batch_size=2000)


def start_server() -> tuple[subprocess.Popen, str]:
    return start_gunicorn(["--backlog", "512", "--log-level", "error", *SERVER.split()])


def run_level(
    url: str,
    token: str,
    code: str,
    jobs: list[str],
    clients: int,
    pause: float = 0.0,
    read: bool = False,
) -> dict:
    """Randomise ``jobs`` with ``clients`` threads; each waits an exponential time with mean
    ``pause`` seconds before each request (0: as fast as the server answers). With ``read``,
    each job reads the trial (``GET /api/v1/trials/<code>/``) instead: the cheapest
    authenticated API request, for comparison."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    work: queue.Queue[str] = queue.Queue()
    for study_id in jobs:
        work.put(study_id)
    latencies: list[float] = []
    spans: list[tuple[float, float]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        waits = random.Random(seed)  # noqa: S311 - load pattern, not security
        # One kept-alive connection per client, as an API client would hold.
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            if pause:
                time.sleep(waits.expovariate(1 / pause))
            try:
                study_id = work.get_nowait()
            except queue.Empty:
                connection.close()
                return
            path = f"/api/v1/trials/{code}/participants/{study_id}/randomisation/"
            headers = {
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{study_id}",
            }
            method, body, expected = "POST", b"{}", 201
            if read:
                path, method, body, expected = f"/api/v1/trials/{code}/", "GET", None, 200
            started = time.perf_counter()
            ok = False
            for attempt in range(2):
                # The server may have closed the idle connection: open a new one and send
                # again (safe: same idempotency key); the time of both attempts counts.
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == expected
                    break
                except (http.client.HTTPException, OSError) as error:
                    connection.close()
                    if attempt:
                        with lock:
                            errors.append(str(error))
            finished = time.perf_counter()
            with lock:
                spans.append((started, finished))
                if ok:
                    latencies.append((finished - started) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # From the first request sent to the last answer received: not the pauses of clients that
    # then found no work left.
    wall = max(end for _start, end in spans) - min(start for start, _end in spans)
    return {"latencies": latencies, "errors": errors, "wall": wall}


def http_bench(rng: random.Random) -> None:
    trial, token, scheme, people = http_trial(rng)
    server, url = start_server()
    try:
        clients, requests = WARM_UP
        run_level(url, token, trial.code, people[:requests], clients)
        offset = concurrency_levels(url, token, trial.code, people, requests)
        reference_read(url, token, trial.code)
        paced_levels(url, token, trial.code, people, offset)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    check_allocations(trial, scheme)


def http_trial(rng: random.Random) -> tuple[Any, str, Any, list[str]]:
    """The trial with a locked block scheme stratified by site, a coordinator's API token and
    the study ids of the participants to randomise."""
    from django.contrib.auth import get_user_model

    from randomisation.models import Scheme
    from randomisation.schemes import services as schemes
    from trial.models import Membership

    trial = make_trial("bench-http", sites=12)
    user = get_user_model().objects.create_user("bench-coordinator")
    Membership.objects.create(trial=trial, user=user, role=Membership.Role.COORDINATOR)
    token = api_token(user)
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4, 6], stratify_by_site=True
    )
    schemes.lock_scheme(scheme, actor=user)
    people = [p.study_id for p in make_participants(trial, PARTICIPANTS, rng)]
    return trial, token, scheme, people


def concurrency_levels(url: str, token: str, code: str, people: list[str], offset: int) -> int:
    """Throughput and latency at each of LEVELS; returns how many participants are used."""
    for clients, requests in LEVELS:
        jobs = people[offset : offset + requests]
        offset += requests
        result = run_level(url, token, code, jobs, clients)
        stats = percentiles(result["latencies"])
        note = with_errors(f"{clients} concurrent clients, {requests} requests", result)
        emit(
            BENCH,
            f"throughput @{clients}",
            len(result["latencies"]) / result["wall"],
            "alloc/s",
            note,
        )
        emit(BENCH, f"latency p50 @{clients}", stats["p50"], "ms", note)
        emit(BENCH, f"latency p95 @{clients}", stats["p95"], "ms", note)
        emit(BENCH, f"latency max @{clients}", stats["max"], "ms", note)
    return offset


def reference_read(url: str, token: str, code: str) -> None:
    """The cheapest authenticated API request at 32 clients, for comparison."""
    reads = 3000
    result = run_level(url, token, code, ["-"] * reads, 32, read=True)
    stats = percentiles(result["latencies"])
    note = with_errors(
        f"GET /api/v1/trials/<code>/ (2 queries, no writes), 32 clients, {reads} requests", result
    )
    emit(BENCH, "reference read @32", len(result["latencies"]) / result["wall"], "req/s", note)
    emit(BENCH, "reference read p95 @32", stats["p95"], "ms", note)


def paced_levels(url: str, token: str, code: str, people: list[str], offset: int) -> None:
    """Clients pausing between requests, at each pace of PACED."""
    for rate, seconds in PACED:
        jobs = people[offset : offset + rate * seconds]
        offset += len(jobs)
        result = run_level(url, token, code, jobs, PACED_CLIENTS, PACED_CLIENTS / rate)
        stats = percentiles(result["latencies"])
        note = with_errors(
            f"{PACED_CLIENTS} clients pausing between requests, about {rate}/s offered, "
            f"{len(jobs)} requests",
            result,
        )
        achieved = len(result["latencies"]) / result["wall"]
        emit(BENCH, f"paced throughput @{rate}/s", achieved, "alloc/s", note)
        emit(BENCH, f"paced latency p50 @{rate}/s", stats["p50"], "ms", note)
        emit(BENCH, f"paced latency p95 @{rate}/s", stats["p95"], "ms", note)


def check_allocations(trial: Any, scheme: Any) -> None:
    """Duplicates and skipped slots over all allocations, and the time verify() takes."""
    from django.db.models import Count

    from randomisation.allocation.verification import verify
    from randomisation.models import Allocation, BlockSlot

    allocations = Allocation.objects.filter(trial=trial)
    total = allocations.count()
    duplicate_sequences = total - allocations.values("sequence").distinct().count()
    duplicate_slots = (
        allocations.values("stratum", "slot_position")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    duplicate_people = total - allocations.values("participant").distinct().count()
    gaps = 0
    for stratum in allocations.values_list("stratum", flat=True).distinct():
        slots = allocations.filter(stratum=stratum).values_list("slot_position", flat=True)
        positions = sorted(position or 0 for position in slots)  # a missing one counts as a gap
        gaps += int(positions != list(range(1, len(positions) + 1)))
    emit(BENCH, "allocations", total, "", "all levels and the warm-up")
    emit(
        BENCH,
        "duplicates",
        duplicate_sequences + duplicate_slots + duplicate_people,
        "",
        f"sequence {duplicate_sequences}, slot {duplicate_slots}, participant "
        f"{duplicate_people}; strata with skipped slots: {gaps}",
    )
    emit(
        BENCH,
        "sealed slots",
        BlockSlot.objects.filter(scheme=scheme).count(),
        "",
        "incl. blocks added when a stratum ran out",
    )
    started = time.perf_counter()
    verification = verify(trial)
    emit(
        BENCH,
        "verify",
        time.perf_counter() - started,
        "s",
        f"{verification.checked} allocations, ok={verification.ok}",
    )


def minimisation_bench(rng: random.Random) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from randomisation.allocation import log
    from randomisation.allocation.services import randomise
    from randomisation.allocation.verification import verify
    from randomisation.models import Allocation, FactorCount, Scheme
    from randomisation.schemes import services as schemes

    trial = make_trial("bench-min", sites=12)
    user = get_user_model().objects.create_user("bench-min")
    factors = [{"factor": "site", "weight": 1}] + [{"factor": key, "weight": 1} for key in FACTORS]
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.MINIMISATION, minimisation_factors=factors
    )
    schemes.lock_scheme(scheme, actor=user)
    people = make_participants(trial, PRIOR + TIMED, rng)
    arms = {arm.code: arm for arm in trial.arms.all()}
    # 10,000 earlier allocations with a valid, signed chain, written in bulk.
    previous = log.GENESIS
    rows = []
    now = timezone.now()
    for sequence, participant in enumerate(people[:PRIOR], start=1):
        levels = {"site": participant.site.code, **participant.baseline}
        allocation = Allocation(
            trial=trial,
            sequence=sequence,
            scheme=scheme,
            participant=participant,
            stratum="all",
            arm=arms[rng.choice("AB")],
            details={"factors": levels},
            allocated_on=dt.date(2026, 1, 2),
            created_at=now,
            allocated_by=user,
            allocated_by_name=user.username,
            source=Allocation.Source.SYSTEM,
            previous_hash=previous,
        )
        log.sign_allocation(allocation)
        previous = allocation.hash
        rows.append(allocation)
    Allocation.objects.bulk_create(rows, batch_size=2000)
    # The running totals minimisation reads, as the service would have kept them.
    totals: dict[tuple[str, str, int], int] = {}
    for allocation in rows:
        for factor, level in allocation.details["factors"].items():
            key = (factor, str(level), allocation.arm_id)
            totals[key] = totals.get(key, 0) + 1
    FactorCount.objects.bulk_create(
        FactorCount(scheme=scheme, factor=f, level=level, arm_id=arm, count=n)
        for (f, level, arm), n in totals.items()
    )
    timings = []
    for participant in people[PRIOR:]:
        started = time.perf_counter()
        randomise(participant, actor=user)
        timings.append((time.perf_counter() - started) * 1000)
    stats = percentiles(timings)
    note = f"5 factors, {PRIOR} earlier allocations, {TIMED} allocations, in-process"
    emit(BENCH, "minimisation p50", stats["p50"], "ms", note)
    emit(BENCH, "minimisation p95", stats["p95"], "ms", note)
    emit(BENCH, "minimisation max", stats["max"], "ms", note)
    verification = verify(trial)
    emit(BENCH, "minimisation verify ok", int(verification.ok), "", f"{verification.checked}")


def main() -> None:
    setup_django()
    reset_database()
    rng = random.Random(2026)  # noqa: S311 - synthetic data
    http_bench(rng)
    minimisation_bench(rng)


if __name__ == "__main__":
    main()
