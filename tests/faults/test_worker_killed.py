"""A Celery worker SIGKILLed in the middle of each kind of job, with the settings a deployment
gets by default: the job lease (``JOB_LEASE_SECONDS``, 90 s) and the broker's visibility
timeout (3,600 s) are not shortened.

Real worker processes (``celery worker``, prefork) on a Redis broker of the test's own. The
first worker stalls part-way through the job (tests/faults/stalling_worker.py) and is killed
with its pool, as the out-of-memory killer would. The job sweep (``trial.jobs.sweep``, run by
beat every minute) then runs in a process of its own; rather than wait a minute and a half, the
test tells it the time is one lease later. It queues the job again, a second worker takes it
and finishes it, long before the broker would hand the dead worker's message out again. A job
whose worker is killed on every attempt is failed, with the reason, once its attempts are
used up.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Task
from django.conf import settings
from django.utils import timezone
from kombu import Connection

from config.celery import app as celery_app
from pathways import importing as spells
from pathways.models import PendingSpell, Spell, SpellImport
from pathways.tasks import check_spell_import
from randomisation.models import Scheme, SimulationRun
from randomisation.simulation import services as simulation_services
from randomisation.tasks import run_simulation
from reports import services
from reports.models import ReportRequest
from reports.tasks import build_report
from tests import factories
from tests.conftest import World
from tests.faults.conftest import Ready, RedisServer, Worker, app_environment, wait_for
from tests.pathways.helpers import csv_bytes, make_scene
from trial.models import Participant, VisitDefinition
from trial.tasks import sweep_jobs
from trialimport import jobs as import_jobs
from trialimport import storage
from trialimport.models import TrialImport
from trialimport.tasks import run_import

ACTIVE = ["queued", "running", "check_queued", "checking", "import_queued", "importing"]
SWEEP = """
import datetime as dt, sys
import django
django.setup()
from trial import jobs
print(jobs.sweep(dt.datetime.fromisoformat(sys.argv[1])))
"""


@pytest.fixture
def workers(
    private_redis: RedisServer, tmp_path: Path, settings: Any, require_postgres: None
) -> Iterator[Any]:
    """Start workers on the private broker with ``start(stall=...)``; all stopped at the end.
    The broker is the test's own, so the workers take the default queue, as in production."""
    settings.FILES_ROOT = tmp_path / "files"
    broker = private_redis.url(0)
    started: list[Worker] = []

    class Workers:
        def start(self, stall: str = "") -> Worker:
            worker = Worker(
                "celery",
                tmp_path / f"worker-{len(started)}.log",
                app="tests.faults.stalling_worker",
                CELERY_BROKER_URL=broker,
                FAULTS_STALL=stall,
            )
            started.append(worker)
            return worker

        def send(self, task: Task, object_id: int) -> None:
            with Connection(broker) as connection:
                task.apply_async((object_id,), connection=connection)

        def sweep(self, at: dt.datetime) -> int:
            """The job sweep in a process of its own on the private broker, at time ``at``."""
            done = subprocess.run(
                [sys.executable, "-c", SWEEP, at.isoformat()],
                env=app_environment(CELERY_BROKER_URL=broker),
                cwd=settings.BASE_DIR,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            return int(done.stdout.split()[-1])

        def queued(self) -> int:
            return int(private_redis.client(0).llen("celery"))

        def logs(self) -> str:
            return "\n".join(w.log.read_text(errors="replace") for w in started)

    try:
        yield Workers()
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.kill()


def one_lease_later() -> dt.datetime:
    """A time at which the dead worker's lease has run out: its last heartbeat was before now."""
    return timezone.now() + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)


def kill_then_resume(
    workers: Any, first: Worker, rows: Any, dead: Callable[[], None] = lambda: None
) -> Any:
    """Kill the stalled worker and check what it left (``dead``); the sweep leaves the job
    while the lease holds, then queues it again; a second worker finishes it. Returns the
    finished job."""
    first.kill()
    dead()
    killed = rows.get()
    assert killed.status in ACTIVE and killed.attempts == 1
    assert workers.sweep(timezone.now()) == 0  # the lease still holds
    assert workers.sweep(one_lease_later()) == 1
    queued = rows.get()
    assert queued.status in ACTIVE and queued.status.endswith("queued"), queued.status
    assert queued.attempts == 1 and workers.queued() == 1  # sent again, at once
    workers.start()
    return wait_for(
        lambda: rows.exclude(status__in=ACTIVE).first(),
        120,
        f"the second worker to finish the job; logs:\n{workers.logs()}",
    )


@pytest.mark.django_db(transaction=True)
def test_a_report_build_whose_worker_is_killed_is_resumed_by_the_sweep(
    ready: Ready, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.JOB_LEASE_SECONDS == 90 and settings.JOB_HEARTBEAT_SECONDS == 15
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 3600
    monkeypatch.setattr(services, "enqueue", lambda report_id: None)  # sent below instead
    assert ready.randomised[0].randomised_on is not None
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
    done = kill_then_resume(workers, first, rows)
    assert done.status == "done", done.error
    assert done.attempts == 2 and done.percent == 100
    folder = services.report_folder(ready.trial)
    assert (folder / done.zip_file).is_file()
    assert not list(folder.glob(".*.part")), "a killed writer's partial file was left behind"


def simulation(ready: Ready) -> SimulationRun:
    scheme = Scheme.objects.get(trial=ready.trial)
    return simulation_services.request_simulation(
        scheme,
        n_trials=200,
        trial_size=24,
        strata_mix={"site": {site.code: 1 / 3 for site in ready.world.sites}},
        actor=ready.world.users["coordinator"],
    )


@pytest.mark.django_db(transaction=True)
def test_a_simulation_whose_worker_is_killed_is_resumed_by_the_sweep(
    ready: Ready, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_simulation, "delay", lambda run_id: None)  # sent below instead
    run = simulation(ready)
    first = workers.start(stall="simulation")
    workers.send(run_simulation, run.pk)
    rows = SimulationRun.objects.filter(pk=run.pk)
    wait_for(
        lambda: rows.filter(status="running", done__gt=0).exists(),
        90,
        "the first worker to report progress",
    )
    finished = kill_then_resume(workers, first, rows)
    assert finished.status == "done", finished.error
    assert finished.attempts == 2 and finished.done == finished.total == 200
    assert finished.result["n_trials"] == 200


@pytest.mark.django_db(transaction=True)
def test_a_simulation_whose_worker_is_killed_on_every_attempt_fails_with_the_reason(
    ready: Ready, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_simulation, "delay", lambda run_id: None)
    run = simulation(ready)
    rows = SimulationRun.objects.filter(pk=run.pk)
    workers.send(run_simulation, run.pk)
    for attempt in range(1, settings.JOB_MAX_ATTEMPTS + 1):
        worker = workers.start(stall="simulation")
        wait_for(
            lambda attempt=attempt: rows.filter(status="running", attempts=attempt).exists(),
            90,
            f"attempt {attempt} to start; logs:\n{workers.logs()}",
        )
        worker.kill()
        assert workers.sweep(one_lease_later()) == 1
    run.refresh_from_db()
    assert run.status == "failed" and run.attempts == settings.JOB_MAX_ATTEMPTS
    assert "stopped (it was killed or ran out of memory)" in run.error
    assert "Run the simulation again" in run.error and run.finished_at
    assert workers.queued() == 0  # failed, not sent again
    assert workers.sweep(one_lease_later()) == 0  # safe to repeat


@pytest.mark.django_db(transaction=True)
def test_a_trial_import_whose_worker_is_killed_writes_nothing_and_is_resumed(
    world: World, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m6", label="6 months", offset_months=6)
    number = factories.personal_number()
    files = {
        "participants.csv": (
            "study_id,site,personal_number,enrolled_on,consent_version,consent_date\n"
            f"OSLA-OLD1,OSLA,{number},2025-01-06,v1,2025-01-06\n"
            "OSLA-OLD2,OSLA,,2025-01-06,v1,2025-01-06\n"
        ),
        "allocations.csv": "study_id,arm,randomised_on\nOSLA-OLD1,A,2025-01-07\n",
    }
    actor = world.users["datamanager"]
    # Small files are checked in the request; the import goes to a worker.
    checked = import_jobs.start_check(
        world.trial, {name: text.encode() for name, text in files.items()}, actor=actor
    )
    assert checked.importable, checked.report
    monkeypatch.setattr(import_jobs, "INLINE_BYTES", 0)
    monkeypatch.setattr(run_import, "delay", lambda import_id: None)  # sent below instead
    import_jobs.confirm(checked, actor=actor)
    first = workers.start(stall="trial_import")
    workers.send(run_import, checked.pk)
    rows = TrialImport.objects.filter(pk=checked.pk)
    wait_for(
        lambda: rows.filter(status="importing").exists(),
        90,
        "the first worker to start importing",
    )
    people = Participant.objects.filter(trial=world.trial, study_id__startswith="OSLA-OLD")

    def nothing_written() -> None:
        assert people.count() == 0

    done = kill_then_resume(workers, first, rows, dead=nothing_written)
    assert done.status == "done", done.error
    assert done.attempts == 2 and people.count() == 2
    # The files go just after the outcome is committed, so the status can read "done" first.
    wait_for(
        lambda: not storage.files_path(done.pk).exists(), 30, "the imported files to be removed"
    )


@pytest.mark.django_db(transaction=True)
def test_a_register_check_whose_worker_is_killed_is_resumed_by_the_sweep(
    world: World, workers: Any
) -> None:
    scene = make_scene(world)
    data = csv_bytes(
        [[scene.a.study_id, "aap", f"2025-{m:02d}-01", f"2025-{m:02d}-20", "", ""] for m in (4, 5)]
    )
    spell_import = spells.create_import(
        world.trial,
        data=data,
        file_name="big.csv",
        default_source="FD-Trygd",
        actor=world.users["datamanager"],
    )
    first = workers.start(stall="spell_import")
    workers.send(check_spell_import, spell_import.pk)
    rows = SpellImport.objects.filter(pk=spell_import.pk)
    wait_for(
        lambda: rows.filter(status="checking", step="validating").exists(),
        90,
        "the first worker to validate the rows",
    )

    def nothing_staged() -> None:
        assert not PendingSpell.objects.exists()

    checked = kill_then_resume(workers, first, rows, dead=nothing_staged)
    assert checked.status == "checked", checked.error
    assert checked.attempts == 2 and (checked.rows_valid, checked.rows_new) == (2, 2)
    # The file goes just after the outcome is committed, so the status can read "checked" first.
    wait_for(
        lambda: not spells.upload_path(checked.pk).exists(), 30, "the checked file to be removed"
    )
    assert not Spell.objects.exists()  # waiting for the data manager's decision


def test_the_beat_schedule_runs_the_sweep_every_minute() -> None:
    [entry] = [
        entry
        for entry in celery_app.conf.beat_schedule.values()
        if entry["task"] == "trial.tasks.sweep_jobs"
    ]
    schedule = entry["schedule"]
    assert schedule.minute == set(range(60)) and schedule.hour == set(range(24))
    assert sweep_jobs.name == "trial.tasks.sweep_jobs"
    # Nothing else sweeps jobs on its own any more.
    assert not [e for e in celery_app.conf.beat_schedule.values() if "stale" in e["task"]]
