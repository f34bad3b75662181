"""Job strain pages: the figures by arm, and the trial's job exposure matrices.

Access is decided in trial.permissions (through ``trial_view``). Users without
``VIEW_ALLOCATION`` see arm codes only (A, B), never arm names, as elsewhere.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from occupations import jobs as job_data
from occupations import services, strain, styrk
from occupations.forms import JEMImportForm
from occupations.models import JobExposureMatrix
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import trial_view


def arm_labels(request: HttpRequest, trial: Trial) -> tuple[bool, list[str], dict[str, str]]:
    """Whether names are shown, the arm labels in order, and arm code → label."""
    show_names = permissions.sees_arm_names(request.user, trial)
    labels = {
        arm.code: f"{arm.code}: {arm.name}" if show_names else arm.code
        for arm in trial.arms.order_by("code")
    }
    return show_names, list(labels.values()), labels


def _lang() -> str:
    return "en" if (get_language() or "nb").startswith("en") else "nb"


@trial_view(Perm.VIEW_DASHBOARD)
@require_GET
def job_strain(request: HttpRequest, trial: Trial) -> HttpResponse:
    matrix = services.active_matrix(trial)
    show_names, order, labels = arm_labels(request, trial)
    jobs = job_data.jobs_reached(trial)
    context: dict[str, Any] = {
        "trial": trial,
        "matrix": matrix,
        "show_names": show_names,
        "jobs_count": len(jobs),
        "can_import": permissions.has_perm(request.user, trial, Perm.IMPORT_DATA),
    }
    if matrix is not None:
        entries = pd.DataFrame(
            list(matrix.entries.values("code", "level", "measure", "score")),
            columns=["code", "level", "measure", "score"],
        )
        frame = pd.DataFrame(
            {
                "participant_id": jobs["participant_id"],
                "arm": jobs["arm_code"].map(labels),
                "code": jobs["code"],
            }
        )
        summary = strain.summarise(
            frame, entries, arms=order, measure_labels=matrix.measures, lang=_lang()
        )
        scale_max = float(entries["score"].max()) if len(entries) else None
        context.update(
            summary=summary,
            measure_labels=matrix.measures,
            chart=strain.mean_chart(summary, matrix.measures, scale_max=scale_max),
            levels=[4, 3, 2, 1],
        )
    return render(request, "occupations/job_strain.html", context)


@trial_view(Perm.IMPORT_DATA)
def matrices(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    errors: list[Any] = []
    form = JEMImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            matrix = services.import_jem(
                trial,
                content=data["file"].read(),
                name=data["name"],
                version=data["version"],
                source=data["source"],
                licence=data["licence"],
                illustrative=data["illustrative"],
                activate=data["activate"],
                actor=request.user,
            )
        except services.JEMImportError as error:
            for problem in error.errors:
                if problem.line == 0 and problem.column in form.fields:
                    form.add_error(problem.column, problem.message)
                else:
                    errors.append(problem)
        else:
            messages.success(
                request,
                _("Imported %(name)s %(version)s with %(n)s scores.")
                % {"name": matrix.name, "version": matrix.version, "n": matrix.entries.count()},
            )
            return redirect("occupations:matrices", trial.code)
    context = {
        "trial": trial,
        "form": form,
        "errors": errors,
        "matrices": trial.job_exposure_matrices.select_related("uploaded_by").order_by(
            "-uploaded_at"
        ),
    }
    return render(request, "occupations/matrices.html", context)


@trial_view(Perm.IMPORT_DATA)
@require_POST
def activate(request: AuthenticatedHttpRequest, trial: Trial, pk: int) -> HttpResponse:
    matrix = get_object_or_404(JobExposureMatrix, trial=trial, pk=pk)
    services.activate_jem(matrix, actor=request.user)
    messages.success(
        request,
        _("The trial now uses %(name)s %(version)s.")
        % {"name": matrix.name, "version": matrix.version},
    )
    return redirect("occupations:matrices", trial.code)


@trial_view(Perm.VIEW_DASHBOARD)
@require_GET
def matrix_detail(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    matrix = get_object_or_404(JobExposureMatrix, trial=trial, pk=pk)
    lang = _lang()
    rows: dict[str, dict[str, Any]] = {}
    for entry in matrix.entries.order_by("code"):
        row = rows.setdefault(
            entry.code,
            {"code": entry.code, "level": entry.level, "label": styrk.label(entry.code, lang)},
        )
        row[entry.measure] = entry.score
    measures = sorted(matrix.measures)
    table = [
        {**row, "scores": [row.get(m) for m in measures]}
        for row in sorted(rows.values(), key=lambda r: r["code"])
    ]
    return render(
        request,
        "occupations/matrix.html",
        {
            "trial": trial,
            "matrix": matrix,
            "measures": [(m, matrix.measure_label(m)) for m in measures],
            "rows": table,
        },
    )
