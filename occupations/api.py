"""REST API: the STYRK-08 code list, and a trial's job exposure matrices (read-only).

Matrices are imported through the page or the ``import_jem`` command, which report row errors.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from occupations import styrk
from occupations.models import JEMEntry, JobExposureMatrix
from occupations.serializers import (
    JEMEntrySerializer,
    JobExposureMatrixSerializer,
    OccupationQuerySerializer,
    OccupationSerializer,
)
from trial.api import TrialScopedMixin, query_filters
from trial.permissions import Perm


class OccupationList(APIView):
    """Search STYRK-08: codes starting with ``q`` (digits) or titles containing it."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OccupationQuerySerializer],
        responses=OccupationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = query_filters(OccupationQuerySerializer, request)
        found = styrk.search(params["q"], level=params.get("level"), limit=params["limit"])
        return Response(OccupationSerializer(found, many=True).data)  # type: ignore[arg-type]  # many=True


class MatrixList(TrialScopedMixin, generics.ListAPIView[JobExposureMatrix]):
    trial_perm = Perm.VIEW_DASHBOARD
    serializer_class = JobExposureMatrixSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[JobExposureMatrix]:
        return JobExposureMatrix.objects.filter(trial=self.get_trial()).order_by("-uploaded_at")


@extend_schema(parameters=[OpenApiParameter("measure", str, description="Only this measure")])
class MatrixEntryList(TrialScopedMixin, generics.ListAPIView[JEMEntry]):
    trial_perm = Perm.VIEW_DASHBOARD
    serializer_class = JEMEntrySerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[JEMEntry]:
        matrix = get_object_or_404(JobExposureMatrix, trial=self.get_trial(), pk=self.kwargs["pk"])
        entries = matrix.entries.order_by("measure", "code")
        measure = self.request.query_params.get("measure")
        return entries.filter(measure=measure) if measure else entries
