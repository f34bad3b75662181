"""Rules for analysis plans and reports: writing, locking and superseding a plan; ordering a
report, building it in the background, and downloading it. Every change is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext
from kombu.exceptions import OperationalError

from reports import pipeline
from reports.models import AnalysisPlan, ReportRequest
from trial import audit, permissions
from trial.models import Assessment, CovariateDefinition, Trial
from trial.permissions import Perm
from trial.services import TrialError

logger = logging.getLogger(__name__)

# Outcomes a plan may name: (field, kind). Labels come from the Assessment model.
OUTCOMES = {
    "in_paid_work": "binary",
    "on_benefits": "binary",
    "hours_per_week": "continuous",
    "monthly_earnings": "continuous",
    "self_rated_health": "continuous",
}
DESIGN_COVARIATES = {"site": gettext_lazy("Site (NAV office)"), "stratum": gettext_lazy("Stratum")}
MAX_ATTEMPTS = 3
QUEUE_DOWN = gettext_noop(
    "The task queue could not be reached, so the report was not started. Try again later, or "
    "ask the administrator to check the Celery broker."
)
QUEUE_LOST = gettext_noop(
    "No worker started this report: the task queue lost it, or no worker is running. Order "
    "the report again."
)
WORKER_LOST = gettext_noop(
    "The worker building this report stopped (it was killed or ran out of memory) and the "
    "build was not resumed. No file was kept. Order the report again."
)


class ReportError(TrialError):
    """A rule about plans or reports was broken; ``field`` names the input at fault."""


# --- the analysis plan ---------------------------------------------------------------------


def outcome_choices() -> list[tuple[str, str]]:
    return [
        (name, str(capfirst(Assessment._meta.get_field(name).verbose_name))) for name in OUTCOMES
    ]


def covariate_choices(trial: Trial) -> list[tuple[str, str]]:
    return [(key, str(label)) for key, label in DESIGN_COVARIATES.items()] + [
        (c.key, c.label) for c in trial.covariates.all()
    ]


def subgroup_choices(trial: Trial) -> list[tuple[str, str]]:
    """Subgroups must be categorical: site, choice and yes/no covariates."""
    categorical = (CovariateDefinition.Kind.CHOICE, CovariateDefinition.Kind.BOOLEAN)
    return [("site", str(DESIGN_COVARIATES["site"]))] + [
        (c.key, c.label) for c in trial.covariates.all() if c.kind in categorical
    ]


def time_point_choices(trial: Trial) -> list[tuple[str, str]]:
    return [(v.code, v.label) for v in trial.visit_definitions.order_by("offset_months")]


def check_plan(trial: Trial, values: dict[str, Any]) -> None:
    """Raise ReportError (with the field) if the plan names something the trial lacks."""
    allowed = {
        "primary_outcome": {k for k, _label in outcome_choices()},
        "time_point": {k for k, _label in time_point_choices(trial)},
        "secondary_outcomes": {k for k, _label in outcome_choices()},
        "covariates": {k for k, _label in covariate_choices(trial)},
        "subgroups": {k for k, _label in subgroup_choices(trial)},
        "missing": set(AnalysisPlan.Missing.values),
    }
    for name, options in allowed.items():
        value = values.get(name)
        items = value if isinstance(value, list) else [value]
        unknown = [str(item) for item in items if item not in options]
        if unknown:
            raise ReportError(
                _("The trial has no %(what)s called %(names)s.")
                % {
                    "what": AnalysisPlan._meta.get_field(name).verbose_name,
                    "names": ", ".join(unknown),
                },
                field=name,
            )
    if values["primary_outcome"] in values.get("secondary_outcomes", []):
        raise ReportError(
            _("The primary outcome cannot also be a secondary outcome."), field="secondary_outcomes"
        )
    if not str(values.get("analysis_model", "")).strip():
        raise ReportError(_("Describe the analysis model."), field="analysis_model")


def draft_plan(trial: Trial) -> AnalysisPlan | None:
    return trial.analysis_plans.filter(status=AnalysisPlan.Status.DRAFT).first()


def locked_plan(trial: Trial) -> AnalysisPlan | None:
    return trial.analysis_plans.filter(status=AnalysisPlan.Status.LOCKED).first()


def save_plan_draft(
    trial: Trial, *, values: dict[str, Any], actor: AbstractBaseUser | None
) -> AnalysisPlan:
    """Create the trial's first draft or change the draft there is.

    Only a draft can change: a locked plan is superseded by a new version (see
    :func:`supersede_plan`). Raises ReportError for content the trial does not have, or when a
    plan is locked and no new version has been started. Audited; safe to repeat.
    """
    check_plan(trial, values)
    content = {name: values.get(name) for name in AnalysisPlan.CONTENT_FIELDS}
    content["notes"] = content["notes"] or ""
    for name in ("secondary_outcomes", "covariates", "subgroups"):
        content[name] = list(content[name] or [])
    with transaction.atomic():
        Trial.objects.select_for_update().get(pk=trial.pk)
        plan = draft_plan(trial)
        if plan is None:
            if locked_plan(trial) is not None:
                raise ReportError(
                    _("The plan is locked. Start a new version, saying why, to change it.")
                )
            plan = AnalysisPlan(trial=trial, version=1, created_by=actor, **content)
            plan.save()
            audit.record("analysis_plan.created", plan, actor=actor, data={"after": content})
            return plan
        before = audit.snapshot(plan)
        for name, value in content.items():
            setattr(plan, name, value)
        plan.save(update_fields=list(content))
        audit.record_changed(plan, before, actor=actor)
    return plan


def plan_hash(plan: AnalysisPlan) -> str:
    """SHA-256 of the plan's content, trial, version, lock time and who locked it."""
    payload = {
        "trial": plan.trial.code,
        "version": plan.version,
        "content": plan.content(),
        "supersedes": plan.supersedes.version if plan.supersedes else None,
        "reason": plan.reason,
        "locked_at": plan.locked_at.isoformat() if plan.locked_at else None,
        "locked_by": plan.locked_by_name,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def lock_plan(plan: AnalysisPlan, *, actor: AbstractBaseUser) -> AnalysisPlan:
    """Lock a draft: timestamp, who, and the content hash. The version it supersedes (if any)
    becomes superseded in the same transaction. Raises ReportError if the plan is not a draft
    or its content no longer fits the trial. Audited."""
    with transaction.atomic():
        Trial.objects.select_for_update().get(pk=plan.trial_id)
        plan = AnalysisPlan.objects.select_related("trial", "supersedes").get(pk=plan.pk)
        if not plan.is_draft:
            raise ReportError(_("Only a draft can be locked; this version is locked already."))
        check_plan(plan.trial, plan.content())
        previous = plan.supersedes
        if previous is not None and previous.status == AnalysisPlan.Status.LOCKED:
            previous.status = AnalysisPlan.Status.SUPERSEDED
            previous.save(update_fields=["status"])
            audit.record(
                "analysis_plan.superseded",
                previous,
                actor=actor,
                data={"by_version": plan.version, "reason": plan.reason},
            )
        plan.status = AnalysisPlan.Status.LOCKED
        plan.locked_at = timezone.now()
        plan.locked_by = actor
        plan.locked_by_name = actor.get_username()
        plan.content_hash = plan_hash(plan)
        plan.save(
            update_fields=["status", "locked_at", "locked_by", "locked_by_name", "content_hash"]
        )
        audit.record(
            "analysis_plan.locked",
            plan,
            actor=actor,
            data={"version": plan.version, "content_hash": plan.content_hash},
        )
    return plan


def supersede_plan(plan: AnalysisPlan, *, reason: str, actor: AbstractBaseUser) -> AnalysisPlan:
    """Start a new draft version from a locked plan, recording why. The locked plan stays in
    force until the new version is locked. Raises ReportError without a reason, for a plan that
    is not the locked one, or when a new version is already being drafted. Audited."""
    reason = reason.strip()
    if not reason:
        raise ReportError(_("Say why the plan needs a new version."), field="reason")
    with transaction.atomic():
        Trial.objects.select_for_update().get(pk=plan.trial_id)
        plan = AnalysisPlan.objects.select_related("trial").get(pk=plan.pk)
        if plan.status != AnalysisPlan.Status.LOCKED:
            raise ReportError(_("Only the locked plan can be superseded."))
        if draft_plan(plan.trial) is not None:
            raise ReportError(_("A new version is already being drafted."))
        version = plan.trial.analysis_plans.aggregate(v=Max("version"))["v"] + 1
        new = AnalysisPlan.objects.create(
            trial=plan.trial,
            version=version,
            supersedes=plan,
            reason=reason,
            created_by=actor,
            **plan.content(),
        )
        audit.record(
            "analysis_plan.new_version",
            new,
            actor=actor,
            data={"supersedes": plan.version, "reason": reason},
        )
    return new


# --- ordering and building reports ---------------------------------------------------------


def is_blinded(user: Any, trial: Trial) -> bool:
    """Reports for this user show arms as codes: no plan is locked and they may not see
    allocations."""
    if permissions.has_perm(user, trial, Perm.VIEW_ALLOCATION):
        return False
    return locked_plan(trial) is None


def may_download(user: Any, report: ReportRequest) -> bool:
    """Download needs the permission; an unblinded report also needs a user who may see arm
    names now (they may see allocations, or the plan has been locked since)."""
    if not permissions.has_perm(user, report.trial, Perm.DOWNLOAD_REPORT):
        return False
    return report.blinded or not is_blinded(user, report.trial)


class TooManyReports(ReportError):
    """The user already has as many builds queued or running as one person may have."""


def check_active_reports(actor: AbstractBaseUser) -> None:
    """Raise TooManyReports when ``actor`` has ``REPORT_ACTIVE_PER_USER`` report builds queued
    or running, in any trial: each build takes a worker for minutes, so one person (or a
    runaway client) must not fill the queue. Call inside the ordering transaction; the user's
    row is locked so that orders sent at the same moment are counted one after the other.
    """
    limit = settings.REPORT_ACTIVE_PER_USER
    get_user_model().objects.select_for_update().filter(pk=actor.pk).exists()
    active = ReportRequest.objects.filter(
        requested_by=actor, status__in=[ReportRequest.Status.QUEUED, ReportRequest.Status.RUNNING]
    ).count()
    if active >= limit:
        message = ngettext(
            "You have %(limit)s report waiting or being built, the most one person may have at "
            "a time. Order again when it has finished.",
            "You have %(limit)s reports waiting or being built, the most one person may have at "
            "a time. Order again when one of them has finished.",
            limit,
        )
        raise TooManyReports(message % {"limit": limit})


def report_folder(trial: Trial) -> Path:
    return Path(settings.FILES_ROOT) / "reports" / trial.code


def request_report(
    trial: Trial,
    *,
    kind: str,
    cut_off: dt.date,
    options: dict[str, Any] | None = None,
    actor: AbstractBaseUser,
) -> ReportRequest:
    """Record a report order and queue its build once the row is committed.

    The plan in force (locked, else the draft) and whether arms are coded are fixed now. The
    seed is ``options["seed"]`` or derived from the trial, kind, cut-off and plan. Raises
    ReportError for an unknown kind, a cut-off in the future or a missing plan. If the broker
    cannot be reached the request is marked failed, with the reason, and the returned row says
    so (``never_queued``); it is not sent later. Audited.
    """
    options = dict(options or {})
    try:
        report_kind = pipeline.get_kind(kind)
    except pipeline.ReportBuildError as error:
        raise ReportError(str(error), field="kind") from None
    if cut_off > timezone.localdate():
        raise ReportError(_("The data cut-off cannot be in the future."), field="cut_off")
    plan = pipeline.plan_in_force(trial)
    if report_kind.needs_plan and plan is None:
        raise ReportError(
            _("This report follows the statistical analysis plan: write the plan first."),
            field="kind",
        )
    seed = options.get("seed")
    if seed is None:
        seed = pipeline.default_seed(trial, kind, cut_off, plan)
    options["seed"] = int(seed)
    with transaction.atomic():
        check_active_reports(actor)
        report = ReportRequest.objects.create(
            trial=trial,
            kind=kind,
            cut_off=cut_off,
            options=options,
            seed=int(seed),
            blinded=is_blinded(actor, trial),
            plan=plan,
            requested_by=actor,
            requested_by_name=actor.get_username(),
            stage="queued",
        )
        audit.record(
            "report.requested",
            report,
            actor=actor,
            data={
                "kind": kind,
                "cut_off": cut_off.isoformat(),
                "plan_version": plan.version if plan else None,
                "blinded": report.blinded,
                "options": options,
            },
        )
        transaction.on_commit(partial(enqueue, report.pk))
    # Committed here unless the caller holds a transaction: then whether the broker took it.
    report.refresh_from_db(fields=["status", "error", "finished_at"])
    return report


def enqueue(report_id: int) -> None:
    """Send the build to the workers; an unreachable broker fails the request, not the page."""
    from reports.tasks import build_report

    try:
        build_report.delay(report_id)
    except OperationalError:
        logger.warning("report %s: broker unreachable", report_id, exc_info=True)
        ReportRequest.objects.filter(pk=report_id, status=ReportRequest.Status.QUEUED).update(
            status=ReportRequest.Status.FAILED, error=_(QUEUE_DOWN), finished_at=timezone.now()
        )


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.REPORT_LEASE_SECONDS)


def _claim(report_id: int) -> str:
    """Take the request for this worker: a queued one, or a running one whose heartbeat is
    older than the lease (its worker died). Returns ``claimed``, ``busy`` (another worker holds
    a fresh lease), ``gone`` (finished, failed or missing)."""
    now = timezone.now()
    stale = Q(status=ReportRequest.Status.RUNNING, heartbeat_at__lt=now - lease())
    with transaction.atomic():
        report = (
            ReportRequest.objects.select_for_update()
            .filter(pk=report_id)
            .filter(Q(status=ReportRequest.Status.QUEUED) | stale)
            .first()
        )
        if report is None:
            current = ReportRequest.objects.filter(pk=report_id).values_list("status", flat=True)
            status = current.first()
            return "busy" if status == ReportRequest.Status.RUNNING else "gone"
        if report.attempts >= MAX_ATTEMPTS:
            report.status = ReportRequest.Status.FAILED
            report.error = _(WORKER_LOST)
            report.finished_at = now
            report.save(update_fields=["status", "error", "finished_at"])
            return "gone"
        report.status = ReportRequest.Status.RUNNING
        report.attempts += 1
        report.heartbeat_at = now
        report.started_at = report.started_at or now
        report.stage, report.percent, report.error = "extract", 0, ""
        fields = ["status", "attempts", "heartbeat_at", "started_at", "stage", "percent", "error"]
        report.save(update_fields=fields)
    return "claimed"


def _remove(*paths: Path | None) -> None:
    """Remove files and any temporary ``.<name>.*.part`` a killed writer left beside them."""
    for path in paths:
        if path is None:
            continue
        path.unlink(missing_ok=True)
        if path.parent.is_dir():
            for partial_file in path.parent.glob(f".{path.name}.*.part"):
                partial_file.unlink(missing_ok=True)


def execute_report(report_id: int) -> str:
    """Build a requested report, storing progress, then the files and provenance or the error.

    Safe to repeat: only a queued request (or one whose worker stopped, see ``_claim``) is
    taken, and files are written atomically under names fixed by the request, so a rerun
    replaces them whole. Whatever goes wrong, the request ends failed with the reason and no
    file of it stays behind. Returns the final status, ``busy`` or ``gone``.
    """
    claim = _claim(report_id)
    if claim != "claimed":
        return claim
    report = ReportRequest.objects.select_related("trial", "plan").get(pk=report_id)
    rows = ReportRequest.objects.filter(pk=report_id)
    spec = pipeline.BuildSpec(
        trial=report.trial,
        kind=report.kind,
        cut_off=report.cut_off,
        seed=report.seed,
        blinded=report.blinded,
        plan=report.plan,
        options=report.options,
        ordered_by=report.requested_by_name,
        request_id=report.pk,
    )
    folder = report_folder(report.trial)
    pdf_path, zip_path = pipeline.output_paths(folder, spec)

    _remove(pdf_path, zip_path)  # a rerun starts clean, also of a killed writer's leftovers

    def progress(stage: str, percent: int) -> None:
        rows.update(stage=stage, percent=percent, heartbeat_at=timezone.now())

    try:
        result = pipeline.build(spec, folder, progress=progress)
    except Exception as error:  # whatever it was, the request must not stay running
        logger.exception("report %s failed", report_id)
        _remove(pdf_path, zip_path)
        if isinstance(error, pipeline.ReportBuildError | ReportError):
            message = str(error)
        else:
            message = _("The report could not be built: %(reason)s") % {
                "reason": f"{type(error).__name__}: {error}"[:500]
            }
        rows.update(
            status=ReportRequest.Status.FAILED,
            error=message,
            finished_at=timezone.now(),
            pdf_file="",
            zip_file="",
        )
        return ReportRequest.Status.FAILED
    rows.update(
        status=ReportRequest.Status.DONE,
        stage="done",
        percent=100,
        snapshot_hash=result.snapshot_hash,
        versions=result.versions,
        timings=result.timings,
        pdf_file=result.pdf.name if result.pdf else "",
        zip_file=result.zip.name,
        finished_at=timezone.now(),
    )
    return ReportRequest.Status.DONE


def fail_stale_reports(
    *, older_than: dt.timedelta | None = None, queued_longer_than: dt.timedelta | None = None
) -> int:
    """Mark running requests whose worker has not been heard of for ``older_than`` (default
    REPORT_STALE_MINUTES) as failed, removing any files; and queued requests no worker took
    for ``queued_longer_than`` (default REPORT_QUEUED_HOURS: the broker lost its queue, or no
    worker runs). Returns how many. Safe to repeat."""
    now = timezone.now()
    if older_than is None:
        older_than = dt.timedelta(minutes=settings.REPORT_STALE_MINUTES)
    if queued_longer_than is None:
        queued_longer_than = dt.timedelta(hours=settings.REPORT_QUEUED_HOURS)
    stale = list(
        ReportRequest.objects.filter(
            status=ReportRequest.Status.RUNNING, heartbeat_at__lt=now - older_than
        ).select_related("trial")
    )
    for report in stale:
        spec = pipeline.BuildSpec(
            trial=report.trial,
            kind=report.kind,
            cut_off=report.cut_off,
            seed=report.seed,
            blinded=report.blinded,
            plan=None,
            request_id=report.pk,
        )
        _remove(*pipeline.output_paths(report_folder(report.trial), spec))
    lost = ReportRequest.objects.filter(
        status=ReportRequest.Status.QUEUED, created_at__lt=now - queued_longer_than
    ).update(status=ReportRequest.Status.FAILED, error=_(QUEUE_LOST), finished_at=now)
    return lost + ReportRequest.objects.filter(
        pk__in=[r.pk for r in stale], status=ReportRequest.Status.RUNNING
    ).update(status=ReportRequest.Status.FAILED, error=_(WORKER_LOST), finished_at=now)


def report_file(report: ReportRequest, which: str) -> Path:
    """The finished file (``pdf`` or ``zip``); raises ReportError if there is none."""
    name = {"pdf": report.pdf_file, "zip": report.zip_file}.get(which, "")
    if report.status != ReportRequest.Status.DONE or not name:
        raise ReportError(_("This report has no such file."))
    path = report_folder(report.trial) / name
    if not path.is_file():
        raise ReportError(_("The file of this report is no longer on the server."))
    return path


def record_download(report: ReportRequest, *, which: str, actor: AbstractBaseUser) -> Path:
    """The file to send, with the download recorded in the audit trail."""
    path = report_file(report, which)
    audit.record(
        "report.downloaded",
        report,
        actor=actor,
        data={"file": which, "name": path.name, "snapshot_hash": report.snapshot_hash},
        trial=report.trial,
    )
    return path


def consort_download(trial: Trial, *, cut_off: dt.date, actor: AbstractBaseUser) -> str:
    """The trial's current CONSORT flow diagram as an SVG document, with arms as codes for a
    blinded user (as in the reports they order). The caller has checked the right to order
    reports. Raises ReportError for a cut-off in the future. Audited (who took which counts);
    safe to repeat.
    """
    if cut_off > timezone.localdate():
        raise ReportError(_("The data cut-off cannot be in the future."), field="cut_off")
    blinded = is_blinded(actor, trial)
    figure = pipeline.current_consort(trial, cut_off=cut_off, blinded=blinded)
    audit.record(
        "report.consort_downloaded",
        trial,
        actor=actor,
        data={"cut_off": cut_off.isoformat(), "blinded": blinded},
        trial=trial,
    )
    return figure.svg
