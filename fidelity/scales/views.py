"""Pages for fidelity scales: the list (with the shipped templates to add), one scale with its
items and bands, and editing a scale or an item. Reading needs VIEW_TRIAL, defining
CONFIGURE_TRIAL (``trial.permissions``); the rules are in ``fidelity.scales.services``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fidelity.models import Scale, ScaleItem
from fidelity.scales import services
from fidelity.scales.forms import ItemForm, ScaleForm, bands_as_text
from fidelity.scales.scoring import summarise
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import show_error, trial_view


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def scale_list(request: HttpRequest, trial: Trial) -> HttpResponse:
    templates = [
        {
            "key": key,
            "name": services.load_template(key)["name"],
            "version": services.load_template(key)["version"],
        }
        for key in services.TEMPLATES
    ]
    present = set(Scale.objects.filter(trial=trial).values_list("name", "version"))
    context = {
        "trial": trial,
        "scales": list(
            Scale.objects.filter(trial=trial).with_usage().order_by("name", "created_at")
        ),
        "templates": [t for t in templates if (t["name"], t["version"]) not in present],
        "can_configure": permissions.has_perm(request.user, trial, Perm.CONFIGURE_TRIAL),
    }
    return render(request, "fidelity/scales.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_POST
def scale_add_template(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    key = request.POST.get("template", "")
    try:
        scale = services.add_template_scale(trial, key, actor=request.user)
    except services.ScaleError as error:
        messages.error(request, error.message)
        return redirect("fidelity_reviews:scales", trial.code)
    messages.success(request, _("%(scale)s added.") % {"scale": scale})
    return redirect("fidelity_reviews:scale", trial.code, scale.pk)


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def scale_detail(request: HttpRequest, trial: Trial, scale_id: int) -> HttpResponse:
    scale = get_object_or_404(Scale, trial=trial, pk=scale_id)
    items = list(scale.items.all())
    minimum, maximum = scale.total_range(len(items))
    context = {
        "trial": trial,
        "scale": scale,
        "items": [
            {"item": i, "anchors": [(level, i.anchor(level)) for level in scale.levels]}
            for i in items
        ],
        "sections": summarise(scale, items, {}).sections,
        "minimum": minimum,
        "maximum": maximum,
        "review_count": scale.reviews.count(),
        "revisions": scale.revisions.all(),
        "can_configure": permissions.has_perm(request.user, trial, Perm.CONFIGURE_TRIAL),
    }
    return render(request, "fidelity/scale_detail.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
def scale_edit(
    request: AuthenticatedHttpRequest, trial: Trial, scale_id: int | None = None
) -> HttpResponse:
    scale = get_object_or_404(Scale, trial=trial, pk=scale_id) if scale_id else None
    initial = {}
    if scale is not None:
        initial = {
            "name": scale.name,
            "version": scale.version,
            "source": scale.source,
            "notes": scale.notes,
            "min_level": scale.min_level,
            "max_level": scale.max_level,
            "bands": bands_as_text(scale.bands),
        }
    form = ScaleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if scale is None:
                saved, is_new = services.create_scale(trial, actor=request.user, **data), False
            else:
                saved, is_new = services.update_scale(scale, actor=request.user, **data)
        except services.ScaleError as error:
            show_error(form, error)
        else:
            if is_new:
                messages.success(
                    request,
                    _("Reviews used the scale, so your change made a new version: %(version)s.")
                    % {"version": saved.version},
                )
            else:
                messages.success(request, _("Scale saved."))
            return redirect("fidelity_reviews:scale", trial.code, saved.pk)
    context = {
        "trial": trial,
        "scale": scale,
        "form": form,
        "in_use": scale is not None and scale.reviews.exists(),
    }
    return render(request, "fidelity/scale_edit.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
def item_edit(
    request: AuthenticatedHttpRequest, trial: Trial, scale_id: int, number: int | None = None
) -> HttpResponse:
    scale = get_object_or_404(Scale, trial=trial, pk=scale_id)
    item = get_object_or_404(ScaleItem, scale=scale, number=number) if number else None
    initial: dict[str, Any] = {"number": (scale.items.count() + 1)}
    if item is not None:
        initial = {
            "number": item.number,
            "section": item.section,
            "title": item.title,
            "description": item.description,
            **{f"anchor_{level}": item.anchor(level) for level in scale.levels},
        }
    form = ItemForm(request.POST or None, initial=initial, scale=scale)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved, is_new = services.save_item(
                scale,
                actor=request.user,
                item=item,
                number=data["number"],
                section=data["section"],
                title=data["title"],
                description=data["description"],
                anchors=form.anchors(),
            )
        except services.ScaleError as error:
            show_error(form, error)
        else:
            if is_new:
                messages.success(
                    request,
                    _("Reviews used the scale, so your change made a new version: %(version)s.")
                    % {"version": saved.scale.version},
                )
            else:
                messages.success(request, _("Item saved."))
            return redirect("fidelity_reviews:scale", trial.code, saved.scale_id)
    context = {
        "trial": trial,
        "scale": scale,
        "item": item,
        "form": form,
        "in_use": scale.reviews.exists(),
    }
    return render(request, "fidelity/scale_item.html", context)
