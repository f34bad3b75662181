"""REST API for fidelity scales and reviews (read), and a reviewer's score submission.

Same shape as ``fidelity.api``: the trial comes through ``trial.permissions``; reading reviews
needs VIEW_ALLOCATION and is limited to the user's sites; submitting scores needs
REVIEW_FIDELITY. A refused submission is a 400 with one message per item at fault, under
``scores``, and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fidelity import scales
from fidelity.models import Review, Scale
from fidelity.review_serializers import ReviewSerializer, ScaleSerializer, ScoresInputSerializer
from trial import permissions
from trial.api import TrialScopedMixin, field_errors
from trial.permissions import AuthenticatedRequest, Perm


class ScaleList(TrialScopedMixin, generics.ListAPIView[Scale]):
    """The trial's fidelity scales (every version) with items, anchors and bands."""

    serializer_class = ScaleSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Scale]:
        return (
            Scale.objects.filter(trial=self.get_trial())
            .prefetch_related("items")
            .order_by("name", "created_at")
        )


class ReviewScopedMixin(TrialScopedMixin):
    trial_perm = Perm.VIEW_ALLOCATION

    def visible_reviews(self) -> QuerySet[Review]:
        trial = self.get_trial()
        return (
            Review.objects.filter(
                trial=trial, site__in=permissions.visible_sites(self.request.user, trial)
            )
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
        views = [scales.review_view(r) for r in self.visible_reviews()]
        return Response(ReviewSerializer(views, many=True).data)


class ReviewDetail(ReviewScopedMixin, APIView):
    @extend_schema(responses=ReviewSerializer, summary="One fidelity review")
    def get(self, request: Request, code: str, review_id: int) -> Response:
        review = get_object_or_404(self.visible_reviews(), pk=review_id)
        return Response(ReviewSerializer(scales.review_view(review)).data)


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
        try:
            review = scales.submit_scores(
                review,
                actor=request.user,
                scores=data.validated_data["scores"],
            )
        except scales.ScaleError as error:
            detail: dict[str, Any] = {"scores": {str(n): [m] for n, m in error.errors.items()}}
            if not error.errors:
                detail = {error.field or "non_field_errors": [error.message]}
            raise serializers.ValidationError(detail) from None
        return Response(ReviewSerializer(scales.review_view(review)).data)
