"""Importing a trial's data from CSV files in the browser: check first, then import.

Each step is a job (``trialimport.jobs``): small files are processed in the request, larger
ones on a worker while the page shows progress. The check runs the whole import and rolls it
back, so its report is exactly what the import would do. The rules live in
``trialimport.services`` and the services it calls.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view
from trialimport import jobs as import_jobs
from trialimport.columns import FILES
from trialimport.models import TrialImport

MAX_FILE_BYTES = 20 * 1024 * 1024
RECENT_IMPORTS = 10


class ImportForm(forms.Form):
    """One optional file per kind; the field says what the file is, whatever its name."""

    participants = forms.FileField(
        label="participants.csv",
        required=False,
        help_text=gettext_lazy("Study ids, sites, enrolment, consent and baseline covariates."),
    )
    allocations = forms.FileField(
        label="allocations.csv",
        required=False,
        help_text=gettext_lazy("Allocations made elsewhere; recorded as imported."),
    )
    assessments = forms.FileField(
        label="assessments.csv",
        required=False,
        help_text=gettext_lazy("Follow-up assessments by study id and visit code."),
    )
    withdrawals = forms.FileField(
        label="withdrawals.csv",
        required=False,
        help_text=gettext_lazy("Withdrawals: date, what the participant allowed, reason."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.fields:
            upload = data.get(name)
            if upload is not None and upload.size > MAX_FILE_BYTES:
                self.add_error(
                    name,
                    _("The file is larger than %(mb)s MB; import it with the command line.")
                    % {"mb": MAX_FILE_BYTES // (1024 * 1024)},
                )
        if not any(data.get(name) for name in self.fields):
            raise forms.ValidationError(_("Choose at least one file."))
        return data

    def files_by_name(self) -> dict[str, bytes]:
        return {
            f"{name}.csv": upload.read()
            for name in self.fields
            if (upload := self.cleaned_data.get(name)) is not None
        }


@trial_view(Perm.IMPORT_DATA)
def upload(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Choose the files; checking them is a job, and its page follows."""
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    if request.method == "POST" and form.is_valid():
        trial_import = import_jobs.start_check(
            trial,
            form.files_by_name(),
            actor=request.user,
        )
        return redirect("trialimport:import_detail", trial.code, trial_import.pk)
    recent = TrialImport.objects.filter(trial=trial)[:RECENT_IMPORTS]
    context = {"trial": trial, "form": form, "imports": recent}
    return render(request, "trialimport/import_upload.html", context)


@trial_view(Perm.IMPORT_DATA)
def detail(request: AuthenticatedHttpRequest, trial: Trial, import_id: int) -> HttpResponse:
    """One import: progress while a step runs (the fragment polls), then its report."""
    trial_import = get_object_or_404(TrialImport, pk=import_id, trial=trial)
    report = trial_import.report
    rows = [(name, report["files"][name]) for name in FILES if name in report.get("files", {})]
    errors = report.get("errors", [])
    context = {
        "trial": trial,
        "run": trial_import,
        "report": report,
        "counts": rows,
        "errors": errors,
        "hidden_errors": max(0, report.get("error_count", 0) - len(errors)),
        "warnings": report.get("warnings", []),
        "hidden_warnings": max(0, report.get("warning_count", 0) - len(report.get("warnings", []))),
        "progress": import_jobs.progress_of(trial_import) if trial_import.active else None,
        "poll_url": reverse("trialimport:import_detail", args=[trial.code, trial_import.pk]),
    }
    template = (
        "trialimport/_import_status.html" if request.htmx else "trialimport/import_detail.html"
    )
    return render(request, template, context)


@trial_view(Perm.IMPORT_DATA)
@require_POST
def confirm(request: AuthenticatedHttpRequest, trial: Trial, import_id: int) -> HttpResponse:
    trial_import = get_object_or_404(TrialImport, pk=import_id, trial=trial)
    try:
        trial_import = import_jobs.confirm(trial_import, actor=request.user)
    except TrialError as error:
        messages.error(request, error.message)
    else:
        if trial_import.status == TrialImport.Status.DONE:
            report = trial_import.report
            messages.success(
                request,
                _("Imported: %(created)s rows created, %(unchanged)s unchanged.")
                % {"created": report["created"], "unchanged": report["unchanged"]},
            )
    return redirect("trialimport:import_detail", trial.code, trial_import.pk)
