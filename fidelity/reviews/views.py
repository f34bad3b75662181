"""Pages for fidelity reviews: the list, planning one, a review's scores, scoring, the
consensus, finalising, and the sites' fidelity trends.

Access is decided in ``trial.permissions``: scoring needs REVIEW_FIDELITY. Reading reviews
needs VIEW_ALLOCATION, because in a cluster trial the sites that are reviewed are the
intervention sites (blinded statisticians must not learn them), and site-scoped members see
only their own sites' reviews.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, ngettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from fidelity.models import ConsensusScore, Review, Scale, ScaleItem
from fidelity.reviews import services
from fidelity.reviews.figures import review_view
from fidelity.reviews.forms import ReviewForm, ScoreForm
from fidelity.reviews.trends import site_trends
from fidelity.scales.scoring import band_for
from fidelity.scales.services import ScaleError
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import show_error, trial_view

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

# What a reviewer is told after saving a score form with items left blank.
SCORES_DRAFT = ngettext_lazy(
    "Your scores are saved as a draft: %(missing)s of %(count)s items still needs a score.",
    "Your scores are saved as a draft: %(missing)s of %(count)s items still need a score.",
    "missing",
)
CONSENSUS_DRAFT = ngettext_lazy(
    "The consensus is saved as a draft: %(missing)s of %(count)s items still needs a score "
    "before the review can be finalised.",
    "The consensus is saved as a draft: %(missing)s of %(count)s items still need a score "
    "before the review can be finalised.",
    "missing",
)


def _visible_reviews(request: HttpRequest, trial: Trial) -> QuerySet[Review]:
    return Review.objects.visible_to(request.user, trial).select_related("site", "scale")


def _review(request: HttpRequest, trial: Trial, review_id: int) -> Review:
    return get_object_or_404(_visible_reviews(request, trial), pk=review_id)


def _show_scale_error(form: forms.Form, error: ScaleError) -> None:
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


def _save(
    request: HttpRequest,
    trial: Trial,
    review: Review,
    form: ScoreForm,
    save: Callable[[dict[int, int]], object],
    *,
    drafted: StrPromise,
    items: int,
    saved: str,
) -> HttpResponse | None:
    """Save a posted score form through ``save`` (a service given the scores, blanks left out),
    say whether it is a draft (``drafted``, with how many of the ``items`` were left blank) or
    ``saved``, and go back to the review. None when it was refused: the form then carries the
    faults."""
    if not form.is_valid():
        _refuse_invalid(form)
        return None
    try:
        save(form.scores())
    except ScaleError as error:
        _show_scale_error(form, error)
        return None
    if missing := _unscored(form):
        messages.warning(request, drafted % {"missing": missing, "count": items})
    else:
        messages.success(request, saved)
    return redirect("fidelity_reviews:review", trial.code, review.pk)


def _can(request: HttpRequest, trial: Trial, perm: Perm) -> bool:
    return permissions.has_perm(request.user, trial, perm)


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
                "band": band_for(review.scale.bands, total),
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
    usable = Scale.objects.filter(trial=trial).usable()
    form = ReviewForm(
        request.POST or None,
        sites=sites,
        scales=usable.order_by("name", "-created_at"),
        reviewers=services.eligible_reviewers(trial),
    )
    if request.method == "POST" and form.is_valid():
        try:
            review = services.create_review(
                trial,
                actor=request.user,
                site=form.cleaned_data["site"],
                scale=form.cleaned_data["scale"],
                review_date=form.cleaned_data["review_date"],
                reviewers=form.chosen_reviewers(),
            )
        except ScaleError as error:
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
    view = review_view(obj)
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
        done = _save(
            request,
            trial,
            obj,
            form,
            lambda scores: services.submit_scores(
                obj, actor=request.user, scores=scores, draft=True
            ),
            drafted=SCORES_DRAFT,
            items=len(items),
            saved=_("Your scores are saved."),
        )
        if done is not None:
            return done
    context = {
        "trial": trial,
        "review": obj,
        "form": form,
        "rows": form.rows(),
        "is_reviewer": obj.reviewers.filter(pk=request.user.pk).exists(),
        "open": obj.scoring_open,
    }
    return render(request, "fidelity/review_score.html", context)


@trial_view(Perm.REVIEW_FIDELITY)
def consensus(request: AuthenticatedHttpRequest, trial: Trial, review_id: int) -> HttpResponse:
    obj = _review(request, trial, review_id)
    view = review_view(obj)
    initial = {f"item_{n}": s for n, s in (view.consensus or view.proposal).items()}
    data = request.POST if request.method == "POST" else None
    form = ScoreForm(data, initial=initial, scale=obj.scale, items=view.items)
    if request.method == "POST":
        done = _save(
            request,
            trial,
            obj,
            form,
            lambda scores: services.record_consensus(
                obj, actor=request.user, scores=scores, draft=True
            ),
            drafted=CONSENSUS_DRAFT,
            items=len(view.items),
            saved=_("Consensus scores saved."),
        )
        if done is not None:
            return done
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
        "open": obj.consensus_open,
    }
    return render(request, "fidelity/review_consensus.html", context)


@trial_view(Perm.REVIEW_FIDELITY)
@require_http_methods(["GET", "POST"])
def finalise(request: AuthenticatedHttpRequest, trial: Trial, review_id: int) -> HttpResponse:
    """GET: ask for confirmation, saying what finalising locks; POST: finalise."""
    obj = _review(request, trial, review_id)
    if request.method == "POST":
        try:
            services.finalise_review(obj, actor=request.user)
        except ScaleError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The review is finalised."))
        return redirect("fidelity_reviews:review", trial.code, obj.pk)
    view = review_view(obj)
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
    trends_by_site = site_trends(trial, sites)
    context = {
        "trial": trial,
        "trends": [t for t in trends_by_site if t.points],
        "unreviewed": [t.site for t in trends_by_site if not t.points],
        "summary": [
            {
                "site": t.site,
                "points": t.points,
                "latest": t.latest,
                "change": t.change,
            }
            for t in trends_by_site
            if t.points
        ],
    }
    return render(request, "fidelity/review_trends.html", context)
