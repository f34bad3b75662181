"""A Celery app for the worker-kill tests: the project's app, with jobs that stall part-way
when ``FAULTS_STALL`` is set, so that the test can SIGKILL the worker in the middle of a job.
Started as ``celery -A tests.faults.stalling_worker``.

``FAULTS_STALL=report:<stage>`` stalls a build once it reports ``<stage>``;
``FAULTS_STALL=simulation`` stalls a simulation after its first progress report;
``FAULTS_STALL=trial_import`` stalls a trial import (inside its transaction) after its first
row; ``FAULTS_STALL=spell_import`` stalls a register file's check while it validates rows.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import worker_process_init

from config.celery import app

__all__ = ["app"]

STALL_SECONDS = 600


@worker_process_init.connect
def stall_jobs(**kwargs: Any) -> None:
    """In the pool process (Django is set up by then), wrap the slow functions."""
    stall = os.environ.get("FAULTS_STALL", "")
    if stall.startswith("report:"):
        from reports import pipeline

        stage, build = stall.removeprefix("report:"), pipeline.build

        def stalling_build(spec: Any, folder: Any, progress: Any = None) -> Any:
            def report(name: str, percent: int) -> None:
                progress(name, percent)
                if name == stage:
                    time.sleep(STALL_SECONDS)

            return build(spec, folder, progress=report)

        pipeline.build = stalling_build
    elif stall == "simulation":
        from randomisation.simulation import engine as simulation

        simulate = simulation.simulate

        def stalling_simulate(*args: Any, progress: Any = None, **options: Any) -> Any:
            def report(done: int, total: int) -> None:
                progress(done, total)
                if done:
                    time.sleep(STALL_SECONDS)

            return simulate(*args, progress=report, **options)

        simulation.simulate = stalling_simulate
    elif stall == "trial_import":
        from trialimport import services as importing

        import_trial = importing.import_trial

        def stalling_import(*args: Any, progress: Any = None, **options: Any) -> Any:
            def report(done: int, total: int) -> None:
                progress(done, total)
                time.sleep(STALL_SECONDS)

            return import_trial(*args, progress=report, **options)

        importing.import_trial = stalling_import
    elif stall == "spell_import":
        from pathways import importing as spells

        check_rows = spells.check_rows

        def stalling_check(*args: Any, progress: Any = None, **options: Any) -> Any:
            def report(step: str, percent: int) -> None:
                progress(step, percent)
                if step == "validating":
                    time.sleep(STALL_SECONDS)

            return check_rows(*args, progress=report, **options)

        spells.check_rows = stalling_check
