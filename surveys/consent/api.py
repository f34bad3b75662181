"""REST API of electronic consent, in the shape of ``trial.api`` (``TrialScopedMixin``,
``service_errors``): consent texts kept by coordinators, re-consent, and the records (never
with the typed name)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from surveys.consent import delivery, services
from surveys.consent.models import ConsentRecord, ConsentText
from surveys.consent.serializers import (
    ConsentRecordSerializer,
    ConsentTextInputSerializer,
    ConsentTextSerializer,
    ReconsentSerializer,
)
from trial.api import TrialScopedMixin, field_errors, service_errors
from trial.permissions import AuthenticatedRequest, Perm


# Consent texts are coordinators' (read and write). A comment: see TrialScopedMixin.
class ConsentScopedMixin(TrialScopedMixin):
    trial_perm = Perm.MANAGE_CONSENT
    write_perm = Perm.MANAGE_CONSENT

    def get_text(self) -> ConsentText:
        return get_object_or_404(ConsentText, trial=self.get_trial(), pk=self.kwargs["text_id"])


class ConsentTextList(ConsentScopedMixin, generics.ListAPIView[ConsentText]):
    """The trial's consent text versions, newest first; POST makes a draft."""

    serializer_class = ConsentTextSerializer

    def get_queryset(self) -> QuerySet[ConsentText]:
        return ConsentText.objects.filter(trial=self.get_trial()).order_by("-effective_on", "-pk")

    @extend_schema(
        request=ConsentTextInputSerializer,
        responses={
            201: ConsentTextSerializer,
            400: field_errors(
                label_in_use={"version": ["This trial already has a version with this label."]}
            ),
        },
        summary="Make a draft consent text",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = ConsentTextInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            text = services.save_text(trial, actor=request.user, **serializer.validated_data)
        location = reverse("v1:consent-text-detail", args=[trial.code, text.pk])
        return Response(
            ConsentTextSerializer(text).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class ConsentTextDetail(ConsentScopedMixin, generics.RetrieveAPIView[ConsentText]):
    """One consent text version; PUT changes a draft (a published version: 400)."""

    serializer_class = ConsentTextSerializer

    def get_object(self) -> ConsentText:
        return self.get_text()

    @extend_schema(
        request=ConsentTextInputSerializer,
        responses={200: ConsentTextSerializer, 400: field_errors()},
        summary="Change a draft consent text",
    )
    def put(self, request: AuthenticatedRequest, code: str, text_id: int) -> Response:
        text = self.get_text()
        serializer = ConsentTextInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            text = services.save_text(
                text.trial, actor=request.user, draft=text, **serializer.validated_data
            )
        return Response(ConsentTextSerializer(text).data)


class ConsentTextPublish(ConsentScopedMixin, APIView):
    @extend_schema(
        request=None,
        responses={200: ConsentTextSerializer, 400: field_errors()},
        summary="Publish a draft consent text (it cannot change afterwards)",
    )
    def post(self, request: AuthenticatedRequest, code: str, text_id: int) -> Response:
        text = self.get_text()
        with service_errors():
            text = services.publish_text(text, actor=request.user)
        return Response(ConsentTextSerializer(text).data)


class ConsentTextReconsent(ConsentScopedMixin, APIView):
    @extend_schema(
        request=None,
        responses={200: ReconsentSerializer, 400: field_errors()},
        summary="Ask participants who consented to another version to re-consent",
        description="Safe to repeat: participants asked already are not asked again.",
    )
    def post(self, request: AuthenticatedRequest, code: str, text_id: int) -> Response:
        text = self.get_text()
        with service_errors():
            asked = delivery.ask_reconsent(text, actor=request.user)
        counts = services.counts_for([text])[text.pk]
        data = {
            "asked": asked,
            "asked_in_all": counts.asked,
            "consented": counts.consented,
            "declined": counts.declined,
        }
        return Response(ReconsentSerializer(data).data)


class ConsentRecordList(TrialScopedMixin, generics.ListAPIView[ConsentRecord]):
    """Consents and refusals recorded for the participants the user may see, newest first.
    Never the typed name."""

    trial_perm = Perm.VIEW_PARTICIPANTS
    serializer_class = ConsentRecordSerializer

    def get_queryset(self) -> QuerySet[ConsentRecord]:
        return (
            ConsentRecord.objects.filter(participant__in=self.visible_participants())
            .select_related("participant", "text", "recorded_by")
            .order_by("-recorded_at", "-pk")
        )
