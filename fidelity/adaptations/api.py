"""REST API for adaptations, in the shape of ``trial.api`` (``TrialScopedMixin``,
``service_errors``); the rules are in ``fidelity.adaptations.services``."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from fidelity.adaptations import services
from fidelity.adaptations.serializers import (
    AdaptationCreateSerializer,
    AdaptationInputSerializer,
    AdaptationSerializer,
)
from fidelity.models import Adaptation, Component
from trial.api import TrialScopedMixin, field_errors, service_errors
from trial.permissions import AuthenticatedRequest, Perm


# Adaptations are read by those who may see allocations (they describe the intervention's
# delivery, so in a cluster trial they name the intervention sites) and written by coordinators
# (the configure-trial right). Site-scoped members see their sites' and the trial-wide ones.
# A comment, not a docstring: see TrialScopedMixin.
class AdaptationScopedMixin(TrialScopedMixin):
    trial_perm = Perm.VIEW_ALLOCATION
    write_perm = Perm.CONFIGURE_TRIAL

    def visible_adaptations(self) -> QuerySet[Adaptation]:
        return (
            Adaptation.objects.visible_to(self.request.user, self.get_trial())
            .select_related("site", "component")
            .order_by("-adapted_on", "-id")
        )

    def input(
        self, request: Request, kind: type[AdaptationInputSerializer] = AdaptationInputSerializer
    ) -> AdaptationInputSerializer:
        trial = self.get_trial()
        serializer = kind(
            data=request.data,
            sites=trial.sites.all(),
            components=Component.objects.filter(trial=trial),
        )
        serializer.is_valid(raise_exception=True)
        return serializer


class AdaptationList(AdaptationScopedMixin, generics.ListAPIView[Adaptation]):
    """Adaptations of the intervention noted by coordinators, newest first; POST notes one."""

    serializer_class = AdaptationSerializer

    def get_queryset(self) -> QuerySet[Adaptation]:
        return self.visible_adaptations()

    @extend_schema(
        request=AdaptationCreateSerializer,
        responses={
            201: AdaptationSerializer,
            200: OpenApiResponse(
                AdaptationSerializer,
                description="A resubmission with a client_id already used: the first adaptation.",
            ),
            400: field_errors(future_date={"adapted_on": ["The date cannot be in the future."]}),
        },
        summary="Note an adaptation",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = self.input(request, AdaptationCreateSerializer)
        with service_errors():
            adaptation, created = services.record_adaptation(
                trial,
                actor=request.user,
                **serializer.validated_data,
            )
        location = reverse("v1:adaptation-detail", args=[trial.code, adaptation.pk])
        return Response(
            AdaptationSerializer(adaptation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": location},
        )


class AdaptationDetail(AdaptationScopedMixin, generics.RetrieveAPIView[Adaptation]):
    """One adaptation; PUT corrects it (coordinators; audited with before and after)."""

    serializer_class = AdaptationSerializer

    def get_object(self) -> Adaptation:
        return get_object_or_404(self.visible_adaptations(), pk=self.kwargs["adaptation_id"])

    @extend_schema(
        request=AdaptationInputSerializer,
        responses={200: AdaptationSerializer, 400: field_errors()},
        summary="Correct an adaptation",
    )
    def put(self, request: AuthenticatedRequest, code: str, adaptation_id: int) -> Response:
        adaptation = self.get_object()
        serializer = self.input(request)
        with service_errors():
            services.edit_adaptation(
                adaptation,
                actor=request.user,
                **serializer.validated_data,
            )
        return Response(AdaptationSerializer(self.get_object()).data)
