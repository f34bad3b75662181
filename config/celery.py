"""The Celery application. Periodic schedules live here, each with a comment."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("worktrials")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic jobs (run by `celery beat`, or `worker -B` in the embedded default).
app.conf.beat_schedule = {}
