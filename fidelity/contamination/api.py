"""REST API for contamination exposures and site-level events, in the shape of ``trial.api``
(``TrialScopedMixin``, ``service_errors``); the rules are in
``fidelity.contamination.services``."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response

from fidelity.contamination import services
from fidelity.contamination.serializers import (
    ExposureFilterSerializer,
    ExposureSerializer,
    SiteEventInputSerializer,
    SiteEventRecordedSerializer,
    SiteEventRemovalSerializer,
)
from fidelity.models import Component, Exposure
from trial import permissions
from trial.api import TrialScopedMixin, field_errors, query_filters, service_errors
from trial.permissions import AuthenticatedRequest, Perm


@extend_schema_view(get=extend_schema(parameters=[ExposureFilterSerializer]))
class ExposureList(TrialScopedMixin, generics.ListAPIView[Exposure]):
    """Contamination exposures of participants inside the user's sites.

    Only control participants have exposures, so the list reveals allocations: it needs the
    right to see them as well as participants (blinded statisticians get 403).
    """

    serializer_class = ExposureSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Exposure]:
        trial = self.get_trial()
        permissions.require(self.request.user, trial, Perm.VIEW_ALLOCATION)
        filters = query_filters(ExposureFilterSerializer, self.request)
        queryset = (
            Exposure.objects.visible_to(self.request.user, trial)
            .select_related("participant", "site", "component")
            .order_by("-exposed_on", "-id")
        )
        if "site" in filters:
            queryset = queryset.filter(site__code=filters["site"])
        if "participant" in filters:
            queryset = queryset.filter(participant__study_id=filters["participant"])
        if "source" in filters:
            queryset = queryset.filter(source=filters["source"])
        return queryset


class SiteEventList(TrialScopedMixin, generics.ListAPIView[Exposure]):
    """Site-level events at control sites (one exposure per component named), newest first;
    POST records one. Coordinators (the configure-trial right), as on the page."""

    serializer_class = ExposureSerializer
    trial_perm = Perm.CONFIGURE_TRIAL

    def get_queryset(self) -> QuerySet[Exposure]:
        return (
            Exposure.objects.site_events()
            .filter(trial=self.get_trial())
            .select_related("participant", "site", "component")
            .order_by("-exposed_on", "-id")
        )

    @extend_schema(
        request=SiteEventInputSerializer,
        responses={
            201: SiteEventRecordedSerializer,
            200: OpenApiResponse(
                SiteEventRecordedSerializer,
                description="A resubmission with a client_id already used: the first event.",
            ),
            400: field_errors(
                intervention_site={
                    "site": [
                        "OSLA is an intervention site on that date: only a control site can "
                        "be exposed."
                    ]
                }
            ),
        },
        summary="Record a site-level event",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = SiteEventInputSerializer(
            data=request.data,
            sites=trial.sites.all(),
            components=Component.objects.filter(trial=trial),
        )
        serializer.is_valid(raise_exception=True)
        with service_errors():
            exposures, created = services.record_site_event(
                trial,
                actor=request.user,
                **serializer.validated_data,
            )
        event = {
            "site": exposures[0].site.code,  # type: ignore[union-attr]  # site events have a site
            "occurred_on": exposures[0].exposed_on,
            "note": exposures[0].note,
            "exposures": exposures,
        }
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(SiteEventRecordedSerializer(event).data, status=code)


class SiteEventRemoval(TrialScopedMixin, generics.GenericAPIView[Exposure]):
    """Remove a site-level event entered in error, with the reason; the audit trail keeps the
    entry. To correct one, remove it and record the right one."""

    trial_perm = Perm.CONFIGURE_TRIAL
    serializer_class = SiteEventRemovalSerializer

    @extend_schema(
        request=SiteEventRemovalSerializer,
        responses={204: None, 400: field_errors()},
        summary="Remove a site-level event entered in error",
    )
    def post(self, request: AuthenticatedRequest, code: str, exposure_id: int) -> Response:
        trial = self.get_trial()
        event = get_object_or_404(
            Exposure, pk=exposure_id, trial=trial, source=Exposure.Source.SITE_EVENT
        )
        serializer = SiteEventRemovalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            services.remove_site_event(
                event,
                reason=serializer.validated_data["reason"],
                whole_event=serializer.validated_data["whole_event"],
                actor=request.user,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
