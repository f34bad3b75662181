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
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from economics.plans import freeze_for_plan
from reports import exports, pipeline, registers
from reports import variables as dictionary
from reports.choices import (
    covariate_choices,
    kind_label,
    outcome_choices,
    subgroup_choices,
    time_point_choices,
)
from reports.models import AnalysisPlan, AnalysisUnblinding, ReportRequest
from reports.sections.flow import current_consort
from trial import audit, jobs, permissions
from trial.models import Trial
from trial.permissions import Perm
from trial.services import TrialError

logger = logging.getLogger(__name__)


class ReportError(TrialError):
    """A rule about plans or reports was broken; ``field`` names the input at fault."""


# --- the analysis plan ---------------------------------------------------------------------


def _outcome_fault(variable: dictionary.Variable | None, name: str, time_point: Any) -> str | None:
    """Why the variable ``name`` cannot be an outcome of the plan, or None."""
    if variable is None:
        return None  # reported as unknown below
    kind = dictionary.kind_of(variable)
    if kind not in dictionary.OUTCOME_KINDS:
        return _(
            "%(name)s (%(kind)s) cannot be an outcome: choose a yes/no item, a number, an "
            "ordinal choice or a scale score."
        ) % {"name": name, "kind": kind_label(kind)}
    if variable.visits and time_point and time_point not in variable.visits:
        return _("%(name)s is not asked at the plan's time point %(visit)s.") % {
            "name": name,
            "visit": time_point,
        }
    return None


def check_plan(trial: Trial, values: dict[str, Any]) -> None:
    """Raise ReportError (with the field) if the plan names something the trial lacks, or an
    outcome the effect report has no model for (free text, a date, a multiple choice, an
    unordered choice) or that is not asked at the plan's time point."""
    found = dictionary.variables(trial)
    by_name = {v.name: v for v in found}
    time_point = values.get("time_point")
    named: set[str] = set()
    for name in ("primary_outcome", "secondary_outcomes"):
        value = values.get(name)
        for item in value if isinstance(value, list) else [value]:
            fault = _outcome_fault(by_name.get(str(item)), str(item), time_point)
            if str(item) not in by_name:
                fault = registers.fault(trial, str(item))
                if registers.parse(item) is not None and fault is None:
                    named.add(str(item))  # any window within register follow-up
            if fault:
                raise ReportError(fault, field=name)
    outcomes = {k for k, _label in outcome_choices(trial, found)} | named
    allowed = {
        "primary_outcome": outcomes,
        "time_point": {k for k, _label in time_point_choices(trial)},
        "secondary_outcomes": outcomes,
        "covariates": {k for k, _label in covariate_choices(trial, found)},
        "subgroups": {k for k, _label in subgroup_choices(trial, found)},
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
                    "what": AnalysisPlan._meta.get_field(name).verbose_name,  # type: ignore[union-attr]  # a field
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


def save_plan_draft(trial: Trial, *, values: dict[str, Any], actor: User | None) -> AnalysisPlan:
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


def lock_plan(plan: AnalysisPlan, *, actor: User) -> AnalysisPlan:
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
        freeze_for_plan(plan, actor=actor)  # the unit costs in force, versioned with the plan
    return plan


def supersede_plan(plan: AnalysisPlan, *, reason: str, actor: User) -> AnalysisPlan:
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
    """Reports for this user show arms as codes: the blinding rule of the permission layer
    (``permissions.sees_arm_names``), nothing of its own. Locking the plan does not unblind;
    only :func:`unblind_analysis` does."""
    return not permissions.sees_arm_names(user, trial)


def may_download(user: Any, report: ReportRequest) -> bool:
    """Download needs the permission; an unblinded report also needs a user who may see arm
    names now, whoever ordered it."""
    if not permissions.has_perm(user, report.trial, Perm.DOWNLOAD_REPORT):
        return False
    return report.blinded or not is_blinded(user, report.trial)


def unblind_analysis(
    trial: Trial, *, cut_off: dt.date, reason: str, actor: User
) -> AnalysisUnblinding:
    """End blinding for the analysis: from now on every member sees arm names.

    Allowed once, and only when an analysis plan is locked; the data are locked at
    ``cut_off`` (not in the future) by their snapshot hash, the same hash the reports record,
    so later changes to data up to the cut-off show. Raises ReportError with the field at
    fault otherwise. Audited (who, when, why, plan, cut-off, snapshot); not repeatable.
    """
    reason = reason.strip()
    if not reason:
        raise ReportError(_("Say why the analysis is unblinded now."), field="reason")
    if cut_off > timezone.localdate():
        raise ReportError(_("The data cut-off cannot be in the future."), field="cut_off")
    # Extracted before the trial's row lock is taken: on a large trial it takes seconds, and
    # randomisation waits for that lock.
    snapshot = pipeline.data_snapshot(trial, cut_off)
    with transaction.atomic():
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        if trial.analysis_unblinded_at is not None:
            raise ReportError(_("The analysis of this trial has already been unblinded."))
        plan = locked_plan(trial)
        if plan is None:
            raise ReportError(
                _("Lock the statistical analysis plan before the analysis is unblinded.")
            )
        record = AnalysisUnblinding.objects.create(
            trial=trial,
            plan=plan,
            plan_hash=plan.content_hash,
            cut_off=cut_off,
            snapshot_hash=snapshot,
            reason=reason,
            unblinded_by=actor,
            unblinded_by_name=actor.get_username(),
        )
        trial.analysis_unblinded_at = record.created_at
        trial.save(update_fields=["analysis_unblinded_at"])
        audit.record(
            "analysis.unblinded",
            record,
            actor=actor,
            trial=trial,
            data={
                "plan_version": plan.version,
                "plan_hash": plan.content_hash,
                "cut_off": cut_off.isoformat(),
                "snapshot_hash": record.snapshot_hash,
                "reason": reason,
            },
        )
    return record


class TooManyReports(ReportError):
    """The user already has as many builds queued or running as one person may have."""


def check_active_reports(actor: User) -> None:
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


def report_language(language: str | None = None) -> str:
    """The language a report is written in: ``language`` if given, else the active one (the
    person ordering it reads the site in it), as one of ``settings.LANGUAGES``; the default
    language for anything else."""
    wanted = language or translation.get_language() or settings.LANGUAGE_CODE
    try:
        return translation.get_supported_language_variant(wanted)
    except LookupError:
        return str(settings.LANGUAGE_CODE)


def request_report(
    trial: Trial,
    *,
    kind: str,
    cut_off: dt.date,
    options: dict[str, Any] | None = None,
    export: dict[str, Any] | None = None,
    actor: User,
    language: str | None = None,
) -> ReportRequest:
    """Record a report order and queue its build once the row is committed.

    The plan in force (locked, else the draft), whether arms are coded and the report's
    language (``language``, else the language the person ordering it uses now, see
    :func:`report_language`) are fixed now. The seed is ``options["seed"]`` or derived from
    the trial, kind, cut-off and plan. ``export`` holds the file formats and de-identification
    chosen for the data sets (the arguments of ``exports.check_options``; CSV and Stata as they
    are when not given), kept in the options where they differ from the defaults. Raises
    ReportError for an unknown kind, a cut-off in the future or a missing plan, and
    ExportOptionsError (a TrialError) for export choices that cannot be met, each with its
    field. If the broker cannot be reached the request is marked failed, with the reason, and
    the returned row says so (``never_queued``); it is not sent later. Audited, with the
    export choices.
    """
    options = dict(options or {})
    language = report_language(language)
    chosen = exports.check_options(**(export or {}))
    options.update(chosen.to_options())
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
            language=language,
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
                "language": language,
                "options": options,
                **chosen.audit_data(),
            },
        )
        transaction.on_commit(partial(enqueue, report.pk))
    # Committed here unless the caller holds a transaction: then whether the broker took it.
    report.refresh_from_db(fields=["status", "error", "finished_at"])
    return report


def enqueue(report_id: int) -> None:
    """Send the build to the workers; an unreachable broker fails the request, not the page
    (``trial.jobs.send``)."""
    jobs.send(ReportRequest, report_id)


def _remove(*paths: Path | None) -> None:
    """Remove files and any temporary ``.<name>.*.part`` a killed writer left beside them."""
    for path in paths:
        if path is None:
            continue
        path.unlink(missing_ok=True)
        if path.parent.is_dir():
            for partial_file in path.parent.glob(f".{path.name}.*.part"):
                partial_file.unlink(missing_ok=True)


def remove_files(report: ReportRequest) -> None:
    """Remove the request's files, finished or partial (its build failed)."""
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


def execute_report(report_id: int) -> str:
    """Build a requested report, storing progress, then the files and provenance or the error.

    The report is written in the request's language (``translation.override``), whatever the
    worker's. Safe to repeat: only a queued request, or one whose worker's lease ran out, is
    taken (``trial.jobs.claim``), and files are written atomically under names fixed by the request,
    so a rerun replaces them whole. The lease is kept while the build runs, also through a
    long stage. Whatever goes wrong, the request ends failed with the reason and no file of it
    stays behind. Returns the final status, or the claim's ``busy``, ``skipped``, ``missing``.
    """
    claim, report = jobs.claim(ReportRequest, report_id)
    if report is None:
        return claim
    # Tables, text, figures and the stored error in the language of who ordered it.
    with jobs.held(report) as rows, translation.override(report.language):
        return _build(report, rows)


def _build(report: ReportRequest, rows: QuerySet[ReportRequest]) -> str:
    """The build of a claimed request; ``rows`` match it while this attempt holds it."""
    report = ReportRequest.objects.select_related("trial", "plan").get(pk=report.pk)
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
        export_salt=f"{report.pk}:{report.created_at.isoformat()}",
    )
    folder = report_folder(report.trial)
    pdf_path, zip_path = pipeline.output_paths(folder, spec)

    _remove(pdf_path, zip_path)  # a rerun starts clean, also of a killed writer's leftovers

    def progress(stage: str, percent: int) -> None:
        rows.update(stage=stage, percent=percent, heartbeat_at=timezone.now())

    try:
        result = pipeline.build(spec, folder, progress=progress)
    except Exception as error:  # whatever it was, the request must not stay running
        logger.exception("report %s failed", report.pk)
        if isinstance(error, pipeline.ReportBuildError | ReportError):
            message = str(error)
        else:
            message = _("The report could not be built: %(reason)s") % {
                "reason": f"{type(error).__name__}: {error}"[:500]
            }
        jobs.fail(report, message, rows=rows, pdf_file="", zip_file="")
        return ReportRequest.Status.FAILED
    finished = rows.update(
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
    if not finished:  # the sweep gave the build to another worker meanwhile
        return jobs.Claim.SKIPPED
    return ReportRequest.Status.DONE


def report_file(report: ReportRequest, which: str) -> Path:
    """The finished file (``pdf`` or ``zip``); raises ReportError if there is none."""
    name = {"pdf": report.pdf_file, "zip": report.zip_file}.get(which, "")
    if report.status != ReportRequest.Status.DONE or not name:
        raise ReportError(_("This report has no such file."))
    path = report_folder(report.trial) / name
    if not path.is_file():
        raise ReportError(_("The file of this report is no longer on the server."))
    return path


def export_options(report: ReportRequest) -> exports.ExportOptions:
    """The formats and de-identification of the report's data sets."""
    return exports.ExportOptions.from_options(report.options)


def record_download(report: ReportRequest, *, which: str, actor: User) -> Path:
    """The file to send, with the download recorded in the audit trail; for the data sets
    (the ZIP) with their formats and de-identification."""
    path = report_file(report, which)
    data: dict[str, Any] = {"file": which, "name": path.name, "snapshot_hash": report.snapshot_hash}
    if which == "zip":
        data.update(export_options(report).audit_data())
    audit.record("report.downloaded", report, actor=actor, data=data, trial=report.trial)
    return path


def record_command_build(spec: pipeline.BuildSpec, result: pipeline.BuildResult) -> None:
    """Record in the trial's audit trail a report built by ``manage.py build_report`` (by an
    operator on the server, outside the permission layer): what, on which data, in which
    formats and with which de-identification, and the files' names."""
    audit.record(
        "report.built_by_command",
        spec.trial,
        actor=None,
        data={
            "kind": spec.kind,
            "cut_off": spec.cut_off.isoformat(),
            "blinded": spec.blinded,
            "snapshot_hash": result.snapshot_hash,
            "files": [path.name for path in (result.pdf, result.zip) if path is not None],
            **exports.ExportOptions.from_options(spec.options).audit_data(),
        },
        trial=spec.trial,
    )


def consort_download(trial: Trial, *, cut_off: dt.date, actor: User) -> str:
    """The trial's current CONSORT flow diagram as an SVG document, with arms as codes for a
    blinded user (as in the reports they order). The caller has checked the right to order
    reports. Raises ReportError for a cut-off in the future. Audited (who took which counts);
    safe to repeat.
    """
    if cut_off > timezone.localdate():
        raise ReportError(_("The data cut-off cannot be in the future."), field="cut_off")
    blinded = is_blinded(actor, trial)
    figure = current_consort(trial, cut_off=cut_off, blinded=blinded)
    audit.record(
        "report.consort_downloaded",
        trial,
        actor=actor,
        data={"cut_off": cut_off.isoformat(), "blinded": blinded},
        trial=trial,
    )
    return figure.svg
