"""Fidelity reviews: planning one, the reviewers' independent scores, the consensus and
finalising.

Every write checks its input completely before it writes anything, runs in one transaction
and audits in it, so a refused submission leaves nothing half-saved. A review is scored on one
version of a scale (``fidelity.scales``), whose items and levels the scores are checked against.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fidelity.models import ConsensusScore, Review, ReviewerScore, Scale, ScaleItem
from fidelity.scales.scoring import summarise
from fidelity.scales.services import ScaleError
from trial import audit, permissions
from trial.models import Site, Trial
from trial.permissions import Perm


def eligible_reviewers(trial: Trial) -> list[User]:
    """Members who may score fidelity in the trial (hold REVIEW_FIDELITY)."""
    members = trial.memberships.select_related("user").order_by("user__username")
    return [
        m.user
        for m in members
        if Perm.REVIEW_FIDELITY in permissions.perms_for(m) and m.user.is_active
    ]


def create_review(
    trial: Trial,
    *,
    actor: User,
    site: Site,
    scale: Scale,
    review_date: dt.date,
    reviewers: Iterable[User],
) -> Review:
    """Plan a review of ``site`` on ``review_date`` by ``reviewers`` with ``scale``.

    Reviewers must hold the fidelity-review right; the scale needs items. Raises ScaleError.
    """
    chosen = list(dict.fromkeys(reviewers))
    if site.trial_id != trial.pk:
        raise ScaleError(_("Unknown site."), field="site")
    if scale.trial_id != trial.pk:
        raise ScaleError(_("Unknown scale."), field="scale")
    if not scale.items.exists():
        raise ScaleError(_("This scale has no items yet."), field="scale")
    if review_date > timezone.localdate() + dt.timedelta(days=366):
        raise ScaleError(_("Plan reviews at most a year ahead."), field="review_date")
    if not chosen:
        raise ScaleError(_("Choose at least one reviewer."), field="reviewers")
    allowed = {u.pk for u in eligible_reviewers(trial)}
    if any(u.pk not in allowed for u in chosen):
        raise ScaleError(
            _("Every reviewer must be a fidelity reviewer in this trial."), field="reviewers"
        )
    with transaction.atomic():
        if Review.objects.filter(site=site, scale=scale, review_date=review_date).exists():
            raise ScaleError(
                _("This site already has a review with this scale on that date."),
                field="review_date",
            )
        review = Review.objects.create(
            trial=trial, site=site, scale=scale, review_date=review_date, created_by=actor
        )
        review.reviewers.set(chosen)
        audit.record(
            "review.created",
            review,
            actor=actor,
            trial=trial,
            data={"after": {**audit.snapshot(review), "reviewers": sorted(u.pk for u in chosen)}},
        )
    return review


def clean_scores(
    items: Sequence[ScaleItem], scale: Scale, raw: Mapping[Any, Any], *, draft: bool = False
) -> dict[int, int]:
    """{item number: score} from submitted values keyed by item number (int or str).

    Every item needs a whole-number score among the scale's levels; with ``draft`` an item
    may also be left blank (absent, None or ""), and is then left out: blank stays blank,
    never zero. Unknown item numbers are refused. Raises ScaleError with one message per
    item at fault.
    """
    given = {str(key): value for key, value in raw.items()}
    known = {str(item.number) for item in items}
    errors: dict[int, str] = {}
    scores: dict[int, int] = {}
    for item in items:
        value = given.get(str(item.number))
        if value is None or value == "":
            if not draft:
                errors[item.number] = _("Score this item.")
            continue
        try:
            score = int(value)
            if isinstance(value, bool) or str(score) != str(value).strip():
                raise ValueError
        except (TypeError, ValueError):
            errors[item.number] = _("A score is a whole number.")
            continue
        if score not in scale.levels:
            errors[item.number] = _("Choose a level from %(low)s to %(high)s.") % {
                "low": scale.min_level,
                "high": scale.max_level,
            }
            continue
        scores[item.number] = score
    unknown = sorted(set(given) - known)
    if unknown:
        raise ScaleError(
            _("Unknown items: %(items)s.") % {"items": ", ".join(unknown)}, field="scores"
        )
    if errors:
        raise ScaleError(
            ngettext(
                "%(count)s item needs a valid score; nothing was saved.",
                "%(count)s items need a valid score; nothing was saved.",
                len(errors),
            )
            % {"count": len(errors)},
            field="scores",
            errors=errors,
        )
    return scores


def _lock(review: Review) -> Review:
    return (
        Review.objects.select_for_update()
        .select_related("scale", "trial", "site")
        .get(pk=review.pk)
    )


def submit_scores(
    review: Review, *, actor: User, scores: Mapping[Any, Any], draft: bool = False
) -> Review:
    """Store (or replace) the actor's independent scores for the items of the review.

    Only the review's reviewers, and only before any consensus score is recorded. Without
    ``draft`` every item needs a score; with it, items left blank stay unscored (a draft the
    reviewer finishes later), and a blank given for an item scored before clears it. A given
    score must still be one of the scale's levels. The review is "scored independently" while
    every reviewer has scored every item, and "awaiting reviewers' scores" otherwise. All or
    nothing; raises ScaleError. Safe to repeat: the same submission twice leaves the same
    scores.
    """
    with transaction.atomic():
        review = _lock(review)
        if not review.reviewers.filter(pk=actor.pk).exists():
            raise ScaleError(_("You are not a reviewer of this review."))
        if not review.scoring_open or review.consensus_scores.exists():
            raise ScaleError(
                _("The consensus is recorded: independent scores can no longer change.")
            )
        items = list(review.scale.items.all())
        clean = clean_scores(items, review.scale, scores, draft=draft)
        by_number = {item.number: item for item in items}
        existing = {
            s.item.number: s.score
            for s in ReviewerScore.objects.filter(review=review, reviewer=actor).select_related(
                "item"
            )
        }
        ReviewerScore.objects.filter(review=review, reviewer=actor).delete()
        ReviewerScore.objects.bulk_create(
            ReviewerScore(review=review, reviewer=actor, item=by_number[n], score=s)
            for n, s in clean.items()
        )
        complete = (
            ReviewerScore.objects.filter(review=review)
            .values("reviewer")
            .annotate(n=Count("id"))
            .filter(n=len(items))
            .count()
        )
        status = (
            Review.Status.SCORED if complete == review.reviewers.count() else Review.Status.DRAFT
        )
        if status != review.status:
            review.status = status
            review.save(update_fields=["status"])
        changed = {
            str(n): [existing.get(n), clean.get(n)]
            for n in sorted(existing.keys() | clean.keys())
            if existing.get(n) != clean.get(n)
        }
        audit.record(
            "review.scored" if not existing else "review.rescored",
            review,
            actor=actor,
            trial=review.trial,
            data={
                "reviewer": actor.get_username(),
                "scores": changed,
                "scored": len(clean),
                "items": len(items),
                "status": review.status,
            },
        )
    return review


def record_consensus(
    review: Review, *, actor: User, scores: Mapping[Any, Any], draft: bool = False
) -> Review:
    """Store the consensus score of the review's items, after all reviewers have scored.

    Without ``draft`` every item needs a score; with it, items left blank stay without a
    consensus (the reviewers finish later, and a blank clears an earlier one). The review is
    "consensus recorded" once every item has a consensus score, and only then can it be
    finalised; until then it stays "scored independently". May be corrected until the review
    is finalised. All or nothing; raises ScaleError.
    """
    with transaction.atomic():
        review = _lock(review)
        if not review.consensus_open:
            raise ScaleError(
                _(
                    "The consensus can be recorded once every reviewer has scored, and not "
                    "after the review is finalised."
                )
            )
        items = list(review.scale.items.all())
        clean = clean_scores(items, review.scale, scores, draft=draft)
        by_number = {item.number: item for item in items}
        existing = {
            s.item.number: s.score
            for s in ConsensusScore.objects.filter(review=review).select_related("item")
        }
        ConsensusScore.objects.filter(review=review).delete()
        ConsensusScore.objects.bulk_create(
            ConsensusScore(review=review, item=by_number[n], score=s) for n, s in clean.items()
        )
        review.status = (
            Review.Status.CONSENSUS if len(clean) == len(items) else Review.Status.SCORED
        )
        review.save(update_fields=["status"])
        summary = summarise(review.scale, items, clean)
        audit.record(
            "review.consensus",
            review,
            actor=actor,
            trial=review.trial,
            data={
                "scores": {
                    str(n): [existing.get(n), clean.get(n)]
                    for n in sorted(existing.keys() | clean.keys())
                    if existing.get(n) != clean.get(n)
                },
                "scored": len(clean),
                "items": len(items),
                "total": summary.total,
                "band": summary.band,
            },
        )
    return review


def finalise_review(review: Review, *, actor: User) -> Review:
    """Lock a review whose every item has a consensus score: no score changes afterwards.

    Raises ScaleError for a review without a complete consensus, or one finalised already.
    """
    with transaction.atomic():
        review = _lock(review)
        scored = review.consensus_scores.count()
        if review.status != Review.Status.CONSENSUS or scored != review.scale.items.count():
            raise ScaleError(
                _("Only a review with a consensus score for every item can be finalised.")
            )
        review.status = Review.Status.FINALISED
        review.save(update_fields=["status"])
        audit.record(
            "review.finalised",
            review,
            actor=actor,
            trial=review.trial,
            data={"status": [Review.Status.CONSENSUS, Review.Status.FINALISED]},
        )
    return review
