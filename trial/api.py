"""REST API for trials, sites, participants, screening, follow-up and the audit trail.

Every view has the same shape: resolve the trial through ``trial.permissions`` (non-members get
404, members without the capability 403), check the input's shape with a serializer, call one
service from ``trial.services``, and turn its refusal into a 400 with field errors
(:func:`service_errors`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.api import ValidationErrorSerializer, validation_error_body
from trial import permissions, services
from trial.models import (
    Arm,
    AuditEvent,
    Participant,
    ScreeningRecord,
    Site,
    Trial,
    Visit,
    VisitQuerySet,
)
from trial.permissions import AuthenticatedRequest, Perm
from trial.serializers import (
    ArmSerializer,
    AuditEventSerializer,
    EnrolmentSerializer,
    LossToFollowUpSerializer,
    MeSerializer,
    ParticipantFilterSerializer,
    ParticipantSerializer,
    ScreeningFilterSerializer,
    ScreeningSerializer,
    SiteSerializer,
    TrialSerializer,
    VisitFilterSerializer,
    VisitSerializer,
    WithdrawalSerializer,
)


def field_errors(**examples: dict[str, Any]) -> OpenApiResponse:
    """The schema of a 400 from :func:`service_errors`, with examples named by keyword.

    Each example gives the ``errors`` of the body; the rest of the body is added here
    (config.api: ``{"detail", "code", "errors"}``).
    """
    return OpenApiResponse(
        response=ValidationErrorSerializer,
        description=(
            'Refused input. The body\'s "errors" maps each field at fault to its messages, '
            '{"field": ["message"]}, or uses "non_field_errors" when no single field is at '
            'fault. Baseline covariates are reported inside a "baseline" object: '
            '{"baseline": {"age": ["Enter a whole number."]}}.'
        ),
        examples=[
            OpenApiExample(
                name.replace("_", " ").capitalize(),
                value=validation_error_body(value),
                response_only=True,
            )
            for name, value in examples.items()
        ],
    )


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn a service's refusal into a DRF 400 with field errors.

    TrialError becomes ``{field: [message]}`` (``non_field_errors`` when it names no field),
    BaselineError ``{"baseline": {key: [message]}}``, and a model's ValidationError its
    ``message_dict``.
    """
    try:
        yield
    except services.BaselineError as error:
        raise serializers.ValidationError(
            {"baseline": {key: [message] for key, message in error.errors.items()}}
        ) from None
    except services.TrialError as error:
        field = error.field or api_settings.NON_FIELD_ERRORS_KEY
        raise serializers.ValidationError({field: [error.message]}) from None
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from None


def query_filters(serializer_class: type[serializers.Serializer[Any]], request: Request) -> Any:
    """The request's query parameters checked by ``serializer_class`` (400 if malformed)."""
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


if TYPE_CHECKING:
    # Checked as the DRF view it is mixed into, so its ``request`` agrees with theirs.
    _ScopedBase = APIView
else:
    _ScopedBase = object


# Comments, not docstrings, on these bases: the API schema describes an operation by the first
# docstring among its view's classes, so a base's would become the description of every view
# that has none of its own.


# Resolves the ``code`` URL argument through the permission layer (404 / 403). ``trial_perm`` is
# needed to read; ``write_perm``, when set, to POST.
class TrialScopedMixin(_ScopedBase):
    trial_perm: Perm = Perm.VIEW_TRIAL
    write_perm: Perm | None = None
    request: Request
    kwargs: dict[str, Any]

    def get_trial(self) -> Trial:
        trial: Trial | None = getattr(self, "_trial", None)
        if trial is None:
            perm = self.trial_perm
            if self.write_perm is not None and self.request.method not in SAFE_METHODS:
                perm = self.write_perm
            trial = permissions.get_trial(self.request.user, self.kwargs["code"], perm)
            self._trial = trial
        return trial

    def get_participant(self, study_id: str) -> Participant:
        """The participant in the URL, through the permission layer with ``trial_perm``."""
        return permissions.get_participant(
            self.request.user, self.get_trial(), study_id, self.trial_perm
        )

    def visible_participants(self) -> QuerySet[Participant]:
        return Participant.objects.filter(trial=self.get_trial()).visible_to(self.request.user)

    def get_visit(self) -> Visit:
        """The visit in the URL, if its participant is inside the user's sites (else 404)."""
        return get_object_or_404(
            Visit.objects.select_related("participant__site", "participant__trial", "definition"),
            pk=self.kwargs["visit_id"],
            participant__in=self.visible_participants(),
        )


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The logged-in user and their trial roles")
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        memberships = user.memberships.select_related("trial").prefetch_related("sites")
        data = {
            "username": user.get_username(),
            "name": user.get_full_name() or user.get_username(),
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
        context = dict(super().get_serializer_context())
        context["unblinded"] = permissions.sees_arm_names(self.request.user, self.get_trial())
        return context


@extend_schema_view(get=extend_schema(parameters=[ParticipantFilterSerializer]))
class ParticipantList(TrialScopedMixin, generics.ListAPIView[Participant]):
    """Participants inside the user's sites; POST enrols one person (needs the enrol right)."""

    serializer_class = ParticipantSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS
    write_perm = Perm.ENROL

    def get_queryset(self) -> QuerySet[Participant]:
        queryset = (
            Participant.objects.filter(trial=self.get_trial())
            .visible_to(self.request.user)
            .select_related("site")
            .order_by("study_id")
        )
        filters = query_filters(ParticipantFilterSerializer, self.request)
        if "site" in filters:
            queryset = queryset.filter(site__code=filters["site"])
        if "status" in filters:
            queryset = queryset.filter(status=filters["status"])
        return queryset

    @extend_schema(
        request=EnrolmentSerializer,
        responses={
            201: ParticipantSerializer,
            400: field_errors(
                invalid_personal_number={"personal_number": ["The check digits do not match."]},
                invalid_baseline={"baseline": {"age": ["Enter a whole number."]}},
                outside_eligibility={
                    "baseline": {"age": ["45 is outside the eligibility range (18–29)."]}
                },
            ),
        },
        examples=[
            OpenApiExample(
                "Enrolment",
                value={
                    "site": "OSL1",
                    "personal_number": "15889030094",
                    "enrolled_on": "2026-05-04",
                    "consent_version": "2.0",
                    "consent_date": "2026-05-04",
                    "baseline": {
                        "age": 24,
                        "sex": "female",
                        "education": "upper_secondary",
                        "diagnosis_group": "anxiety_depression",
                        "benefit_type": "work_assessment_allowance",
                        "months_since_work": 18,
                    },
                },
                request_only=True,
            )
        ],
        summary="Enrol a consenting person",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = EnrolmentSerializer(
            data=request.data, sites=permissions.visible_sites(request.user, trial)
        )
        serializer.is_valid(raise_exception=True)
        with service_errors():
            participant = services.enrol_participant(
                trial, actor=request.user, **serializer.validated_data
            )
        location = reverse("v1:participant-detail", args=[trial.code, participant.study_id])
        return Response(
            ParticipantSerializer(participant).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class ParticipantDetail(TrialScopedMixin, generics.RetrieveAPIView[Participant]):
    serializer_class = ParticipantSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_object(self) -> Participant:
        return permissions.get_participant(
            self.request.user, self.get_trial(), self.kwargs["study_id"]
        )


# POST checks the body with ``recorded``, records it on the participant with ``record`` (a
# service) and answers 201 with what was recorded; a refusal is a 400 (``service_errors``).
class _RecordOnParticipant(TrialScopedMixin, APIView):
    trial_perm = Perm.ENROL
    recorded: type[serializers.ModelSerializer[Any]]
    record: Callable[..., Any]

    def post(self, request: AuthenticatedRequest, code: str, study_id: str) -> Response:
        participant = self.get_participant(study_id)
        serializer = self.recorded(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            recorded = type(self).record(
                participant, actor=request.user, **serializer.validated_data
            )
        return Response(self.recorded(recorded).data, status=status.HTTP_201_CREATED)


def _recording(
    serializer: type[serializers.ModelSerializer[Any]],
    *,
    summary: str,
    description: str,
    **errors: dict[str, list[str]],
) -> Any:
    """The schema of a POST of :class:`_RecordOnParticipant`: ``errors`` are its 400 examples."""
    return extend_schema(
        request=serializer,
        responses={201: serializer, 400: field_errors(**errors)},
        summary=summary,
        description=description,
    )


@extend_schema_view(
    post=_recording(
        WithdrawalSerializer,
        summary="Record a participant's withdrawal",
        description="The participant stays in every count (intention to treat); no new "
        "follow-up data may be recorded for them afterwards. A second withdrawal is refused.",
        future_date={"withdrawn_on": ["The withdrawal date cannot be in the future."]},
        already_withdrawn={"non_field_errors": ["The participant has already withdrawn."]},
    )
)
class ParticipantWithdrawal(_RecordOnParticipant):
    recorded = WithdrawalSerializer
    record = staticmethod(services.withdraw_participant)


@extend_schema_view(
    post=_recording(
        LossToFollowUpSerializer,
        summary="Mark a participant lost to follow-up",
        description="The participant stays in every count (intention to treat) and reminders "
        "stop. DELETE undoes it when the participant is found again.",
        future_date={"lost_on": ["The date cannot be in the future."]},
        not_active={"non_field_errors": ["The participant is no longer active."]},
    )
)
class ParticipantLoss(_RecordOnParticipant):
    recorded = LossToFollowUpSerializer
    record = staticmethod(services.mark_lost_to_follow_up)

    @extend_schema(
        request=None,
        responses={
            204: None,
            400: field_errors(
                not_lost={"non_field_errors": ["The participant is not lost to follow-up."]}
            ),
        },
        summary="The participant was found again",
    )
    def delete(self, request: AuthenticatedRequest, code: str, study_id: str) -> Response:
        participant = self.get_participant(study_id)
        with service_errors():
            services.mark_found_again(participant, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(get=extend_schema(parameters=[ScreeningFilterSerializer]))
class ScreeningList(TrialScopedMixin, generics.ListAPIView[ScreeningRecord]):
    """The screening log of the user's sites; POST logs one person (needs the enrol right)."""

    serializer_class = ScreeningSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS
    write_perm = Perm.ENROL

    def get_queryset(self) -> QuerySet[ScreeningRecord]:
        trial = self.get_trial()
        filters = query_filters(ScreeningFilterSerializer, self.request)
        queryset = (
            ScreeningRecord.objects.filter(
                trial=trial, site__in=permissions.visible_sites(self.request.user, trial)
            )
            .select_related("site", "exclusion_reason", "participant")
            .order_by("-screened_on", "-id")
        )
        if "site" in filters:
            queryset = queryset.filter(site__code=filters["site"])
        if "eligible" in filters:
            queryset = queryset.filter(eligible=filters["eligible"])
        if "screened_from" in filters:
            queryset = queryset.filter(screened_on__gte=filters["screened_from"])
        if "screened_to" in filters:
            queryset = queryset.filter(screened_on__lte=filters["screened_to"])
        return queryset

    @extend_schema(
        request=ScreeningSerializer,
        responses={
            201: ScreeningSerializer,
            400: field_errors(
                missing_reason={
                    "exclusion_reason": ["Give the reason the person was not eligible."]
                },
            ),
        },
        examples=[
            OpenApiExample(
                "Eligible",
                value={"site": "OSL1", "screened_on": "2026-05-04", "eligible": True},
                request_only=True,
            ),
        ],
        summary="Log one person assessed for eligibility",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = ScreeningSerializer(
            data=request.data,
            trial=trial,
            sites=permissions.visible_sites(request.user, trial),
        )
        serializer.is_valid(raise_exception=True)
        with service_errors():
            record = services.record_screening(
                trial, actor=request.user, **serializer.validated_data
            )
        return Response(ScreeningSerializer(record).data, status=status.HTTP_201_CREATED)


def visits_with_status(visits: VisitQuerySet, wanted: str, day: dt.date) -> VisitQuerySet:
    """The visits whose ``Visit.status_on(day)`` is ``wanted``, as one SQL filter."""
    if wanted == Visit.Status.COMPLETED:
        return visits.filter(completed_on__isnull=False)
    if wanted == Visit.Status.MISSED:
        return visits.filter(completed_on__isnull=True, missed=True)
    if wanted == Visit.Status.OVERDUE:
        return visits.overdue_on(day)
    if wanted == Visit.Status.DUE:
        return visits.due_by(day).filter(window_end__gte=day)
    return visits.open().filter(window_start__gt=day)


@extend_schema_view(get=extend_schema(parameters=[VisitFilterSerializer]))
class VisitList(TrialScopedMixin, generics.ListAPIView[Visit]):
    """Follow-up visits of the participants inside the user's sites, by due date."""

    serializer_class = VisitSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Visit]:
        filters = query_filters(VisitFilterSerializer, self.request)
        queryset = (
            Visit.objects.filter(participant__in=self.visible_participants())
            .select_related("participant__site", "definition")
            .order_by("due_on", "participant__study_id", "id")
        )
        if "site" in filters:
            queryset = queryset.filter(participant__site__code=filters["site"])
        if "participant" in filters:
            queryset = queryset.filter(participant__study_id=filters["participant"])
        if "visit" in filters:
            queryset = queryset.filter(definition__code=filters["visit"])
        if "due_after" in filters:
            queryset = queryset.filter(due_on__gte=filters["due_after"])
        if "due_before" in filters:
            queryset = queryset.filter(due_on__lte=filters["due_before"])
        if "status" in filters:
            queryset = visits_with_status(queryset, filters["status"], self.today)
        return queryset

    @cached_property
    def today(self) -> dt.date:
        """One date for the whole request, so the filter and the status field agree."""
        return timezone.localdate()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "today": self.today}


class VisitMissed(TrialScopedMixin, APIView):
    trial_perm = Perm.RECORD_ASSESSMENT

    @extend_schema(
        request=None,
        responses={
            200: VisitSerializer,
            400: field_errors(closed={"non_field_errors": ["This visit is closed already."]}),
        },
        summary="Close an open visit as missed",
    )
    def post(self, request: AuthenticatedRequest, code: str, visit_id: int) -> Response:
        visit = self.get_visit()
        with service_errors():
            closed = services.mark_visit_missed(visit, actor=request.user)
        visit.missed = closed.missed
        context = {"request": request, "today": timezone.localdate()}
        return Response(VisitSerializer(visit, context=context).data)


class AuditEventList(TrialScopedMixin, generics.ListAPIView[AuditEvent]):
    serializer_class = AuditEventSerializer
    trial_perm = Perm.VIEW_AUDIT

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.filter(trial=self.get_trial()).order_by("-created_at", "-id")
