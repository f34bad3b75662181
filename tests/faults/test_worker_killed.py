"""A Celery worker SIGKILLed in the middle of a report build or a scheme simulation.

Real worker processes (``celery worker``, prefork) on a Redis broker of the test's own. The
first worker stalls part-way through the job (tests/faults/stalling_worker.py) and is killed
with its pool, as the out-of-memory killer would. The job stays "running" only until the
message comes back (a short visibility timeout here) and a new worker takes the job over
once the dead worker's lease has run out; it then finishes, from the same seed.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Task
from kombu import Connection

from randomisation import simulation_jobs
from randomisation.models import Scheme, SimulationRun
from randomisation.tasks import run_simulation
from reports import services
from reports.models import ReportRequest
from reports.tasks import build_report
from tests.faults.conftest import Ready, RedisServer, Worker, wait_for

LEASE = "3"  # seconds, for REPORT_LEASE_SECONDS and SIMULATION_LEASE_SECONDS
VISIBILITY = 5  # seconds before an unacknowledged message goes back to the queue
FAST = {
    "REPORT_LEASE_SECONDS": LEASE,
    "SIMULATION_LEASE_SECONDS": LEASE,
    "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
}


@pytest.fixture
def workers(
    private_redis: RedisServer, tmp_path: Path, settings: Any, require_postgres: None
) -> Iterator[Any]:
    """Start workers on the private broker with ``start(stall=...)``; all stopped at the end."""
    settings.FILES_ROOT = tmp_path / "files"
    queue = f"faults-{uuid.uuid4().hex}"
    broker = private_redis.url(0)
    started: list[Worker] = []

    class Workers:
        def start(self, stall: str = "") -> Worker:
            worker = Worker(
                queue,
                tmp_path / f"worker-{len(started)}.log",
                app="tests.faults.stalling_worker",
                CELERY_BROKER_URL=broker,
                FAULTS_STALL=stall,
                **FAST,
            )
            started.append(worker)
            return worker

        def send(self, task: Task, object_id: int) -> None:
            with Connection(broker) as connection:
                task.apply_async((object_id,), connection=connection, queue=queue)

        def logs(self) -> str:
            return "\n".join(w.log.read_text(errors="replace") for w in started)

    try:
        yield Workers()
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.kill()


@pytest.mark.django_db(transaction=True)
def test_a_report_build_whose_worker_is_killed_is_taken_over_and_finishes(
    ready: Ready, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "enqueue", lambda report_id: None)  # sent below instead
    report = services.request_report(
        ready.trial,
        kind="data",
        cut_off=ready.randomised[0].randomised_on,
        actor=ready.world.users["statistician"],
    )
    first = workers.start(stall="report:analyse")
    workers.send(build_report, report.pk)
    rows = ReportRequest.objects.filter(pk=report.pk)
    wait_for(
        lambda: rows.filter(status="running", stage="analyse").exists(),
        90,
        "the first worker to reach the analyses",
    )
    first.kill()
    killed_at = time.monotonic()

    # Nobody is building it now, and it says running: until a worker takes it over.
    time.sleep(VISIBILITY + 1)
    dead = rows.get()
    assert dead.status == "running" and dead.attempts == 1 and dead.stage == "analyse"

    workers.start()
    done = wait_for(
        lambda: rows.exclude(status__in=["queued", "running"]).first(),
        120,
        f"the second worker to finish the report; logs:\n{workers.logs()}",
    )
    assert done.status == "done", done.error
    assert done.attempts == 2 and done.percent == 100
    assert time.monotonic() - killed_at >= int(LEASE)
    folder = services.report_folder(ready.trial)
    assert (folder / done.zip_file).is_file()
    assert not list(folder.glob(".*.part")), "a killed writer's partial file was left behind"


@pytest.mark.django_db(transaction=True)
def test_a_simulation_whose_worker_is_killed_is_taken_over_and_finishes(
    ready: Ready, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulation_jobs, "enqueue", lambda run_id: None)  # sent below instead
    scheme = Scheme.objects.get(trial=ready.trial)
    sites = {site.code: 1 / 3 for site in ready.world.sites}
    run = simulation_jobs.request_simulation(
        scheme,
        n_trials=200,
        trial_size=24,
        strata_mix={"site": sites},
        actor=ready.world.users["coordinator"],
    )
    first = workers.start(stall="simulation")
    workers.send(run_simulation, run.pk)
    rows = SimulationRun.objects.filter(pk=run.pk)
    wait_for(
        lambda: rows.filter(status="running", done__gt=0).exists(),
        90,
        "the first worker to report progress",
    )
    first.kill()
    time.sleep(VISIBILITY + 1)
    assert rows.get().status == "running" and rows.get().attempts == 1

    workers.start()
    finished = wait_for(
        lambda: rows.exclude(status__in=["queued", "running"]).first(),
        120,
        f"the second worker to finish the simulation; logs:\n{workers.logs()}",
    )
    assert finished.status == "done", finished.error
    assert finished.attempts == 2 and finished.done == finished.total == 200
    assert finished.result["n_trials"] == 200


@pytest.mark.django_db(transaction=True)
def test_a_simulation_whose_worker_never_comes_back_is_marked_failed(
    ready: Ready, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No redelivery (the broker lost the message): the periodic sweep fails the run."""
    monkeypatch.setattr(simulation_jobs, "enqueue", lambda run_id: None)
    scheme = Scheme.objects.get(trial=ready.trial)
    run = simulation_jobs.request_simulation(
        scheme,
        n_trials=200,
        trial_size=24,
        strata_mix={"site": {site.code: 1 / 3 for site in ready.world.sites}},
        actor=ready.world.users["coordinator"],
    )
    first = workers.start(stall="simulation")
    workers.send(run_simulation, run.pk)
    rows = SimulationRun.objects.filter(pk=run.pk)
    wait_for(lambda: rows.filter(status="running").exists(), 90, "the worker to start the run")
    first.kill()

    assert simulation_jobs.fail_stale_simulations() == 0  # silent for a moment only
    assert simulation_jobs.fail_stale_simulations(older_than=dt.timedelta(0)) == 1
    run.refresh_from_db()
    assert run.status == "failed" and "Run the simulation again" in run.error
    assert simulation_jobs.fail_stale_simulations(older_than=dt.timedelta(0)) == 0
