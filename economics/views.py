"""Unit-cost pages: the dated table, its CSV import, the economic settings and the plan-time
checks. Coordinators keep the table; statisticians read it. Rules in economics.services."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from economics import extract, plans, services
from economics.forms import ImportForm, SettingsForm, UnitCostForm
from economics.models import UnitCost
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import form_saved, trial_view

REASONS = {
    "no_rate": gettext_lazy("no rate on the day"),
    "no_price_index": gettext_lazy("no price index for the row's price year"),
    "no_participants": gettext_lazy("no participant to bear it"),
    "no_role": gettext_lazy("logged by someone who is no longer a member"),
    "not_observed": gettext_lazy("months not observed in the register data"),
}


def left_out_rows(items: list[Any]) -> list[dict[str, Any]]:
    """Plan-time findings as table rows, in the active language."""
    kinds = dict(UnitCost.Kind.choices)
    return [
        {
            "kind": kinds.get(item.kind, item.kind),
            "key": item.key or "–",
            "reason": str(REASONS.get(item.reason, item.reason)),
            "count": item.count,
            "quantity": item.quantity,
            "participants": item.participants,
        }
        for item in items
    ]


def _page(
    request: HttpRequest,
    trial: Trial,
    *,
    form: UnitCostForm | None = None,
    import_form: ImportForm | None = None,
    settings_form: SettingsForm | None = None,
    import_errors: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    can_keep = permissions.has_perm(request.user, trial, Perm.KEEP_UNIT_COSTS)
    live = plans.canonical_rows(trial)
    frozen = plans.frozen_for(trial)
    changes = plans.table_changes(list(frozen.rows), live) if frozen else None
    context = {
        "trial": trial,
        "rows": UnitCost.objects.filter(trial=trial).select_related("arm"),
        "settings": services.settings_for(trial),
        "can_keep": can_keep,
        "form": form or UnitCostForm(trial=trial),
        "import_form": import_form or ImportForm(),
        "settings_form": settings_form or SettingsForm(instance=services.settings_for(trial)),
        "import_errors": import_errors or [],
        "checks": left_out_rows(extract.plan_checks(trial)),
        "columns": services.CSV_COLUMNS,
        "table_hash": plans.table_hash(live),
        "frozen": frozen,
        "removed": [plans.row_label(r) for r in changes.removed] if changes else [],
        "added": [plans.row_label(r) for r in changes.added] if changes else [],
    }
    return render(request, "economics/unit_costs.html", context, status=status)


@trial_view(Perm.ORDER_REPORT)
def unit_costs(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    if request.method != "POST":
        return _page(request, trial)
    permissions.require(request.user, trial, Perm.KEEP_UNIT_COSTS)
    form = UnitCostForm(request.POST, trial=trial)
    save = partial(services.save_unit_cost, trial)
    if form_saved(request, form, save, message=_("The unit cost was added.")):
        return redirect("economics:unit_costs", trial.code)
    return _page(request, trial, form=form, status=400)


@trial_view(Perm.KEEP_UNIT_COSTS)
def unit_cost_edit(request: AuthenticatedHttpRequest, trial: Trial, cost_id: int) -> HttpResponse:
    row = get_object_or_404(UnitCost, pk=cost_id, trial=trial)
    form = UnitCostForm(request.POST or None, instance=row, trial=trial)
    save = partial(services.save_unit_cost, trial, unit_cost=row)
    if request.method == "POST" and form_saved(
        request, form, save, message=_("The unit cost was saved.")
    ):
        return redirect("economics:unit_costs", trial.code)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "economics/unit_cost_edit.html",
        {"trial": trial, "row": row, "form": form},
        status=status,
    )


@trial_view(Perm.KEEP_UNIT_COSTS)
@require_POST
def unit_cost_delete(request: AuthenticatedHttpRequest, trial: Trial, cost_id: int) -> HttpResponse:
    row = get_object_or_404(UnitCost, pk=cost_id, trial=trial)
    services.delete_unit_cost(row, actor=request.user)
    messages.success(request, _("The unit cost was removed."))
    return redirect("economics:unit_costs", trial.code)


@trial_view(Perm.KEEP_UNIT_COSTS)
@require_POST
def import_csv(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, trial, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    result = services.import_unit_costs(
        trial, upload.read(), file_name=upload.name, actor=request.user
    )
    if result.errors:
        return _page(request, trial, import_form=form, import_errors=result.errors, status=400)
    messages.success(request, _("%(n)s unit costs were imported.") % {"n": result.saved})
    return redirect("economics:unit_costs", trial.code)


@trial_view(Perm.KEEP_UNIT_COSTS)
@require_POST
def economic_settings(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    form = SettingsForm(request.POST, instance=services.settings_for(trial))
    update = partial(services.update_settings, trial)
    if form_saved(request, form, update, message=_("The economic settings were saved.")):
        return redirect("economics:unit_costs", trial.code)
    return _page(request, trial, settings_form=form, status=400)
