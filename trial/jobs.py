"""Background jobs, one model for every kind: report builds, scheme simulations, trial imports
and register imports. The life of a job is written here once.

A job is a row of a model built on :class:`Job`::

    queued ──claim──▶ running ──▶ done | failed
      ▲                  │
      └──── sweep ───────┘   the lease ran out and attempts remain (else: failed)

* **Enqueue on commit** (:func:`enqueue_on_commit`, :func:`send`): the Celery message goes
  out once the row is committed. A broker that cannot be reached fails the job with the
  kind's ``QUEUE_DOWN`` reason instead of failing the page; nothing is sent later.
* **Claim** (:func:`claim`): under a row lock a worker takes a queued job, or a running one
  whose lease has run out (its worker died and the broker handed the message out again), and
  counts an attempt. A second delivery while a live worker holds the lease is ``busy`` and
  does nothing; a job no longer waiting is ``skipped``; an unknown id is ``missing``.
* **Lease and heartbeat** (:func:`held`): while the work runs, a thread renews
  ``heartbeat_at`` every ``JOB_HEARTBEAT_SECONDS``, so a long single step (an analysis, a PDF,
  one big transaction) keeps its lease without reporting progress. The writes of the work go
  through the queryset it yields, which matches the row only while this attempt holds it: a
  worker that lost its job to the sweep cannot finish or fail it any more.
* **Sweep** (:func:`sweep`, every minute from beat): a running job silent for
  ``JOB_LEASE_SECONDS`` is queued again and sent while it has had fewer than
  ``JOB_MAX_ATTEMPTS`` tries, and failed with the kind's ``WORKER_LOST`` reason when they are
  used up; a job no worker took within its kind's :meth:`Job.queued_limit` is failed with
  ``NOT_TAKEN``. It does not depend on the broker's visibility timeout.

Imports have two steps (check, then import on the user's word), each with its own queued and
running status (:attr:`Job.STEPS`); reports and simulations have one, ``queued``/``running``.
Every kind ends ``done`` or ``failed`` (imports also ``expired`` or ``cancelled``).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connections, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

J = TypeVar("J", bound="Job")


class Claim(enum.StrEnum):
    """What a delivery of a job's message found."""

    CLAIMED = "claimed"  # this worker now holds the job
    BUSY = "busy"  # another worker holds a fresh lease on it
    SKIPPED = "skipped"  # not waiting for a worker: finished, failed, or attempts used up
    MISSING = "missing"  # no such job


class Status(models.TextChoices):
    """The statuses of a one-step job (reports, simulations)."""

    QUEUED = "queued", gettext_lazy("Queued")
    RUNNING = "running", gettext_lazy("Running")
    DONE = "done", gettext_lazy("Finished")
    FAILED = "failed", gettext_lazy("Failed")


class ImportStatus(models.TextChoices):
    """The statuses of a two-step job (register and trial imports): checked, then imported on
    the user's word. A kind that can be cancelled ends in CANCELLED, one whose files are
    removed when left waiting in EXPIRED (``import_choices`` leaves out the other)."""

    CHECK_QUEUED = "check_queued", gettext_lazy("Waiting to be checked")
    CHECKING = "checking", gettext_lazy("Being checked")
    CHECKED = "checked", gettext_lazy("Checked, waiting for a decision")
    IMPORT_QUEUED = "import_queued", gettext_lazy("Waiting to be imported")
    IMPORTING = "importing", gettext_lazy("Being imported")
    DONE = "done", gettext_lazy("Imported")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")
    EXPIRED = "expired", gettext_lazy("Not imported; the files were removed")
    FAILED = "failed", gettext_lazy("Failed")


def import_choices(*, ends: ImportStatus) -> list[tuple[str, Any]]:
    """The choices of a two-step job that ends, when not imported, in ``ends``."""
    other = {ImportStatus.CANCELLED, ImportStatus.EXPIRED} - {ends}
    return [(value, label) for value, label in ImportStatus.choices if value not in other]


def import_steps(*, check: str, apply: str) -> dict[str, Step]:
    """The steps of a two-step job: the tasks (dotted paths) that check and that import."""
    return {
        ImportStatus.CHECK_QUEUED: Step(ImportStatus.CHECKING, check),
        ImportStatus.IMPORT_QUEUED: Step(ImportStatus.IMPORTING, apply),
    }


@dataclass(frozen=True)
class Step:
    """A step of a job: its status while a worker holds it, and the task that runs it."""

    running: str
    task: str  # dotted path of the Celery task, called with the job's id


class Job(models.Model):
    """What every background job has. A subclass adds its ``status`` field and declares its
    steps and the reasons it gives when the lifecycle fails it."""

    attempts = models.PositiveSmallIntegerField(default=0)
    # When the job was last heard of: queued, claimed, or its worker's last beat.
    heartbeat_at = models.DateTimeField(default=timezone.now, null=True, blank=True)
    error = models.TextField(gettext_lazy("error"), blank=True)
    finished_at = models.DateTimeField(gettext_lazy("finished"), null=True, blank=True)

    status: str
    # Every concrete job has the default manager; declared for the type checker.
    objects: ClassVar[models.Manager[Self]]
    # Queued status -> the step it starts.
    STEPS: ClassVar[dict[str, Step]]
    FAILED: ClassVar[str] = Status.FAILED
    # Reasons (gettext_noop; translated when stored): the broker could not be reached; the
    # worker died and the attempts are used up; no worker took the job in time.
    QUEUE_DOWN: ClassVar[str]
    WORKER_LOST: ClassVar[str]
    NOT_TAKEN: ClassVar[str]

    class Meta:
        abstract = True

    @classmethod
    def queued_statuses(cls) -> list[str]:
        return list(cls.STEPS)

    @classmethod
    def running_statuses(cls) -> list[str]:
        return [step.running for step in cls.STEPS.values()]

    @classmethod
    def queued_limit(cls) -> dt.timedelta:
        """How long a job may wait for a worker before it counts as lost."""
        return dt.timedelta(hours=settings.JOB_QUEUED_HOURS)

    @classmethod
    def housekeeping(cls, now: dt.datetime) -> int:
        """Chores of the kind for the sweep; returns how many jobs changed."""
        return 0

    @classmethod
    def drop_files_left(cls, folder: Path, *, kept_while: list[str]) -> None:
        """Remove the files ``import-<pk>.bin`` in ``folder`` of jobs of this kind that no
        longer need them (not in a ``kept_while`` status): a worker that stopped between
        committing an outcome and removing its file leaves one. A file whose job is not
        committed yet, or that is no job's, is left alone."""
        found = {
            int(path.stem.removeprefix("import-")): path
            for path in (folder.glob("import-*.bin") if folder.is_dir() else [])
            if path.stem.removeprefix("import-").isdigit()
        }
        ended = cls.objects.filter(pk__in=found).exclude(status__in=kept_while)
        for pk in ended.values_list("pk", flat=True):
            found[pk].unlink(missing_ok=True)

    @property
    def active(self) -> bool:
        """Waiting for a worker or held by one."""
        return self.status in self.STEPS or self.status in self.running_statuses()

    def claimed(self, now: dt.datetime) -> list[str]:
        """Reset what a new attempt starts from; returns the fields changed."""
        return []

    def discard(self) -> None:
        """Remove what the job leaves behind once it has failed (files, staged rows)."""

    def say(self, message: str) -> str:
        """``message`` translated for the job's user: in the language it keeps, if any."""
        language = getattr(self, "language", "")
        if language:
            with translation.override(language):
                return _(message)
        return _(message)


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.JOB_LEASE_SECONDS)


def job_models() -> list[type[Job]]:
    """Every kind of job, in a fixed order."""
    found = [model for model in apps.get_models() if issubclass(model, Job)]
    return sorted(found, key=lambda model: model._meta.label)


# --- enqueue on commit ------------------------------------------------------------------------


def enqueue_on_commit(job: Job) -> None:
    """Send the job's step to the workers once the current transaction commits."""
    transaction.on_commit(partial(send, type(job), job.pk))


def send(model: type[Job], pk: int) -> bool:
    """Send the step the job is waiting for to the workers. A broker that cannot be reached
    fails the job with the kind's ``QUEUE_DOWN`` reason (and never the caller). Returns
    whether a message went out; nothing goes out for a job not waiting."""
    job = model.objects.filter(pk=pk).first()
    if job is None or job.status not in model.STEPS:
        return False
    try:
        import_string(model.STEPS[job.status].task).delay(pk)
    except OperationalError:
        logger.warning("%s %s: broker unreachable", model._meta.model_name, pk, exc_info=True)
        fail(job, job.say(model.QUEUE_DOWN), rows=model.objects.filter(pk=pk, status=job.status))  # type: ignore[misc]  # status: each concrete job has it
        return False
    return True


# --- claim, lease and heartbeat ---------------------------------------------------------------


def claim(model: type[J], pk: int) -> tuple[Claim, J | None]:
    """Take the job for this worker: a queued one, or a running one whose lease has run out.

    Under the row's lock: the step's running status, one more attempt, a fresh heartbeat and
    no error. A job that has used up ``JOB_MAX_ATTEMPTS`` is failed with ``WORKER_LOST``
    instead. Returns the outcome and, when claimed, the job as now stored. Safe to repeat.
    """
    now = timezone.now()
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None:
            logger.warning("%s %s does not exist", model._meta.model_name, pk)
            return Claim.MISSING, None
        if job.status in model.STEPS:
            running = model.STEPS[job.status].running
        elif job.status in model.running_statuses():
            if job.heartbeat_at is not None and job.heartbeat_at >= now - lease():
                return Claim.BUSY, None
            running = job.status
        else:
            return Claim.SKIPPED, None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            _mark_failed(job, job.say(model.WORKER_LOST))
            return Claim.SKIPPED, None
        job.status = running
        job.attempts += 1
        job.heartbeat_at = now
        job.error = ""
        extra = job.claimed(now)
        job.save(update_fields=["status", "attempts", "heartbeat_at", "error", *extra])
    return Claim.CLAIMED, job


def mine(job: J) -> QuerySet[J]:
    """The job's row while this attempt holds it; empty once the sweep or another worker has
    taken it over, or it has finished."""
    return type(job).objects.filter(pk=job.pk, status=job.status, attempts=job.attempts)


@contextmanager
def held(job: J) -> Iterator[QuerySet[J]]:
    """Keep the lease of a claimed job while the block runs: a thread renews its heartbeat
    every ``JOB_HEARTBEAT_SECONDS``. Yields :func:`mine`, for the block's writes.

    Enter it outside any transaction the work opens: the thread writes on a connection of its
    own, and skips a beat while the work holds the row locked.
    """
    rows = mine(job)
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat, args=(rows, stop), name=f"heartbeat-{job._meta.model_name}-{job.pk}"
    )
    thread.daemon = True
    thread.start()
    try:
        yield rows
    finally:
        stop.set()
        thread.join(timeout=30)


def _beat(rows: QuerySet[Job], stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.JOB_HEARTBEAT_SECONDS):
            try:
                with transaction.atomic():
                    free = list(rows.select_for_update(skip_locked=True).values_list("pk"))
                    if free:
                        rows.update(heartbeat_at=timezone.now())
            except DatabaseError:
                logger.warning("heartbeat of %s failed", rows.model._meta.label, exc_info=True)
    finally:
        connections.close_all()  # this thread's own connections


# --- failing ----------------------------------------------------------------------------------


def fail(job: Job, reason: str, *, rows: QuerySet[Any] | None = None, **also: Any) -> bool:
    """Mark the job failed with ``reason`` (translated text), finished now, and remove what it
    left behind. With ``rows`` (e.g. :func:`mine`), only if the row still matches them.
    Returns whether it was marked."""
    if rows is None:
        rows = type(job).objects.filter(pk=job.pk)
    now = timezone.now()
    if not rows.update(status=job.FAILED, error=reason, finished_at=now, **also):  # type: ignore[misc]  # status: each concrete job has it
        return False
    job.status, job.error, job.finished_at = job.FAILED, reason, now
    job.discard()
    return True


def _mark_failed(job: Job, reason: str) -> None:
    """Inside the caller's transaction, with the row locked: failed, cleaned up on commit."""
    job.status, job.error, job.finished_at = job.FAILED, reason, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])  # type: ignore[misc]  # status: each concrete job has it
    transaction.on_commit(job.discard)


# --- the sweep --------------------------------------------------------------------------------


def sweep(now: dt.datetime | None = None) -> int:
    """For every kind of job: queue again (and send) a running job whose lease has run out
    while attempts remain, and fail it when they are used up; fail a job no worker took
    within its kind's :meth:`Job.queued_limit`; then the kind's housekeeping. ``now`` is the
    time the sweep takes it to be (default: now). Returns how many jobs changed. Safe to
    repeat, and to run beside workers: a row a worker has locked is left for the next sweep.
    """
    now = now or timezone.now()
    changed = 0
    for model in job_models():
        changed += _expired(model, now)
        try:
            changed += _not_taken(model, now) + model.housekeeping(now)
        except DatabaseError:  # as in _expired; the next sweep tries again
            logger.warning("%s: busy, left for the next sweep", model._meta.label, exc_info=True)
    return changed


def _expired(model: type[Job], now: dt.datetime) -> int:
    silent = Q(heartbeat_at__lt=now - lease()) | Q(heartbeat_at__isnull=True)
    expired = model.objects.filter(silent, status__in=model.running_statuses())  # type: ignore[misc]  # status: each concrete job has it
    queued_for = {step.running: queued for queued, step in model.STEPS.items()}
    changed = 0
    for pk in list(expired.values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                job = expired.filter(pk=pk).select_for_update(skip_locked=True).first()
                if job is None:
                    continue  # finished meanwhile, or a worker has the row locked
                if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                    _mark_failed(job, job.say(model.WORKER_LOST))
                else:
                    job.status = queued_for[job.status]
                    job.heartbeat_at = now  # waiting since now, by the sweep's clock
                    job.save(update_fields=["status", "heartbeat_at"])  # type: ignore[misc]  # status: each concrete job has it
                    transaction.on_commit(partial(send, model, pk))
        except DatabaseError:
            # SQLite (the embedded default) has no SKIP LOCKED: a job writing in a long
            # transaction holds the whole database; the next sweep tries again.
            logger.warning("%s %s: busy, left for the next sweep", model._meta.label, pk)
            continue
        logger.warning(
            "%s %s: its worker went silent; %s",
            model._meta.model_name,
            pk,
            "failed" if job.status == job.FAILED else "queued again",
        )
        changed += 1
    return changed


def _not_taken(model: type[Job], now: dt.datetime) -> int:
    waited = Q(heartbeat_at__lt=now - model.queued_limit()) | Q(heartbeat_at__isnull=True)
    changed = 0
    for job in model.objects.filter(waited, status__in=model.queued_statuses()):  # type: ignore[misc]  # status: each concrete job has it
        # Only if it is still as seen: a worker that took it meanwhile keeps it.
        rows = model.objects.filter(pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at)  # type: ignore[misc]  # status: each concrete job has it
        changed += fail(job, job.say(model.NOT_TAKEN), rows=rows)
    return changed


# --- the tasks that run jobs -------------------------------------------------------------------


def task_options(soft_minutes: int, hard_minutes: int | None = None) -> dict[str, Any]:
    """The Celery options of every job's task: bound (to retry), acknowledged only after the
    work and handed out again if the worker dies (the work is idempotent), and a soft time
    limit that fails the job with a reason before the hard one kills it."""
    return {
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "max_retries": 10,
        "soft_time_limit": soft_minutes * 60,
        "time_limit": (hard_minutes or soft_minutes + 1) * 60,
    }


def retry_if_busy(task: Any, outcome: str) -> str:
    """Return a job step's outcome; for ``busy`` (a live worker holds the lease) send the
    message again once that lease could have run out."""
    if outcome == Claim.BUSY:
        raise task.retry(countdown=settings.JOB_LEASE_SECONDS)
    return outcome
