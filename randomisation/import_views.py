"""Importing a trial's data from CSV files in the browser: check first, then import.

The check runs the whole import and rolls it back, so its report is exactly what the import
would do. Checked files wait for the "Import" button in the session, encrypted with the
personal-number key (they may hold personal numbers), and are removed when used or replaced.
The rules live in randomisation.importing and the services it calls.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from randomisation import importing
from trial import personal_numbers
from trial.models import Trial
from trial.permissions import Perm
from trial.views import trial_view

SESSION_KEY = "randomisation.import"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ERRORS_SHOWN = 500


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


def _seal(files: dict[str, bytes]) -> str:
    payload = {name: base64.b64encode(data).decode() for name, data in files.items()}
    return personal_numbers.encrypt(json.dumps(payload))


def _unseal(token: str) -> dict[str, bytes]:
    payload = json.loads(personal_numbers.decrypt(token))
    return {name: base64.b64decode(data) for name, data in payload.items()}


@trial_view(Perm.IMPORT_DATA)
def upload(request: HttpRequest, trial: Trial) -> HttpResponse:
    report = None
    token = None
    if request.method != "POST":
        form = ImportForm()
    else:
        form = ImportForm(request.POST, request.FILES)
        request.session.pop(SESSION_KEY, None)
        if form.is_valid():
            files = form.files_by_name()
            report = importing.import_trial(files, actor=request.user, trial=trial, dry_run=True)
            if report.ok and report.created:
                token = secrets.token_urlsafe(16)
                request.session[SESSION_KEY] = {
                    "trial": trial.code,
                    "token": token,
                    "files": _seal(files),
                }
    return render(request, "randomisation/import_upload.html", _context(trial, form, report, token))


def _context(
    trial: Trial, form: ImportForm, report: importing.ImportReport | None, token: str | None
) -> dict[str, Any]:
    rows = []
    if report is not None:
        rows = [(name, report.files[name]) for name in importing.FILES if name in report.files]
    errors = report.errors if report is not None else []
    return {
        "trial": trial,
        "form": form,
        "report": report,
        "counts": rows,
        "errors": errors[:MAX_ERRORS_SHOWN],
        "hidden_errors": max(0, len(errors) - MAX_ERRORS_SHOWN),
        "token": token,
    }


@trial_view(Perm.IMPORT_DATA)
@require_POST
def confirm(request: HttpRequest, trial: Trial) -> HttpResponse:
    checked = request.session.pop(SESSION_KEY, None)
    if (
        not checked
        or checked.get("trial") != trial.code
        or not secrets.compare_digest(checked.get("token", ""), request.POST.get("token", ""))
    ):
        messages.error(
            request, _("The checked files are no longer available; choose them and check again.")
        )
        return redirect("randomisation:import", trial.code)
    report = importing.import_trial(_unseal(checked["files"]), actor=request.user, trial=trial)
    if not report.ok:
        # The trial changed between the check and the import: show why, nothing is written.
        return render(
            request,
            "randomisation/import_upload.html",
            _context(trial, ImportForm(), report, None),
        )
    messages.success(
        request,
        _("Imported: %(created)s rows created, %(unchanged)s unchanged.")
        % {"created": report.created, "unchanged": report.unchanged},
    )
    return redirect("randomisation:import", trial.code)
