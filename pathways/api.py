"""REST API for pathways: the state alphabet, spells, and sequences as a participant × month
table. Read-only; spells are written by register imports. Access through trial.permissions."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import PageNumberPagination
from pathways import services
from pathways.models import Spell, SpellState
from pathways.serializers import (
    SequencePageSerializer,
    SequenceRowSerializer,
    SpellFilterSerializer,
    SpellSerializer,
    StateSerializer,
)
from randomisation.models import Allocation
from trial import permissions
from trial.api import TrialScopedMixin, query_filters
from trial.permissions import Perm


class StateList(TrialScopedMixin, generics.ListAPIView[SpellState]):
    """The trial's states in precedence order; the gap (no registered state) is ``""``."""

    serializer_class = StateSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[SpellState]:
        return SpellState.objects.filter(trial=self.get_trial()).order_by("priority", "code")


@extend_schema(parameters=[SpellFilterSerializer])
class SpellList(TrialScopedMixin, generics.ListAPIView[Spell]):
    serializer_class = SpellSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Spell]:
        filters = query_filters(SpellFilterSerializer, self.request)
        queryset = Spell.objects.filter(
            trial=self.get_trial(), participant__in=self.visible_participants()
        ).select_related("participant", "state")
        if "study_id" in filters:
            queryset = queryset.filter(participant__study_id=filters["study_id"])
        if "state" in filters:
            queryset = queryset.filter(state__code=filters["state"])
        return queryset.order_by("participant__study_id", "starts_on", "id")


class SequencePagination(PageNumberPagination):
    """100 rows a page, or ``page_size`` rows (1 to 5000); any other ``page_size`` is a 400
    naming it (DRF's own pagination would fall back to 100, or cut a larger one to 5000)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 5000

    def get_page_size(self, request: Request) -> int:
        if self.page_size_query_param not in request.query_params:
            return self.page_size
        query = PageSizeSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        size: int = query.validated_data.get("page_size", self.page_size)
        return size


class PageSizeSerializer(serializers.Serializer[Any]):
    page_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=SequencePagination.max_page_size,
        help_text=f"Rows per page, {SequencePagination.page_size} unless given.",
    )


class SequenceTable(TrialScopedMixin, APIView):
    """Monthly sequences, one row per participant the user may see, in study id order."""

    trial_perm = Perm.VIEW_PARTICIPANTS

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="A page number within the table."),
            PageSizeSerializer,
        ],
        responses=SequencePageSerializer,
    )
    def get(self, request: Request, code: str) -> Response:
        trial = self.get_trial()
        table = services.sequence_table(trial)
        visible = dict(self.visible_participants().values_list("id", "study_id"))
        rows = [i for i, pid in enumerate(table.participant_ids) if int(pid) in visible]
        paginator = SequencePagination()
        page = paginator.paginate_queryset(rows, request, view=self) or []
        arms: dict[int, str] | None = None
        if permissions.has_perm(request.user, trial, Perm.VIEW_ALLOCATION):
            arms = dict(
                Allocation.objects.filter(
                    trial=trial, participant_id__in=[int(table.participant_ids[i]) for i in page]
                ).values_list("participant_id", "arm__code")
            )
        codes: list[str | None] = [*table.codes, "", None]  # value -1 (not observed) is last
        data: list[dict[str, Any]] = []
        for i in page:
            pid = int(table.participant_ids[i])
            item: dict[str, Any] = {
                "study_id": visible[pid],
                "starts_on": table.anchors[i].item(),
                "states": [codes[int(v)] for v in np.asarray(table.values[i])],
            }
            if arms is not None:
                item["arm"] = arms.get(pid, "")
            data.append(item)
        response = paginator.get_paginated_response(SequenceRowSerializer(data, many=True).data)
        response.data["months"] = table.months
        response.data["month_rule"] = services.settings_for(trial).month_rule
        return response
