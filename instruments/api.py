"""The answers API: record a visit's answers to an instrument, list them, correct them, and the
per-trial JSON Schema of what each instrument accepts.

Each view resolves the trial through ``trial.permissions`` (TrialScopedMixin: non-members 404,
members without the capability 403), checks the body's JSON shape with a serializer, calls one
service of ``instruments.services`` and turns its refusal into a 400 naming the item:
``{"values": {"phq9_3": ["Must be at most 3."]}}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from instruments import schema, services
from instruments.models import Assessment, Instrument
from instruments.serializers import (
    AnswersInputSerializer,
    AnswersSchemaSerializer,
    AssessmentFilterSerializer,
    AssessmentRecordSerializer,
    CorrectionInputSerializer,
)
from trial.api import TrialScopedMixin, field_errors, query_filters, service_errors
from trial.permissions import AuthenticatedRequest, Perm


@contextmanager
def answer_errors(values: Mapping[str, Any], missing: Mapping[str, Any]) -> Iterator[None]:
    """A refusal of the answers as a 400 naming each item under what was sent: ``values`` for
    an answer, ``missing`` for an item sent only with a missing-data code."""
    with service_errors():
        try:
            yield
        except services.AnswersError as error:
            body: dict[str, dict[str, list[str]]] = {}
            for name, message in error.answer_errors.items():
                answered = values.get(name) not in (None, "", [])
                where = "missing" if name in missing and not answered else "values"
                body.setdefault(where, {})[name] = [message]
            raise serializers.ValidationError(body) from None


def _records() -> QuerySet[Assessment]:
    return Assessment.objects.select_related(
        "visit__participant__site",
        "visit__definition",
        "instrument",
        "version",
        "recorded_by",
    )


OUT_OF_RANGE = {"values": {"self_rated_health": ["Choose one of: 1, 2, 3, 4, 5."]}}
HIDDEN = {"values": {"hours_per_week": ["This item is not asked here: leave it empty."]}}


class VisitAssessment(TrialScopedMixin, APIView):
    trial_perm = Perm.RECORD_ASSESSMENT

    @extend_schema(
        request=AnswersInputSerializer,
        responses={
            201: AssessmentRecordSerializer,
            400: field_errors(
                out_of_range=OUT_OF_RANGE,
                not_asked=HIDDEN,
                answered={
                    "non_field_errors": [
                        "This instrument is answered at this visit already: correct the answers."
                    ]
                },
                withdrawn={
                    "non_field_errors": [
                        "OSLA-7K2M9Q withdrew from the trial on 2025-05-01: no new data may "
                        "be recorded for them."
                    ]
                },
            ),
        },
        summary="Record a visit's answers to one instrument",
        description="The answers are checked against the instrument's current version (GET "
        "/api/v1/trials/{code}/instruments/schema/ describes its items); every item at fault "
        "is named. The visit is completed once every instrument asked there is answered. "
        "Refused for a withdrawn participant, a missed visit, or an instrument answered there "
        "already (correct it instead). An assessment outside the visit window is accepted and "
        "flagged by in_window.",
    )
    def post(self, request: AuthenticatedRequest, code: str, visit_id: int) -> Response:
        visit = self.get_visit()
        serializer = AnswersInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        instrument = None
        if data.get("instrument"):
            instrument = Instrument.objects.filter(
                trial=self.get_trial(), code=data["instrument"]
            ).first()
            if instrument is None:
                raise serializers.ValidationError(
                    {"instrument": [_("The trial has no instrument with this code.")]}
                )
        values = {**data["values"], "assessed_on": data["assessed_on"]}
        if data.get("contamination_reported") is not None:
            values["contamination_reported"] = data["contamination_reported"]
        with answer_errors(data["values"], data["missing"]):
            assessment = services.record_assessment(
                visit,
                values=values,
                missing=data["missing"],
                instrument=instrument,
                actor=request.user,
            )
        return Response(
            AssessmentRecordSerializer(_records().get(pk=assessment.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class AssessmentCorrection(TrialScopedMixin, APIView):
    trial_perm = Perm.RECORD_ASSESSMENT

    @extend_schema(
        request=CorrectionInputSerializer,
        responses={
            200: AssessmentRecordSerializer,
            400: field_errors(
                out_of_range=OUT_OF_RANGE,
                no_reason={"reason": ["This field is required."]},
            ),
        },
        summary="Correct recorded answers",
        description="Replaces the answers and missing-data codes (checked against the version "
        "they were entered under) and recomputes the scores; the audit trail keeps the answers "
        "before and after and the reason.",
    )
    def post(self, request: AuthenticatedRequest, code: str, assessment_id: int) -> Response:
        assessment = get_object_or_404(
            _records(),
            pk=assessment_id,
            visit__participant__in=self.visible_participants(),
        )
        serializer = CorrectionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        values = dict(data["values"])
        if data.get("assessed_on"):
            values["assessed_on"] = data["assessed_on"]
        with answer_errors(data["values"], data["missing"]):
            services.correct_assessment(
                assessment,
                values=values,
                missing=data["missing"],
                reason=data["reason"],
                actor=request.user,
            )
        return Response(AssessmentRecordSerializer(_records().get(pk=assessment.pk)).data)


@extend_schema_view(get=extend_schema(parameters=[AssessmentFilterSerializer]))
class AssessmentList(TrialScopedMixin, generics.ListAPIView[Assessment]):
    """Recorded answers of the participants inside the user's sites, one record per visit and
    instrument."""

    serializer_class = AssessmentRecordSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Assessment]:
        filters = query_filters(AssessmentFilterSerializer, self.request)
        queryset = _records().filter(visit__participant__in=self.visible_participants())
        if "site" in filters:
            queryset = queryset.filter(visit__participant__site__code=filters["site"])
        if "visit" in filters:
            queryset = queryset.filter(visit__definition__code=filters["visit"])
        if "instrument" in filters:
            queryset = queryset.filter(instrument__code=filters["instrument"])
        if "participant" in filters:
            queryset = queryset.filter(visit__participant__study_id=filters["participant"])
        if "assessed_after" in filters:
            queryset = queryset.filter(assessed_on__gte=filters["assessed_after"])
        if "assessed_before" in filters:
            queryset = queryset.filter(assessed_on__lte=filters["assessed_before"])
        return queryset.order_by(
            "visit__participant__study_id", "visit__due_on", "instrument__order", "id"
        )


class AnswersSchema(TrialScopedMixin, APIView):
    trial_perm = Perm.VIEW_TRIAL

    @extend_schema(
        responses={
            200: OpenApiResponse(
                AnswersSchemaSerializer,
                examples=[
                    OpenApiExample(
                        "One yes/no item",
                        value={
                            "trial": "ips",
                            "instruments": [
                                {
                                    "code": "employment",
                                    "name": "Employment and benefits",
                                    "version": 1,
                                    "current": True,
                                    "default": True,
                                    "schema": {
                                        "$schema": schema.DIALECT,
                                        "type": "object",
                                        "properties": {
                                            "values": {
                                                "type": "object",
                                                "properties": {
                                                    "in_paid_work": {
                                                        "type": "boolean",
                                                        "title": "In paid work",
                                                    }
                                                },
                                                "additionalProperties": False,
                                            }
                                        },
                                    },
                                }
                            ],
                        },
                        response_only=True,
                    )
                ],
            )
        },
        summary="JSON Schema of each instrument's answers",
        description="For every instrument version of the trial, a JSON Schema (draft 2020-12) "
        "of the body of POST /api/v1/trials/{code}/visits/{visit_id}/assessment/: each item's "
        "type, codes (enum, and oneOf const/title with x-labels in both languages), range, "
        "decimals (multipleOf, x-decimals), format and pattern; the missing-data codes; "
        "required items; and the branching as if/then/else (x-show-if keeps the condition in "
        "REDCap's syntax). Corrections of answers under a version follow that version's "
        "schema. Titles are in the request's language.",
    )
    def get(self, request: AuthenticatedRequest, code: str) -> Response:
        return Response(schema.trial_schema(self.get_trial()))
