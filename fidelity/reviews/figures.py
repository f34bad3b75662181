"""What a review page and the API show of one review, computed once: each reviewer's scores
and figures, the consensus, the agreement between reviewers, and the consensus form's proposal.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from fidelity.models import ConsensusScore, Review, ReviewerScore, ScaleItem
from fidelity.reviews import agreement
from fidelity.scales.scoring import Summary, summarise


@dataclass
class ReviewerColumn:
    user_id: int
    name: str
    scores: dict[int, int]
    summary: Summary


@dataclass
class ReviewView:
    """Everything a review page or the API shows, computed once."""

    review: Review
    items: list[ScaleItem]
    reviewers: list[ReviewerColumn]
    waiting_for: list[str]
    consensus: dict[int, int]
    summary: Summary | None
    agreement: agreement.ReviewAgreement
    proposal: dict[int, int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _display_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def review_view(review: Review) -> ReviewView:
    """The review's scores by reviewer and consensus, with totals, bands and agreement.

    ``proposal`` prefills the consensus form: the agreed score where reviewers agree, the
    median where it is a level, nothing where the reviewers must decide.
    """
    scale = review.scale
    items = list(scale.items.all())
    reviewers = list(review.reviewers.order_by("username"))
    scores: dict[int, dict[int, int]] = {u.pk: {} for u in reviewers}
    for row in ReviewerScore.objects.filter(review=review).values(
        "reviewer_id", "item__number", "score"
    ):
        scores.setdefault(row["reviewer_id"], {})[row["item__number"]] = row["score"]
    columns = [
        ReviewerColumn(
            user_id=u.pk,
            name=_display_name(u),
            scores=scores[u.pk],
            summary=summarise(scale, items, scores[u.pk]),
        )
        for u in reviewers
    ]
    consensus = dict(
        ConsensusScore.objects.filter(review=review).values_list("item__number", "score")
    )
    complete = [c.scores for c in columns if len(c.scores) == len(items)]
    result = ReviewView(
        review=review,
        items=items,
        reviewers=columns,
        waiting_for=[c.name for c in columns if len(c.scores) < len(items)],
        consensus=consensus,
        summary=summarise(scale, items, consensus) if consensus else None,
        agreement=agreement.review_agreement(complete, scale.levels),
    )
    per_item = {a.number: a for a in result.agreement.items}
    for item in items:
        given = [c.scores[item.number] for c in columns if item.number in c.scores]
        if given:
            median = statistics.median(given)
            if median == int(median):
                result.proposal[item.number] = int(median)
        result.rows.append(
            {
                "item": item,
                "scores": [c.scores.get(item.number) for c in columns],
                "agreement": per_item.get(item.number),
                "consensus": consensus.get(item.number),
                "proposal": consensus.get(item.number, result.proposal.get(item.number)),
            }
        )
    return result
