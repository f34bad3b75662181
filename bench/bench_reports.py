"""The effect report end to end on a large trial, through a real Celery worker on Redis.

10,000 participants at 12 sites, randomised 1:1 (intervention A, control B), 4 assessments
each (3, 6, 12 and 18 months; about 8 % missed), written with bulk_create (no audit events).
In paid work rises over follow-up and more in A; 10 % of controls are exposed to
intervention-specific components (contamination). A plan is locked, the report is ordered with
``request_report`` and built by a ``celery worker`` started as a subprocess (prefork, one
process), as in production.

Figures: the time from ordering to the finished PDF and ZIP (wall clock, including the queue),
the time of each pipeline stage as the worker recorded it (the note names the slowest), and the
peak resident memory of the worker process that built it (VmHWM from /proc).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, emit, reset_database, setup_django

BENCH = "reports"
PARTICIPANTS = 10_000
SEED = 11
BATCH = 2_000
CODE = "bench-reports"
VISITS = [
    ("m3", "3 months", 3),
    ("m6", "6 months", 6),
    ("m12", "12 months", 12),
    ("m18", "18 months", 18),
]
SITES = ["OSL1", "OSL2", "BGO", "TRD", "SVG", "KRS", "TOS", "BOO", "LHM", "HMR", "DRM", "FRE"]


def build(start: dt.date = dt.date(2022, 1, 3)) -> Any:
    """The trial, with randomisations spread over 540 days from ``start``."""
    rng = random.Random(SEED)  # noqa: S311 - synthetic data
    trial, arms, sites, definitions, user = create_trial()
    people = create_people(rng, trial, sites, start)
    arm_of = create_allocations(trial, people, arms)
    visits = create_visits(trial, people, definitions)
    assessments = create_assessments(rng, trial, visits, arm_of)
    create_exposures(rng, trial, people, arm_of)
    return trial, user, assessments


def create_trial() -> tuple[Any, tuple[Any, Any], list[Any], list[Any], Any]:
    """The trial, its arms, sites, covariates and visits, and an unblinded statistician."""
    from django.contrib.auth import get_user_model

    from trial.models import Arm, CovariateDefinition, Membership, Site, Trial, VisitDefinition

    trial = Trial.objects.create(
        code=CODE, title="Report benchmark trial", registry_id="NCT00000001"
    )
    arm_a = Arm.objects.create(trial=trial, code="A", name="IPS")
    arm_b = Arm.objects.create(trial=trial, code="B", name="Usual services", is_control=True)
    sites = [Site.objects.create(trial=trial, code=c, name=f"NAV {c}") for c in SITES]
    CovariateDefinition.objects.create(
        trial=trial, key="sex", label="Sex", kind="choice", choices=[["female", "F"], ["male", "M"]]
    )
    CovariateDefinition.objects.create(trial=trial, key="age", label="Age", kind="integer")
    definitions = [
        VisitDefinition.objects.create(trial=trial, code=c, label=label, offset_months=m)
        for c, label, m in VISITS
    ]
    user = get_user_model().objects.create_user("bench-statistician", password="not-used-123456")  # noqa: S106
    Membership.objects.create(
        trial=trial, user=user, role=Membership.Role.STATISTICIAN, unblinded=True
    )
    return trial, (arm_a, arm_b), sites, definitions, user


def create_people(rng: random.Random, trial: Any, sites: list[Any], start: dt.date) -> list[Any]:
    """The participants, one randomised every 540 / PARTICIPANTS days, by study id."""
    from trial.models import Participant

    people = []
    for i in range(PARTICIPANTS):
        on = start + dt.timedelta(days=i * 540 // PARTICIPANTS)
        people.append(
            Participant(
                trial=trial,
                site=rng.choice(sites),
                study_id=f"B{i:06d}",
                enrolled_on=on,
                randomised_on=on,
                baseline={"sex": rng.choice(["female", "male"]), "age": rng.randint(18, 29)},
            )
        )
    Participant.objects.bulk_create(people, batch_size=BATCH)
    return list(Participant.objects.filter(trial=trial).order_by("study_id"))


def create_allocations(trial: Any, people: list[Any], arms: tuple[Any, Any]) -> dict[int, Any]:
    """A hash-chained allocation for each, A and B in turn. Returns the arm by participant id."""
    from randomisation.models import Allocation

    arm_a, arm_b = arms
    now = dt.datetime.now(dt.UTC)
    allocations, arm_of = [], {}
    previous = "0" * 64
    for sequence, person in enumerate(people, 1):
        arm = arm_a if sequence % 2 else arm_b
        arm_of[person.pk] = arm
        digest = hashlib.sha256(f"{previous}{sequence}".encode()).hexdigest()
        allocations.append(
            Allocation(
                trial=trial,
                sequence=sequence,
                participant=person,
                arm=arm,
                allocated_on=cast(dt.date, person.randomised_on),  # set when made above
                created_at=now,
                allocated_by_name="bench",
                source=Allocation.Source.IMPORTED,
                previous_hash=previous,
                hash=digest,
            )
        )
        previous = digest
    Allocation.objects.bulk_create(allocations, batch_size=BATCH)
    return arm_of


def create_visits(trial: Any, people: list[Any], definitions: list[Any]) -> list[Any]:
    """Every participant's visits, read back with their definitions."""
    from trial.models import Visit

    visits = []
    for person in people:
        for definition in definitions:
            due = cast(dt.date, person.randomised_on) + dt.timedelta(
                days=round(30.44 * definition.offset_months)
            )
            visits.append(
                Visit(
                    participant=person,
                    definition=definition,
                    due_on=due,
                    window_start=due - dt.timedelta(days=14),
                    window_end=due + dt.timedelta(days=30),
                )
            )
    Visit.objects.bulk_create(visits, batch_size=BATCH)
    return list(Visit.objects.filter(participant__trial=trial).select_related("definition"))


def create_assessments(
    rng: random.Random, trial: Any, visits: list[Any], arm_of: dict[int, Any]
) -> int:
    """About 8 % of visits missed, the others assessed; in paid work rises over follow-up and
    more in A. Returns the number of assessments."""
    from instruments.models import Assessment
    from instruments.setup.services import default_instrument
    from trial.models import Visit

    instrument = default_instrument(trial)
    version = instrument.current_version()
    assessments, missed = [], []
    for visit in visits:
        if rng.random() < 0.08:
            missed.append(visit.pk)
            continue
        boost = 0.12 if arm_of[visit.participant_id].code == "A" else 0.0
        work = rng.random() < 0.1 + 0.015 * visit.definition.offset_months + boost
        assessed_on = visit.due_on + dt.timedelta(days=rng.randint(-5, 20))
        values: dict[str, Any] = {"in_paid_work": work}
        if work:
            values.update(hours_per_week=20.0, monthly_earnings=rng.randint(8, 40) * 1000)
        values.update(on_benefits=not work, self_rated_health=rng.randint(1, 5))
        assessments.append(
            Assessment(
                visit=visit,
                instrument=instrument,
                version=version,
                assessed_on=assessed_on,
                values=values,
            )
        )
    Assessment.objects.bulk_create(assessments, batch_size=BATCH)
    Visit.objects.filter(pk__in=missed).update(missed=True)
    return len(assessments)


def create_exposures(
    rng: random.Random, trial: Any, people: list[Any], arm_of: dict[int, Any]
) -> None:
    """10 % of controls exposed to intervention-specific components (contamination)."""
    from fidelity.models import Exposure

    exposures = [
        Exposure(
            trial=trial,
            participant=p,
            source=Exposure.Source.STAFF,
            exposed_on=cast(dt.date, p.randomised_on) + dt.timedelta(days=90),
        )
        for p in people
        if arm_of[p.pk].code == "B" and rng.random() < 0.1
    ]
    Exposure.objects.bulk_create(exposures, batch_size=BATCH)


def peak_rss_mb(pids: set[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def children(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                found.add(int(status.parent.name))
    return found


def order_through_worker(
    trial: Any, user: Any, *, kind: str, cut_off: dt.date
) -> tuple[Any, float, float]:
    """Order a report and let a real ``celery worker`` (prefork, one process) build it, as in
    production. Returns the finished request, the seconds from order to finish (queue
    included) and the worker's peak resident memory in MB."""
    from django.db import transaction

    from reports import services
    from reports.models import ReportRequest

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=WARNING",
            "-Q",
            "celery",
            "-n",
            f"bench-reports-{os.getpid()}@%h",
        ],
        cwd=REPO_ROOT,
    )
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        pids = {worker.pid} | children(worker.pid)
        clock = time.perf_counter()
        with transaction.atomic():
            report = services.request_report(trial, kind=kind, cut_off=cut_off, actor=user)
        peak = 0.0
        while True:
            pids |= children(worker.pid)
            peak = max(peak, peak_rss_mb(pids))
            row = ReportRequest.objects.get(pk=report.pk)
            if not row.active:
                break
            if time.perf_counter() - clock > 900:
                raise SystemExit("the report did not finish within 15 minutes")
            time.sleep(0.25)
        elapsed = time.perf_counter() - clock
        peak = max(peak, peak_rss_mb(pids))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return row, elapsed, peak


def emit_report(bench: str, metric: str, row: Any, elapsed: float, peak: float, note: str) -> None:
    """The figures of a report built by :func:`order_through_worker`: the whole time, each
    stage as the worker recorded it, and the worker's peak memory."""
    if row.status != "done":
        raise SystemExit(f"the report failed: {row.error}")
    stages = {k: v for k, v in row.timings.items() if k != "total"}
    slowest = max(stages, key=stages.__getitem__)
    emit(bench, metric, elapsed, "s", f"{note}; slowest stage: {slowest}")
    for name, seconds in stages.items():
        emit(bench, f"stage {name}", seconds, "s", "as recorded by the worker")
    emit(bench, "worker peak RSS", peak, "MB", "VmHWM of the celery worker and its pool process")


def report_on_plan(
    bench: str,
    metric: str,
    trial: Any,
    user: Any,
    *,
    outcomes: tuple[str, list[str]],
    model: str,
    note: str,
) -> None:
    """Lock an analysis plan (primary and secondary ``outcomes`` at 12 months, adjusted for sex
    and age), then order its effect report through a real worker and emit its figures."""
    from reports import services

    primary, secondary = outcomes
    plan = services.save_plan_draft(
        trial,
        values={
            "primary_outcome": primary,
            "time_point": "m12",
            "secondary_outcomes": secondary,
            "analysis_model": model,
            "covariates": ["sex", "age"],
            "missing": "complete_case",
            "subgroups": ["sex"],
            "notes": "",
        },
        actor=user,
    )
    services.lock_plan(plan, actor=user)
    row, elapsed, peak = order_through_worker(
        trial, user, kind="effect", cut_off=dt.date(2025, 12, 31)
    )
    emit_report(bench, metric, row, elapsed, peak, note)


def main() -> None:
    setup_django()
    reset_database()
    started = time.perf_counter()
    trial, user, n_assessments = build()
    emit(
        BENCH,
        "data load",
        time.perf_counter() - started,
        "s",
        f"{PARTICIPANTS} participants, {n_assessments} assessments (bulk_create)",
    )
    report_on_plan(
        BENCH,
        "effect report end to end",
        trial,
        user,
        outcomes=("in_paid_work", ["self_rated_health", "monthly_earnings"]),
        model="Logistic regression adjusted for sex and age.",
        note="order to finished PDF+ZIP through a real worker",
    )


if __name__ == "__main__":
    main()
