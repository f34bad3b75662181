"""REST API for fidelity scales (read), in the shape of ``trial.api`` (``TrialScopedMixin``)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import generics

from fidelity.models import Scale
from fidelity.scales.serializers import ScaleSerializer
from trial.api import TrialScopedMixin


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
