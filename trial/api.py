"""REST API for trials, sites, arms, participants and the audit trail (read side)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trial import permissions
from trial.models import Arm, AuditEvent, Participant, Site, Trial
from trial.permissions import Perm
from trial.serializers import (
    ArmSerializer,
    AuditEventSerializer,
    MeSerializer,
    ParticipantSerializer,
    SiteSerializer,
    TrialSerializer,
)


class TrialScopedMixin:
    """Resolve the ``code`` URL argument through the permission layer (404 / 403)."""

    trial_perm: Perm = Perm.VIEW_TRIAL
    request: Request
    kwargs: dict[str, Any]

    def get_trial(self) -> Trial:
        trial: Trial | None = getattr(self, "_trial", None)
        if trial is None:
            trial = permissions.get_trial(self.request.user, self.kwargs["code"], self.trial_perm)
            self._trial = trial
        return trial


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The logged-in user and their trial roles")
    def get(self, request: Request) -> Response:
        user = request.user
        memberships = user.memberships.select_related("trial").prefetch_related("sites")  # type: ignore[union-attr]
        data = {
            "username": user.get_username(),
            "name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
            "memberships": memberships,
        }
        return Response(MeSerializer(data).data)


class TrialList(generics.ListAPIView[Trial]):
    serializer_class = TrialSerializer

    def get_queryset(self) -> QuerySet[Trial]:
        return permissions.visible_trials(self.request.user).order_by("code")


class TrialDetail(TrialScopedMixin, generics.RetrieveAPIView[Trial]):
    serializer_class = TrialSerializer

    def get_object(self) -> Trial:
        return self.get_trial()


class SiteList(TrialScopedMixin, generics.ListAPIView[Site]):
    serializer_class = SiteSerializer

    def get_queryset(self) -> QuerySet[Site]:
        return permissions.visible_sites(self.request.user, self.get_trial()).order_by("code")


class ArmList(TrialScopedMixin, generics.ListAPIView[Arm]):
    serializer_class = ArmSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Arm]:
        return self.get_trial().arms.order_by("code")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["unblinded"] = permissions.has_perm(
            self.request.user, self.get_trial(), Perm.VIEW_ALLOCATION
        )
        return context


@extend_schema(
    parameters=[
        OpenApiParameter("site", str, description="Site code"),
        OpenApiParameter("status", str, enum=Participant.Status.values),
    ]
)
class ParticipantList(TrialScopedMixin, generics.ListAPIView[Participant]):
    serializer_class = ParticipantSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Participant]:
        queryset = (
            Participant.objects.filter(trial=self.get_trial())
            .visible_to(self.request.user)
            .select_related("site")
            .order_by("study_id")
        )
        site = self.request.query_params.get("site")
        if site:
            queryset = queryset.filter(site__code=site)
        status = self.request.query_params.get("status")
        if status:
            queryset = queryset.filter(status=status)
        return queryset


class ParticipantDetail(TrialScopedMixin, generics.RetrieveAPIView[Participant]):
    serializer_class = ParticipantSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_object(self) -> Participant:
        return permissions.get_participant(
            self.request.user, self.get_trial(), self.kwargs["study_id"]
        )


class AuditEventList(TrialScopedMixin, generics.ListAPIView[AuditEvent]):
    serializer_class = AuditEventSerializer
    trial_perm = Perm.VIEW_AUDIT

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.filter(trial=self.get_trial()).order_by("-created_at", "-id")
