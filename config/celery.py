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
    # Participants' questionnaire links (surveys/): the invitations of visits whose window has
    # opened and the reminders due, in the morning. Repeating sends nothing twice (each message
    # is marked sent under its row's lock); the hourly runs pick up retries of failed messages
    # and links whose contact details arrived during the day.
    "send-participant-invitations": {
        "task": "surveys.tasks.send_participant_invitations",
        "schedule": crontab(hour="9-19", minute=15),
    },
    # Consent links (surveys/consent/): asking for consent sends at once (after commit); this
    # hourly run sends the reminders due (the trial's reminder days, the first run of the day),
    # retries messages that failed and sends by a channel added later. Repeating sends nothing
    # twice (each channel's link and reminders are marked sent under the request's lock).
    "send-consent-requests": {
        "task": "surveys.consent.tasks.send_consent_requests",
        "schedule": crontab(hour="9-19", minute=45),
    },
    # Each trial's allocation-log head (length and hash) goes to its witness file outside the
    # database once a night, besides the line every allocation writes, so that the witness
    # covers allocations whose own line was lost (docs/security.md). Repeating adds a line.
    "write-allocation-checkpoints": {
        "task": "randomisation.tasks.write_allocation_checkpoints",
        "schedule": crontab(hour=0, minute=30),
    },
    # The job sweep (trial/jobs.py), for every kind of background job (reports, simulations,
    # trial and register imports): a job whose worker has been silent for JOB_LEASE_SECONDS
    # (killed, out of memory) is queued again while attempts remain, else failed with the
    # reason; a job no worker took in time is failed; unimported checked files expire. Every
    # minute, so a dead worker's job moves on within about two minutes, whatever the broker's
    # visibility timeout. Idempotent, and safe when two beats fire it at once.
    "sweep-jobs": {
        "task": "trial.tasks.sweep_jobs",
        "schedule": crontab(),  # every minute
    },
}
