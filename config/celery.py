"""The Celery application. Periodic schedules live here, each with a comment."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("worktrials")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic jobs (run by `celery beat`, or `worker -B` in the embedded default). Crontab times are
# in CELERY_TIMEZONE, which is TIME_ZONE (Europe/Oslo unless overridden).
app.conf.beat_schedule = {
    # Each caseworker's e-mail of follow-up visits overdue or due within a week, before the
    # working day starts. Firing twice (two beats, a restart) is harmless: one digest per user
    # and day is recorded and never sent again.
    "send-reminder-digests": {
        "task": "trial.tasks.send_reminder_digests",
        "schedule": crontab(hour=7, minute=0),
    },
    # Report builds whose worker went silent (killed, out of memory) for REPORT_STALE_MINUTES
    # are marked failed, so no request stays "running" for ever; so are orders no worker took
    # for REPORT_QUEUED_HOURS (the broker lost them). Idempotent.
    "fail-stale-reports": {
        "task": "reports.tasks.fail_stale_reports",
        "schedule": crontab(minute="*/15"),
    },
    # The same for scheme simulations silent for SIMULATION_STALE_MINUTES. Idempotent.
    "fail-stale-simulations": {
        "task": "randomisation.tasks.fail_stale_simulations",
        "schedule": crontab(minute="*/15"),
    },
    # Each trial's allocation-log head (length and hash) goes to its witness file outside the
    # database once a night, besides the line every allocation writes, so that the witness
    # covers allocations whose own line was lost (docs/security.md). Repeating adds a line.
    "write-allocation-checkpoints": {
        "task": "randomisation.tasks.write_allocation_checkpoints",
        "schedule": crontab(hour=0, minute=30),
    },
    # Imports of CSV files: steps silent for IMPORT_STALE_MINUTES fail, checked files left
    # unimported for IMPORT_KEEP_HOURS are removed. Idempotent.
    "fail-stale-imports": {
        "task": "randomisation.tasks.fail_stale_imports",
        "schedule": crontab(minute="*/15"),
    },
}
