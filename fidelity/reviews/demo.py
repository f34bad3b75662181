"""Fidelity reviews for the demo trial: three IPS-25 reviews per intervention site.

Two reviewers score each review independently with small disagreements, then a consensus is
recorded and the review finalised. Most sites improve from review to review. Written with
bulk inserts so seeding stays fast; one audit event per review records that it was seeded.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from typing import Any

from django.contrib.auth import get_user_model

from fidelity.models import ConsensusScore, Review, ReviewerScore, Scale
from fidelity.scales.scoring import summarise
from fidelity.scales.services import add_template_scale
from randomisation.models import Allocation
from trial import audit
from trial.models import Site, Trial

REVIEW_DAYS_BEFORE = (540, 300, 60)
"""Reviews at baseline, after about eight months and recently (days before the demo date)."""


def intervention_sites(trial: Trial) -> list[Site]:
    """Sites delivering the intervention: every site in an individually randomised trial (each
    office has participants in both arms), else the sites allocated to a non-control arm."""
    sites = trial.sites.order_by("code")
    if trial.design == Trial.Design.INDIVIDUAL:
        return list(sites)
    allocated = Allocation.objects.filter(
        trial=trial, participant__isnull=True, arm__is_control=False
    ).values_list("site_id", flat=True)
    return list(sites.filter(pk__in=allocated))


def _clip(value: float) -> int:
    return max(1, min(5, round(value)))


def seed_fidelity_reviews(
    trial: Trial,
    *,
    actor: Any,
    as_of: dt.date,
    reviewers: tuple[str, str] = ("reviewer", "coordinator"),
) -> list[Review]:
    """Add the IPS-25 scale and three finalised reviews per intervention site.

    Deterministic for a trial code and date (its own random generator, so the rest of the
    demo draws the same numbers with or without it). Not repeatable: the scale is refused
    the second time.
    """
    rng = random.Random(f"fidelity-{trial.code}")  # noqa: S311 - synthetic demo data
    scale: Scale = add_template_scale(trial, actor=actor)
    items = list(scale.items.all())
    users = [get_user_model().objects.get(username=name) for name in reviewers]
    sites = intervention_sites(trial)
    reviews = Review.objects.bulk_create(
        Review(
            trial=trial,
            site=site,
            scale=scale,
            review_date=as_of - dt.timedelta(days=days + rng.randint(0, 20)),
            status=Review.Status.FINALISED,
            created_by=actor,
        )
        for site in sites
        for days in REVIEW_DAYS_BEFORE
    )
    through = Review.reviewers.through
    through.objects.bulk_create(
        through(review_id=review.pk, user_id=user.pk) for review in reviews for user in users
    )
    reviewer_scores: list[ReviewerScore] = []
    consensus_scores: list[ConsensusScore] = []
    for i in range(len(sites)):
        # Each site starts somewhere between fair and good; most improve, one in four slips.
        level = rng.uniform(2.6, 3.8)
        gain = rng.uniform(0.25, 0.55) if i % 4 != 3 else rng.uniform(-0.2, 0.05)
        strengths = {item.number: rng.uniform(-0.8, 0.8) for item in items}
        for visit, review in enumerate(reviews[i * 3 : i * 3 + 3]):
            agreed = {
                item.number: _clip(
                    level + visit * gain + strengths[item.number] + rng.gauss(0, 0.3)
                )
                for item in items
            }
            per_reviewer = []
            for user in users:
                own = {n: _clip(s + rng.choice([-1, *[0] * 12, 1])) for n, s in agreed.items()}
                per_reviewer.append(own)
                reviewer_scores.extend(
                    ReviewerScore(review=review, reviewer=user, item=item, score=own[item.number])
                    for item in items
                )
            consensus = {
                item.number: _clip(
                    statistics.median(
                        [own[item.number] for own in per_reviewer] + [agreed[item.number]]
                    )
                )
                for item in items
            }
            consensus_scores.extend(
                ConsensusScore(review=review, item=item, score=consensus[item.number])
                for item in items
            )
            summary = summarise(scale, items, consensus)
            audit.record(
                "review.seeded",
                review,
                actor=actor,
                trial=trial,
                data={"total": summary.total, "band": summary.band, "demo": True},
            )
    ReviewerScore.objects.bulk_create(reviewer_scores)
    ConsensusScore.objects.bulk_create(consensus_scores)
    return reviews
