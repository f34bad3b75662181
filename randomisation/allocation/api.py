"""Randomisation through the API: randomise a participant (idempotent), list allocations.

The views follow ``trial.api``: the trial is resolved through ``trial.permissions``
(``TrialScopedMixin``), a serializer checks the input's shape, one service applies the rules,
and its refusal becomes a 400 with field errors (``service_errors``); a log that cannot be
signed or witnessed is a 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ErrorSerializer, SchemaTypedInput
from randomisation.allocation import services
from randomisation.allocation.chain import ChainUnavailable
from randomisation.allocation.models import Allocation
from trial import permissions
from trial.api import TrialScopedMixin, field_errors, query_filters, service_errors
from trial.models import Trial
from trial.permissions import AuthenticatedRequest, Perm


class AllocationSerializer(serializers.ModelSerializer[Allocation]):
    """An allocation; ``arm_name`` is null for users who may not see arm names (blinded)."""

    study_id = serializers.CharField(source="participant.study_id", default=None)
    site = serializers.SerializerMethodField()
    arm = serializers.CharField(source="arm.code")
    arm_name = serializers.SerializerMethodField()
    in_error = serializers.SerializerMethodField()

    class Meta:
        model = Allocation
        fields = [
            "sequence",
            "study_id",
            "site",
            "stratum",
            "arm",
            "arm_name",
            "allocated_on",
            "created_at",
            "source",
            "reference",
            "in_error",
            "hash",
        ]

    def get_site(self, allocation: Allocation) -> str:
        site = allocation.site or allocation.participant.site  # type: ignore[union-attr]  # one of them is set
        return site.code

    def get_arm_name(self, allocation: Allocation) -> str | None:
        return allocation.arm.name if self.context.get("unblinded") else None

    def get_in_error(self, allocation: Allocation) -> bool:
        if self.context.get("new"):  # just made: nothing can have flagged it yet
            return False
        return any(flag.kind == "in_error" for flag in allocation.flags.all())


class RandomiseRequestSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """Randomising a participant; the key makes a retry safe."""

    idempotency_key = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Or send the Idempotency-Key header. A retry with the same key returns the "
        "same allocation instead of a second one.",
    )


def _unblinded(request: Request, trial: Trial) -> bool:
    return permissions.sees_arm_names(request.user, trial)


class AllocationLogUnavailable(APIException):
    """The allocation log cannot be signed or witnessed (a missing or wrong chain key, an
    unwritable witness file): nothing was saved. Retrying helps once an administrator fixed it."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("The allocation log cannot be written.")
    default_code = "service_unavailable"


@contextmanager
def log_unavailable() -> Iterator[None]:
    """A ChainUnavailable as a 503. It is a TrialError, so this goes inside
    :func:`service_errors`, which would make it a 400."""
    try:
        yield
    except ChainUnavailable as error:
        raise AllocationLogUnavailable(error.message) from None


# drf-spectacular describes an endpoint by the first docstring in its class's MRO, which for
# these would be TrialScopedMixin's; the schema has never described them, so each carries a
# blank docstring (cleaned to "", no description).
UNDESCRIBED = " "


class Randomise(TrialScopedMixin, APIView):
    __doc__ = UNDESCRIBED
    trial_perm = Perm.RANDOMISE

    @extend_schema(
        summary="Randomise a participant",
        request=RandomiseRequestSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", str, OpenApiParameter.HEADER, description="Retry-safe key"
            )
        ],
        responses={
            201: AllocationSerializer,
            200: OpenApiResponse(AllocationSerializer, description="Replay of an earlier key"),
            400: field_errors(
                refused={"non_field_errors": ["OSL-4KQ7ZD has no recorded consent."]}
            ),
            503: OpenApiResponse(
                ErrorSerializer,
                description="The allocation log cannot be signed or witnessed (chain key "
                "missing or wrong, witness file not writable): nothing was saved.",
            ),
        },
        examples=[
            OpenApiExample(
                "With a key in the body",
                value={"idempotency_key": "3f8e2a0c-5b7d-4e1f-9a6b-2c4d8e0f1a3b"},
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, code: str, study_id: str) -> Response:
        trial = self.get_trial()
        participant = permissions.get_participant(request.user, trial, study_id, Perm.RANDOMISE)
        body = RandomiseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key") or body.validated_data.get("idempotency_key")
        with service_errors(), log_unavailable():
            outcome = services.randomise(participant, actor=request.user, idempotency_key=key)
        data = AllocationSerializer(
            outcome.allocation,
            context={"unblinded": _unblinded(request, trial), "new": outcome.created},
        ).data
        return Response(data, status=status.HTTP_201_CREATED if outcome.created else 200)


class AllocationFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the allocation list."""

    site = serializers.CharField(required=False, help_text="Site code.")
    # The filter is called source, as the allocation's field; DRF takes it out of the class.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Allocation.Source.choices, required=False
    )


@extend_schema(
    summary="Allocations of a trial (individuals and sites), in sequence order",
    parameters=[AllocationFilterSerializer],
)
class AllocationList(TrialScopedMixin, generics.ListAPIView[Allocation]):
    __doc__ = UNDESCRIBED
    serializer_class = AllocationSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Allocation]:
        trial = self.get_trial()
        queryset = Allocation.objects.filter(trial=trial)
        ids = permissions.site_ids(self.request.user, trial)
        if ids is not None:
            queryset = queryset.filter(participant__in=self.visible_participants())
        filters = query_filters(AllocationFilterSerializer, self.request)
        if "site" in filters:
            site = filters["site"]
            queryset = queryset.filter(
                Q(participant__site__code=site) | Q(site__code=site, participant=None)
            )
        if "source" in filters:
            queryset = queryset.filter(source=filters["source"])
        return (
            queryset.select_related("participant__site", "site", "arm")
            .prefetch_related("flags")
            .order_by("sequence")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        # Only once the queryset resolved the trial (not while the schema is generated).
        trial: Trial | None = getattr(self, "_trial", None)
        context["unblinded"] = trial is not None and _unblinded(self.request, trial)
        return context
