"""REST API for fidelity reviews (read), and a reviewer's score submission.

Same shape as ``trial.api``: the trial comes through ``trial.permissions``
(``TrialScopedMixin``); reading reviews needs VIEW_ALLOCATION and is limited to the user's
sites; submitting scores needs REVIEW_FIDELITY. A refused submission is a 400 with one message
per item at fault, under ``scores`` (``item_errors``), or the service's refusal
(``service_errors``), and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fidelity.models import Review
from fidelity.reviews import services
from fidelity.reviews.figures import review_view
from fidelity.reviews.serializers import ReviewSerializer, ScoresInputSerializer
from fidelity.scales.services import ScaleError
from trial.api import TrialScopedMixin, field_errors, service_errors
from trial.permissions import AuthenticatedRequest, Perm


@contextmanager
def item_errors() -> Iterator[None]:
    """A refusal naming items becomes ``{"scores": {number: [message]}}``; any other refusal
    is left to ``service_errors``."""
    try:
        yield
    except ScaleError as error:
        if not error.errors:
            raise
        raise serializers.ValidationError(
            {"scores": {str(n): [m] for n, m in error.errors.items()}}
        ) from None


class ReviewScopedMixin(TrialScopedMixin):
    trial_perm = Perm.VIEW_ALLOCATION

    def visible_reviews(self) -> QuerySet[Review]:
        return (
            Review.objects.visible_to(self.request.user, self.get_trial())
            .select_related("site", "scale")
            .order_by("site__code", "review_date", "pk")
        )


class ReviewList(ReviewScopedMixin, APIView):
    @extend_schema(
        responses=ReviewSerializer(many=True),
        summary="Fidelity reviews with totals, bands and agreement",
        description="Reviews at the user's sites. Totals, section subtotals and bands are "
        "computed from the consensus scores (null until every item has one); agreement is "
        "between the reviewers' independent scores.",
    )
    def get(self, request: Request, code: str) -> Response:
        views = [review_view(r) for r in self.visible_reviews()]
        return Response(ReviewSerializer(views, many=True).data)


class ReviewDetail(ReviewScopedMixin, APIView):
    @extend_schema(responses=ReviewSerializer, summary="One fidelity review")
    def get(self, request: Request, code: str, review_id: int) -> Response:
        review = get_object_or_404(self.visible_reviews(), pk=review_id)
        return Response(ReviewSerializer(review_view(review)).data)


class ReviewScores(ReviewScopedMixin, APIView):
    write_perm = Perm.REVIEW_FIDELITY

    @extend_schema(
        request=ScoresInputSerializer,
        responses={
            200: ReviewSerializer,
            400: field_errors(
                missing_item={"scores": {"7": ["Score this item."]}},
                out_of_range={"scores": {"3": ["Choose a level from 1 to 5."]}},
            ),
        },
        summary="Submit your independent scores",
        description='The calling reviewer\'s score of every item, e.g. {"scores": {"1": 4, '
        '"2": 5, …}}. All items are required and each must be one of the scale\'s levels; '
        "otherwise nothing is saved. A reviewer may resubmit until the consensus is recorded.",
    )
    def post(self, request: AuthenticatedRequest, code: str, review_id: int) -> Response:
        review = get_object_or_404(self.visible_reviews(), pk=review_id)
        data = ScoresInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with service_errors(), item_errors():
            review = services.submit_scores(
                review,
                actor=request.user,
                scores=data.validated_data["scores"],
            )
        return Response(ReviewSerializer(review_view(review)).data)
