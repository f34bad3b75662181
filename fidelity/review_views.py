"""Pages for fidelity scales, reviews, scoring, consensus and site fidelity trends.

Access is decided in ``trial.permissions``: defining scales needs CONFIGURE_TRIAL, scoring
REVIEW_FIDELITY. Reading reviews needs VIEW_ALLOCATION, because in a cluster trial the sites
that are reviewed are the intervention sites (blinded statisticians must not learn them), and
site-scoped members see only their own sites' reviews.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fidelity import scales
from fidelity.models import ConsensusScore, Review, Scale, ScaleItem
from fidelity.review_forms import ItemForm, ReviewForm, ScaleForm, ScoreForm, bands_as_text
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import show_error, trial_view


def _visible_reviews(request: HttpRequest, trial: Trial) -> Any:
    return Review.objects.filter(
        trial=trial, site__in=permissions.visible_sites(request.user, trial)
    ).select_related("site", "scale")


def _review(request: HttpRequest, trial: Trial, review_id: int) -> Review:
    review: Review = get_object_or_404(_visible_reviews(request, trial), pk=review_id)
    return review


def _show_scale_error(form: forms.Form, error: scales.ScaleError) -> None:
    if error.errors:
        for number, message in error.errors.items():
            name = f"item_{number}"
            form.add_error(name if name in form.fields else None, message)
        form.add_error(None, error.message)
        return
    show_error(form, error)


def _refuse_invalid(form: ScoreForm) -> None:
    faulty = sum(1 for name in form.errors if name.startswith("item_"))
    form.add_error(
        None,
        ngettext(
            "%(count)s item needs a valid score; nothing was saved.",
            "%(count)s items need a valid score; nothing was saved.",
            faulty,
        )
        % {"count": faulty},
    )


def _unscored(form: ScoreForm) -> int:
    return len(form.items) - len(form.scores())


def _can(request: HttpRequest, trial: Trial, perm: Perm) -> bool:
    return permissions.has_perm(request.user, trial, perm)


# Reviews


@trial_view(Perm.VIEW_ALLOCATION)
@require_GET
def reviews(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    rows = list(_visible_reviews(request, trial).order_by("-review_date", "site__code"))
    sums = {
        r["review_id"]: r
        for r in ConsensusScore.objects.filter(review__in=rows)
        .values("review_id")
        .annotate(total=Sum("score"), n=Count("id"))
    }
    item_counts = dict(
        ScaleItem.objects.filter(scale_id__in={r.scale_id for r in rows})
        .values("scale_id")
        .annotate(n=Count("id"))
        .values_list("scale_id", "n")
    )
    mine = set(
        request.user.fidelity_reviews.filter(pk__in=[r.pk for r in rows]).values_list(
            "pk", flat=True
        )
    )
    listing = []
    for review in rows:
        found = sums.get(review.pk)
        complete = found is not None and found["n"] == item_counts.get(review.scale_id)
        total = found["total"] if complete and found else None
        listing.append(
            {
                "review": review,
                "total": total,
                "band": scales.band_for(review.scale.bands, total),
                "mine": review.pk in mine,
            }
        )
    context = {
        "trial": trial,
        "rows": listing,
        "can_review": _can(request, trial, Perm.REVIEW_FIDELITY),
        "can_configure": _can(request, trial, Perm.CONFIGURE_TRIAL),
    }
    return render(request, "fidelity/reviews.html", context)


@trial_view(Perm.REVIEW_FIDELITY)
def review_new(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    sites = permissions.visible_sites(request.user, trial).order_by("code")
    usable = Scale.objects.filter(trial=trial).annotate(n=Count("items")).filter(n__gt=0)
    form = ReviewForm(
        request.POST or None,
        sites=sites,
        scales=usable.order_by("name", "-created_at"),
        reviewers=scales.eligible_reviewers(trial),
    )
    if request.method == "POST" and form.is_valid():
        try:
            review = scales.create_review(
                trial,
                actor=request.user,
                site=form.cleaned_data["site"],
                scale=form.cleaned_data["scale"],
                review_date=form.cleaned_data["review_date"],
                reviewers=form.chosen_reviewers(),
            )
        except scales.ScaleError as error:
            show_error(form, error)
        else:
            messages.success(request, _("Review planned."))
            return redirect("fidelity_reviews:review", trial.code, review.pk)
    context = {"trial": trial, "form": form, "has_scales": usable.exists()}
    return render(request, "fidelity/review_new.html", context)


@trial_view(Perm.VIEW_ALLOCATION)
@require_GET
def review(request: HttpRequest, trial: Trial, review_id: int) -> HttpResponse:
    obj = _review(request, trial, review_id)
    view = scales.review_view(obj)
    is_reviewer = any(c.user_id == request.user.pk for c in view.reviewers)
    context = {
        "trial": trial,
        "review": obj,
        "view": view,
        "is_reviewer": is_reviewer,
        "can_review": _can(request, trial, Perm.REVIEW_FIDELITY),
        "show_scores": obj.status != Review.Status.DRAFT,
    }
    return render(request, "fidelity/review_detail.html", context)


@trial_view(Perm.REVIEW_FIDELITY)
def score(request: AuthenticatedHttpRequest, trial: Trial, review_id: int) -> HttpResponse:
    obj = _review(request, trial, review_id)
    items = list(obj.scale.items.all())
    mine = {
        f"item_{s.item.number}": s.score
        for s in obj.reviewer_scores.filter(reviewer=request.user).select_related("item")
    }
    # Bound on every POST, also an empty one, so that missing scores are reported, not a 500.
    data = request.POST if request.method == "POST" else None
    form = ScoreForm(data, initial=mine, scale=obj.scale, items=items)
    if request.method == "POST":
        if form.is_valid():
            try:
                scales.submit_scores(obj, actor=request.user, scores=form.scores(), draft=True)
            except scales.ScaleError as error:
                _show_scale_error(form, error)
            else:
                if missing := _unscored(form):
                    messages.warning(
                        request,
                        ngettext(
                            "Your scores are saved as a draft: %(missing)s of %(count)s items "
                            "still needs a score.",
                            "Your scores are saved as a draft: %(missing)s of %(count)s items "
                            "still need a score.",
                            missing,
                        )
                        % {"missing": missing, "count": len(items)},
                    )
                else:
                    messages.success(request, _("Your scores are saved."))
                return redirect("fidelity_reviews:review", trial.code, obj.pk)
        else:
            _refuse_invalid(form)
    context = {
        "trial": trial,
        "review": obj,
        "form": form,
        "rows": form.rows(),
        "is_reviewer": obj.reviewers.filter(pk=request.user.pk).exists(),
        "open": obj.status in (Review.Status.DRAFT, Review.Status.SCORED),
    }
    return render(request, "fidelity/review_score.html", context)


@trial_view(Perm.REVIEW_FIDELITY)
def consensus(request: AuthenticatedHttpRequest, trial: Trial, review_id: int) -> HttpResponse:
    obj = _review(request, trial, review_id)
    view = scales.review_view(obj)
    initial = {f"item_{n}": s for n, s in (view.consensus or view.proposal).items()}
    data = request.POST if request.method == "POST" else None
    form = ScoreForm(data, initial=initial, scale=obj.scale, items=view.items)
    if request.method == "POST":
        if form.is_valid():
            try:
                scales.record_consensus(obj, actor=request.user, scores=form.scores(), draft=True)
            except scales.ScaleError as error:
                _show_scale_error(form, error)
            else:
                if missing := _unscored(form):
                    messages.warning(
                        request,
                        ngettext(
                            "The consensus is saved as a draft: %(missing)s of %(count)s items "
                            "still needs a score before the review can be finalised.",
                            "The consensus is saved as a draft: %(missing)s of %(count)s items "
                            "still need a score before the review can be finalised.",
                            missing,
                        )
                        % {"missing": missing, "count": len(view.items)},
                    )
                else:
                    messages.success(request, _("Consensus scores saved."))
                return redirect("fidelity_reviews:review", trial.code, obj.pk)
        else:
            _refuse_invalid(form)
    rows = form.rows()
    for row, view_row in zip(rows, view.rows, strict=True):
        row["reviewer_scores"] = view_row["scores"]
        row["agreement"] = view_row["agreement"]
    context = {
        "trial": trial,
        "review": obj,
        "view": view,
        "reviewer_names": ", ".join(column.name for column in view.reviewers),
        "form": form,
        "rows": rows,
        "open": obj.status in (Review.Status.SCORED, Review.Status.CONSENSUS),
    }
    return render(request, "fidelity/review_consensus.html", context)


@trial_view(Perm.REVIEW_FIDELITY)
@require_http_methods(["GET", "POST"])
def finalise(request: AuthenticatedHttpRequest, trial: Trial, review_id: int) -> HttpResponse:
    """GET: ask for confirmation, saying what finalising locks; POST: finalise."""
    obj = _review(request, trial, review_id)
    if request.method == "POST":
        try:
            scales.finalise_review(obj, actor=request.user)
        except scales.ScaleError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The review is finalised."))
        return redirect("fidelity_reviews:review", trial.code, obj.pk)
    view = scales.review_view(obj)
    context = {
        "trial": trial,
        "review": obj,
        "view": view,
        "ready": obj.status == Review.Status.CONSENSUS
        and view.summary is not None
        and view.summary.total is not None,
    }
    return render(request, "fidelity/review_finalise.html", context)


@trial_view(Perm.VIEW_ALLOCATION)
@require_GET
def trends(request: HttpRequest, trial: Trial) -> HttpResponse:
    sites = permissions.visible_sites(request.user, trial).order_by("code")
    site_trends = scales.site_trends(trial, sites)
    context = {
        "trial": trial,
        "trends": [t for t in site_trends if t.points],
        "unreviewed": [t.site for t in site_trends if not t.points],
        "summary": [
            {
                "site": t.site,
                "points": t.points,
                "latest": t.latest,
                "change": t.change,
            }
            for t in site_trends
            if t.points
        ],
    }
    return render(request, "fidelity/review_trends.html", context)


# Scales


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def scale_list(request: HttpRequest, trial: Trial) -> HttpResponse:
    templates = [
        {
            "key": key,
            "name": scales.load_template(key)["name"],
            "version": scales.load_template(key)["version"],
        }
        for key in scales.TEMPLATES
    ]
    present = set(Scale.objects.filter(trial=trial).values_list("name", "version"))
    context = {
        "trial": trial,
        "scales": scales.scale_usage(trial),
        "templates": [t for t in templates if (t["name"], t["version"]) not in present],
        "can_configure": _can(request, trial, Perm.CONFIGURE_TRIAL),
    }
    return render(request, "fidelity/scales.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_POST
def scale_add_template(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    key = request.POST.get("template", "")
    try:
        scale = scales.add_template_scale(trial, key, actor=request.user)
    except scales.ScaleError as error:
        messages.error(request, error.message)
        return redirect("fidelity_reviews:scales", trial.code)
    messages.success(request, _("%(scale)s added.") % {"scale": scale})
    return redirect("fidelity_reviews:scale", trial.code, scale.pk)


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def scale_detail(request: HttpRequest, trial: Trial, scale_id: int) -> HttpResponse:
    scale = get_object_or_404(Scale, trial=trial, pk=scale_id)
    items = list(scale.items.all())
    context = {
        "trial": trial,
        "scale": scale,
        "items": [
            {"item": i, "anchors": [(level, i.anchor(level)) for level in scale.levels]}
            for i in items
        ],
        "sections": scales.summarise(scale, items, {}).sections,
        "minimum": len(items) * scale.min_level,
        "maximum": len(items) * scale.max_level,
        "review_count": scale.reviews.count(),
        "revisions": scale.revisions.all(),
        "can_configure": _can(request, trial, Perm.CONFIGURE_TRIAL),
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
                saved, is_new = scales.create_scale(trial, actor=request.user, **data), False
            else:
                saved, is_new = scales.update_scale(scale, actor=request.user, **data)
        except scales.ScaleError as error:
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
            saved, is_new = scales.save_item(
                scale,
                actor=request.user,
                item=item,
                number=data["number"],
                section=data["section"],
                title=data["title"],
                description=data["description"],
                anchors=form.anchors(),
            )
        except scales.ScaleError as error:
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
