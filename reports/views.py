"""Pages for the analysis plan and for ordering, following and downloading reports.

Access is decided in trial.permissions (through ``trial_view``); downloads also need
``services.may_download`` (a blinded user never gets an unblinded report). Files are served only
through :func:`download`, never from a public URL, and each download is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from reports import choices, exports, pipeline, registers, services
from reports import variables as dictionary
from reports.forms import AnalysisPlanForm, OrderReportForm, SupersedeForm, UnblindAnalysisForm
from reports.models import AnalysisPlan, AnalysisUnblinding, ReportRequest
from trial import permissions
from trial.models import AuditEvent, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]
EXPORT_EVENTS = ("report.downloaded", "report.built_by_command")
"""The audit events of report files leaving the system, listed on the downloads page."""


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _labels(trial: Trial, found: list[dictionary.Variable]) -> dict[str, str]:
    labels = dict(choices.outcome_choices(trial, found))
    labels.update(choices.covariate_choices(trial, found))
    labels.update(choices.subgroup_choices(trial, found))
    labels.update(choices.time_point_choices(trial))
    return labels


def labels_of_registers(trial: Trial, name: str) -> str:
    """A register endpoint as the plan page names it."""
    return registers.labels(trial, [name]).get(name, name)


def plan_models(plan: AnalysisPlan, found: list[dictionary.Variable]) -> str:
    """Which model each of the plan's outcomes gets, one line per outcome."""
    by_name = {v.name: v for v in found}
    lines = []
    for name in [plan.primary_outcome, *plan.secondary_outcomes]:
        variable = by_name.get(name)
        if variable is None:
            models = choices.register_model_text(name, plan.trial.design)
            if models:
                lines.append(
                    _("%(outcome)s (registers): %(models)s.")
                    % {"outcome": labels_of_registers(plan.trial, name), "models": models}
                )
            continue
        kind = dictionary.kind_of(variable)
        lines.append(
            _("%(outcome)s (%(kind)s): %(models)s.")
            % {
                "outcome": dictionary.label_of(variable),
                "kind": choices.kind_label(kind),
                "models": choices.model_text(kind, plan.trial.design),
            }
        )
    return "\n".join(lines) or "–"


def plan_facts(plan: AnalysisPlan) -> list[tuple[str, str]]:
    found = dictionary.variables(plan.trial)
    labels = _labels(plan.trial, found)
    named = [plan.primary_outcome, *plan.secondary_outcomes]
    labels = registers.labels(plan.trial, named) | labels

    def names(keys: list[str]) -> str:
        return ", ".join(labels.get(k, k) for k in keys) or "–"

    return [
        (_("Primary outcome"), labels.get(plan.primary_outcome, plan.primary_outcome)),
        (_("Time point"), labels.get(plan.time_point, plan.time_point)),
        (_("Secondary outcomes"), names(plan.secondary_outcomes)),
        (_("Analysis model"), plan.analysis_model),
        (_("Models by type of outcome"), plan_models(plan, found)),
        (_("Adjusted for"), names(plan.covariates)),
        (_("Missing outcome data"), plan.get_missing_display()),
        (_("Subgroups"), names(plan.subgroups)),
        (_("Other details"), plan.notes or "–"),
    ]


# --- the analysis plan ---------------------------------------------------------------------


@trial_view(Perm.ORDER_REPORT)
@require_GET
def plan_overview(request: HttpRequest, trial: Trial) -> HttpResponse:
    plans = list(trial.analysis_plans.select_related("supersedes").order_by("-version"))
    locked = next((p for p in plans if p.status == AnalysisPlan.Status.LOCKED), None)
    draft = next((p for p in plans if p.status == AnalysisPlan.Status.DRAFT), None)
    context = {
        "trial": trial,
        "plans": plans,
        "locked": locked,
        "draft": draft,
        "locked_facts": plan_facts(locked) if locked else None,
        "draft_facts": plan_facts(draft) if draft else None,
        "can_edit": permissions.has_perm(request.user, trial, Perm.LOCK_ANALYSIS_PLAN),
        "can_unblind": permissions.has_perm(request.user, trial, Perm.UNBLIND_ANALYSIS),
        "unblinding": AnalysisUnblinding.objects.filter(trial=trial).select_related("plan").first(),
    }
    return render(request, "reports/plan.html", context)


@trial_view(Perm.ORDER_REPORT)
@require_GET
def plan_version(request: HttpRequest, trial: Trial, version: int) -> HttpResponse:
    plan = get_object_or_404(AnalysisPlan, trial=trial, version=version)
    context = {"trial": trial, "plan": plan, "facts": plan_facts(plan)}
    return render(request, "reports/plan_version.html", context)


@trial_view(Perm.LOCK_ANALYSIS_PLAN)
@require_http_methods(FORM_METHODS)
def plan_edit(request: HttpRequest, trial: Trial) -> HttpResponse:
    draft = services.draft_plan(trial)
    if draft is None and services.locked_plan(trial) is not None:
        messages.error(request, _("The plan is locked. Start a new version to change it."))
        return redirect("reports:plan", trial.code)
    form = AnalysisPlanForm(request.POST or None, instance=draft, trial=trial)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_plan_draft(trial, values=form.cleaned_data, actor=_actor(request))
        except TrialError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, _("The draft plan was saved."))
            return redirect("reports:plan", trial.code)
    return render(request, "reports/plan_edit.html", {"trial": trial, "form": form, "plan": draft})


@trial_view(Perm.LOCK_ANALYSIS_PLAN)
@require_http_methods(FORM_METHODS)
def plan_lock(request: HttpRequest, trial: Trial) -> HttpResponse:
    draft = services.draft_plan(trial)
    if draft is None:
        raise Http404
    error = None
    if request.method == "POST":
        try:
            plan = services.lock_plan(draft, actor=_actor(request))
        except TrialError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                _("Version %(version)s of the plan is locked.") % {"version": plan.version},
            )
            return redirect("reports:plan", trial.code)
    context = {"trial": trial, "plan": draft, "facts": plan_facts(draft), "error": error}
    return render(request, "reports/plan_lock.html", context)


@trial_view(Perm.LOCK_ANALYSIS_PLAN)
@require_http_methods(FORM_METHODS)
def plan_supersede(request: HttpRequest, trial: Trial) -> HttpResponse:
    locked = services.locked_plan(trial)
    if locked is None:
        raise Http404
    form = SupersedeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.supersede_plan(
                locked, reason=form.cleaned_data["reason"], actor=_actor(request)
            )
        except TrialError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, _("A new draft version was started. Edit it, then lock it."))
            return redirect("reports:plan_edit", trial.code)
    return render(
        request, "reports/plan_supersede.html", {"trial": trial, "plan": locked, "form": form}
    )


@trial_view(Perm.UNBLIND_ANALYSIS)
@require_http_methods(FORM_METHODS)
def plan_unblind(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Unblind the analysis (once, after the plan is locked): services.unblind_analysis."""
    plan = services.locked_plan(trial)
    if plan is None or trial.analysis_unblinded_at is not None:
        messages.error(
            request,
            _("The analysis can be unblinded once, after the analysis plan is locked."),
        )
        return redirect("reports:plan", trial.code)
    form = UnblindAnalysisForm(request.POST or None, initial={"cut_off": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.unblind_analysis(
                trial,
                cut_off=form.cleaned_data["cut_off"],
                reason=form.cleaned_data["reason"],
                actor=_actor(request),
            )
        except TrialError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, _("The analysis is unblinded: arm names are now shown."))
            return redirect("reports:plan", trial.code)
    context = {"trial": trial, "plan": plan, "form": form}
    return render(request, "reports/plan_unblind.html", context)


# --- reports -------------------------------------------------------------------------------


def _report_row(request: HttpRequest, report: ReportRequest) -> dict[str, Any]:
    kind = pipeline.KINDS.get(report.kind)
    return {
        "report": report,
        "kind": kind.label if kind else report.kind,
        "url": reverse("reports:detail", args=[report.trial.code, report.pk]),
        "may_download": services.may_download(request.user, report),
    }


@trial_view(Perm.DOWNLOAD_REPORT)
@require_http_methods(FORM_METHODS)
def report_list(request: HttpRequest, trial: Trial) -> HttpResponse:
    can_order = permissions.has_perm(request.user, trial, Perm.ORDER_REPORT)
    form = OrderReportForm(request.POST or None) if can_order else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            options = {} if data["seed"] is None else {"seed": data["seed"]}
            try:
                report = services.request_report(
                    trial,
                    kind=data["kind"],
                    cut_off=data["cut_off"],
                    options=options,
                    export=form.export_choices(),
                    actor=_actor(request),
                )
            except TrialError as error:
                form.add_error(error.field, error.message)
            else:
                return redirect("reports:detail", trial.code, report.pk)
    reports = ReportRequest.objects.filter(trial=trial).select_related("trial", "plan")[:50]
    context = {
        "trial": trial,
        "form": form,
        "rows": [_report_row(request, r) for r in reports],
        "kinds": list(pipeline.KINDS.values()),
        "plan": pipeline.plan_in_force(trial),
        "blinded": services.is_blinded(request.user, trial),
    }
    return render(request, "reports/list.html", context)


def _stage_order(name: str) -> int:
    names = [stage for stage, _percent in pipeline.STAGES]
    return names.index(name) if name in names else len(names)


@trial_view(Perm.DOWNLOAD_REPORT)
@require_GET
def report_detail(request: AuthenticatedHttpRequest, trial: Trial, report_id: int) -> HttpResponse:
    report = get_object_or_404(
        ReportRequest.objects.select_related("trial", "plan"), pk=report_id, trial=trial
    )
    kind = pipeline.KINDS.get(report.kind)
    names = [name for name, _percent in pipeline.STAGES]
    if kind is not None and not kind.pdf:
        names = [name for name in names if name not in ("render", "pdf")]
    reached = len(names) if report.stage == "done" else -1
    if report.stage in names:
        reached = names.index(report.stage)
    stages = [
        {
            "label": pipeline.STAGE_LABELS[name],
            "done": i < reached,
            "current": i == reached and report.active,
            "failed": i == reached and report.status == ReportRequest.Status.FAILED,
        }
        for i, name in enumerate(names)
    ]
    export = services.export_options(report)
    context = {
        "trial": trial,
        "row": _report_row(request, report),
        "report": report,
        "formats": export.formats_text(),
        "deidentification": export.deidentification_text(),
        "stages": stages,
        "stage_label": pipeline.STAGE_LABELS.get(report.stage, report.stage),
        "poll_url": reverse("reports:detail", args=[trial.code, report.pk]),
        "timings": sorted(report.timings.items(), key=lambda item: _stage_order(item[0])),
        "software": sorted(report.versions.items()),
    }
    template = "reports/_status.html" if request.htmx else "reports/detail.html"
    return render(request, template, context)


@trial_view(Perm.DOWNLOAD_REPORT)
@require_GET
def download(request: HttpRequest, trial: Trial, report_id: int, which: str) -> FileResponse:
    report = get_object_or_404(
        ReportRequest.objects.select_related("trial"), pk=report_id, trial=trial
    )
    if which not in ("pdf", "zip"):
        raise Http404
    if not services.may_download(request.user, report):
        raise PermissionDenied
    try:
        path = services.record_download(report, which=which, actor=_actor(request))
    except TrialError:
        raise Http404 from None
    content_type = "application/pdf" if which == "pdf" else "application/zip"
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name, content_type=content_type
    )


@trial_view(Perm.VIEW_AUDIT)
@require_GET
def download_log(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Who downloaded which report file, and when, and the reports built on the server with
    ``manage.py build_report`` (from the audit trail); for the data sets, in which formats and
    with which de-identification."""
    events = AuditEvent.objects.filter(trial=trial, action__in=EXPORT_EVENTS).order_by(
        "-created_at", "-id"
    )
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    downloads = [e for e in page if e.action == "report.downloaded"]
    reports = {
        str(r.pk): r
        for r in ReportRequest.objects.filter(
            trial=trial, pk__in=[int(e.target_id) for e in downloads]
        )
    }
    rows = []
    for event in page:
        report = reports.get(event.target_id) if event.action == "report.downloaded" else None
        key = report.kind if report else event.data.get("kind", "")
        kind = pipeline.KINDS.get(key)
        label = kind.label if kind else (key or event.target_repr)
        if event.action == "report.built_by_command":
            label = _("%(kind)s, built with manage.py build_report") % {"kind": label}
        cut_off = report.cut_off if report else event.data.get("cut_off", "")
        # Data sets record their formats and de-identification (downloads before these were
        # recorded were of CSV and Stata files, as they are).
        export = exports.ExportOptions.from_options(event.data) if "formats" in event.data else None
        rows.append(
            {
                "event": event,
                "report": report,
                "kind": label,
                "cut_off": dt.date.fromisoformat(cut_off)
                if isinstance(cut_off, str) and cut_off
                else cut_off,
                "file": event.data.get("file", ""),
                "name": event.data.get("name", "") or ", ".join(event.data.get("files", [])),
                "formats": export.formats_text() if export else "",
                "deidentification": export.deidentification_text() if export else "",
            }
        )
    return render(request, "reports/downloads.html", {"trial": trial, "page": page, "rows": rows})


def consort_filename(trial: Trial, cut_off: dt.date) -> str:
    return f"{trial.code}-consort-{cut_off.isoformat()}.svg"


@trial_view(Perm.ORDER_REPORT)
@require_GET
def consort_svg(request: HttpRequest, trial: Trial) -> HttpResponse:
    """The current CONSORT flow diagram as an SVG file (``?cut_off=YYYY-MM-DD``, default
    today); arms as codes for a blinded user."""
    raw = request.GET.get("cut_off", "")
    try:
        cut_off = dt.date.fromisoformat(raw) if raw else timezone.localdate()
        svg = services.consort_download(trial, cut_off=cut_off, actor=_actor(request))
    except ValueError:
        return HttpResponseBadRequest(_("The data cut-off is not a date (YYYY-MM-DD)."))
    except TrialError as error:
        return HttpResponseBadRequest(error.message)
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{consort_filename(trial, cut_off)}"'
    return response
