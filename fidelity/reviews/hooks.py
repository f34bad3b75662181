"""What fidelity reviews put on a member's landing page (``trial.extensions``): a fidelity
reviewer's reviews (to score, awaiting the consensus, finalised)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest

from fidelity.models import Review, ScaleItem
from trial import permissions
from trial.extensions import Panel, register_landing_panel
from trial.models import Trial
from trial.permissions import Perm

LANDING_FINALISED = 5


@register_landing_panel
def my_reviews(request: HttpRequest, trial: Trial) -> Panel | None:
    """The fidelity reviews the user is a reviewer of, at the sites they may see: those waiting
    for their scores (with how far their draft got), those awaiting the consensus or
    finalising, and the latest finalised."""
    user = request.user
    if not (
        permissions.has_perm(user, trial, Perm.REVIEW_FIDELITY)
        and permissions.has_perm(user, trial, Perm.VIEW_ALLOCATION)
    ):
        return None
    reviews = list(
        Review.objects.visible_to(user, trial)
        .filter(reviewers=user.pk)
        .select_related("site", "scale")
        .annotate(mine=Count("reviewer_scores", filter=Q(reviewer_scores__reviewer=user.pk)))
        .order_by("review_date", "site__code")
    )
    items = dict(
        ScaleItem.objects.filter(scale_id__in={r.scale_id for r in reviews})
        .values("scale_id")
        .annotate(n=Count("id"))
        .values_list("scale_id", "n")
    )
    to_score: list[dict[str, Any]] = []
    awaiting: list[dict[str, Any]] = []
    finalised: list[dict[str, Any]] = []
    for review in reviews:
        count = items.get(review.scale_id, 0)
        row = {"review": review, "scored": review.mine, "items": count}
        if review.status == Review.Status.FINALISED:
            finalised.append(row)
        elif review.status == Review.Status.DRAFT and review.mine < count:
            to_score.append(row)
        else:
            awaiting.append(row)
    return Panel(
        "fidelity/_landing_reviews.html",
        {
            "to_score": to_score,
            "awaiting": awaiting,
            "finalised": finalised[::-1][:LANDING_FINALISED],
            "finalised_count": len(finalised),
        },
        order=30,
    )
