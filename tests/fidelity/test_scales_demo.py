"""The demo trial's fidelity reviews: three per intervention site, two reviewers, consensus."""

from __future__ import annotations

import datetime as dt

import pytest

from demo.seed import seed_demo
from fidelity.models import ConsensusScore, Review, ReviewerScore
from fidelity.reviews.figures import review_view
from fidelity.reviews.trends import site_trends


@pytest.mark.django_db
def test_demo_has_three_finalised_reviews_per_site_mostly_improving() -> None:
    as_of = dt.date(2026, 6, 1)
    result = seed_demo(participants=15, seed=2, as_of=as_of)
    trial = result.trial
    sites = list(trial.sites.order_by("code"))
    reviews = Review.objects.filter(trial=trial)
    assert reviews.count() == 3 * len(sites) == 36
    assert set(reviews.values_list("status", flat=True)) == {Review.Status.FINALISED}
    assert all(r.review_date < as_of for r in reviews)
    assert ReviewerScore.objects.filter(review__trial=trial).count() == 36 * 2 * 25
    assert ConsensusScore.objects.filter(review__trial=trial).count() == 36 * 25
    trends = site_trends(trial, sites)
    assert all(len(t.points) == 3 for t in trends)
    improving = sum(1 for t in trends if t.change is not None and t.change > 0)
    assert improving >= len(sites) // 2 + 1
    # Reviewers disagree a little, never wildly.
    view = review_view(reviews.first())  # type: ignore[arg-type]
    assert len(view.reviewers) == 2
    assert view.agreement.within_one is not None and view.agreement.within_one >= 0.9
    assert view.agreement.exact is not None and view.agreement.exact < 1
